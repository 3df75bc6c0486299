"""Policy lifecycle: issue, renew, cancel.

A policy covers one elevator for one policy year: ``start`` inclusive, ``end`` exclusive, one
calendar year later (29 February starts end on 1 March). Status is stored as ACTIVE or
CANCELLED only; whether a policy is in force is a question about a moment (``in_force_at``),
so nothing has to flip a status when a year ends.

Decisions:
- No retroactive cover: a policy may not start before the moment it is issued, or a loss
  already known could be insured after the fact.
- Renewal needs no new vote (the owners enrolled the elevator, not one year of it) but does
  need a valid inspection, an uncancelled policy and to happen before the policy ends; after
  that, issue a new policy. The renewal starts where the old policy ends, so cover is seamless.
- Cancellation refunds pro rata by whole days remaining: the day in progress counts as used,
  and the refund is rounded down to the fen. Both roundings favour the insurer by less than a
  day's premium, the refund is never negative and never above the premium, and cancelling
  before the start refunds everything.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from services.policy.domain.errors import (
    InvalidValue,
    PolicyAlreadyCancelled,
    PolicyExpired,
    PolicyNotIssuable,
)
from services.policy.domain.inspections import InspectionFacts
from services.policy.domain.products import Product
from services.policy.domain.times import add_years_to_moment, china_date, require_aware

_DAY = timedelta(days=1)


class PolicyStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class IssuanceReason(StrEnum):
    """Why a policy cannot be issued or renewed. Stable codes: never renamed or reused."""

    VOTE_NOT_PASSED = "VOTE_NOT_PASSED"
    INSPECTION_FAILED = "INSPECTION_FAILED"
    INSPECTION_EXPIRED = "INSPECTION_EXPIRED"
    POLICY_CANCELLED = "POLICY_CANCELLED"
    POLICY_LAPSED = "POLICY_LAPSED"

    @property
    def en(self) -> str:
        return _ISSUANCE_TEXTS[self][0]

    @property
    def zh(self) -> str:
        return _ISSUANCE_TEXTS[self][1]


_ISSUANCE_TEXTS: dict[IssuanceReason, tuple[str, str]] = {
    IssuanceReason.VOTE_NOT_PASSED: (
        "the owners' single-elevator vote has not passed",
        "单梯表决未通过",
    ),
    IssuanceReason.INSPECTION_FAILED: (
        "the last periodic inspection failed; the elevator must not run",
        "最近一次定期检验不合格，电梯不得使用",
    ),
    IssuanceReason.INSPECTION_EXPIRED: (
        "the periodic inspection is overdue; the elevator must not run",
        "定期检验已超期，电梯不得使用",
    ),
    IssuanceReason.POLICY_CANCELLED: (
        "the policy to renew was cancelled",
        "拟续保的保单已退保",
    ),
    IssuanceReason.POLICY_LAPSED: (
        "the policy to renew has already ended; issue a new policy instead",
        "拟续保的保单已到期，请重新投保",
    ),
}


@dataclass(frozen=True)
class Policy:
    policy_id: str
    elevator_id: str
    product: Product
    start: datetime
    end: datetime  # exclusive
    premium_fen: int
    status: PolicyStatus = PolicyStatus.ACTIVE
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    refund_fen: int = 0
    renewed_from: str | None = None  # the policy this one renews

    def __post_init__(self) -> None:
        require_aware(self.start, "start")
        require_aware(self.end, "end")
        if self.end <= self.start:
            raise InvalidValue("end", "policy must end after it starts")
        if self.premium_fen <= 0:
            raise InvalidValue("premium_fen", "premium must be positive")
        cancelled = self.status is PolicyStatus.CANCELLED
        if cancelled != (self.cancelled_at is not None):
            raise InvalidValue("cancelled_at", "a policy has a cancellation time iff cancelled")
        if self.cancelled_at is not None:
            require_aware(self.cancelled_at, "cancelled_at")
        if not 0 <= self.refund_fen <= (self.premium_fen if cancelled else 0):
            raise InvalidValue("refund_fen", "refund must be 0 to premium, and 0 unless cancelled")

    @property
    def term_days(self) -> int:
        """Length of the policy period in days (365 or 366 for a policy year), at least 1."""
        days, rest = divmod(self.end - self.start, _DAY)
        return days + (1 if rest else 0)

    def cancelled_by(self, moment: datetime) -> bool:
        return self.cancelled_at is not None and self.cancelled_at <= moment

    def in_force_at(self, moment: datetime) -> bool:
        require_aware(moment, "moment")
        return self.start <= moment < self.end and not self.cancelled_by(moment)


@dataclass(frozen=True)
class CancellationResult:
    policy: Policy  # the cancelled policy
    refund_fen: int
    days_remaining: int
    term_days: int


def _inspection_reasons(
    inspection: InspectionFacts | None, as_of: datetime
) -> list[IssuanceReason]:
    # No inspection on record: the elevator has no valid inspection, so it must not run.
    if inspection is None:
        return [IssuanceReason.INSPECTION_EXPIRED]
    reasons = []
    if inspection.failed:
        reasons.append(IssuanceReason.INSPECTION_FAILED)
    if inspection.overdue_on(china_date(as_of)):
        reasons.append(IssuanceReason.INSPECTION_EXPIRED)
    return reasons


def check_issuable(
    vote_outcome_passed: bool, inspection: InspectionFacts | None, as_of: datetime
) -> list[IssuanceReason]:
    """Every reason a new policy cannot be issued at ``as_of``; empty means it can."""
    require_aware(as_of, "as_of")
    reasons = [] if vote_outcome_passed else [IssuanceReason.VOTE_NOT_PASSED]
    return reasons + _inspection_reasons(inspection, as_of)


def issue_policy(
    *,
    policy_id: str,
    elevator_id: str,
    product: Product,
    start: datetime,
    vote_passed: bool,
    inspection: InspectionFacts | None,
    as_of: datetime,
) -> Policy:
    """A new one-year policy at the product's premium, or ``PolicyNotIssuable`` with reasons."""
    if require_aware(start, "start") < require_aware(as_of, "as_of"):
        raise InvalidValue(
            "start",
            f"policy cannot start ({start.isoformat()}) before it is issued ({as_of.isoformat()})",
        )
    reasons = check_issuable(vote_passed, inspection, as_of)
    if reasons:
        raise PolicyNotIssuable(reasons)
    return Policy(
        policy_id=policy_id,
        elevator_id=elevator_id,
        product=product,
        start=start,
        end=add_years_to_moment(start, 1),
        premium_fen=product.annual_premium_fen,
    )


def check_renewable(
    policy: Policy, inspection: InspectionFacts | None, as_of: datetime
) -> list[IssuanceReason]:
    """Every reason ``policy`` cannot be renewed at ``as_of``; empty means it can."""
    require_aware(as_of, "as_of")
    reasons = []
    if policy.status is PolicyStatus.CANCELLED:
        reasons.append(IssuanceReason.POLICY_CANCELLED)
    if as_of >= policy.end:
        reasons.append(IssuanceReason.POLICY_LAPSED)
    return reasons + _inspection_reasons(inspection, as_of)


def renew(
    policy: Policy,
    *,
    new_policy_id: str,
    inspection: InspectionFacts | None,
    as_of: datetime,
    product: Product | None = None,
) -> Policy:
    """The next policy year, starting where ``policy`` ends, on ``product`` (default: the same)."""
    reasons = check_renewable(policy, inspection, as_of)
    if reasons:
        raise PolicyNotIssuable(reasons)
    next_product = product or policy.product
    return Policy(
        policy_id=new_policy_id,
        elevator_id=policy.elevator_id,
        product=next_product,
        start=policy.end,
        end=add_years_to_moment(policy.end, 1),
        premium_fen=next_product.annual_premium_fen,
        renewed_from=policy.policy_id,
    )


def cancel(policy: Policy, at: datetime, *, reason: str | None = None) -> CancellationResult:
    """Cancel ``policy`` effective ``at`` and refund the unused whole days, pro rata."""
    require_aware(at, "at")
    if policy.status is PolicyStatus.CANCELLED:
        raise PolicyAlreadyCancelled(policy.policy_id)
    if at >= policy.end:
        raise PolicyExpired(policy.policy_id)
    term_days = policy.term_days
    days_remaining = min(term_days, (policy.end - max(at, policy.start)) // _DAY)
    refund_fen = policy.premium_fen * days_remaining // term_days
    cancelled = replace(
        policy,
        status=PolicyStatus.CANCELLED,
        cancelled_at=at,
        cancel_reason=reason,
        refund_fen=refund_fen,
    )
    return CancellationResult(
        policy=cancelled,
        refund_fen=refund_fen,
        days_remaining=days_remaining,
        term_days=term_days,
    )
