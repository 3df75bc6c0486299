from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import chinese_calendar
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.clock import SHANGHAI, shanghai_date
from shared.workdays import CalendarDataError, WorkdayCalendar, default_calendar

DATA_FILE = Path(__file__).parents[3] / "shared" / "workdays_cn.toml"
CAL = default_calendar()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(i) for i in range((last - first).days + 1)]


# --- the data ---------------------------------------------------------------------------------


def test_data_file_agrees_with_chinese_calendar_package_day_by_day():
    # The file was transcribed from the package; this catches a slip in either direction.
    years = CAL.covered_years
    assert years == range(2004, 2027)
    for d in days(date(years.start, 1, 1), date(years.stop - 1, 12, 31)):
        assert CAL.is_workday(d) == chinese_calendar.is_workday(d), d


def test_default_calendar_is_loaded_once():
    assert default_calendar() is default_calendar()
    assert CAL.version == "2026.1"
    assert "chinese-calendar" in CAL.source


# --- golden days --------------------------------------------------------------------------------


def test_national_day_golden_week_2025():
    assert not any(CAL.is_workday(d) for d in days(date(2025, 10, 1), date(2025, 10, 8)))
    assert CAL.is_workday(date(2025, 9, 28))  # Sunday, make-up working day
    assert CAL.is_workday(date(2025, 10, 11))  # Saturday, make-up working day
    assert not CAL.is_workday(date(2025, 9, 27))  # an ordinary Saturday
    assert not CAL.is_workday(date(2025, 10, 12))  # an ordinary Sunday
    assert CAL.is_workday(date(2025, 10, 9))
    assert CAL.holiday_name(date(2025, 10, 6)) == "中秋"  # Mid-Autumn fell inside the week
    assert CAL.holiday_name(date(2025, 10, 2)) == "国庆节"
    assert CAL.holiday_name(date(2025, 10, 12)) is None


def test_spring_festival_2026():
    assert not any(CAL.is_workday(d) for d in days(date(2026, 2, 15), date(2026, 2, 23)))
    assert {CAL.holiday_name(d) for d in days(date(2026, 2, 15), date(2026, 2, 23))} == {"春节"}
    assert CAL.is_workday(date(2026, 2, 14))  # Saturday before
    assert CAL.is_workday(date(2026, 2, 28))  # Saturday after
    assert CAL.is_workday(date(2026, 2, 24))


def test_instant_counts_by_its_shanghai_day():
    # 2025-09-30 17:00 UTC is 1 October 01:00 in Shanghai: a holiday, though the UTC date is not.
    assert CAL.is_workday(date(2025, 9, 30))
    assert not CAL.is_workday(datetime(2025, 9, 30, 17, 0, tzinfo=UTC))


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="naive"):
        CAL.is_workday(datetime(2025, 10, 1, 12, 0))
    with pytest.raises(ValueError, match="naive"):
        CAL.add_workdays(datetime(2025, 10, 1, 12, 0), 3)


# --- deadlines -----------------------------------------------------------------------------------


def test_deadline_spanning_national_day_2025():
    # Confirmed Tuesday 30 September afternoon; 3 working days: 9 Oct, 10 Oct, Saturday 11 Oct.
    confirmed = datetime(2025, 9, 30, 15, 0, tzinfo=SHANGHAI)
    assert CAL.add_workdays(confirmed.date(), 3) == date(2025, 10, 11)
    deadline = CAL.add_workdays(confirmed, 3)
    assert deadline == datetime(2025, 10, 12, 0, 0, tzinfo=SHANGHAI)
    assert deadline.tzinfo is UTC
    assert CAL.workdays_between(confirmed.date(), date(2025, 10, 11)) == 3


def test_deadline_spanning_spring_festival_2026():
    # Friday 13 Feb: Saturday 14 Feb (make-up), then nine days off, then 24 and 25 Feb.
    assert CAL.add_workdays(date(2026, 2, 13), 3) == date(2026, 2, 25)


def test_deadline_ignores_time_of_day_but_not_the_shanghai_date():
    earliest = datetime(2025, 9, 28, 0, 0, tzinfo=SHANGHAI)
    latest = datetime(2025, 9, 28, 23, 59, 59, 999999, tzinfo=SHANGHAI)
    assert CAL.add_workdays(earliest, 1) == CAL.add_workdays(latest, 1)
    assert CAL.add_workdays(earliest, 1) == datetime(2025, 9, 30, 0, 0, tzinfo=SHANGHAI)
    # 27 Sep 17:00 UTC is Sunday 28 Sep in Shanghai; counting from the UTC date would give 28 Sep.
    assert CAL.add_workdays(datetime(2025, 9, 27, 17, 0, tzinfo=UTC), 1) == CAL.add_workdays(
        earliest, 1
    )


def test_day_of_the_event_never_counts():
    assert CAL.add_workdays(date(2025, 1, 10), 1) == date(2025, 1, 13)  # Friday → Monday
    assert CAL.add_workdays(date(2025, 1, 11), 1) == date(2025, 1, 13)  # Saturday → Monday
    assert CAL.add_workdays(date(2025, 1, 11), 0) == date(2025, 1, 11)


def test_negative_n_is_refused():
    with pytest.raises(ValueError, match="negative"):
        CAL.add_workdays(date(2025, 1, 1), -1)


# --- outside the data ----------------------------------------------------------------------------


def test_uncovered_years_fall_back_to_weekends_only_and_say_so():
    assert CAL.covers(date(2026, 12, 31)) and CAL.covers(date(2004, 1, 1))
    assert not CAL.covers(date(2027, 1, 1)) and not CAL.covers(date(2003, 12, 31))
    assert not CAL.covers(datetime(2026, 12, 31, 16, 0, tzinfo=UTC))  # already 2027 in Shanghai
    assert CAL.is_workday(date(2027, 10, 1))  # a Friday: National Day is not known yet
    assert not CAL.is_workday(date(2027, 10, 2))  # a Saturday
    assert CAL.add_workdays(date(2026, 12, 31), 2) == date(2027, 1, 4)


def test_a_new_year_is_added_as_data():
    extra = """
[years.2027]
notice = "made up for the test"
holidays = [{ name = "国庆节", days = [[2027-10-01, 2027-10-07]] }]
makeup_workdays = [{ name = "国庆节", days = [2027-09-26, 2027-10-09] }]
"""
    cal = WorkdayCalendar.from_toml(DATA_FILE.read_text(encoding="utf-8") + extra)
    assert cal.covers(date(2027, 10, 1))
    assert not cal.is_workday(date(2027, 10, 1))
    assert cal.is_workday(date(2027, 10, 9))
    assert cal.add_workdays(date(2027, 9, 30), 1) == date(2027, 10, 8)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            '[years.2025]\nmakeup_workdays = [{ name = "x", days = [2025-10-10] }]',
            "not on a weekend",
        ),
        ('[years.2025]\nholidays = [{ name = "x", days = [2026-01-01] }]', "is not in 2025"),
        ("[years.2025]\n[years.2027]", "contiguous"),
        ('[years.2025]\nholiday = [{ name = "x", days = [2025-10-01] }]', "unknown keys"),
        (
            '[years.2025]\nholidays = [{ name = "x", days = [[2025-10-08, 2025-10-01]] }]',
            "backwards",
        ),
        ('[years.2025]\nholidays = [{ name = "x", days = [2025-10-01T08:00:00] }]', "not a date"),
        (
            '[years.2025]\nholidays = [{ name = "x", days = [2025-10-04] }]\n'
            'makeup_workdays = [{ name = "x", days = [2025-10-04] }]',
            "both",
        ),
        (
            '[years.2025]\nholidays = [{ name = "x",'
            " days = [2025-10-01, [2025-09-30, 2025-10-02]] }]",
            "twice",
        ),
    ],
)
def test_bad_data_is_refused_with_its_place(body, error):
    with pytest.raises(CalendarDataError, match=error):
        WorkdayCalendar.from_toml(f'schema = 1\nversion = "t"\n{body}\n')


def test_unknown_schema_is_refused():
    with pytest.raises(CalendarDataError, match="schema"):
        WorkdayCalendar.from_toml('schema = 2\nversion = "t"\n[years.2025]\n')


# --- properties ----------------------------------------------------------------------------------

any_day = st.dates(date(2002, 1, 1), date(2028, 12, 31))  # both sides of the covered years
counts = st.integers(0, 80)


@given(any_day, st.integers(1, 80))
def test_add_workdays_lands_on_a_workday(d, n):
    assert CAL.is_workday(CAL.add_workdays(d, n))


@given(any_day, counts)
def test_add_workdays_is_strictly_monotonic_in_n(d, n):
    assert CAL.add_workdays(d, n) < CAL.add_workdays(d, n + 1)


@given(any_day, counts)
def test_workdays_between_inverts_add_workdays(d, n):
    assert CAL.workdays_between(d, CAL.add_workdays(d, n)) == n


@settings(max_examples=200)
@given(any_day, st.integers(-400, 400))
def test_workdays_between_counts_the_days_after_a_through_b(a, offset):
    b = a + timedelta(offset)
    lo, hi = min(a, b), max(a, b)
    brute = sum(CAL.is_workday(d) for d in days(lo + timedelta(1), hi)) if hi > lo else 0
    assert CAL.workdays_between(a, b) == (brute if b >= a else -brute)


@given(any_day, st.times(), counts)
def test_instant_deadline_is_shanghai_midnight_after_the_last_day(d, t, n):
    confirmed = datetime.combine(d, t, tzinfo=SHANGHAI)
    deadline = CAL.add_workdays(confirmed, n)
    last_day = CAL.add_workdays(d, n)
    assert deadline.tzinfo is UTC
    assert shanghai_date(deadline) == last_day + timedelta(1)
    assert deadline.astimezone(SHANGHAI).time() == time(0)
    assert shanghai_date(deadline - timedelta(microseconds=1)) == last_day
