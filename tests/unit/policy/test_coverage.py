from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from services.policy.domain.coverage import CoverageDecision, CoverageReason, check_coverage
from services.policy.domain.errors import InvalidValue
from services.policy.domain.inspections import InspectionResult
from services.policy.domain.policies import cancel
from services.policy.domain.products import Peril

from .factories import START, inspection, policy

LOSS = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
RENEWED_INSPECTION = inspection(date(2025, 11, 20), next_due_on=date(2026, 11, 20))


def decide(**overrides: Any) -> CoverageDecision:
    arguments: dict[str, Any] = {
        "policy": policy(),
        "loss_time": LOSS,
        "peril": Peril.MECHANICAL_FAILURE,
        "inspection": inspection(),
        "used_fen": 0,
    } | overrides
    return check_coverage(**arguments)


def test_covered():
    decision = decide(used_fen=4_000_000)
    assert decision.covered
    assert decision.reasons == ()
    assert decision.remaining_fen == 11_000_000
    assert decision.policy_id == "P1"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"policy": None}, CoverageReason.NO_POLICY),
        ({"loss_time": START - timedelta(seconds=1)}, CoverageReason.NOT_YET_IN_FORCE),
        (
            {"loss_time": datetime(2026, 1, 1, tzinfo=UTC), "inspection": RENEWED_INSPECTION},
            CoverageReason.LAPSED,
        ),
        (
            {"policy": cancel(policy(), LOSS - timedelta(days=1)).policy},
            CoverageReason.CANCELLED,
        ),
        ({"peril": Peril.VANDALISM}, CoverageReason.PERIL_EXCLUDED),
        ({"peril": Peril.FLOOD}, CoverageReason.PERIL_NOT_COVERED),
        (
            {"inspection": inspection(result=InspectionResult.FAILED)},
            CoverageReason.INSPECTION_FAILED,
        ),
        (
            {"inspection": inspection(date(2024, 5, 1), next_due_on=date(2025, 5, 1))},
            CoverageReason.INSPECTION_EXPIRED,
        ),
        ({"used_fen": 15_000_000}, CoverageReason.LIMIT_EXHAUSTED),
    ],
)
def test_each_reason(overrides, reason):
    decision = decide(**overrides)
    assert not decision.covered
    assert decision.reasons == (reason,)


def test_several_reasons_in_a_stable_order():
    decision = decide(
        loss_time=datetime(2026, 2, 1, tzinfo=UTC),
        peril=Peril.VANDALISM,
        used_fen=20_000_000,
        inspection=inspection(result=InspectionResult.FAILED),
    )
    assert decision.reasons == (
        CoverageReason.LAPSED,
        CoverageReason.PERIL_EXCLUDED,
        CoverageReason.INSPECTION_FAILED,
        CoverageReason.INSPECTION_EXPIRED,
        CoverageReason.LIMIT_EXHAUSTED,
    )
    assert decision.remaining_fen == 0


def test_no_policy_still_reports_the_inspection():
    decision = decide(policy=None, inspection=inspection(result=InspectionResult.FAILED))
    assert decision.reasons == (CoverageReason.NO_POLICY, CoverageReason.INSPECTION_FAILED)
    assert (decision.remaining_fen, decision.policy_id) == (0, None)


def test_a_loss_before_the_cancellation_is_still_covered():
    cancelled = cancel(policy(), LOSS + timedelta(seconds=1)).policy
    assert decide(policy=cancelled).covered
    assert decide(policy=cancelled, loss_time=LOSS + timedelta(seconds=1)).reasons == (
        CoverageReason.CANCELLED,
    )


def test_policy_period_boundaries():
    issued = policy()
    assert decide(loss_time=issued.start).covered
    assert decide(loss_time=issued.end, inspection=RENEWED_INSPECTION).reasons == (
        CoverageReason.LAPSED,
    )


def test_inspection_newer_than_the_loss_is_refused():
    with pytest.raises(InvalidValue, match="in force on that day"):
        decide(inspection=inspection(date(2025, 7, 1), next_due_on=date(2026, 7, 1)))


def test_bad_arguments():
    with pytest.raises(InvalidValue):
        decide(used_fen=-1)
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(loss_time=datetime(2025, 6, 1))


def test_reason_codes_are_stable_and_explained():
    assert [r.value for r in CoverageReason] == [
        "NO_POLICY",
        "NOT_YET_IN_FORCE",
        "LAPSED",
        "CANCELLED",
        "PERIL_NOT_COVERED",
        "PERIL_EXCLUDED",
        "INSPECTION_FAILED",
        "INSPECTION_EXPIRED",
        "LIMIT_EXHAUSTED",
    ]
    for reason in CoverageReason:
        assert reason.en and reason.zh


def test_no_inspection_on_record_counts_as_expired() -> None:
    from datetime import UTC, datetime

    from services.policy.domain.coverage import CoverageReason, check_coverage
    from services.policy.domain.products import Peril

    decision = check_coverage(
        policy=None,
        loss_time=datetime(2026, 11, 1, tzinfo=UTC),
        peril=Peril.MECHANICAL_FAILURE,
        inspection=None,
        used_fen=0,
    )
    assert decision.reasons == (CoverageReason.NO_POLICY, CoverageReason.INSPECTION_EXPIRED)
