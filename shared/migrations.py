"""Alembic, driven from code: every service migrates its own schema the same way.

``python -m services.<name> migrate`` calls :func:`upgrade`; each service's
``migrations/env.py`` is two lines that call :func:`run_env`. Migrations take an advisory lock
so that two replicas starting at once cannot race.
"""

from __future__ import annotations

import asyncio
import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import sqlalchemy_url


def alembic_config(migrations_dir: Path, *, schema: str, database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir))
    config.set_main_option("path_separator", "os")
    config.attributes["schema"] = schema
    config.attributes["database_url"] = database_url
    return config


def upgrade(
    migrations_dir: Path, *, schema: str, database_url: str, revision: str = "head"
) -> None:
    command.upgrade(
        alembic_config(migrations_dir, schema=schema, database_url=database_url), revision
    )


def run_env() -> None:
    """The body of every service's ``migrations/env.py`` (online mode only)."""
    config = context.config
    schema: str = config.attributes["schema"]
    url: str = config.attributes["database_url"]

    def migrate(connection: Connection) -> None:
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": zlib.crc32(schema.encode())}
        )
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        connection.execute(sa.text(f'SET search_path TO "{schema}", public'))
        context.configure(
            connection=connection,
            version_table_schema=schema,
            transaction_per_migration=False,
        )
        with context.begin_transaction():
            context.run_migrations()

    async def main() -> None:
        engine = create_async_engine(sqlalchemy_url(url))
        try:
            async with engine.begin() as connection:
                await connection.run_sync(migrate)
        finally:
            await engine.dispose()

    asyncio.run(main())


def create_idempotency_keys() -> None:
    """The table ``shared.idempotency`` keeps each service's first answers in (every service
    with mutating RPCs creates it in its first migration)."""
    from alembic import op

    op.create_table(
        "idempotency_keys",
        sa.Column("caller", sa.Text, primary_key=True),
        sa.Column("request_id", sa.Text, primary_key=True),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.LargeBinary, nullable=False),
        sa.Column("response", sa.LargeBinary),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
    )
