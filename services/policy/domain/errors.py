"""Domain errors of the policy service.

Every error carries a stable ``code`` (never renamed, never reused) and, where one argument
is at fault, the ``field`` it came from. The four base classes say which kind of failure it
is, so the gRPC layer maps them without knowing each error:

- ``InvalidInput``        → INVALID_ARGUMENT (with a field violation when ``field`` is set)
- ``PreconditionFailed``  → FAILED_PRECONDITION (the request is well formed, the state is wrong)
- ``NotFound``            → NOT_FOUND
- ``Conflict``            → ALREADY_EXISTS (an idempotency key reused with another payload)

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


class InvalidCode(InvalidInput):
    """An equipment code or registration certificate number that fits no known format."""

    code = "INVALID_CODE"

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason, field=field)
        self.reason = reason


class InvalidRuleSet(InvalidInput):
    """A vote rule-set document that does not parse or does not make sense."""

    code = "INVALID_RULE_SET"


class InvalidProduct(InvalidInput):
    """A product document that does not parse or does not make sense."""

    code = "INVALID_PRODUCT"


class NotInElectorate(InvalidInput):
    """A ballot from an owner who holds no flat that the elevator serves."""

    code = "NOT_IN_ELECTORATE"

    def __init__(self, owner_id: str) -> None:
        super().__init__(
            f"owner {owner_id!r} holds no flat served by this elevator", field="ballots"
        )
        self.owner_id = owner_id


# ------------------------------------------------------------------ not found


class UnknownRuleSet(NotFound):
    code = "UNKNOWN_RULE_SET"

    def __init__(self, name: str, version: str | None = None) -> None:
        which = name if version is None else f"{name}@{version}"
        super().__init__(f"no vote rule set {which!r}", field="rule_set")


class UnknownProduct(NotFound):
    code = "UNKNOWN_PRODUCT"

    def __init__(self, product_code: str) -> None:
        super().__init__(f"no product {product_code!r}", field="product_code")


class NoReservation(NotFound):
    """Paying or releasing a claim that never reserved anything on this ledger."""

    code = "NO_RESERVATION"

    def __init__(self, claim_id: str) -> None:
        super().__init__(f"claim {claim_id!r} has no reservation", field="claim_id")


# ------------------------------------------------------------------ failed precondition


class EmptyElectorate(PreconditionFailed):
    """The elevator serves no flat with an owner, so there is nobody to vote."""

    code = "EMPTY_ELECTORATE"

    def __init__(self) -> None:
        super().__init__("the elevator serves no flats, so there is no electorate")


class NoFlatsToCharge(PreconditionFailed):
    """A premium shortfall with no flats to share it among."""

    code = "NO_FLATS_TO_CHARGE"

    def __init__(self, shortfall_fen: int) -> None:
        super().__init__(
            f"{shortfall_fen} fen of premium is not covered by appreciation income "
            "and there are no flats to share it"
        )


class PolicyNotIssuable(PreconditionFailed):
    """Issuing or renewing is blocked; ``reasons`` holds the stable reason codes."""

    code = "POLICY_NOT_ISSUABLE"

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("policy cannot be issued: " + ", ".join(reasons))
        self.reasons = tuple(reasons)


class PolicyAlreadyCancelled(PreconditionFailed):
    code = "POLICY_ALREADY_CANCELLED"

    def __init__(self, policy_id: str) -> None:
        super().__init__(f"policy {policy_id!r} is already cancelled")


class PolicyExpired(PreconditionFailed):
    """Cancelling a policy after its end: there is nothing left to cancel or refund."""

    code = "POLICY_EXPIRED"

    def __init__(self, policy_id: str) -> None:
        super().__init__(f"policy {policy_id!r} has already ended")


class LimitExceeded(PreconditionFailed):
    """A reservation would take reserved + paid above the sum insured."""

    code = "LIMIT_EXCEEDED"

    def __init__(self, requested_fen: int, remaining_fen: int) -> None:
        super().__init__(
            f"{requested_fen} fen requested but only {remaining_fen} fen of the sum insured "
            "remain this policy year",
            field="amount_fen",
        )
        self.requested_fen = requested_fen
        self.remaining_fen = remaining_fen


class PerClaimLimitExceeded(PreconditionFailed):
    code = "PER_CLAIM_LIMIT_EXCEEDED"

    def __init__(self, requested_fen: int, per_claim_limit_fen: int) -> None:
        super().__init__(
            f"{requested_fen} fen requested but the per-claim limit is {per_claim_limit_fen} fen",
            field="amount_fen",
        )
        self.requested_fen = requested_fen
        self.per_claim_limit_fen = per_claim_limit_fen


class PaymentExceedsReservation(PreconditionFailed):
    code = "PAYMENT_EXCEEDS_RESERVATION"

    def __init__(self, claim_id: str, amount_fen: int, reserved_fen: int) -> None:
        super().__init__(
            f"claim {claim_id!r}: paying {amount_fen} fen but only {reserved_fen} fen are reserved",
            field="amount_fen",
        )


class ReservationClosed(PreconditionFailed):
    """Paying a released reservation, or releasing a paid one."""

    code = "RESERVATION_CLOSED"

    def __init__(self, claim_id: str, state: str) -> None:
        super().__init__(f"claim {claim_id!r} is already {state}", field="claim_id")


# ------------------------------------------------------------------ conflict


class ClaimConflict(Conflict):
    """The same claim id used again with a different amount."""

    code = "CLAIM_CONFLICT"

    def __init__(self, claim_id: str, detail: str) -> None:
        super().__init__(f"claim {claim_id!r}: {detail}", field="claim_id")


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
