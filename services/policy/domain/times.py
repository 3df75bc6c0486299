"""Time rules shared by the domain: aware instants, the Chinese calendar day, year arithmetic.

Nothing here reads a clock; callers pass "now" in.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from services.policy.domain.errors import InvalidValue

# China has kept UTC+8 without daylight saving since 1991, so a fixed offset is exact for every
# date this service handles and needs no tz database.
CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def require_aware(value: datetime, field: str) -> datetime:
    """Return ``value`` if it carries a UTC offset; a naive datetime is ambiguous, so refuse it."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, f"{field} must be timezone-aware, got naive {value.isoformat()}")
    return value


def china_date(moment: datetime) -> date:
    """The calendar day in China at ``moment``: inspection due dates are Chinese dates."""
    return require_aware(moment, "moment").astimezone(CHINA_TZ).date()


def add_years(day: date, years: int) -> date:
    """The same month and day ``years`` later; 29 February becomes 1 March.

    A policy from 29 Feb 2024 runs "to 28 Feb 2025, 24:00", whose exclusive end is 1 March.
    """
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February in a non-leap year
        return date(day.year + years, 3, 1)


def add_years_to_moment(moment: datetime, years: int) -> datetime:
    """``add_years`` for an instant, keeping its wall-clock time and offset."""
    moved = add_years(moment.date(), years)
    return moment.replace(year=moved.year, month=moved.month, day=moved.day)
