"""Is a loss covered? Every reason against it, in a stable order, with words for people.

Coverage is judged at the loss time: a policy cancelled after the loss still covers it, and
the inspection that matters is the one in force on the loss day (Chinese calendar).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.policy.domain.errors import InvalidValue
from services.policy.domain.inspections import InspectionFacts
from services.policy.domain.policies import Policy
from services.policy.domain.products import Peril
from services.policy.domain.times import china_date, require_aware


class CoverageReason(StrEnum):
    """Why a loss is not covered. Stable codes: never renamed or reused.

    Declaration order is the order reasons are listed in. PERIL_NOT_COVERED (the product does
    not name the peril) differs from PERIL_EXCLUDED (an exclusion clause names it): an adjuster
    argues the first from the product's scope and the second from its exclusion wording.
    """

    NO_POLICY = "NO_POLICY"
    NOT_YET_IN_FORCE = "NOT_YET_IN_FORCE"
    LAPSED = "LAPSED"
    CANCELLED = "CANCELLED"
    PERIL_NOT_COVERED = "PERIL_NOT_COVERED"
    PERIL_EXCLUDED = "PERIL_EXCLUDED"
    INSPECTION_FAILED = "INSPECTION_FAILED"
    INSPECTION_EXPIRED = "INSPECTION_EXPIRED"
    LIMIT_EXHAUSTED = "LIMIT_EXHAUSTED"

    @property
    def en(self) -> str:
        return _TEXTS[self][0]

    @property
    def zh(self) -> str:
        return _TEXTS[self][1]


_TEXTS: dict[CoverageReason, tuple[str, str]] = {
    CoverageReason.NO_POLICY: ("the elevator has no policy", "该电梯未投保"),
    CoverageReason.NOT_YET_IN_FORCE: (
        "the loss happened before the policy started",
        "事故发生在保险期间开始之前",
    ),
    CoverageReason.LAPSED: (
        "the loss happened after the policy ended",
        "事故发生在保险期间届满之后",
    ),
    CoverageReason.CANCELLED: (
        "the policy was cancelled before the loss",
        "保单在事故发生前已退保",
    ),
    CoverageReason.PERIL_NOT_COVERED: (
        "the product does not cover this cause of loss",
        "该事故原因不在保险责任范围内",
    ),
    CoverageReason.PERIL_EXCLUDED: (
        "this cause of loss is excluded by the policy",
        "该事故原因属于责任免除",
    ),
    CoverageReason.INSPECTION_FAILED: (
        "the elevator had failed its periodic inspection and must not have been running",
        "电梯定期检验不合格，不得使用",
    ),
    CoverageReason.INSPECTION_EXPIRED: (
        "the elevator's periodic inspection was overdue and it must not have been running",
        "电梯定期检验已超期，不得使用",
    ),
    CoverageReason.LIMIT_EXHAUSTED: (
        "the sum insured for this policy year is used up",
        "本保险年度保险金额已用完",
    ),
}


@dataclass(frozen=True)
class CoverageDecision:
    covered: bool
    reasons: tuple[CoverageReason, ...]
    # What is left of the sum insured this policy year (0 without a policy).
    remaining_fen: int
    policy_id: str | None


def check_coverage(
    *,
    policy: Policy | None,
    loss_time: datetime,
    peril: Peril,
    inspection: InspectionFacts | None,
    used_fen: int,
) -> CoverageDecision:
    """Decide whether a loss is covered; list every reason it is not.

    ``used_fen`` is what the policy year has reserved plus paid so far; ``inspection`` is the
    inspection in force on the loss day (None: none on record, which counts as expired).
    """
    require_aware(loss_time, "loss_time")
    if used_fen < 0:
        raise InvalidValue("used_fen", f"used amount must not be negative, got {used_fen}")
    found: set[CoverageReason] = set()
    if inspection is not None and inspection.failed:
        found.add(CoverageReason.INSPECTION_FAILED)
    if inspection is None or inspection.overdue_on(china_date(loss_time)):
        found.add(CoverageReason.INSPECTION_EXPIRED)
    remaining = 0
    if policy is None:
        found.add(CoverageReason.NO_POLICY)
    else:
        if loss_time < policy.start:
            found.add(CoverageReason.NOT_YET_IN_FORCE)
        if loss_time >= policy.end:
            found.add(CoverageReason.LAPSED)
        if policy.cancelled_by(loss_time):
            found.add(CoverageReason.CANCELLED)
        if peril in policy.product.exclusions:
            found.add(CoverageReason.PERIL_EXCLUDED)
        elif peril not in policy.product.covered_perils:
            found.add(CoverageReason.PERIL_NOT_COVERED)
        # The ledger never lets used exceed the sum insured; if bad data says otherwise,
        # report nothing left rather than a negative amount.
        remaining = max(0, policy.product.sum_insured_fen - used_fen)
        if remaining == 0:
            found.add(CoverageReason.LIMIT_EXHAUSTED)
    reasons = tuple(reason for reason in CoverageReason if reason in found)
    return CoverageDecision(
        covered=not reasons,
        reasons=reasons,
        remaining_fen=remaining,
        policy_id=None if policy is None else policy.policy_id,
    )
