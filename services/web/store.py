"""The web schema's tables and the queries on them; never commits (the use cases do)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.web.domain.access import Role

TS = sa.DateTime(timezone=True)
m = sa.MetaData()

users = sa.Table(
    "users",
    m,
    sa.Column("username", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text),
    sa.Column("password_hash", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("regions", pg.ARRAY(sa.Text)),
    sa.Column("contractor_id", sa.Text),
    sa.Column("failures", sa.Integer),
    sa.Column("locked_until", TS),
    sa.Column("disabled", sa.Boolean),
)
sessions = sa.Table(
    "sessions",
    m,
    sa.Column("token_hash", pg.BYTEA, primary_key=True),
    sa.Column("username", sa.Text),
    sa.Column("created_at", TS),
    sa.Column("expires_at", TS),
)


@dataclass(frozen=True)
class User:
    username: str
    display_name: str
    role: Role
    regions: tuple[str, ...]
    contractor_id: str | None

    @property
    def subject(self) -> str:
        """Who the services see: a contractor's people act for their company."""
        return (
            self.contractor_id
            if self.role is Role.CONTRACTOR and self.contractor_id
            else (self.username)
        )


@dataclass(frozen=True)
class Credentials:
    user: User
    password_hash: str
    failures: int
    locked_until: datetime | None
    disabled: bool


def _user(row: sa.Row[tuple[object, ...]]) -> User:
    r = row._mapping
    return User(
        username=r["username"],
        display_name=r["display_name"],
        role=Role(r["role"]),
        regions=tuple(r["regions"]),
        contractor_id=r["contractor_id"],
    )


class WebStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    async def credentials(self, username: str, *, for_update: bool = False) -> Credentials | None:
        query = users.select().where(users.c.username == username)
        if for_update:
            query = query.with_for_update()
        row = (await self.conn.execute(query)).first()
        if row is None:
            return None
        r = row._mapping
        return Credentials(
            user=_user(row),
            password_hash=r["password_hash"],
            failures=r["failures"],
            locked_until=r["locked_until"],
            disabled=r["disabled"],
        )

    async def set_attempts(
        self, username: str, *, failures: int, locked_until: datetime | None
    ) -> None:
        await self.conn.execute(
            users.update()
            .where(users.c.username == username)
            .values(failures=failures, locked_until=locked_until)
        )

    async def set_password_hash(self, username: str, password_hash: str) -> None:
        await self.conn.execute(
            users.update().where(users.c.username == username).values(password_hash=password_hash)
        )

    async def upsert_user(self, user: User, password_hash: str) -> None:
        values = {
            "username": user.username,
            "display_name": user.display_name,
            "password_hash": password_hash,
            "role": user.role.value,
            "regions": list(user.regions),
            "contractor_id": user.contractor_id,
        }
        insert = pg.insert(users).values(**values)
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[users.c.username],
                set_={k: insert.excluded[k] for k in values if k != "username"}
                | {"failures": 0, "locked_until": None},
            )
        )

    async def add_session(
        self, token_hash: bytes, username: str, *, created_at: datetime, expires_at: datetime
    ) -> None:
        await self.conn.execute(
            sessions.insert().values(
                token_hash=token_hash,
                username=username,
                created_at=created_at,
                expires_at=expires_at,
            )
        )

    async def session_user(self, token_hash: bytes, now: datetime) -> User | None:
        query = (
            sa.select(users)
            .join(sessions, sessions.c.username == users.c.username)
            .where(
                sessions.c.token_hash == token_hash,
                sessions.c.expires_at > now,
                users.c.disabled.is_(False),
            )
        )
        row = (await self.conn.execute(query)).first()
        return None if row is None else _user(row)

    async def delete_session(self, token_hash: bytes) -> None:
        await self.conn.execute(sessions.delete().where(sessions.c.token_hash == token_hash))

    async def delete_expired_sessions(self, now: datetime) -> int:
        result = await self.conn.execute(sessions.delete().where(sessions.c.expires_at <= now))
        return int(result.rowcount or 0)
