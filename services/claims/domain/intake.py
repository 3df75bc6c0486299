"""First notice of loss (报案): where a report comes from, what kind of fault it is, and the
key that folds an alarm storm into one open incident.

An IoT platform can raise the same alarm for the same elevator every few seconds. Each alarm
is idempotent by its source event id (a retry never makes a second claim), and on top of that
every report with the same :func:`fold_key` — the same elevator and fault category — joins the
open claim with that key instead of opening another. A *different* fault of the same elevator
(a trapped passenger while a door fault is open) is a different incident.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from services.claims.domain.errors import InvalidInput, InvalidValue, raise_problems
from services.claims.domain.times import require_aware


class Source(StrEnum):
    """Who told us. Stable codes."""

    IOT_ALARM = "iot_alarm"  # 电梯卫士: a sensor alarm through the IoT platform
    PROPERTY_MANAGER = "property_manager"  # 物业
    OWNER_VIA_PROPERTY_MANAGER = "owner_via_property_manager"  # an owner, relayed by 物业
    ADJUSTER = "adjuster"  # entered by the insurer's own staff (a phone call, say)


class FaultCategory(StrEnum):
    """What the reporter saw, in the words a sensor or a property manager can use.

    Deliberately coarse: the cause (which part failed) is the contractor's finding, not the
    reporter's. Stable codes. Beyond the obvious ones:

    - ``stopped``: the elevator stands still with nobody inside (停梯), cause unknown;
    - ``leveling_fault``: the car stops above or below the landing (平层不准);
    - ``brake_fault``: the brake slips or drags (抱闸/制动器), a safety-critical fault;
    - ``wear``: a worn part found at routine maintenance (a rope, guide shoes) before it fails.
    """

    TRAPPED_PASSENGER = "trapped_passenger"  # 困人
    DOOR_FAULT = "door_fault"  # 门故障
    ABNORMAL_NOISE = "abnormal_noise"  # 异响
    STOPPED = "stopped"  # 停梯
    OVERSPEED = "overspeed"  # 超速
    LEVELING_FAULT = "leveling_fault"  # 平层不准
    ELECTRICAL_FAULT = "electrical_fault"  # 电气故障
    BRAKE_FAULT = "brake_fault"  # 制动器故障
    WEAR = "wear"  # 部件磨损
    OTHER = "other"


# The policy service's peril codes (services.policy.domain.products.Peril), as plain strings:
# the claims domain talks to policy over gRPC and must not import its domain.
MECHANICAL_FAILURE = "mechanical_failure"
ELECTRICAL_FAILURE = "electrical_failure"
DOOR_SYSTEM = "door_system"
TRAPPED_PASSENGER = "trapped_passenger"
WEAR_AND_TEAR = "wear_and_tear"

# The peril a report is first checked against. Faults with no obvious electrical cause go to
# mechanical failure, the broadest covered peril; the adjuster may reclassify once the
# contractor has found the cause (a leveling fault is usually the encoder or the leveling
# sensor, hence electrical).
_PERILS = MappingProxyType(
    {
        FaultCategory.TRAPPED_PASSENGER: TRAPPED_PASSENGER,
        FaultCategory.DOOR_FAULT: DOOR_SYSTEM,
        FaultCategory.ABNORMAL_NOISE: MECHANICAL_FAILURE,
        FaultCategory.STOPPED: MECHANICAL_FAILURE,
        FaultCategory.OVERSPEED: MECHANICAL_FAILURE,
        FaultCategory.LEVELING_FAULT: ELECTRICAL_FAILURE,
        FaultCategory.ELECTRICAL_FAULT: ELECTRICAL_FAILURE,
        FaultCategory.BRAKE_FAULT: MECHANICAL_FAILURE,
        FaultCategory.WEAR: WEAR_AND_TEAR,
        FaultCategory.OTHER: MECHANICAL_FAILURE,
    }
)

# Emergencies start the 30-minute arrival clock. Only a trapped passenger: TSG T5002's rule is
# about rescue. An overspeed or brake fault is dangerous too, but the elevator is taken out of
# service and nobody is inside, so it is handled as an urgent repair (24 hours).
_EMERGENCIES = frozenset({FaultCategory.TRAPPED_PASSENGER})


def peril_for(category: FaultCategory) -> str:
    """The policy service's peril code to check coverage against."""
    return _PERILS[FaultCategory(category)]


def is_emergency(category: FaultCategory) -> bool:
    return FaultCategory(category) in _EMERGENCIES


ELEVATOR_ID_MAX_CHARS = 64
# Equipment codes are digits, registration numbers mix Chinese and Latin letters, digits and
# a few separators; whitespace and the fold-key separator are never part of one.
_FOLD_SEPARATOR = "#"
_ELEVATOR_ID = re.compile(r"[^\s#]+")


def fold_key(elevator_id: str, category: FaultCategory) -> str:
    """``"<elevator_id>#<category>"``: reports with the same key fold into one open claim.

    The id is taken exactly as given (no case folding: registry codes are compared as
    strings, and the exchange already normalises them).
    """
    check_elevator_id(elevator_id)
    return f"{elevator_id}{_FOLD_SEPARATOR}{FaultCategory(category)}"


def check_elevator_id(elevator_id: str, field: str = "elevator_id") -> str:
    if not elevator_id:
        raise InvalidValue(field, "elevator_id must not be empty")
    if len(elevator_id) > ELEVATOR_ID_MAX_CHARS:
        raise InvalidValue(field, f"elevator_id is longer than {ELEVATOR_ID_MAX_CHARS} characters")
    if not _ELEVATOR_ID.fullmatch(elevator_id):
        raise InvalidValue(field, "elevator_id must not contain whitespace or '#'")
    return elevator_id


# Bounds of a report. A person's report must say something (at least a few characters: "困人"
# is two, "电梯困人" four); an alarm may carry only its code. The upper bounds stop a partner
# from sending a novel or a photo in a text field.
DESCRIPTION_MIN_CHARS = 2
DESCRIPTION_MAX_CHARS = 2000
SOURCE_EVENT_ID_MAX_CHARS = 128
REPORTER_MAX_CHARS = 128
# How far in the future a report's time may be: partners' clocks drift. Beyond this it is a
# wrong clock or a wrong time zone (8 hours!), and the response clocks would start late.
CLOCK_SKEW = timedelta(minutes=5)
_PRINTABLE_ID = re.compile(r"[\x21-\x7e]+")


@dataclass(frozen=True)
class Report:
    """A validated first notice of loss."""

    source: Source
    source_event_id: str  # the idempotency key, unique per source
    elevator_id: str
    category: FaultCategory
    reported_at: datetime  # UTC
    description: str
    reporter: str  # who reported (a person's account or a partner's name); "" for alarms

    @property
    def fold_key(self) -> str:
        return fold_key(self.elevator_id, self.category)

    @property
    def is_emergency(self) -> bool:
        return is_emergency(self.category)

    @property
    def peril(self) -> str:
        return peril_for(self.category)


def validate_report(
    *,
    source: str,
    source_event_id: str,
    elevator_id: str,
    category: str,
    reported_at: datetime,
    description: str,
    reporter: str,
    now: datetime,
) -> Report:
    """A :class:`Report` from raw input, or InvalidFields naming every bad field at once."""
    problems: list[InvalidInput] = []

    parsed_source: Source | None = None
    try:
        parsed_source = Source(source)
    except ValueError:
        problems.append(InvalidValue("source", f"unknown source {source!r}"))
    parsed_category: FaultCategory | None = None
    try:
        parsed_category = FaultCategory(category)
    except ValueError:
        problems.append(InvalidValue("category", f"unknown fault category {category!r}"))
    if not source_event_id:
        problems.append(InvalidValue("source_event_id", "source_event_id must not be empty"))
    elif len(source_event_id) > SOURCE_EVENT_ID_MAX_CHARS:
        problems.append(
            InvalidValue(
                "source_event_id",
                f"source_event_id is longer than {SOURCE_EVENT_ID_MAX_CHARS} characters",
            )
        )
    elif not _PRINTABLE_ID.fullmatch(source_event_id):
        problems.append(
            InvalidValue("source_event_id", "source_event_id must be printable ASCII, no spaces")
        )
    try:
        check_elevator_id(elevator_id)
    except InvalidInput as e:
        problems.append(e)
    at: datetime | None = None
    try:
        at = require_aware(reported_at, "reported_at")
        if at > require_aware(now, "now") + CLOCK_SKEW:
            problems.append(
                InvalidValue("reported_at", f"reported_at {at.isoformat()} is in the future")
            )
    except InvalidInput as e:
        problems.append(e)
    text = description.strip()
    person = parsed_source is not None and parsed_source is not Source.IOT_ALARM
    if person and len(text) < DESCRIPTION_MIN_CHARS:
        problems.append(
            InvalidValue(
                "description",
                f"a person's report needs a description of at least "
                f"{DESCRIPTION_MIN_CHARS} characters",
            )
        )
    if len(text) > DESCRIPTION_MAX_CHARS:
        problems.append(
            InvalidValue(
                "description", f"description is longer than {DESCRIPTION_MAX_CHARS} characters"
            )
        )
    who = reporter.strip()
    if person and not who:
        problems.append(InvalidValue("reporter", "a person's report must say who reported it"))
    if len(who) > REPORTER_MAX_CHARS:
        problems.append(
            InvalidValue("reporter", f"reporter is longer than {REPORTER_MAX_CHARS} characters")
        )
    raise_problems(problems)
    assert parsed_source is not None and parsed_category is not None and at is not None
    return Report(
        source=parsed_source,
        source_event_id=source_event_id,
        elevator_id=elevator_id,
        category=parsed_category,
        reported_at=at,
        description=text,
        reporter=who,
    )
