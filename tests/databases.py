"""A database of a test's own on the session's PostgreSQL, dropped afterwards: for tests whose
data would disturb the shared one (a whole demo city, a demo seed)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


@asynccontextmanager
async def fresh_database(database_url: str, prefix: str) -> AsyncIterator[str]:
    """Yields the URL of a new, empty database beside ``database_url``'s."""
    import asyncpg

    from shared.db import asyncpg_url

    name = f"{prefix}_{secrets.token_hex(5)}"
    admin = await asyncpg.connect(asyncpg_url(database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = database_url.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
