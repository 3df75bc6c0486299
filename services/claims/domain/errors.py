"""Domain errors of the claims service.

Every error carries a stable ``code`` (never renamed, never reused) and, where one argument
is at fault, the ``field`` it came from. The base classes say which kind of failure it is, so
the gRPC layer maps them without knowing each error:

- ``InvalidInput``        → INVALID_ARGUMENT (with a field violation when ``field`` is set)
- ``PreconditionFailed``  → FAILED_PRECONDITION (the request is well formed, the state is wrong)
- ``NotFound``            → NOT_FOUND
- ``Conflict``            → ALREADY_EXISTS (an idempotency key reused with another payload)
- ``PermissionDenied``    → PERMISSION_DENIED (this person or role may not do this)

``InvalidInput`` is also a ``ValueError``, so plain Python callers can catch it as one.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.domain_errors import (
    Conflict,
    DomainError,
    InvalidFields,
    InvalidInput,
    InvalidValue,
    NotFound,
    PermissionDenied,
    PreconditionFailed,
)

# ------------------------------------------------------------------ invalid input


class TargetRequired(InvalidInput):
    """An action with several possible outcomes was asked for without saying which one."""

    code = "TRANSITION_TARGET_REQUIRED"

    def __init__(self, state: str, action: str, targets: Sequence[str]) -> None:
        super().__init__(
            f"{action} from {state} can lead to {', '.join(sorted(targets))}: say which",
            field="target",
        )
        self.state = state
        self.action = action
        self.targets = tuple(sorted(targets))


# ------------------------------------------------------------------ not found


class ClaimNotFound(NotFound):
    code = "CLAIM_NOT_FOUND"

    def __init__(self, claim_id: str) -> None:
        super().__init__(f"no claim {claim_id!r}", field="claim_id")
        self.claim_id = claim_id


# ------------------------------------------------------------------ failed precondition


class IllegalTransition(PreconditionFailed):
    """The claim's state machine has no such move: e.g. paying a claim that is not confirmed."""

    code = "ILLEGAL_TRANSITION"

    def __init__(self, state: str, action: str, target: str | None = None) -> None:
        to = "" if target is None else f" to {target}"
        super().__init__(f"cannot {action}{to} a claim that is {state}", field="state")
        self.state = state
        self.action = action
        self.target = target


class OwnersCharged(PreconditionFailed):
    """The owner representative says money was asked of owners: 零分摊 was broken.

    The repair cannot be confirmed (and so cannot be paid) until a person has looked into it.
    """

    code = "OWNERS_CHARGED"

    def __init__(self) -> None:
        super().__init__(
            "the owner representative reports that owners were asked to pay",
            field="no_charge_to_owners",
        )


# ------------------------------------------------------------------ conflict


class RequestConflict(Conflict):
    """An idempotency key (request id, source event id) reused with a different payload."""

    code = "REQUEST_CONFLICT"

    def __init__(self, key: str, detail: str, *, field: str = "request_id") -> None:
        super().__init__(f"{key!r} was already used: {detail}", field=field)
        self.key = key


# ------------------------------------------------------------------ permission denied


class RoleNotAllowed(PermissionDenied):
    """The caller's role may not perform this action (a contractor approving, say)."""

    code = "ROLE_NOT_ALLOWED"

    def __init__(self, role: str, action: str) -> None:
        super().__init__(f"role {role!r} may not {action}", field="role")
        self.role = role
        self.action = action


class SecondApproverConflict(PermissionDenied):
    """Nobody approves money alone: the second approver was the submitter or first reviewer."""

    code = "SAME_PERSON_APPROVAL"

    def __init__(self, approver: str, was: str) -> None:
        super().__init__(
            f"{approver!r} cannot give the second approval: they are the claim's {was}",
            field="reviewer",
        )
        self.approver = approver
        self.was = was


def raise_problems(problems: Sequence[InvalidInput]) -> None:
    """InvalidFields with every problem found, if there is any.

    Validators of whole inputs always raise InvalidFields (even for one problem), so callers
    handle one shape: ``e.problems``, each with its own ``field``.
    """
    if problems:
        raise InvalidFields(problems)


__all__ = [
    "Conflict",
    "DomainError",
    "InvalidFields",
    "InvalidInput",
    "InvalidValue",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
]
