from datetime import UTC, date, datetime, timedelta

import pytest

from services.claims.domain.clocks import (
    ARRIVAL_DUE,
    ARRIVAL_TARGET,
    PAYMENT_WORKDAYS,
    REPAIR_DUE,
    ClockKind,
    ClockStatus,
    Deadline,
    breached,
    deadlines_on_report,
    payment_deadline,
    status,
    target_missed,
    time_left,
)
from services.claims.domain.errors import InvalidValue
from services.claims.domain.intake import FaultCategory
from shared.clock import SHANGHAI, shanghai_day_start
from shared.workdays import WorkdayCalendar

REPORTED = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)


def test_constants():
    assert timedelta(minutes=30) == ARRIVAL_DUE
    assert timedelta(minutes=15) == ARRIVAL_TARGET
    assert timedelta(hours=24) == REPAIR_DUE
    assert PAYMENT_WORKDAYS == 3


def test_trapped_passenger_starts_arrival_and_repair_clocks():
    arrival, repair = deadlines_on_report(FaultCategory.TRAPPED_PASSENGER, REPORTED)
    assert arrival == Deadline(
        ClockKind.ARRIVAL,
        REPORTED,
        REPORTED + timedelta(minutes=30),
        REPORTED + timedelta(minutes=15),
    )
    assert repair == Deadline(ClockKind.REPAIR, REPORTED, REPORTED + timedelta(hours=24))


def test_other_faults_start_the_repair_clock_only():
    (repair,) = deadlines_on_report(FaultCategory.DOOR_FAULT, REPORTED.astimezone(SHANGHAI))
    assert repair.kind is ClockKind.REPAIR
    assert repair.due_at == REPORTED + timedelta(hours=24)
    assert repair.due_at.tzinfo is UTC


def test_naive_times_are_refused():
    with pytest.raises(InvalidValue):
        deadlines_on_report(FaultCategory.OTHER, datetime(2025, 6, 2, 10, 0))
    with pytest.raises(InvalidValue):
        payment_deadline(datetime(2025, 6, 2, 10, 0))


def shanghai(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("confirmed", "last_day"),
    [
        # an ordinary week: Monday → Thursday
        (shanghai(2025, 9, 15), date(2025, 9, 18)),
        # Friday 26 Sept: Sunday 28 is a make-up working day, so Mon 29 and Tue 30 follow
        (shanghai(2025, 9, 26), date(2025, 9, 30)),
        # Tuesday 30 Sept: 1–8 Oct are days off; 9, 10 and Saturday 11 (make-up) count
        (shanghai(2025, 9, 30), date(2025, 10, 11)),
        # confirmed on the holiday itself
        (shanghai(2025, 10, 3), date(2025, 10, 11)),
        # late on 30 Sept in UTC is already 1 Oct in Shanghai: the Shanghai day counts
        (datetime(2025, 9, 30, 17, 0, tzinfo=UTC), date(2025, 10, 11)),
        # a minute before midnight on Monday 29 Sept, Shanghai: 30 Sept, 9 Oct, 10 Oct
        (shanghai(2025, 9, 29, 23, 59), date(2025, 10, 10)),
    ],
)
def test_payment_deadline_across_national_day_2025(confirmed, last_day):
    deadline = payment_deadline(confirmed)
    assert deadline.kind is ClockKind.PAYMENT
    assert deadline.target_at is None
    assert deadline.due_at == shanghai_day_start(last_day + timedelta(days=1))
    # paid during the last working day is on time; at its end it is late
    paid_last_evening = datetime.combine(last_day, datetime.min.time(), SHANGHAI) + timedelta(
        hours=23, minutes=59
    )
    assert not breached(deadline, met_at=paid_last_evening, now=paid_last_evening)
    assert breached(deadline, met_at=deadline.due_at, now=deadline.due_at)


def test_payment_deadline_with_an_injected_calendar():
    weekends_only = WorkdayCalendar(
        years=range(2025, 2026), holidays={}, makeup_workdays={}, version="test"
    )
    deadline = payment_deadline(shanghai(2025, 9, 30), calendar=weekends_only)
    assert deadline.due_at == shanghai_day_start(date(2025, 10, 4))
    assert (deadline.calendar_version, deadline.estimated) == ("test", False)
    # 31 Dec 2025 + 3 working days runs into 2026, which this calendar has no data for
    assert payment_deadline(shanghai(2025, 12, 31), calendar=weekends_only).estimated


def test_the_default_calendar_is_recorded():
    deadline = payment_deadline(shanghai(2025, 9, 30))
    assert deadline.calendar_version
    assert not deadline.estimated


def test_breach_and_status():
    d = Deadline(ClockKind.REPAIR, REPORTED, REPORTED + REPAIR_DUE)
    before, due, after = d.due_at - timedelta(seconds=1), d.due_at, d.due_at + timedelta(hours=1)
    assert status(d, met_at=None, now=before) is ClockStatus.RUNNING
    assert status(d, met_at=None, now=due) is ClockStatus.OVERDUE
    assert status(d, met_at=before, now=after) is ClockStatus.MET
    assert status(d, met_at=after, now=after) is ClockStatus.MET_LATE
    assert not breached(d, met_at=None, now=before)
    assert breached(d, met_at=None, now=after)
    assert not breached(d, met_at=before, now=after + timedelta(days=9))
    assert breached(d, met_at=after, now=after)


def test_target_missed_is_counted_apart_from_the_breach():
    arrival, _ = deadlines_on_report(FaultCategory.TRAPPED_PASSENGER, REPORTED)
    in_20 = REPORTED + timedelta(minutes=20)
    in_10 = REPORTED + timedelta(minutes=10)
    assert target_missed(arrival, met_at=in_20, now=in_20)
    assert not breached(arrival, met_at=in_20, now=in_20)
    assert not target_missed(arrival, met_at=in_10, now=in_20)
    assert target_missed(arrival, met_at=None, now=in_20)
    repair = Deadline(ClockKind.REPAIR, REPORTED, REPORTED + REPAIR_DUE)
    assert not target_missed(repair, met_at=None, now=in_20 + timedelta(days=3))


def test_time_left():
    arrival, _ = deadlines_on_report(FaultCategory.TRAPPED_PASSENGER, REPORTED)
    assert time_left(arrival, REPORTED + timedelta(minutes=12)) == timedelta(minutes=18)
    assert time_left(arrival, REPORTED + timedelta(minutes=40)) == -timedelta(minutes=10)


def test_a_deadline_must_make_sense():
    with pytest.raises(InvalidValue):
        Deadline(ClockKind.REPAIR, REPORTED, REPORTED)
    with pytest.raises(InvalidValue):
        Deadline(ClockKind.ARRIVAL, REPORTED, REPORTED + ARRIVAL_DUE, REPORTED + timedelta(hours=1))
