"""Idempotent writes: a retry with the same request id returns the first answer.

The key row is inserted in the same transaction as the write (``INSERT … ON CONFLICT DO
NOTHING``), so a concurrent duplicate waits on the unique index until the first commits and
then replays its stored response; if the first rolls back, the duplicate does the work. The
key is scoped by caller, so one caller can never read another's response by guessing an id.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

import sqlalchemy as sa
from google.protobuf.message import Message
from sqlalchemy.dialects.postgresql import insert

from shared.db import UnitOfWork
from shared.errors import already_exists, bad_field

M = TypeVar("M", bound=Message)

metadata = sa.MetaData()

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("caller", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, primary_key=True),
    sa.Column("method", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.LargeBinary, nullable=False),
    sa.Column("response", sa.LargeBinary),
    sa.Column(
        "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
    ),
)


def fingerprint(method: str, request: Message) -> bytes:
    """What the request asked for, without its request id (deterministic serialisation)."""
    copy = type(request)()
    copy.CopyFrom(request)
    if "request_id" in copy.DESCRIPTOR.fields_by_name:
        copy.ClearField("request_id")
    return hashlib.sha256(
        method.encode() + b"\0" + copy.SerializeToString(deterministic=True)
    ).digest()


async def once(
    uow_factory: Callable[[], UnitOfWork],
    *,
    caller: str,
    request_id: str,
    method: str,
    request: Message,
    response_type: type[M],
    work: Callable[[UnitOfWork], Awaitable[M]],
) -> M:
    if not request_id.strip():
        raise bad_field("request_id", "required: a client-chosen id that makes retries safe")
    if len(request_id) > 200:
        raise bad_field("request_id", "at most 200 characters")
    digest = fingerprint(method, request)
    async with uow_factory() as uow:
        claimed = await uow.conn.execute(
            insert(idempotency_keys)
            .values(caller=caller, request_id=request_id, method=method, fingerprint=digest)
            .on_conflict_do_nothing()
            .returning(idempotency_keys.c.request_id)
        )
        if claimed.first() is None:
            row = (
                await uow.conn.execute(
                    sa.select(idempotency_keys.c.fingerprint, idempotency_keys.c.response).where(
                        idempotency_keys.c.caller == caller,
                        idempotency_keys.c.request_id == request_id,
                    )
                )
            ).one()
            if row.fingerprint != digest:
                raise already_exists(
                    "REQUEST_ID_REUSED",
                    f"request_id {request_id!r} was already used for a different request",
                )
            return response_type.FromString(row.response)
        response = await work(uow)
        await uow.conn.execute(
            idempotency_keys.update()
            .where(idempotency_keys.c.caller == caller, idempotency_keys.c.request_id == request_id)
            .values(response=response.SerializeToString())
        )
        await uow.commit()
        return response
