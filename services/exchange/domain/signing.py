"""Signed pushes, both ways: HMAC-SHA256 over "<timestamp>.<message>" with a partner's secret.

A partner's push secret is derived from the operator's key and the partner id
(HMAC(key, "exchange-push/v1/" + partner_id)), so no secret is stored in a table and a key
rotation rotates every partner's. A push is refused when its timestamp is outside the window
(a replay of an old capture) or its signature is wrong; a replay inside the window is caught
by the receipt the use cases record for every accepted signature.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from shared.domain_errors import PermissionDenied

DEFAULT_WINDOW_S = 300


class PushRefused(PermissionDenied):
    """UNAUTHENTICATED in the servicer: the push does not prove who sent it, or when."""

    code = "PUSH_SIGNATURE_INVALID"


class PushStale(PushRefused):
    code = "PUSH_OUTSIDE_WINDOW"


class PushReplayed(PushRefused):
    code = "PUSH_REPLAYED"


def partner_secret(key: bytes, partner_id: str) -> bytes:
    return hmac.new(key, f"exchange-push/v1/{partner_id}".encode(), hashlib.sha256).digest()


def sign(secret: bytes, timestamp: int, message: bytes) -> str:
    return hmac.new(secret, str(timestamp).encode() + b"." + message, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VerifiedPush:
    timestamp: int
    # What the replay receipt is keyed by (the signature is unique per timestamp and body).
    digest: str


def verify(
    secret: bytes,
    *,
    timestamp: int,
    message: bytes,
    signature: str,
    now: float,
    window_s: int = DEFAULT_WINDOW_S,
) -> VerifiedPush:
    if abs(now - timestamp) > window_s:
        raise PushStale(
            f"timestamp {timestamp} is more than {window_s}s from now: sign each push when it "
            "is sent",
            field="timestamp",
        )
    expected = sign(secret, timestamp, message)
    if not hmac.compare_digest(expected, signature.strip().lower()):
        raise PushRefused("the signature does not match the body and timestamp", field="signature")
    return VerifiedPush(timestamp, expected)
