"""Signing in and out, and the session behind each request; the only place with transactions.

Everything else the UI does is a call to a service with the user's own token (`clients.py`):
the web service keeps people and sessions, never claims.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from services.web.domain.lockout import Attempts
from services.web.passwords import hash_password, needs_rehash, verify_password
from services.web.store import User, WebStore
from shared.clock import Clock
from shared.unit_of_work import Transactions

# A working day: a session signed in at the start of a shift lasts until its end.
SESSION_TTL = timedelta(hours=10)


class SignInRefused(Exception):
    """Unknown user, wrong password, disabled or locked: one message for all (see lockout)."""


@dataclass(frozen=True)
class NewSession:
    token: str  # the cookie value; only its hash is stored
    user: User


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class WebUseCases(Transactions[WebStore]):
    def __init__(self, engine: AsyncEngine, clock: Clock) -> None:
        super().__init__(engine, WebStore)
        self.clock = clock

    async def sign_in(self, username: str, password: str) -> NewSession:
        now = self.clock.now()

        async def work(store: WebStore) -> NewSession | None:
            found = await store.credentials(username.strip().lower(), for_update=True)
            if found is None or found.disabled:
                await verify_password(None, password)  # the same time as a real check
                return None
            attempts = Attempts(found.failures, found.locked_until)
            if attempts.locked(now):
                return None  # not even checked: a locked account learns nothing new
            if not await verify_password(found.password_hash, password):
                failed = attempts.after_failure(now)
                await store.set_attempts(
                    found.user.username, failures=failed.failures, locked_until=failed.locked_until
                )
                return None
            cleared = Attempts.after_success()
            await store.set_attempts(
                found.user.username, failures=cleared.failures, locked_until=cleared.locked_until
            )
            if needs_rehash(found.password_hash):
                await store.set_password_hash(found.user.username, hash_password(password))
            token = secrets.token_urlsafe(32)
            await store.add_session(
                token_hash(token), found.user.username, created_at=now, expires_at=now + SESSION_TTL
            )
            return NewSession(token, found.user)

        # Committed even when refused: the failure count must stick.
        session = await self.transaction(work)
        if session is None:
            raise SignInRefused
        return session

    async def user_of(self, token: str) -> User | None:
        now = self.clock.now()
        return await self.read(lambda store: store.session_user(token_hash(token), now))

    async def sign_out(self, token: str) -> None:
        await self.transaction(lambda store: store.delete_session(token_hash(token)))

    async def put_user(self, user: User, password: str) -> None:
        """Create or reset a user (operator tooling and the demo seed)."""
        password_hash = hash_password(password)
        await self.transaction(lambda store: store.upsert_user(user, password_hash))

    async def forget_expired_sessions(self) -> int:
        now = self.clock.now()
        return await self.transaction(lambda store: store.delete_expired_sessions(now))
