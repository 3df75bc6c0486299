"""Decisions and the double review (双重复核): no single person approves money alone.

A claim the pipeline did not pass straight through goes to a reviewer (adjuster, senior
reviewer or supervisor), whose :class:`Decision` is one of: approve the recommendation as it
stands, approve in part with amounts per line, reject with reasons, or send it back for
evidence. An approval above :attr:`ReviewPolicy.second_review_above_fen` then needs a second
approver with a senior role — who can never be the claim's submitter or its first reviewer
(:func:`check_second_approver`). The first reviewer can never be the submitter either (an
adjuster who entered a claim does not approve it). People are compared by account id,
ignoring case and surrounding spaces, so "Wang" and "wang " are the same person.

The database enforces the same rule (a check constraint that the second approver differs from
the first); these functions give the precise error before it gets that far.

**Amounts in a decision are net**: what the policy pays, after the deductible. ``approve``
takes the recommendation's amounts unchanged. ``approve_in_part`` sets every line, each at
most what was submitted, the total below the submitted total and within what the policy can
pay; a reviewer may so restore a line the pipeline trimmed, but never pay more than asked.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType

from services.claims.domain.adjudication import Recommendation
from services.claims.domain.errors import (
    InvalidFields,
    InvalidInput,
    InvalidValue,
    SecondApproverConflict,
    raise_problems,
)
from services.claims.domain.states import Action, ClaimState, check_role
from services.claims.domain.times import require_aware

NOTE_MAX_CHARS = 2000
_REASON_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")


@dataclass(frozen=True)
class ReviewPolicy:
    """Above this approved total a second approver is needed (configuration, per product)."""

    second_review_above_fen: int

    def __post_init__(self) -> None:
        value = self.second_review_above_fen
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InvalidValue(
                "second_review_above_fen", "the threshold must be a non-negative number of fen"
            )


def needs_second_review(approved_total_fen: int, policy: ReviewPolicy) -> bool:
    return approved_total_fen > policy.second_review_above_fen


def _person(account: str) -> str:
    return account.strip().casefold()


def check_first_reviewer(*, reviewer: str, submitter: str | None) -> None:
    """SecondApproverConflict if the reviewer submitted the claim (or quote) themselves."""
    if not reviewer.strip():
        raise InvalidValue("reviewer", "reviewer must not be empty")
    if submitter is not None and _person(reviewer) == _person(submitter):
        raise SecondApproverConflict(reviewer, "submitter")


def check_second_approver(
    *, approver: str, first_reviewer: str | None, submitter: str | None
) -> None:
    """SecondApproverConflict if the second approver is the first reviewer or the submitter."""
    if not approver.strip():
        raise InvalidValue("reviewer", "the second approver must not be empty")
    if first_reviewer is not None and _person(approver) == _person(first_reviewer):
        raise SecondApproverConflict(approver, "first reviewer")
    if submitter is not None and _person(approver) == _person(submitter):
        raise SecondApproverConflict(approver, "submitter")


class DecisionKind(StrEnum):
    """A first reviewer's decision; the values are the state machine's action names."""

    APPROVE = "approve"
    APPROVE_IN_PART = "approve_in_part"
    REJECT = "reject"
    REQUEST_EVIDENCE = "request_evidence"


def _is_fen(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _common_problems(
    reviewer: str, at: datetime, reason_codes: Sequence[str], note: str
) -> list[InvalidInput]:
    problems: list[InvalidInput] = []
    if not reviewer.strip():
        problems.append(InvalidValue("reviewer", "reviewer must not be empty"))
    try:
        require_aware(at, "at")
    except InvalidInput as e:
        problems.append(e)
    for i, code in enumerate(reason_codes):
        if not isinstance(code, str) or not _REASON_CODE.fullmatch(code):
            problems.append(
                InvalidValue(f"reason_codes[{i}]", f"{code!r} is not a reason code (UPPER_SNAKE)")
            )
    if len(note) > NOTE_MAX_CHARS:
        problems.append(InvalidValue("note", f"note is longer than {NOTE_MAX_CHARS} characters"))
    return problems


@dataclass(frozen=True)
class Decision:
    kind: DecisionKind
    reviewer: str
    role: str
    at: datetime
    approved_total_fen: int
    line_amounts: Mapping[int, int] | None  # line_no → approved fen; approve_in_part only
    reason_codes: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        """The checks that need nothing but the decision (see check_decision for the rest)."""
        problems = _common_problems(self.reviewer, self.at, self.reason_codes, self.note)
        try:
            kind = DecisionKind(self.kind)
        except ValueError:
            raise InvalidFields([InvalidValue("kind", f"unknown decision {self.kind!r}")]) from None
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "reason_codes", tuple(self.reason_codes))
        object.__setattr__(self, "note", self.note.strip())
        if not problems:
            object.__setattr__(self, "at", require_aware(self.at, "at"))
        total = self.approved_total_fen
        if not _is_fen(total):
            problems.append(
                InvalidValue("approved_total_fen", "approved_total_fen must be non-negative fen")
            )
        if kind is DecisionKind.APPROVE_IN_PART:
            problems += self._line_problems()
        elif self.line_amounts is not None:
            problems.append(
                InvalidValue("line_amounts", f"line amounts are for approve_in_part, not {kind}")
            )
        if kind is DecisionKind.APPROVE and _is_fen(total) and total == 0:
            problems.append(
                InvalidValue("approved_total_fen", "approving nothing: reject the claim instead")
            )
        if kind in (DecisionKind.REJECT, DecisionKind.REQUEST_EVIDENCE) and total != 0:
            problems.append(InvalidValue("approved_total_fen", f"{kind} approves nothing"))
        if kind is DecisionKind.REJECT and not self.reason_codes:
            problems.append(InvalidValue("reason_codes", "a rejection needs a reason code"))
        if kind is not DecisionKind.APPROVE and not self.note:
            problems.append(InvalidValue("note", f"{kind} needs a note for the contractor"))
        raise_problems(problems)

    def _line_problems(self) -> list[InvalidInput]:
        if not self.line_amounts:
            return [InvalidValue("line_amounts", "approve_in_part needs an amount per line")]
        problems: list[InvalidInput] = []
        for line_no, amount in self.line_amounts.items():
            if not _is_fen(amount):
                problems.append(
                    InvalidValue(f"line_amounts[{line_no}]", "must be non-negative fen")
                )
        if not problems:
            object.__setattr__(self, "line_amounts", MappingProxyType(dict(self.line_amounts)))
            if sum(self.line_amounts.values()) != self.approved_total_fen:
                problems.append(
                    InvalidValue(
                        "approved_total_fen", "approved_total_fen is not the sum of line_amounts"
                    )
                )
        return problems


def check_decision(decision: Decision, recommendation: Recommendation) -> None:
    """The reviewer's role may decide, and the amounts fit the recommendation.

    RoleNotAllowed (PERMISSION_DENIED) for a role that may not decide; InvalidFields naming
    ``line_amounts[<line_no>]`` and ``approved_total_fen`` otherwise.
    """
    check_role(Action(decision.kind), decision.role)
    problems: list[InvalidInput] = []
    if decision.kind is DecisionKind.APPROVE:
        if decision.approved_total_fen != recommendation.approved_total_fen:
            problems.append(
                InvalidValue(
                    "approved_total_fen",
                    f"approve takes the recommended {recommendation.approved_total_fen} fen; "
                    "to change amounts, approve in part",
                )
            )
    elif decision.kind is DecisionKind.APPROVE_IN_PART:
        assert decision.line_amounts is not None
        lines = recommendation.by_line_no
        for line_no in sorted(lines.keys() - decision.line_amounts.keys()):
            problems.append(InvalidValue(f"line_amounts[{line_no}]", "missing"))
        for line_no in sorted(decision.line_amounts):
            amount = decision.line_amounts[line_no]
            if line_no not in lines:
                problems.append(InvalidValue(f"line_amounts[{line_no}]", "no such line"))
            elif amount > lines[line_no].submitted_fen:
                problems.append(
                    InvalidValue(
                        f"line_amounts[{line_no}]",
                        f"{amount} fen is more than the {lines[line_no].submitted_fen} submitted",
                    )
                )
        total = decision.approved_total_fen
        if total >= recommendation.submitted_total_fen:
            problems.append(
                InvalidValue(
                    "approved_total_fen",
                    "approving in part must approve less than was submitted; "
                    "to approve all, approve",
                )
            )
        cap = recommendation.max_payable_fen
        if cap is not None and total > cap:
            problems.append(
                InvalidValue("approved_total_fen", f"the policy can pay at most {cap} fen")
            )
    raise_problems(problems)


def make_decision(
    *,
    kind: DecisionKind,
    reviewer: str,
    role: str,
    at: datetime,
    recommendation: Recommendation,
    line_amounts: Mapping[int, int] | None = None,
    reason_codes: Sequence[str] = (),
    note: str = "",
) -> Decision:
    """A checked decision, its total worked out: the recommendation's for approve, the sum of
    the lines for approve_in_part, 0 otherwise."""
    kind = DecisionKind(kind)
    if kind is DecisionKind.APPROVE:
        total = recommendation.approved_total_fen
    elif kind is DecisionKind.APPROVE_IN_PART and line_amounts:
        total = sum(v for v in line_amounts.values() if _is_fen(v))
    else:
        total = 0
    decision = Decision(
        kind=kind,
        reviewer=reviewer,
        role=role,
        at=at,
        approved_total_fen=total,
        line_amounts=line_amounts,
        reason_codes=tuple(reason_codes),
        note=note,
    )
    check_decision(decision, recommendation)
    return decision


def state_after_decision(decision: Decision, policy: ReviewPolicy) -> ClaimState:
    """The ``target`` for the decision's action."""
    if decision.kind is DecisionKind.REJECT:
        return ClaimState.REJECTED
    if decision.kind is DecisionKind.REQUEST_EVIDENCE:
        return ClaimState.QUOTED
    if needs_second_review(decision.approved_total_fen, policy):
        return ClaimState.PENDING_SECOND_REVIEW
    if decision.kind is DecisionKind.APPROVE:
        return ClaimState.APPROVED
    return ClaimState.PARTLY_APPROVED


class SecondReviewKind(StrEnum):
    SECOND_APPROVE = "second_approve"
    SECOND_REJECT = "second_reject"


@dataclass(frozen=True)
class SecondReview:
    """The second approver's word on the first decision: confirm it as it is, or reject."""

    kind: SecondReviewKind
    reviewer: str
    role: str
    at: datetime
    reason_codes: tuple[str, ...] = ()
    note: str = field(default="")

    def __post_init__(self) -> None:
        problems = _common_problems(self.reviewer, self.at, self.reason_codes, self.note)
        try:
            kind = SecondReviewKind(self.kind)
        except ValueError:
            raise InvalidFields(
                [InvalidValue("kind", f"unknown second review {self.kind!r}")]
            ) from None
        object.__setattr__(self, "kind", kind)
        object.__setattr__(self, "reason_codes", tuple(self.reason_codes))
        object.__setattr__(self, "note", self.note.strip())
        if kind is SecondReviewKind.SECOND_REJECT:
            if not self.reason_codes:
                problems.append(InvalidValue("reason_codes", "a rejection needs a reason code"))
            if not self.note:
                problems.append(InvalidValue("note", "a rejection needs a note"))
        raise_problems(problems)
        object.__setattr__(self, "at", require_aware(self.at, "at"))


def check_second_review(
    review: SecondReview, *, first: Decision, submitter: str | None
) -> ClaimState:
    """Role, four-eyes and what it leads to: the ``target`` of the second review's action.

    The first decision must be an approval (only approvals wait for a second review).
    """
    check_role(Action(review.kind), review.role)
    check_second_approver(
        approver=review.reviewer, first_reviewer=first.reviewer, submitter=submitter
    )
    if first.kind not in (DecisionKind.APPROVE, DecisionKind.APPROVE_IN_PART):
        raise InvalidValue("first", f"a {first.kind} decision has no second review")
    if review.kind is SecondReviewKind.SECOND_REJECT:
        return ClaimState.REJECTED
    if first.kind is DecisionKind.APPROVE:
        return ClaimState.APPROVED
    return ClaimState.PARTLY_APPROVED
