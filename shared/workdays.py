"""The Chinese working-day calendar: statutory holidays and weekend make-up working days (调休).

Deadlines in this scheme are counted in working days ("paid within 3 working days"), and a
Chinese working day is not simply Monday to Friday: around each festival the State Council
moves days about, so that e.g. 1–8 October 2025 were all days off while Sunday 28 September
and Saturday 11 October were working days.

**Data, not code.** The calendar is built from ``shared/workdays_cn.toml``: one table per year,
transcribed from the annual notice (国务院办公厅关于部分节假日安排的通知). A new year's notice
is added there, with a new ``version``; no code changes. The file is read once (see
:func:`default_calendar`); every method is then pure arithmetic, with no I/O and no clock.

**Outside the covered years** (before the first table, after the last: the notice for the next
year usually appears in November) the calendar falls back to the weekends-only rule: Monday to
Friday are working days. That is the best guess available, but a guess: festivals *will* be
missed. So :meth:`WorkdayCalendar.covers` tells whether a day is covered, and a caller that
records a deadline should flag one computed from uncovered days (the covered years are
contiguous, so a span is covered when both its ends are). We do not raise instead: a deadline
a little off is better than a claim that cannot be processed on 2 January.

**Dates of instants.** Wherever a method takes a ``datetime``, it must be timezone-aware; what
counts is the calendar day *in Asia/Shanghai*: 2025-09-30T17:00Z is 1 October, a holiday.
"""

from __future__ import annotations

import bisect
import functools
import importlib.resources
import tomllib
from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeGuard, overload

from shared.clock import shanghai_date, shanghai_day_start

__all__ = [
    "CalendarDataError",
    "WorkdayCalendar",
    "default_calendar",
]

_DATA_FILE = "workdays_cn.toml"
_SCHEMA = 1
_SATURDAY = 5
_ONE_DAY = timedelta(days=1)
_TOP_KEYS = frozenset({"schema", "version", "source", "years"})
_YEAR_KEYS = frozenset({"holidays", "makeup_workdays", "notice"})


class CalendarDataError(ValueError):
    """The calendar data is malformed or contradicts itself."""


class WorkdayCalendar:
    """Which days are working days in mainland China, and deadlines counted in them.

    Build it with :meth:`from_toml` (or take the shared one from :func:`default_calendar`);
    the constructor is for tests that want a tiny made-up calendar.
    """

    def __init__(
        self,
        *,
        years: range,
        holidays: Mapping[date, str],
        makeup_workdays: Mapping[date, str],
        version: str,
        source: str = "",
    ) -> None:
        """``holidays`` and ``makeup_workdays`` map each listed day to its festival's name.

        ``years`` is the contiguous range of covered years (``range(2004, 2027)``); every
        listed day must fall in it.
        """
        if years.step != 1:
            raise CalendarDataError("covered years must be contiguous")
        both = holidays.keys() & makeup_workdays.keys()
        if both:
            raise CalendarDataError(f"days both holiday and make-up workday: {_dates(both)}")
        outside = [d for d in (*holidays, *makeup_workdays) if d.year not in years]
        if outside:
            raise CalendarDataError(f"days outside the covered years {years}: {_dates(outside)}")
        on_weekdays = [d for d in makeup_workdays if d.weekday() < _SATURDAY]
        if on_weekdays:
            # A make-up workday on a weekday changes nothing: it is a typo for another day.
            raise CalendarDataError(f"make-up workdays not on a weekend: {_dates(on_weekdays)}")

        self.version = version
        self.source = source
        self._years = years
        self._holidays = dict(holidays)
        self._makeup = dict(makeup_workdays)
        # The exceptions to the weekday rule, sorted, so that counting working days over any
        # span is two bisections instead of a walk over every day.
        self._weekday_holidays = sorted(d for d in holidays if d.weekday() < _SATURDAY)
        self._makeup_sorted = sorted(makeup_workdays)

    @classmethod
    def from_toml(cls, text: str) -> WorkdayCalendar:
        """Parse the format of ``shared/workdays_cn.toml`` (its header comment describes it)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise CalendarDataError(f"not valid TOML: {e}") from e
        return _parse(data)

    @classmethod
    def from_file(cls, path: Path) -> WorkdayCalendar:
        return cls.from_toml(path.read_text(encoding="utf-8"))

    def __repr__(self) -> str:
        first, last = self._years.start, self._years.stop - 1
        return f"WorkdayCalendar(version={self.version!r}, years={first}..{last})"

    @property
    def covered_years(self) -> range:
        return self._years

    def covers(self, day: date) -> bool:
        """Whether ``day`` (or the Shanghai day of an instant) is in a year with official data."""
        return _day(day).year in self._years

    def is_workday(self, day: date) -> bool:
        """Whether ``day`` (or the Shanghai day of an instant) is a working day."""
        d = _day(day)
        if d in self._makeup:
            return True
        if d in self._holidays:
            return False
        return d.weekday() < _SATURDAY

    def holiday_name(self, day: date) -> str | None:
        """The festival ("国庆节") if ``day`` is a listed day off, else None (weekends too)."""
        return self._holidays.get(_day(day))

    @overload
    def add_workdays(self, start: datetime, n: int) -> datetime: ...
    @overload
    def add_workdays(self, start: date, n: int) -> date: ...
    def add_workdays(self, start: date, n: int) -> date:
        """The deadline ``n`` working days after ``start``; ``n >= 0``.

        For a **date** D: the ``n``-th working day after D. D itself never counts, whether or not
        it is a working day (the day of the event is spent already), so a confirmation on Friday
        with ``n=1`` gives Monday, and ``n=0`` gives D itself.

        For an **instant** (timezone-aware datetime) on Shanghai day D, whatever the time of day:
        the end of the ``n``-th working day after D, given as the *exclusive* bound — midnight at
        the start of the following day in Shanghai, as a UTC instant. Something is on time when
        ``at < deadline``. An exclusive bound is used rather than 23:59:59.999999 because it is
        exact at every precision (the database, JavaScript and protobuf Timestamps round
        differently) and because "before midnight" is what the rule means. Show people the
        last day itself (``add_workdays(shanghai_date(t), n)``), not this midnight.
        """
        if n < 0:
            raise ValueError(f"n must not be negative, got {n}")
        if isinstance(start, datetime):
            last_day = self._add(shanghai_date(start), n)
            return shanghai_day_start(last_day + _ONE_DAY)
        return self._add(start, n)

    def _add(self, d: date, n: int) -> date:
        remaining = n
        while remaining:
            d += _ONE_DAY
            if self.is_workday(d):
                remaining -= 1
        return d

    def workdays_between(self, a: date, b: date) -> int:
        """How many working days after ``a`` is ``b``: the working days in ``(a, b]``.

        Negative when ``b`` is before ``a`` (``-workdays_between(b, a)``), zero when they are the
        same day. It inverts :meth:`add_workdays`: ``workdays_between(d, add_workdays(d, n)) ==
        n``. Instants are taken as their Shanghai days.
        """
        start, end = _day(a), _day(b)
        if end < start:
            return -self.workdays_between(end, start)
        weekdays = _weekdays_through(end) - _weekdays_through(start)
        return (
            weekdays
            - _count_in(self._weekday_holidays, start, end)
            + _count_in(self._makeup_sorted, start, end)
        )


@functools.cache
def default_calendar() -> WorkdayCalendar:
    """The calendar from the data file shipped with this package, read once per process."""
    text = importlib.resources.files("shared").joinpath(_DATA_FILE).read_text(encoding="utf-8")
    return WorkdayCalendar.from_toml(text)


def _day(value: date) -> date:
    """A date as is; an aware instant as its Shanghai day (a naive one is refused)."""
    if isinstance(value, datetime):
        return shanghai_date(value)
    return value


def _weekdays_through(d: date) -> int:
    """Mondays to Fridays from 0001-01-01 (a Monday, ordinal 1) through ``d``."""
    weeks, extra = divmod(d.toordinal(), 7)
    return 5 * weeks + min(extra, 5)


def _count_in(sorted_days: list[date], after: date, through: date) -> int:
    """How many of ``sorted_days`` fall in ``(after, through]``."""
    return bisect.bisect_right(sorted_days, through) - bisect.bisect_right(sorted_days, after)


def _dates(days: Iterable[date]) -> str:
    return ", ".join(d.isoformat() for d in sorted(days))


def _parse(data: dict[str, Any]) -> WorkdayCalendar:
    unknown = data.keys() - _TOP_KEYS
    if unknown:
        raise CalendarDataError(f"unknown top-level keys {sorted(unknown)}")
    if data.get("schema") != _SCHEMA:
        raise CalendarDataError(f"unsupported schema {data.get('schema')!r}, expected {_SCHEMA}")
    version, source = data.get("version"), data.get("source", "")
    if not isinstance(version, str) or not version:
        raise CalendarDataError("missing version")
    if not isinstance(source, str):
        raise CalendarDataError("source must be a string")
    tables = data.get("years")
    if not isinstance(tables, dict) or not tables:
        raise CalendarDataError("no [years.<year>] tables")
    try:
        years = sorted(int(y) for y in tables)
    except ValueError as e:
        raise CalendarDataError(f"year keys must be years: {sorted(tables)}") from e
    if years != list(range(years[0], years[-1] + 1)):
        raise CalendarDataError(f"covered years must be contiguous, got {years}")

    holidays: dict[date, str] = {}
    makeup: dict[date, str] = {}
    for year in years:
        table = tables[str(year)]
        if not isinstance(table, dict):
            raise CalendarDataError(f"years.{year} must be a table")
        # A misspelt key ("holiday = [...]") would otherwise drop a whole year's holidays.
        unknown = table.keys() - _YEAR_KEYS
        if unknown:
            raise CalendarDataError(f"years.{year}: unknown keys {sorted(unknown)}")
        for key, target in (("holidays", holidays), ("makeup_workdays", makeup)):
            for name, day in _entries(table.get(key, []), f"years.{year}.{key}"):
                if day.year != year:
                    raise CalendarDataError(f"years.{year}.{key}: {day} is not in {year}")
                if day in target:
                    raise CalendarDataError(f"years.{year}.{key}: {day} listed twice")
                target[day] = name
    return WorkdayCalendar(
        years=range(years[0], years[-1] + 1),
        holidays=holidays,
        makeup_workdays=makeup,
        version=version,
        source=source,
    )


def _entries(raw: object, where: str) -> Iterable[tuple[str, date]]:
    """(name, day) for every day of ``[{ name = "...", days = [d, [first, last], ...] }, ...]``."""
    if not isinstance(raw, list):
        raise CalendarDataError(f"{where} must be an array")
    for entry in raw:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise CalendarDataError(f"{where}: each entry needs a name and days, got {entry!r}")
        name, days = entry["name"], entry.get("days")
        if not isinstance(days, list) or not days:
            raise CalendarDataError(f"{where}: {name} has no days")
        for item in days:
            if _is_date(item):
                yield name, item
            elif isinstance(item, list) and len(item) == 2 and all(map(_is_date, item)):
                first, last = item
                if last < first:
                    raise CalendarDataError(f"{where}: {name} range {first}..{last} is backwards")
                day = first
                while day <= last:
                    yield name, day
                    day += _ONE_DAY
            else:
                raise CalendarDataError(f"{where}: {name}: {item!r} is not a date or a range")


def _is_date(value: object) -> TypeGuard[date]:
    # TOML datetimes parse to datetime, a subclass of date: a time of day here is a typo.
    return isinstance(value, date) and not isinstance(value, datetime)
