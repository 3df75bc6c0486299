"""The work queue: which claims come first, which codes flag a claim, and the page tokens.

**Order.** The least time left on a running clock first (overdue ones lead, most overdue
first), then flagged claims before unflagged ones, then the larger amount (approved, else
quoted), then the claim id so that the order is total. Claims without a running clock
(repaired and waiting for confirmation, say) come after every claim with one.
This is a plain lexicographic order, so the database can walk it in an index and a page
costs the same at any depth (keyset paging): a page token is the last row's sort key.

**Active claims.** The queue shows the claims someone still has to act on: every state but
rejected, paid and closed (the same set that an alarm folds into, see ``states.ACTIVE``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from services.claims.domain.adjudication import ReasonCode, Recommendation
from services.claims.domain.errors import InvalidValue

# Codes of a recommendation that say how it was routed or what an ordinary claim gets, not
# that something about it needs a second look: not flags. Grey is every contractor's
# ordinary standing (a new one starts grey), so it would flag nearly every claim.
NOT_FLAGS = frozenset(
    {
        ReasonCode.STRAIGHT_THROUGH,
        ReasonCode.ABOVE_STRAIGHT_THROUGH_LIMIT,
        ReasonCode.DEDUCTIBLE_APPLIED,
        ReasonCode.CONTRACTOR_GREYLISTED,
    }
)
_CODE = re.compile(r"[A-Z][A-Z0-9_]{1,63}")
_REGION = re.compile(r"[0-9]{2,6}")
TOKEN_VERSION = 1


def flags_of(recommendation: Recommendation) -> tuple[str, ...]:
    """The claim's flags: its and its lines' reason codes, sorted, without the routing ones."""
    codes: set[str] = set(recommendation.reason_codes)
    for line in recommendation.lines:
        codes.update(line.reason_codes)
    return tuple(sorted(codes - NOT_FLAGS))


def is_reason_code(value: str) -> bool:
    return bool(_CODE.fullmatch(value))


def is_region_prefix(value: str) -> bool:
    """A GB/T 2260 region code or a prefix of one: province (2), city (4), county (6)."""
    return bool(_REGION.fullmatch(value))


@dataclass(frozen=True)
class QueueFilter:
    """What the caller asked to see (its own regions and role are applied on top)."""

    state: str = ""
    region_code: str = ""
    contractor_id: str = ""
    breached_only: bool = False
    flag: str = ""
    include_closed: bool = False

    def fingerprint(self) -> str:
        """Short digest of the filters: a page token only continues the listing it came from."""
        text = json.dumps(
            [
                self.state,
                self.region_code,
                self.contractor_id,
                self.breached_only,
                self.flag,
                self.include_closed,
            ]
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class QueueKey:
    """A claim's place in the queue (see the module's docstring); ``due_at`` None sorts last."""

    due_at: datetime | None
    flagged: bool
    amount_fen: int
    claim_id: str


def encode_page_token(last: QueueKey, filters: QueueFilter) -> str:
    due = "inf" if last.due_at is None else last.due_at.astimezone(UTC).isoformat()
    body = {
        "v": TOKEN_VERSION,
        "f": filters.fingerprint(),
        "k": [due, last.flagged, last.amount_fen, last.claim_id],
    }
    raw = json.dumps(body, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_page_token(token: str, filters: QueueFilter) -> QueueKey:
    """The key a page starts after; INVALID_ARGUMENT for a token that is not ours or that
    came from a listing with other filters (its place would mean nothing here)."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        body = json.loads(raw)
        due, flagged, amount, claim_id = body["k"]
        version, fingerprint = body["v"], body["f"]
        key = QueueKey(
            due_at=None if due == "inf" else datetime.fromisoformat(due),
            flagged=flagged,
            amount_fen=amount,
            claim_id=claim_id,
        )
    except (binascii.Error, ValueError, TypeError, KeyError, UnicodeDecodeError) as error:
        raise InvalidValue("page_token", "not a token from a previous page") from error
    well_formed = (
        version == TOKEN_VERSION
        and isinstance(key.flagged, bool)
        and isinstance(key.amount_fen, int)
        and not isinstance(key.amount_fen, bool)
        and isinstance(key.claim_id, str)
        and (key.due_at is None or key.due_at.tzinfo is not None)
    )
    if not well_formed:
        raise InvalidValue("page_token", "not a token from a previous page")
    if fingerprint != filters.fingerprint():
        raise InvalidValue("page_token", "the token came from a listing with other filters")
    return key
