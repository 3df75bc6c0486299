from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from shared.clock import (
    SHANGHAI,
    Clock,
    FixedClock,
    ManualClock,
    SystemClock,
    require_aware,
    shanghai_date,
    shanghai_day_start,
    to_shanghai,
    to_utc,
)


def test_system_clock_is_aware_utc_and_current():
    before = datetime.now(UTC)
    now = SystemClock().now()
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


def test_manual_clock_stands_still_until_moved():
    clock: Clock = ManualClock(datetime(2025, 3, 1, 8, 0, tzinfo=UTC))
    assert clock.now() == clock.now() == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)


def test_manual_clock_advance_and_set_keep_utc():
    clock = FixedClock(datetime(2025, 3, 1, 16, 0, tzinfo=SHANGHAI))
    assert clock.now().tzinfo is UTC
    assert clock.now() == datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
    assert clock.advance(timedelta(hours=30)) == datetime(2025, 3, 2, 14, 0, tzinfo=UTC)
    clock.set(datetime(2030, 1, 1, tzinfo=timezone(timedelta(hours=-5))))
    assert clock.now() == datetime(2030, 1, 1, 5, 0, tzinfo=UTC)
    assert clock.now().tzinfo is UTC


def test_manual_clock_default_is_a_shanghai_working_morning():
    local = to_shanghai(ManualClock().now())
    assert local.weekday() == 0 and 9 <= local.hour < 12


@pytest.mark.parametrize(
    "call",
    [
        lambda dt: require_aware(dt),
        lambda dt: to_utc(dt),
        lambda dt: to_shanghai(dt),
        lambda dt: shanghai_date(dt),
        lambda dt: ManualClock(dt),
        lambda dt: ManualClock().set(dt),
    ],
)
def test_naive_datetimes_are_refused(call):
    with pytest.raises(ValueError, match="naive"):
        call(datetime(2025, 1, 1, 12, 0))


def test_shanghai_date_is_not_the_utc_date():
    # 17:00 UTC on 30 September is 01:00 on 1 October in Shanghai.
    instant = datetime(2025, 9, 30, 17, 0, tzinfo=UTC)
    assert shanghai_date(instant) == date(2025, 10, 1)
    assert to_shanghai(instant).hour == 1


def test_shanghai_day_start_is_16h_utc_the_day_before():
    assert shanghai_day_start(date(2025, 10, 1)) == datetime(2025, 9, 30, 16, 0, tzinfo=UTC)
    assert shanghai_day_start(date(2025, 10, 1)).tzinfo is UTC
