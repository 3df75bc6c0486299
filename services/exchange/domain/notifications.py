"""Outbound: which partner hears of which event, under which dedup id, and when to retry.

Events come from the claims and policy outboxes (``claim.opened``, ``claim.decided``,
``claim.paid``, ``policy.issued``). Each becomes one delivery per partner that subscribes to
its topic and serves its region. The dedup id is the source and the event id: the same event
relayed twice (the relay is at least once) is the same delivery, and the partner sees the same
id on a resend, so it can ignore repeats.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.exchange.domain.formats import OutboundFormat

# Our outbox topic → the topic partners subscribe to.
TOPICS: Mapping[str, str] = {
    "claim.opened": "claim.opened",
    "claim.decided": "claim.decided",
    "claim.paid": "claim.paid",
    "policy.issued": "premium.deduction",
}
PARTNER_KINDS = ("housing_bureau", "market_supervision", "property_manager", "iot_platform")
# What each kind hears unless it registers otherwise: the property manager and the bureau hear
# of claims; the housing bureau deducts premiums from the fund accounts it keeps.
DEFAULT_TOPICS: Mapping[str, tuple[str, ...]] = {
    "housing_bureau": ("claim.opened", "claim.decided", "claim.paid", "premium.deduction"),
    "market_supervision": (),
    "property_manager": ("claim.opened", "claim.decided", "claim.paid"),
    "iot_platform": (),
}
PARTNER_TOPICS = tuple(sorted(set(TOPICS.values())))


@dataclass(frozen=True)
class Subscriber:
    partner_id: str
    regions: tuple[str, ...]
    topics: tuple[str, ...]
    outbound_version: int

    def serves(self, region_code: str) -> bool:
        return any(region_code.startswith(r) or r == "*" for r in self.regions)


@dataclass(frozen=True)
class SourceEvent:
    source: str  # claims | policy
    event_id: int
    topic: str
    key: str
    payload: Mapping[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Notification:
    partner_id: str
    dedup_id: str
    topic: str
    region_code: str
    payload: Mapping[str, Any]
    occurred_at: datetime


def dedup_id(event: SourceEvent) -> str:
    return f"{event.source}-{event.event_id}"


def route(
    event: SourceEvent,
    region_code: str,
    subscribers: Sequence[Subscriber],
    outbound: Mapping[int, OutboundFormat],
) -> list[Notification]:
    """The deliveries one event makes; none for topics partners do not hear."""
    topic = TOPICS.get(event.topic)
    if topic is None or not region_code:
        return []
    body = {"topic": topic, **event.payload}
    return [
        Notification(
            partner_id=s.partner_id,
            dedup_id=dedup_id(event),
            topic=topic,
            region_code=region_code,
            payload=outbound.get(s.outbound_version, OutboundFormat(1, {})).render(body),
            occurred_at=event.created_at,
        )
        for s in subscribers
        if topic in s.topics and s.serves(region_code)
    ]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped; after ``max_attempts`` the delivery is
    dead (the operator's dead-letter list) until replayed."""

    base_s: float = 2.0
    max_s: float = 600.0
    max_attempts: int = 15

    def delay(self, attempts: int, rng: random.Random | None = None) -> timedelta:
        """The wait after the ``attempts``-th failure (1-based)."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, attempts - 1))
        # Half fixed, half random: partners that come back are not hit by every retry at once,
        # and a retry never comes sooner than half the nominal delay.
        jitter = (rng or random.Random()).random()  # noqa: S311  (timing, not security)
        return timedelta(seconds=ceiling * (0.5 + 0.5 * jitter))

    def gives_up(self, attempts: int) -> bool:
        return attempts >= self.max_attempts
