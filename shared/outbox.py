"""Reading a service's transactional outbox in commit order (claims and policy share it).

Events are rows written in the same transaction as the change they describe. Identity ids are
not commit-ordered (a transaction that took id 7 may commit after one that took id 8), so each
row records its writing transaction (``xid8``) and a page only returns rows from transactions
older than the oldest one still running. A cursor (``"<xid>:<id>"``) therefore never moves past
an event that commits late (docs/adr/0004). Delivery is at least once; consumers (the exchange
service) deduplicate by event id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.errors import Violations
from shared.timestamps import to_timestamp

MAX_PAGE = 1000
DEFAULT_PAGE = 100


@dataclass(frozen=True)
class OutboxEvent:
    event_id: int
    topic: str
    key: str
    payload: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class OutboxPage:
    events: list[OutboxEvent]
    next_cursor: str


def parse_page_request(after_cursor: str, limit: int) -> tuple[int, int, int]:
    """(xid, id, limit) of a ListEvents request, or INVALID_ARGUMENT naming the bad fields."""
    v = Violations()
    v.require(0 <= limit <= MAX_PAGE, "limit", f"0 to {MAX_PAGE}")
    parts = (after_cursor or "0:0").split(":")
    v.require(
        len(parts) == 2 and all(p.isdigit() for p in parts),
        "after_cursor",
        "a next_cursor from a previous page",
    )
    v.raise_if_any()
    return int(parts[0]), int(parts[1]), limit or DEFAULT_PAGE


async def events_after(
    conn: AsyncConnection, after_xid: int, after_id: int, limit: int, *, cursor: str
) -> OutboxPage:
    """The next page after ``(after_xid, after_id)``; ``cursor`` is returned when it is empty."""
    rows = await conn.execute(
        sa.text(
            "SELECT xid::text::bigint AS xid, id, topic, key, payload, created_at FROM outbox "
            "WHERE (xid::text::bigint, id) > (:xid, :id) "
            "AND xid < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY xid, id LIMIT :limit"
        ),
        {"xid": after_xid, "id": after_id, "limit": limit},
    )
    found = list(rows)
    events = [
        OutboxEvent(
            int(r.id),
            r.topic,
            r.key,
            r.payload if isinstance(r.payload, dict) else json.loads(r.payload),
            r.created_at,
        )
        for r in found
    ]
    last = found[-1] if found else None
    return OutboxPage(events, f"{int(last.xid)}:{int(last.id)}" if last else cursor or "0:0")


def event_fields(event: OutboxEvent) -> dict[str, Any]:
    """An event as the keyword arguments of a service's ``Event`` message: claims and policy
    declare the same fields, each in its own proto package."""
    return {
        "event_id": event.event_id,
        "topic": event.topic,
        "key": event.key,
        "payload_json": json.dumps(event.payload, ensure_ascii=False, sort_keys=True),
        "created_at": to_timestamp(event.created_at),
    }
