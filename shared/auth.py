"""Who is calling: signed bearer tokens and the caller's roles and regions.

A token is ``v1.<payload>.<signature>``: the payload is base64url JSON (subject, role,
regions, expiry, key id), the signature HMAC-SHA256 over it with a key the services share
(``ELEVINS_AUTH_KEY``; several keys may be configured for rotation). There is no default key
and no fallback account in code: demo tokens exist only because the demo stack mints them.

HMAC rather than asymmetric signatures because the issuer and the verifiers are the same
operator's services; an mTLS or OIDC front door can replace the issuer without changing the
``Principal`` the services see.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

from shared.errors import permission_denied, unauthenticated

TOKEN_VERSION = "v1"  # noqa: S105  (a format tag, not a secret)
ALL_REGIONS = "*"


class Role(StrEnum):
    ADJUSTER = "adjuster"
    SENIOR_REVIEWER = "senior_reviewer"
    SUPERVISOR = "supervisor"
    CONTRACTOR = "contractor"
    AUDITOR = "auditor"
    PARTNER = "partner"
    # Another elevins service, or the operator's own tooling (seeding, migrations).
    SERVICE = "service"


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    # GB/T 2260 region codes (or prefixes, e.g. "4302" for all of Zhuzhou); "*" for all.
    regions: frozenset[str]
    expires_at: int

    def may_access_region(self, region_code: str) -> bool:
        return ALL_REGIONS in self.regions or any(region_code.startswith(r) for r in self.regions)


_current: ContextVar[Principal | None] = ContextVar("elevins_principal", default=None)


def current_principal() -> Principal:
    principal = _current.get()
    if principal is None:  # an RPC reached a handler without the auth interceptor: a bug
        raise RuntimeError("no authenticated principal in this context")
    return principal


def set_principal(principal: Principal | None) -> object:
    return _current.set(principal)


def require_role(*roles: Role) -> Principal:
    principal = current_principal()
    if principal.role not in roles:
        raise permission_denied(f"role {principal.role.value} may not do this")
    return principal


def require_region(region_code: str) -> Principal:
    principal = current_principal()
    if not principal.may_access_region(region_code):
        raise permission_denied(
            f"{principal.subject} has no access to region {region_code}",
            reason="REGION_FORBIDDEN",
        )
    return principal


def parse_keys(raw: str) -> dict[str, bytes]:
    """``ELEVINS_AUTH_KEY`` is one hex key, or ``kid:hex,kid:hex`` (first one signs)."""
    keys: dict[str, bytes] = {}
    for index, item in enumerate(p.strip() for p in raw.split(",") if p.strip()):
        kid, _, hexkey = item.rpartition(":")
        key = bytes.fromhex(hexkey)
        if len(key) < 16:
            raise ValueError("auth keys must be at least 16 bytes")
        keys[kid or f"k{index}"] = key
    if not keys:
        raise ValueError("no auth key configured")
    return keys


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(
    key: bytes | str,
    *,
    subject: str,
    role: str,
    regions: Sequence[str],
    ttl_seconds: int,
    now: float | None = None,
) -> str:
    keys = parse_keys(key) if isinstance(key, str) else {"k0": key}
    kid, secret = next(iter(keys.items()))
    issued = int(time.time() if now is None else now)
    payload = {
        "sub": subject,
        "role": Role(role).value,
        "regions": sorted(regions),
        "exp": issued + ttl_seconds,
        "kid": kid,
    }
    body = _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode())
    signed = f"{TOKEN_VERSION}.{body}"
    signature = hmac.new(secret, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{_b64(signature)}"


def verify_token(token: str, keys: Mapping[str, bytes], *, now: float | None = None) -> Principal:
    parts = token.split(".")
    if len(parts) != 3 or parts[0] != TOKEN_VERSION:
        raise unauthenticated("malformed token")
    try:
        payload = json.loads(_unb64(parts[1]))
        signature = _unb64(parts[2])
    except ValueError as exc:
        raise unauthenticated("malformed token") from exc
    secret = keys.get(str(payload.get("kid", "")))
    expected = hmac.new(secret or b"", f"{parts[0]}.{parts[1]}".encode(), hashlib.sha256).digest()
    if secret is None or not hmac.compare_digest(signature, expected):
        raise unauthenticated("bad token signature")
    if int(payload["exp"]) < (time.time() if now is None else now):
        raise unauthenticated("token expired")
    try:
        role = Role(payload["role"])
    except ValueError as exc:
        raise unauthenticated("unknown role") from exc
    return Principal(
        subject=str(payload["sub"]),
        role=role,
        regions=frozenset(str(r) for r in payload["regions"]),
        expires_at=int(payload["exp"]),
    )


def bearer(metadata: Iterable[tuple[str, str | bytes]] | None) -> str | None:
    for name, value in metadata or ():
        if name.lower() == "authorization":
            text = value.decode() if isinstance(value, bytes) else value
            scheme, _, token = text.partition(" ")
            if scheme.lower() == "bearer" and token:
                return token.strip()
    return None
