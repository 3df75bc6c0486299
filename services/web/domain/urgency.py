"""How urgent a claim looks in the queue: the colour of its clock.

The order itself comes from the claims service (least time left on an open clock, then flags,
then amount); this only names the band a row is in, so that a glance down the queue finds the
claims that are about to break a promise the scheme made to residents.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

SOON = timedelta(hours=2)


class Urgency(StrEnum):
    BREACHED = "breached"  # the promise is already broken
    SOON = "soon"  # under two hours left
    RUNNING = "running"
    NONE = "none"  # no open clock


def urgency(due_at: datetime | None, now: datetime, *, breached: bool = False) -> Urgency:
    if breached or (due_at is not None and due_at <= now):
        return Urgency.BREACHED
    if due_at is None:
        return Urgency.NONE
    return Urgency.SOON if due_at - now <= SOON else Urgency.RUNNING
