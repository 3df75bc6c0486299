"""The audit trail: an append-only, hash-chained log of every event and decision of a claim.

Each event's ``hash`` is SHA-256 over the canonical JSON of all its fields and the previous
event's hash, so changing, removing or reordering any stored event breaks every link after
it, and :func:`verify_chain` names the first broken one. The chain starts at :data:`GENESIS`
and ``seq`` counts from 1 without gaps.

**Canonical JSON** is what makes the hash reproducible after a round trip through PostgreSQL
``jsonb`` (which reorders keys and drops whitespace) or another language: keys sorted, no
whitespace, UTF-8 without ``\\u`` escapes, datetimes as UTC ISO-8601 with exactly six
fractional digits and a ``Z``. Floats are refused (money is integer fen; a float's text form
differs between languages); ``Decimal`` becomes its string. A payload is normalised to plain
JSON values when the event is made, so the stored payload read back hashes the same.

Truncation (the newest events deleted) cannot be seen from the events alone: pass the head
hash recorded elsewhere (on the claim row) as ``head_hash`` to catch it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from services.claims.domain.errors import InvalidValue
from services.claims.domain.times import require_aware

GENESIS = "0" * 64


def _plain(value: Any, where: str) -> Any:
    """``value`` as plain JSON types (dict, list, str, int, bool, None), or InvalidValue."""
    # bool before int (a bool is an int), Enum before str (a StrEnum is a str: keep its value).
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Enum):
        return _plain(value.value, where)
    if isinstance(value, str | int):
        return value
    if isinstance(value, datetime):
        return require_aware(value, where).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise InvalidValue(where, f"{where}: {value} is not a finite number")
        return str(value)
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise InvalidValue(where, f"{where}: keys must be strings, got {key!r}")
            out[key] = _plain(item, f"{where}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain(item, f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, float):
        raise InvalidValue(where, f"{where}: floats are not allowed (use int fen or Decimal)")
    raise InvalidValue(where, f"{where}: {type(value).__name__} cannot go into the audit log")


def canonical_json(obj: Any) -> bytes:
    """The one byte form of ``obj`` that is hashed (see the module's docstring)."""
    return json.dumps(
        _plain(obj, "value"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


def chain_hash(
    prev_hash: str,
    claim_id: str,
    seq: int,
    at: datetime,
    actor: str,
    kind: str,
    payload: Mapping[str, Any],
) -> str:
    """SHA-256 hex over the canonical JSON of every field of an event and the previous hash."""
    return hashlib.sha256(
        canonical_json(
            {
                "prev_hash": prev_hash,
                "claim_id": claim_id,
                "seq": seq,
                "at": at,
                "actor": actor,
                "kind": kind,
                "payload": payload,
            }
        )
    ).hexdigest()


@dataclass(frozen=True)
class AuditEvent:
    claim_id: str
    seq: int  # 1, 2, 3 … per claim, no gaps
    at: datetime
    actor: str
    kind: str  # e.g. "transition", "decision", "quote_submitted"
    payload: Mapping[str, Any]  # plain JSON values (see next_event)
    prev_hash: str
    hash: str

    def recomputed_hash(self) -> str:
        return chain_hash(
            self.prev_hash, self.claim_id, self.seq, self.at, self.actor, self.kind, self.payload
        )


def next_event(
    prev: AuditEvent | None,
    *,
    claim_id: str,
    at: datetime,
    actor: str,
    kind: str,
    payload: Mapping[str, Any],
) -> AuditEvent:
    """The event that follows ``prev`` (the first of the chain when ``prev`` is None).

    Time is not required to increase: clocks of different hosts disagree, and ``seq``, not
    ``at``, orders the chain.
    """
    if not claim_id:
        raise InvalidValue("claim_id", "claim_id must not be empty")
    if not actor:
        raise InvalidValue("actor", "actor must not be empty")
    if not kind:
        raise InvalidValue("kind", "kind must not be empty")
    if prev is not None and prev.claim_id != claim_id:
        raise InvalidValue(
            "claim_id", f"cannot chain an event of {claim_id!r} after one of {prev.claim_id!r}"
        )
    at = require_aware(at, "at")
    plain = _plain(payload, "payload")
    if not isinstance(plain, dict):
        raise InvalidValue("payload", "payload must be a mapping")
    seq = 1 if prev is None else prev.seq + 1
    prev_hash = GENESIS if prev is None else prev.hash
    return AuditEvent(
        claim_id=claim_id,
        seq=seq,
        at=at,
        actor=actor,
        kind=kind,
        payload=plain,
        prev_hash=prev_hash,
        hash=chain_hash(prev_hash, claim_id, seq, at, actor, kind, plain),
    )


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    checked: int  # events verified intact, from the start, before the first broken one
    first_broken_seq: int | None  # the seq of the first event whose link fails
    problem: str | None


def verify_chain(events: Sequence[AuditEvent], *, head_hash: str | None = None) -> ChainReport:
    """Check a claim's events in the order given (stored order: by ``seq``).

    For each event, in turn: the same claim as the first; ``seq`` one more than the previous
    (1 for the first) — a gap means a removed event, a step back a reordered one; ``prev_hash``
    the previous event's ``hash`` (GENESIS for the first); ``hash`` recomputed from the
    fields — a mismatch means the event was changed after it was written. The first failure
    ends the check. With ``head_hash``, the last event's hash must equal it (catches the
    newest events being deleted, and an empty chain that should not be).
    """

    def broken(checked: int, seq: int | None, problem: str) -> ChainReport:
        return ChainReport(ok=False, checked=checked, first_broken_seq=seq, problem=problem)

    prev_hash = GENESIS
    for index, event in enumerate(events):
        expected_seq = index + 1
        if event.claim_id != events[0].claim_id:
            return broken(
                index,
                event.seq,
                f"event {event.seq} belongs to claim {event.claim_id!r}, "
                f"not {events[0].claim_id!r}",
            )
        if event.seq != expected_seq:
            what = "missing" if event.seq > expected_seq else "reordered or repeated"
            return broken(
                index,
                event.seq,
                f"expected seq {expected_seq}, found {event.seq}: an event is {what}",
            )
        if event.prev_hash != prev_hash:
            return broken(
                index, event.seq, f"event {event.seq} does not link to the event before it"
            )
        try:
            recomputed = event.recomputed_hash()
        except InvalidValue as e:
            return broken(index, event.seq, f"event {event.seq} cannot be hashed: {e.message}")
        if recomputed != event.hash:
            return broken(index, event.seq, f"event {event.seq} was changed after it was written")
        prev_hash = event.hash
    checked = len(events)
    if head_hash is not None and head_hash != (events[-1].hash if events else GENESIS):
        last_seq = events[-1].seq if events else None
        return broken(
            checked,
            None if last_seq is None else last_seq + 1,
            "the chain ends before its recorded head: the newest events are missing",
        )
    return ChainReport(ok=True, checked=checked, first_broken_seq=None, problem=None)
