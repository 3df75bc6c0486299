"""Password hashing with argon2id (RFC 9106), the KDF OWASP recommends first.

argon2-cffi's defaults (t=3, m=64 MiB, p=4) cost about 50 ms per check here: slow for a
guesser with a stolen table, unnoticeable for a person signing in. Checks run in a thread so a
sign-in does not stall every other request on the event loop.
"""

from __future__ import annotations

import asyncio

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()
# Checked against when the user does not exist, so that an unknown name costs the same time as
# a wrong password and the response time does not tell which names exist.
_DECOY = _hasher.hash("decoy password that matches nothing")

MIN_LENGTH = 12


def hash_password(password: str) -> str:
    if len(password) < MIN_LENGTH:
        raise ValueError(f"passwords have at least {MIN_LENGTH} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def verify_password(password_hash: str | None, password: str) -> bool:
    ok = await asyncio.to_thread(_verify, password_hash or _DECOY, password)
    return ok and password_hash is not None


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)
