"""The scheme's promises as deadlines: rescue, repair and payment clocks.

- **arrival**: a trapped passenger (困人) must be reached within 30 minutes of the report
  (TSG T5002); the scheme's best sites promise 15, kept as ``target_at``.
- **repair**: every fault, a trapped passenger's too (the rescue frees the people, the
  elevator still needs mending), repaired within 24 hours of the report.
- **payment**: paid within 3 working days of the confirmation, counted on the Chinese
  working-day calendar (holidays and make-up working days).

**``due_at`` is exclusive**: the first instant that is late. Something is on time when it
happens strictly before ``due_at``. This is the convention of ``shared.workdays`` (whose
deadlines are midnight at the start of the following day), used for every clock so that one
comparison serves them all; at microsecond precision "at exactly 30:00.000000" is moot.

Deadlines are data computed once and stored with the claim, so they survive restarts and do
not move if the calendar file is later corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from services.claims.domain.errors import InvalidValue
from services.claims.domain.intake import FaultCategory, is_emergency
from services.claims.domain.times import require_aware
from shared.workdays import WorkdayCalendar, default_calendar

ARRIVAL_DUE = timedelta(minutes=30)
ARRIVAL_TARGET = timedelta(minutes=15)
REPAIR_DUE = timedelta(hours=24)
PAYMENT_WORKDAYS = 3


class ClockKind(StrEnum):
    ARRIVAL = "arrival"
    REPAIR = "repair"
    PAYMENT = "payment"


class ClockStatus(StrEnum):
    """Where a clock stands, for dashboards and escalation."""

    RUNNING = "running"  # not met, still time left
    MET = "met"  # met before due
    MET_LATE = "met_late"  # met, but at or after due: a breach that is over
    OVERDUE = "overdue"  # not met and due has passed: a breach still going on


@dataclass(frozen=True)
class Deadline:
    kind: ClockKind
    starts_at: datetime
    due_at: datetime  # exclusive: on time means strictly before this
    target_at: datetime | None = None  # the stricter promise, where there is one
    # Working-day clocks only: the calendar's version, and whether the span left the years
    # it has official data for (then the deadline is a weekends-only guess: flag it).
    calendar_version: str | None = None
    estimated: bool = False

    def __post_init__(self) -> None:
        # Stored in UTC whatever zone they came in, so equal deadlines compare and hash equal.
        object.__setattr__(self, "starts_at", require_aware(self.starts_at, "starts_at"))
        object.__setattr__(self, "due_at", require_aware(self.due_at, "due_at"))
        if self.due_at <= self.starts_at:
            raise InvalidValue("due_at", "a deadline must fall after its start")
        if self.target_at is not None:
            object.__setattr__(self, "target_at", require_aware(self.target_at, "target_at"))
            if not self.starts_at < self.target_at <= self.due_at:
                raise InvalidValue("target_at", "a target must fall between start and due")


def deadlines_on_report(category: FaultCategory, reported_at: datetime) -> list[Deadline]:
    """The clocks a new report starts: arrival for an emergency, repair for every fault."""
    at = require_aware(reported_at, "reported_at")
    found: list[Deadline] = []
    if is_emergency(category):
        found.append(
            Deadline(
                kind=ClockKind.ARRIVAL,
                starts_at=at,
                due_at=at + ARRIVAL_DUE,
                target_at=at + ARRIVAL_TARGET,
            )
        )
    found.append(Deadline(kind=ClockKind.REPAIR, starts_at=at, due_at=at + REPAIR_DUE))
    return found


def payment_deadline(confirmed_at: datetime, calendar: WorkdayCalendar | None = None) -> Deadline:
    """Paid by the end of the 3rd working day after the confirmation day (Shanghai days).

    The confirmation day itself never counts, whatever the hour: confirmed on Friday 26
    September 2025, the working days are Sunday 28 (a make-up day), Monday 29 and Tuesday 30,
    so the deadline is midnight starting 1 October. Confirmed on 30 September, 1–8 October are
    all days off and the third working day is Saturday 11 October (a make-up working day).
    """
    at = require_aware(confirmed_at, "confirmed_at")
    cal = default_calendar() if calendar is None else calendar
    due = cal.add_workdays(at, PAYMENT_WORKDAYS)
    return Deadline(
        kind=ClockKind.PAYMENT,
        starts_at=at,
        due_at=due,
        calendar_version=cal.version,
        # The covered years are contiguous, so the span is covered when both ends are.
        estimated=not (cal.covers(at) and cal.covers(due - timedelta(microseconds=1))),
    )


def _late(at: datetime, bound: datetime) -> bool:
    return at >= bound


def status(deadline: Deadline, *, met_at: datetime | None, now: datetime) -> ClockStatus:
    now = require_aware(now, "now")
    if met_at is not None:
        met = require_aware(met_at, "met_at")
        return ClockStatus.MET_LATE if _late(met, deadline.due_at) else ClockStatus.MET
    return ClockStatus.OVERDUE if _late(now, deadline.due_at) else ClockStatus.RUNNING


def breached(deadline: Deadline, *, met_at: datetime | None, now: datetime) -> bool:
    """Met at or after due, or not met and due has passed (``due_at`` is exclusive)."""
    return status(deadline, met_at=met_at, now=now) in (ClockStatus.MET_LATE, ClockStatus.OVERDUE)


def target_missed(deadline: Deadline, *, met_at: datetime | None, now: datetime) -> bool:
    """The stricter promise (15 minutes to a trapped passenger) was or is being missed.

    Not a breach of the rule, but counted: the scheme advertises it.
    """
    if deadline.target_at is None:
        return False
    moment = require_aware(now, "now") if met_at is None else require_aware(met_at, "met_at")
    return _late(moment, deadline.target_at)


def time_left(deadline: Deadline, now: datetime) -> timedelta:
    """Until due; negative once overdue (by how much)."""
    return deadline.due_at - require_aware(now, "now")
