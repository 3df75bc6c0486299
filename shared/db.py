"""The database engine and the unit of work.

Each service owns one PostgreSQL schema; its engine sets ``search_path`` to it, so a service
cannot read another's tables by accident. A unit of work is one transaction that rolls back
unless it is committed explicitly.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncTransaction,
    create_async_engine,
)


def sqlalchemy_url(url: str) -> str:
    """Accept the plain ``postgresql://`` URLs people and tools use; SQLAlchemy wants a driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def asyncpg_url(url: str) -> str:
    """The same URL for raw asyncpg (COPY, LISTEN) and libpq tools."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


def create_engine(url: str, *, schema: str, pool_size: int = 10) -> AsyncEngine:
    engine = create_async_engine(
        sqlalchemy_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        # No ping per checkout (a round trip on every transaction); a connection the server
        # dropped is detected on use and the pool replaced, and none lives longer than 30 min.
        pool_recycle=1800,
        connect_args={
            "server_settings": {
                "search_path": schema,
                "application_name": f"elevins-{schema}",
                # A stuck query must not hold a connection (and its locks) forever.
                "statement_timeout": "30000",
                "idle_in_transaction_session_timeout": "60000",
            }
        },
    )
    _trace(engine)
    return engine


def _trace(engine: AsyncEngine) -> None:
    """A client span per statement (``db.statement`` has placeholders, never the values).

    ``SQLAlchemyInstrumentor().instrument(engine=…)`` is a process-wide singleton: a second
    call only warns "already instrumented" and leaves that engine untraced, so a process with
    two engines (the test session serves every service in one) lost the second one's SQL.
    Its per-engine tracer is attached to each engine instead.
    """
    from opentelemetry import metrics, trace
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer

    scope = "opentelemetry.instrumentation.sqlalchemy"
    usage = metrics.get_meter(scope).create_up_down_counter(
        "db.client.connections.usage", unit="connections"
    )
    EngineTracer(trace.get_tracer(scope), engine.sync_engine, usage)  # type: ignore[no-untyped-call]


class UnitOfWork:
    """``async with UnitOfWork(engine) as uow: ...; await uow.commit()``."""

    conn: AsyncConnection
    _tx: AsyncTransaction

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._committed = False

    async def __aenter__(self) -> Self:
        self.conn = await self._engine.connect()
        self._tx = await self.conn.begin()
        return self

    async def commit(self) -> None:
        await self._tx.commit()
        self._committed = True

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._tx.is_active:
                await self._tx.rollback()
        finally:
            await self.conn.close()
