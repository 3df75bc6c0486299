"""The black/white list pages' small rules: months as the contractors service writes them
("YYYY-MM", which sort as text), the user's regions, and where a manual override stands."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime
from enum import StrEnum

from services.web.domain.formatting import SHANGHAI

STATUSES: tuple[str, ...] = ("white", "grey", "black")
ALL_REGIONS = "*"
_MONTH = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")  # ASCII digits only, as the service writes


def month_of(at: datetime) -> str:
    """The month of an aware instant, in China (a month turns at midnight in Shanghai)."""
    return at.astimezone(SHANGHAI).strftime("%Y-%m")


def is_month(text: str) -> bool:
    return _MONTH.fullmatch(text) is not None


def months_ending(last: str, count: int) -> tuple[str, ...]:
    """``count`` consecutive months up to and including ``last``, oldest first."""
    if not is_month(last):
        raise ValueError(f"not a month YYYY-MM: {last!r}")
    index = int(last[:4]) * 12 + int(last[5:]) - 1
    return tuple(f"{i // 12:04d}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1))


def in_regions(code: str, prefixes: Iterable[str]) -> bool:
    """Whether a region code lies under one of a user's region prefixes ("*": everywhere)."""
    return any(p == ALL_REGIONS or code.startswith(p) for p in prefixes)


class OverrideState(StrEnum):
    PENDING = "pending"  # requested, waiting for a second person
    SCHEDULED = "scheduled"  # approved, from a later month
    IN_FORCE = "in_force"
    ENDED = "ended"


def override_state(
    *, approved: bool, effective_from: str, until: str, this_month: str
) -> OverrideState:
    """``until`` empty is open-ended; both ends are months the override covers."""
    if not approved:
        return OverrideState.PENDING
    if this_month < effective_from:
        return OverrideState.SCHEDULED
    if until and until < this_month:
        return OverrideState.ENDED
    return OverrideState.IN_FORCE
