from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.policy.domain.errors import (
    InvalidValue,
    PolicyAlreadyCancelled,
    PolicyExpired,
    PolicyNotIssuable,
)
from services.policy.domain.inspections import InspectionResult, default_next_due
from services.policy.domain.policies import (
    IssuanceReason,
    PolicyStatus,
    cancel,
    check_issuable,
    issue_policy,
    renew,
)

from .factories import START, inspection, policy, product


class TestIssue:
    def test_one_year_at_the_product_premium(self):
        issued = policy()
        assert issued.end == datetime(2026, 1, 1, tzinfo=UTC)
        assert issued.premium_fen == 130_000
        assert issued.status is PolicyStatus.ACTIVE
        assert issued.term_days == 365

    def test_leap_day_start_ends_on_first_of_march(self):
        leap = datetime(2028, 2, 29, tzinfo=UTC)
        issued = issue_policy(
            policy_id="P",
            elevator_id="E",
            product=product(),
            start=leap,
            vote_passed=True,
            inspection=inspection(date(2028, 1, 10), next_due_on=date(2029, 1, 10)),
            as_of=leap,
        )
        assert issued.end == datetime(2029, 3, 1, tzinfo=UTC)

    def test_all_reasons_are_listed(self):
        failed_and_lapsed = inspection(
            date(2023, 11, 1), InspectionResult.FAILED, date(2024, 11, 1)
        )
        assert check_issuable(False, failed_and_lapsed, START) == [
            IssuanceReason.VOTE_NOT_PASSED,
            IssuanceReason.INSPECTION_FAILED,
            IssuanceReason.INSPECTION_EXPIRED,
        ]
        with pytest.raises(PolicyNotIssuable) as caught:
            issue_policy(
                policy_id="P",
                elevator_id="E",
                product=product(),
                start=START,
                vote_passed=True,
                inspection=failed_and_lapsed,
                as_of=START,
            )
        assert caught.value.reasons == ("INSPECTION_FAILED", "INSPECTION_EXPIRED")

    def test_due_date_is_judged_on_the_chinese_calendar_day(self):
        due = inspection(date(2024, 6, 30), next_due_on=date(2025, 6, 30))
        # 15:59 UTC is 23:59 in China on the due date: still valid.
        assert check_issuable(True, due, datetime(2025, 6, 30, 15, 59, tzinfo=UTC)) == []
        # 16:00 UTC is already 1 July in China: overdue.
        assert check_issuable(True, due, datetime(2025, 6, 30, 16, 0, tzinfo=UTC)) == [
            IssuanceReason.INSPECTION_EXPIRED
        ]

    def test_no_retroactive_cover(self):
        with pytest.raises(InvalidValue) as caught:
            issue_policy(
                policy_id="P",
                elevator_id="E",
                product=product(),
                start=START - timedelta(seconds=1),
                vote_passed=True,
                inspection=inspection(),
                as_of=START,
            )
        assert caught.value.field == "start"

    def test_naive_datetimes_are_refused(self):
        with pytest.raises(ValueError, match="timezone-aware"):
            check_issuable(True, inspection(), datetime(2025, 1, 1))

    def test_default_next_inspection_is_a_year_later(self):
        assert default_next_due(date(2024, 2, 29)) == date(2025, 3, 1)
        assert default_next_due(date(2024, 5, 6)) == date(2025, 5, 6)


class TestRenew:
    def test_renewal_continues_where_the_policy_ends(self):
        old = policy()
        new = renew(
            old,
            new_policy_id="P2",
            inspection=inspection(date(2025, 11, 20), next_due_on=date(2026, 11, 20)),
            as_of=datetime(2025, 12, 1, tzinfo=UTC),
            product=product(code="NEXT", annual_premium_fen=140_000),
        )
        assert (new.start, new.end) == (old.end, datetime(2027, 1, 1, tzinfo=UTC))
        assert (new.renewed_from, new.premium_fen, new.product.code) == ("P1", 140_000, "NEXT")

    def test_cancelled_or_ended_policies_are_not_renewed(self):
        cancelled = cancel(policy(), START + timedelta(days=10)).policy
        with pytest.raises(PolicyNotIssuable) as caught:
            renew(
                cancelled,
                new_policy_id="P2",
                inspection=inspection(date(2025, 12, 20), next_due_on=date(2026, 12, 20)),
                as_of=datetime(2026, 1, 1, tzinfo=UTC),
            )
        assert caught.value.reasons == ("POLICY_CANCELLED", "POLICY_LAPSED")


class TestCancel:
    def test_refund_by_whole_days_remaining_rounded_down(self):
        # 100 days and an hour into a 365-day year: 264 whole days remain.
        result = cancel(policy(), START + timedelta(days=100, hours=1), reason="sold")
        assert (result.days_remaining, result.term_days) == (264, 365)
        assert result.refund_fen == 130_000 * 264 // 365 == 94_027
        assert result.policy.status is PolicyStatus.CANCELLED
        assert result.policy.refund_fen == 94_027
        assert result.policy.cancel_reason == "sold"

    def test_cancelling_at_or_before_the_start_refunds_everything(self):
        assert cancel(policy(), START).refund_fen == 130_000
        assert cancel(policy(), START - timedelta(days=3)).refund_fen == 130_000

    def test_cancelling_on_the_last_day_refunds_nothing(self):
        assert cancel(policy(), START + timedelta(days=364, hours=1)).refund_fen == 0

    def test_cancelling_twice_or_after_the_end_is_an_error(self):
        once = cancel(policy(), START + timedelta(days=1)).policy
        with pytest.raises(PolicyAlreadyCancelled):
            cancel(once, START + timedelta(days=2))
        with pytest.raises(PolicyExpired):
            cancel(policy(), START + timedelta(days=365))

    @given(
        st.integers(-10 * 86_400, 365 * 86_400 - 1),
        st.integers(1, 10_000_000),
        st.sampled_from([UTC, timezone(timedelta(hours=8))]),
    )
    def test_refund_stays_within_premium_and_shrinks_with_time(self, seconds, premium, tz):
        start = datetime(2025, 1, 1, tzinfo=tz)
        issued = policy(start=start, annual_premium_fen=premium)
        at = start + timedelta(seconds=seconds)
        refund = cancel(issued, at).refund_fen
        assert 0 <= refund <= premium
        later = at + timedelta(hours=7)
        if later < issued.end:
            assert cancel(issued, later).refund_fen <= refund


class TestPolicyState:
    def test_in_force_from_start_inclusive_to_end_exclusive(self):
        issued = policy()
        assert not issued.in_force_at(START - timedelta(microseconds=1))
        assert issued.in_force_at(START)
        assert not issued.in_force_at(issued.end)
        cancelled = cancel(issued, START + timedelta(days=5)).policy
        assert cancelled.in_force_at(START + timedelta(days=4))
        assert not cancelled.in_force_at(START + timedelta(days=5))
