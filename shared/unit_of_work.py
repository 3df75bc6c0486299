"""Where every service's transactions begin: one unit of work per RPC.

A service's use cases subclass :class:`Transactions` with their store type; ``idempotent``
wraps a write keyed by the caller's request id, ``transaction`` a write with a natural key of
its own, ``read`` a read. The work functions receive the store and never commit themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.auth import current_principal
from shared.db import UnitOfWork
from shared.idempotency import once

S = TypeVar("S")
M = TypeVar("M", bound=Message)
T = TypeVar("T")


class Transactions(Generic[S]):
    def __init__(self, engine: AsyncEngine, store: Callable[[AsyncConnection], S]) -> None:
        self._engine = engine
        self._store = store

    def _uow(self) -> UnitOfWork:
        return UnitOfWork(self._engine)

    async def idempotent(
        self,
        *,
        request_id: str,
        method: str,
        request: Message,
        response_type: type[M],
        work: Callable[[S], Awaitable[M]],
    ) -> M:
        return await once(
            self._uow,
            caller=current_principal().subject,
            request_id=request_id,
            method=method,
            request=request,
            response_type=response_type,
            work=lambda uow: work(self._store(uow.conn)),
        )

    async def write(
        self,
        method: str,
        request: Message,
        response_type: type[M],
        work: Callable[[S], Awaitable[M]],
    ) -> M:
        """``idempotent`` for an RPC request that carries its own ``request_id`` field (every
        mutating request does: buf-linted protos, checked by the contract tests)."""
        request_id: str = request.request_id  # type: ignore[attr-defined]
        return await self.idempotent(
            request_id=request_id,
            method=method,
            request=request,
            response_type=response_type,
            work=work,
        )

    async def transaction(self, work: Callable[[S], Awaitable[T]]) -> T:
        """One unit of work without a request id: writes with a natural idempotency key of
        their own (a claim id, a source event id) and operator tooling such as seeding."""
        async with self._uow() as uow:
            result = await work(self._store(uow.conn))
            await uow.commit()
            return result

    async def read(self, work: Callable[[S], Awaitable[T]]) -> T:
        async with self._uow() as uow:
            return await work(self._store(uow.conn))

    async def dispose(self) -> None:
        """Close the engine's connections (the server's stop hook)."""
        await self._engine.dispose()
