"""Protobuf Timestamps ⇄ aware datetimes, the same way in every service."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from shared.errors import Violations


def to_timestamp(moment: datetime | str | None) -> Timestamp | None:
    """None stays None (an unset field); ISO text is accepted for values stored as JSON."""
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def from_timestamp(stamp: Timestamp, field: str, violations: Violations) -> datetime | None:
    """The instant in UTC, None when unset; an out-of-range value is a field violation."""
    if stamp.seconds == 0 and stamp.nanos == 0:
        return None
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        violations.add(field, "not a valid timestamp")
        return None
