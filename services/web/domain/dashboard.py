"""The dashboard's numbers as people read them: bucket labels in the clock's own unit, shares
as percentages. The figures come from the claims service (GetDashboard); this only shapes them."""

from __future__ import annotations

# Each clock's histogram is read in the unit its promise is made in: arrival in minutes
# (15/30), repair in hours (24), payment in days (3 working days).
UNIT_SECONDS = {"arrival": 60, "repair": 3600, "payment": 86400}
UNIT_KEY = {"arrival": "unit.minutes", "repair": "unit.hours", "payment": "unit.days"}


def bucket_label(clock: str, from_seconds: int, to_seconds: int) -> str:
    """ "15–30", "≥ 48": the bucket's bounds in the clock's unit."""
    unit = UNIT_SECONDS[clock]
    low = _number(from_seconds / unit)
    if to_seconds == 0:
        return f"≥ {low}"
    return f"{low}–{_number(to_seconds / unit)}"


def share(value: float) -> str:
    return f"{value * 100:.1f}%"


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"
