"""An injectable clock, and the two time zones this project lives in.

Timestamps are timezone-aware UTC in storage and in code; Asia/Shanghai is for people (screens,
reports) and for deciding which calendar day something happened on (working-day deadlines).
Code never calls ``datetime.now()`` itself: it asks an injected :class:`Clock`, so that tests
can pin and move time with :class:`ManualClock`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

__all__ = [
    "SHANGHAI",
    "UTC",
    "Clock",
    "FixedClock",
    "ManualClock",
    "SystemClock",
    "require_aware",
    "shanghai_date",
    "shanghai_day_start",
    "to_shanghai",
    "to_utc",
]

SHANGHAI = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    """Where code gets "now" from."""

    def now(self) -> datetime:
        """The current instant, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def __repr__(self) -> str:
        return "SystemClock()"


# 2025-01-06 02:00 UTC is Monday 10:00 in Shanghai: an ordinary working morning, far from any
# holiday, so a test that does not care about the date gets no surprises from the calendar.
_DEFAULT_TEST_START = datetime(2025, 1, 6, 2, 0, tzinfo=UTC)


class ManualClock:
    """A clock for tests: it stands still until told to move.

    ``now()`` returns the same instant every time; ``set()`` jumps to an instant and
    ``advance()`` moves by a duration (a negative one too: tests of clock skew need it).
    """

    def __init__(self, at: datetime = _DEFAULT_TEST_START) -> None:
        self._now = to_utc(at)

    def now(self) -> datetime:
        return self._now

    def set(self, at: datetime) -> None:
        self._now = to_utc(at)

    def advance(self, delta: timedelta) -> datetime:
        """Move by ``delta``; returns the new "now" for convenience."""
        self._now += delta
        return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self._now.isoformat()})"


# The same thing under the other name tests tend to reach for.
FixedClock = ManualClock


def require_aware(dt: datetime) -> datetime:
    """``dt`` unchanged if it carries a time zone; ValueError if it is naive.

    A naive datetime is ambiguous (UTC? server-local? Shanghai?): refuse it at the boundary
    rather than guess and be off by eight hours.
    """
    if dt.tzinfo is None or dt.tzinfo.utcoffset(dt) is None:
        raise ValueError(f"naive datetime {dt.isoformat()} (a time zone is required)")
    return dt


def to_utc(dt: datetime) -> datetime:
    """The same instant in UTC; ValueError if ``dt`` is naive."""
    return require_aware(dt).astimezone(UTC)


def to_shanghai(dt: datetime) -> datetime:
    """The same instant in Asia/Shanghai; ValueError if ``dt`` is naive."""
    return require_aware(dt).astimezone(SHANGHAI)


def shanghai_date(dt: datetime) -> date:
    """The calendar day in Shanghai on which the instant ``dt`` falls.

    2025-09-30T17:00Z is already 1 October in Shanghai: this is the day that counts for
    holidays and deadlines, not the UTC date.
    """
    return to_shanghai(dt).date()


def shanghai_day_start(d: date) -> datetime:
    """Midnight at the start of day ``d`` in Shanghai, as a UTC instant."""
    return datetime.combine(d, time(0), tzinfo=SHANGHAI).astimezone(UTC)
