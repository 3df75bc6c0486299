"""Protobuf messages → plain values the templates read (aware datetimes, None for unset)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from elevins.claims.v1 import claims_pb2 as cpb


def when(ts: Timestamp) -> datetime | None:
    if ts.seconds == 0 and ts.nanos == 0:
        return None
    return ts.ToDatetime(tzinfo=UTC)


def next_deadline(claim: cpb.Claim) -> tuple[datetime | None, bool]:
    """The earliest deadline of a clock still running, and whether any clock has breached."""
    open_due = [when(c.due_at) for c in claim.clocks if not c.HasField("met_at")]
    due = min((d for d in open_due if d is not None), default=None)
    return due, any(c.breached for c in claim.clocks)


def flags_of(claim: cpb.Claim) -> list[str]:
    """The claim-level reason codes of the pipeline's recommendation: what a reviewer must see."""
    return list(claim.recommendation.reason_codes)
