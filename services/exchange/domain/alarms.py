"""IoT alarms: a platform's alarm in its own shape → the claims service's first notice of loss.

An alarm is keyed by the platform's alarm id (per partner): the same alarm twice is one alarm.
The fault code is the platform's (mapped by its format) or already ours; anything we do not
know is refused rather than guessed, since it decides the clocks (a trapped passenger starts
the 30-minute arrival clock).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from services.exchange.domain.formats import Format
from shared.domain_errors import InvalidFields, InvalidInput

# The claims service's fault categories (elevins.claims.v1 ReportLoss.fault_category).
FAULT_CATEGORIES = frozenset(
    {
        "trapped_passenger",
        "door_fault",
        "abnormal_noise",
        "stopped",
        "overspeed",
        "leveling_fault",
        "electrical_fault",
        "other",
    }
)
MAX_FUTURE = timedelta(minutes=5)  # clocks drift; an alarm from tomorrow is a bug upstream
MAX_AGE = timedelta(days=30)
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,99}")


@dataclass(frozen=True)
class Alarm:
    alarm_id: str
    registration_code: str
    fault_category: str
    occurred_at: datetime
    description: str


def parse_alarm(fields: Mapping[str, object], fmt: Format, *, now: datetime) -> Alarm:
    """Their fields (by their names) → an Alarm, or InvalidFields naming every bad field."""
    ours = {fmt.columns[k]: v for k, v in fields.items() if k in fmt.columns}
    problems: list[InvalidInput] = []

    def text(name: str) -> str:
        value = ours.get(name)
        return "" if value is None else str(value).strip()

    alarm_id = text("alarm_id")
    if not _ID.fullmatch(alarm_id):
        problems.append(InvalidInput("1 to 100 letters, digits or . _ : -", field="alarm_id"))
    code = text("registration_code")
    if not code or len(code) > 64:
        problems.append(InvalidInput("required, at most 64 characters", field="registration_code"))
    raw_fault = text("fault_code")
    fault = fmt.values.get("fault_code", {}).get(raw_fault, raw_fault)
    if fault not in FAULT_CATEGORIES:
        problems.append(
            InvalidInput(
                f"{raw_fault!r} is not a fault code of {fmt.format_id}", field="fault_code"
            )
        )
    occurred = ours.get("occurred_at")
    at: datetime | None = occurred if isinstance(occurred, datetime) else None
    if at is None:
        try:
            at = datetime.fromisoformat(text("occurred_at"))
        except ValueError:
            problems.append(InvalidInput("an ISO 8601 time with its offset", field="occurred_at"))
    if at is not None and at.tzinfo is None:
        problems.append(InvalidInput("needs a UTC offset (+08:00)", field="occurred_at"))
        at = None
    if at is not None and not (now - MAX_AGE <= at <= now + MAX_FUTURE):
        problems.append(
            InvalidInput("more than 5 minutes ahead or 30 days behind", field="occurred_at")
        )
    description = text("description")[:500]
    if problems:
        raise InvalidFields(problems)
    assert at is not None
    return Alarm(alarm_id, code, fault, at.astimezone(UTC), description)


def parse_pushed_body(body: bytes) -> dict[str, object]:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput("must be a JSON object in UTF-8", field="body") from None
    if not isinstance(data, dict):
        raise InvalidInput("must be a JSON object", field="body")
    return data
