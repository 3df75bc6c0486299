"""The claim's state machine: which action moves a claim from which state to which.

The table is the whole truth: any (state, action) pair not in :data:`TRANSITIONS` is refused
with :class:`IllegalTransition` (FAILED_PRECONDITION). The database guards the same moves with
conditional updates (``UPDATE … WHERE state = :from``), so two racing requests cannot both win.

Some actions have several outcomes, and the caller says which with ``target``:

- ``assess`` (the pipeline's verdict): ``under_review``, or ``approved`` straight through;
- ``approve`` / ``approve_in_part``: the decision stands, or it goes to ``pending_second_review``
  when the amount is above the double-review threshold (see ``review.needs_second_review``);
- ``second_approve``: ``approved`` or ``partly_approved``, whichever the first decision was;
- ``confirm``: stays ``repaired`` until both the property manager and an owner representative
  have confirmed (see ``confirmation.state_after_confirm``), then ``confirmed``.

``quoted –submit_quote→ quoted`` is a revised quote; ``under_review –request_evidence→ quoted``
sends the claim back to the contractor for more photos or a revised quote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from services.claims.domain.errors import (
    IllegalTransition,
    InvalidInput,
    InvalidValue,
    RoleNotAllowed,
    TargetRequired,
    raise_problems,
)
from services.claims.domain.times import require_aware


class ClaimState(StrEnum):
    """Stable codes: stored in the database and sent over gRPC; never renamed."""

    REPORTED = "reported"
    DISPATCHED = "dispatched"
    ON_SITE = "on_site"
    QUOTED = "quoted"
    UNDER_REVIEW = "under_review"
    PENDING_SECOND_REVIEW = "pending_second_review"
    APPROVED = "approved"
    PARTLY_APPROVED = "partly_approved"
    REJECTED = "rejected"
    REPAIRED = "repaired"
    CONFIRMED = "confirmed"
    PAID = "paid"
    CLOSED = "closed"


class Action(StrEnum):
    DISPATCH = "dispatch"
    ARRIVE = "arrive"
    SUBMIT_QUOTE = "submit_quote"
    ASSESS = "assess"
    APPROVE = "approve"
    APPROVE_IN_PART = "approve_in_part"
    REJECT = "reject"
    REQUEST_EVIDENCE = "request_evidence"
    SECOND_APPROVE = "second_approve"
    SECOND_REJECT = "second_reject"
    MARK_REPAIRED = "mark_repaired"
    CONFIRM = "confirm"
    PAY = "pay"
    CLOSE = "close"
    REOPEN = "reopen"


class Role(StrEnum):
    """Who acts. ``service`` is the claims service itself (the pipeline, timers, the outbox);
    ``partner`` is an outside system through the exchange (IoT platform, property manager)."""

    ADJUSTER = "adjuster"
    SENIOR_REVIEWER = "senior_reviewer"
    SUPERVISOR = "supervisor"
    CONTRACTOR = "contractor"
    AUDITOR = "auditor"
    PARTNER = "partner"
    SERVICE = "service"


S = ClaimState
A = Action

TRANSITIONS: Mapping[tuple[ClaimState, Action], frozenset[ClaimState]] = MappingProxyType(
    {
        (S.REPORTED, A.DISPATCH): frozenset({S.DISPATCHED}),
        (S.DISPATCHED, A.ARRIVE): frozenset({S.ON_SITE}),
        (S.ON_SITE, A.SUBMIT_QUOTE): frozenset({S.QUOTED}),
        (S.QUOTED, A.SUBMIT_QUOTE): frozenset({S.QUOTED}),
        (S.QUOTED, A.ASSESS): frozenset({S.UNDER_REVIEW, S.APPROVED}),
        (S.UNDER_REVIEW, A.APPROVE): frozenset({S.APPROVED, S.PENDING_SECOND_REVIEW}),
        (S.UNDER_REVIEW, A.APPROVE_IN_PART): frozenset(
            {S.PARTLY_APPROVED, S.PENDING_SECOND_REVIEW}
        ),
        (S.UNDER_REVIEW, A.REJECT): frozenset({S.REJECTED}),
        (S.UNDER_REVIEW, A.REQUEST_EVIDENCE): frozenset({S.QUOTED}),
        (S.PENDING_SECOND_REVIEW, A.SECOND_APPROVE): frozenset({S.APPROVED, S.PARTLY_APPROVED}),
        (S.PENDING_SECOND_REVIEW, A.SECOND_REJECT): frozenset({S.REJECTED}),
        (S.APPROVED, A.MARK_REPAIRED): frozenset({S.REPAIRED}),
        (S.PARTLY_APPROVED, A.MARK_REPAIRED): frozenset({S.REPAIRED}),
        (S.REPAIRED, A.CONFIRM): frozenset({S.REPAIRED, S.CONFIRMED}),
        (S.CONFIRMED, A.PAY): frozenset({S.PAID}),
        (S.PAID, A.CLOSE): frozenset({S.CLOSED}),
        (S.REJECTED, A.CLOSE): frozenset({S.CLOSED}),
        (S.REJECTED, A.REOPEN): frozenset({S.UNDER_REVIEW}),
    }
)

TERMINAL: frozenset[ClaimState] = frozenset({S.CLOSED})

# Open claims: every state but closed.
OPEN: frozenset[ClaimState] = frozenset(ClaimState) - TERMINAL

# Active claims: someone still has to act (rejected, paid and closed wait for nobody). An alarm
# for the same elevator and fault folds into one of these, and the work queue lists them by
# default. The migrations spell the same set in SQL (a partial unique index, the generated
# ``claims.active`` column).
ACTIVE: frozenset[ClaimState] = frozenset(ClaimState) - {S.REJECTED, S.PAID, S.CLOSED}

_R = Role
_REVIEWERS = frozenset({_R.ADJUSTER, _R.SENIOR_REVIEWER, _R.SUPERVISOR})
_SECOND_REVIEWERS = frozenset({_R.SENIOR_REVIEWER, _R.SUPERVISOR})
_CONTRACTOR_WORK = frozenset({_R.CONTRACTOR, _R.SERVICE})

# Auditors read; they never act. ``service`` may do what automation does (dispatch an IoT
# alarm, assess, record a partner's confirmation, pay), never a person's review decision.
ACTION_ROLES: Mapping[Action, frozenset[str]] = MappingProxyType(
    {
        A.DISPATCH: frozenset({_R.SERVICE, _R.PARTNER, _R.ADJUSTER, _R.SUPERVISOR}),
        A.ARRIVE: _CONTRACTOR_WORK,
        A.SUBMIT_QUOTE: _CONTRACTOR_WORK,
        A.ASSESS: frozenset({_R.SERVICE}),
        A.APPROVE: _REVIEWERS,
        A.APPROVE_IN_PART: _REVIEWERS,
        A.REJECT: _REVIEWERS,
        A.REQUEST_EVIDENCE: _REVIEWERS,
        A.SECOND_APPROVE: _SECOND_REVIEWERS,
        A.SECOND_REJECT: _SECOND_REVIEWERS,
        A.MARK_REPAIRED: _CONTRACTOR_WORK,
        A.CONFIRM: frozenset({_R.PARTNER, _R.SERVICE}),
        A.PAY: frozenset({_R.SERVICE, _R.SUPERVISOR}),
        A.CLOSE: frozenset({_R.SERVICE, _R.SUPERVISOR, _R.ADJUSTER}),
        A.REOPEN: _REVIEWERS,
    }
)

# Actions that must say why: they are the ones a complaint or an audit asks about.
REASON_REQUIRED: frozenset[Action] = frozenset(
    {A.REJECT, A.SECOND_REJECT, A.REQUEST_EVIDENCE, A.REOPEN}
)

REASON_MAX_CHARS = 2000


def parse_state(value: str, field: str = "state") -> ClaimState:
    """A state from its code; InvalidValue (not a bare ValueError) for an unknown one."""
    try:
        return ClaimState(value)
    except ValueError:
        raise InvalidValue(field, f"unknown claim state {value!r}") from None


def parse_action(value: str, field: str = "action") -> Action:
    """An action from its code; InvalidValue for an unknown one."""
    try:
        return Action(value)
    except ValueError:
        raise InvalidValue(field, f"unknown action {value!r}") from None


def targets(state: ClaimState, action: Action) -> frozenset[ClaimState]:
    """Where ``action`` can take a claim in ``state``; empty when it is not allowed at all."""
    return TRANSITIONS.get((state, action), frozenset())


def allowed_actions(state: ClaimState) -> frozenset[Action]:
    """The actions the table allows from ``state`` (for the UI's buttons)."""
    return frozenset(action for (s, action) in TRANSITIONS if s is state)


def transition(
    state: ClaimState, action: Action, *, target: ClaimState | None = None
) -> ClaimState:
    """The state after ``action``; IllegalTransition if the table has no such move.

    ``target`` picks the outcome of an action with several (it is required then, and must be
    one of them); for an action with one outcome it may be omitted or must name that outcome.
    """
    possible = targets(parse_state(state), parse_action(action))
    if not possible:
        raise IllegalTransition(state, action)
    if target is None:
        if len(possible) > 1:
            raise TargetRequired(state, action, [str(t) for t in possible])
        (only,) = possible
        return only
    if target not in possible:
        raise IllegalTransition(state, action, target)
    return parse_state(target, "target")


def check_role(action: Action, role: str) -> None:
    """RoleNotAllowed unless ``role`` may perform ``action``."""
    if role not in ACTION_ROLES[parse_action(action)]:
        raise RoleNotAllowed(role, action)


@dataclass(frozen=True)
class Transition:
    """One recorded move: who did what, when and why. Stored, audited, never updated."""

    claim_id: str
    from_state: ClaimState
    to_state: ClaimState
    action: Action
    actor: str
    role: str
    at: datetime
    reason: str = ""


def perform(
    *,
    claim_id: str,
    state: ClaimState,
    action: Action,
    actor: str,
    role: str,
    at: datetime,
    reason: str = "",
    target: ClaimState | None = None,
) -> Transition:
    """Check everything the domain knows about one move and return its record.

    Order of checks: the input (actor, time, reason) → the role → the state table, so a
    contractor trying to approve hears PERMISSION_DENIED whatever state the claim is in.
    """
    problems: list[InvalidInput] = []
    if not claim_id.strip():
        problems.append(InvalidValue("claim_id", "claim_id must not be empty"))
    if not actor.strip():
        problems.append(InvalidValue("actor", "actor must not be empty"))
    try:
        at = require_aware(at, "at")
    except InvalidInput as e:
        problems.append(e)
    reason = reason.strip()
    if action in REASON_REQUIRED and not reason:
        problems.append(InvalidValue("reason", f"{action} needs a reason"))
    if len(reason) > REASON_MAX_CHARS:
        problems.append(
            InvalidValue("reason", f"reason is longer than {REASON_MAX_CHARS} characters")
        )
    raise_problems(problems)
    check_role(action, role)
    to_state = transition(state, action, target=target)
    return Transition(
        claim_id=claim_id,
        from_state=parse_state(state),
        to_state=to_state,
        action=parse_action(action),
        actor=actor,
        role=role,
        at=at,
        reason=reason,
    )
