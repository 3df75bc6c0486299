"""The dashboard's pure part: its window in calendar months, the histogram buckets, shares.

The figures themselves are counted by the database (set-based, one pass per table); this
module says over which instants and in which buckets, so the same numbers come out whatever
computes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from services.claims.domain.clocks import ClockKind
from services.claims.domain.errors import InvalidValue
from shared.clock import SHANGHAI, to_utc

DEFAULT_MONTHS = 12
MAX_MONTHS = 60
TOP_COMMUNITIES = 200

_MINUTE, _HOUR, _DAY = 60, 3600, 86400
# Upper bounds (seconds, exclusive) of the histogram buckets; the last bucket is open-ended.
# Arrival around the 15-minute promise and the 30-minute rule, repair around 24 hours,
# payment by calendar days (its deadline counts working days, so 3 days is not the line).
BUCKET_BOUNDS: Mapping[ClockKind, tuple[int, ...]] = {
    ClockKind.ARRIVAL: tuple(m * _MINUTE for m in (5, 10, 15, 20, 25, 30, 45, 60)),
    ClockKind.REPAIR: tuple(h * _HOUR for h in (2, 4, 8, 12, 24, 48, 72)),
    ClockKind.PAYMENT: tuple(d * _DAY for d in (1, 2, 3, 5, 7, 14)),
}


@dataclass(frozen=True)
class Window:
    start: datetime  # UTC, inclusive: midnight in Shanghai on the first day of a month
    end: datetime  # UTC, exclusive: the first midnight of the month after the current one
    months: tuple[str, ...]  # "2025-07", oldest first


def _month_start(year: int, month: int) -> datetime:
    return to_utc(datetime(year, month, 1, tzinfo=SHANGHAI))


def window(now: datetime, months: int) -> Window:
    """The last ``months`` calendar months in Shanghai, the current one included."""
    if not 1 <= months <= MAX_MONTHS:
        raise InvalidValue("months", f"1 to {MAX_MONTHS}")
    local = now.astimezone(SHANGHAI)
    index = local.year * 12 + local.month - 1  # months since year 0
    first = index - months + 1
    labels = tuple(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(first, index + 1))
    return Window(
        start=_month_start(first // 12, first % 12 + 1),
        end=_month_start((index + 1) // 12, (index + 1) % 12 + 1),
        months=labels,
    )


def share(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def buckets(bounds: Sequence[int], counts: Mapping[int, int]) -> list[tuple[int, int, int]]:
    """(from_seconds, to_seconds or 0 for no bound, count) for every bucket, zeros included.

    ``counts`` is keyed as PostgreSQL's ``width_bucket(value, bounds)`` numbers them: 0 below
    the first bound, i for ``bounds[i-1] <= value < bounds[i]``, len(bounds) from the last up.
    """
    edges = [0, *bounds]
    found = []
    for i, low in enumerate(edges):
        high = edges[i + 1] if i + 1 < len(edges) else 0
        found.append((low, high, counts.get(i, 0)))
    return found
