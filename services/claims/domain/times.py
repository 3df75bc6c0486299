"""Time checks at the domain's edge. Nothing here reads a clock; callers pass instants in."""

from __future__ import annotations

from datetime import UTC, datetime

from services.claims.domain.errors import InvalidValue


def require_aware(value: datetime, field: str) -> datetime:
    """``value`` in UTC; a naive datetime is ambiguous (UTC? Shanghai?), so it is refused."""
    if not isinstance(value, datetime):
        raise InvalidValue(field, f"{field} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidValue(field, f"{field} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)
