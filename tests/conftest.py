"""Fixtures shared by every tier.

Integration, contract and e2e tests talk to a real PostgreSQL and a real S3 server that the
test session starts once (``devstack``), unless ``DATABASE_URL`` / ``S3_ENDPOINT`` point at
existing ones. Unit tests never ask for these fixtures, so they start nothing.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from hypothesis import settings as hypothesis_settings

from devstack.stack import StackEnv, running_stack
from shared.auth import mint_token

ROOT = Path(__file__).resolve().parent.parent

# CI gates a submission: there, property tests replay the same examples every run (a flaky
# red is worse than a missed search), while developers' runs keep exploring new ones.
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")


@pytest.fixture(scope="session")
def stack() -> Iterator[StackEnv]:
    with running_stack(ROOT / ".devstack" / "test", ephemeral=True) as env:
        yield env


@pytest.fixture(scope="session")
def auth_key() -> str:
    return secrets.token_hex(32)


@pytest.fixture(scope="session")
def service_environ(stack: StackEnv, auth_key: str) -> dict[str, str]:
    """The environment a service process gets from devstack, for in-process and subprocess use."""
    return {
        **os.environ,
        **stack.as_environ(),
        "ELEVINS_AUTH_KEY": auth_key,
        "LOG_LEVEL": "WARNING",
    }


@pytest.fixture(scope="session")
def mint(auth_key: str) -> Callable[..., str]:
    def _mint(
        role: str = "service", regions: tuple[str, ...] = ("*",), subject: str | None = None
    ) -> str:
        return mint_token(
            auth_key,
            subject=subject or f"test-{role}",
            role=role,
            regions=regions,
            ttl_seconds=3600,
        )

    return _mint


def bearer(token: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {token}"),)


@pytest.fixture(scope="session")
async def policy_addr(service_environ: dict[str, str]) -> AsyncIterator[str]:
    """The policy service served in-process on a free loopback port, on a migrated schema."""
    from services.policy.__main__ import MIGRATIONS
    from services.policy.server import SCHEMA, build_app
    from services.policy.settings import PolicySettings
    from shared.migrations import upgrade

    settings = PolicySettings.from_env(service_environ)
    # Alembic runs its own event loop, so it gets a thread of its own.
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app = build_app(settings, port=0)
    server, port = await app.start()
    yield f"127.0.0.1:{port}"
    await app.stop(server)


@pytest.fixture(scope="session")
async def policy_channel(policy_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(policy_addr) as channel:
        yield channel


@pytest.fixture(scope="session")
async def claims_addr(service_environ: dict[str, str], policy_addr: str) -> AsyncIterator[str]:
    """The claims service in-process, calling the real policy service over gRPC."""
    from services.claims.__main__ import MIGRATIONS
    from services.claims.server import SCHEMA, build_app
    from services.claims.settings import ClaimsSettings
    from shared.migrations import upgrade

    settings = ClaimsSettings.from_env({**service_environ, "POLICY_ADDR": policy_addr})
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, _ = build_app(settings, port=0)
    server, port = await app.start()
    yield f"127.0.0.1:{port}"
    await app.stop(server)


@pytest.fixture(scope="session")
async def claims_channel(claims_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(claims_addr) as channel:
        yield channel


@pytest.fixture
async def fresh_database_url(stack: StackEnv) -> AsyncIterator[str]:
    """A new, empty database on the test server, for tests that need a world of their own."""
    import asyncpg

    from shared.db import asyncpg_url

    name = f"t_{secrets.token_hex(6)}"
    admin = await asyncpg.connect(asyncpg_url(stack.database_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        base, _, _ = stack.database_url.rpartition("/")
        yield f"{base}/{name}"
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture(scope="session")
async def pricing_addr(service_environ: dict[str, str]) -> AsyncIterator[str]:
    """The pricing service in-process on a migrated schema (observations start empty)."""
    from services.pricing.__main__ import MIGRATIONS
    from services.pricing.server import SCHEMA, build_app
    from services.pricing.settings import PricingSettings
    from shared.migrations import upgrade

    settings = PricingSettings.from_env(service_environ)
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, _ = build_app(settings, port=0)
    server, port = await app.start()
    yield f"127.0.0.1:{port}"
    await app.stop(server)


@pytest.fixture(scope="session")
async def pricing_channel(pricing_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(pricing_addr) as channel:
        yield channel


@pytest.fixture(scope="session")
async def validation_addr(service_environ: dict[str, str]) -> AsyncIterator[str]:
    """The validation service in-process (stateless: no schema to migrate)."""
    from services.validation.server import build_app
    from services.validation.settings import ValidationSettings

    app = build_app(ValidationSettings.from_env(service_environ), port=0)
    server, port = await app.start()
    yield f"127.0.0.1:{port}"
    await app.stop(server)


@pytest.fixture(scope="session")
async def validation_channel(validation_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    from services.validation.server import MAX_MESSAGE_BYTES

    options = [("grpc.max_send_message_length", 2 * MAX_MESSAGE_BYTES)]
    async with grpc.aio.insecure_channel(validation_addr, options=options) as channel:
        yield channel


# The contractors service judges "this month" by its clock: tests fix it mid-December 2026.
CONTRACTORS_NOW = datetime(2026, 12, 15, 4, 0, tzinfo=UTC)


@pytest.fixture(scope="session")
async def contractors_addr(service_environ: dict[str, str]) -> AsyncIterator[str]:
    """The contractors service in-process on a migrated schema, its clock in December 2026."""
    from services.contractors.__main__ import MIGRATIONS
    from services.contractors.server import SCHEMA, build_app
    from services.contractors.settings import ContractorsSettings
    from shared.clock import ManualClock
    from shared.migrations import upgrade

    settings = ContractorsSettings.from_env(service_environ)
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, _ = build_app(settings, port=0, clock=ManualClock(CONTRACTORS_NOW))
    server, port = await app.start()
    yield f"127.0.0.1:{port}"
    await app.stop(server)


@pytest.fixture(scope="session")
async def contractors_channel(contractors_addr: str) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(contractors_addr) as channel:
        yield channel


@pytest.fixture(scope="session")
async def evidence_app(service_environ: dict[str, str]) -> AsyncIterator[tuple[str, object]]:
    """The evidence service in-process on real S3 and PostgreSQL: (address, use cases)."""
    from services.evidence.__main__ import MIGRATIONS
    from services.evidence.server import SCHEMA, build_app
    from services.evidence.settings import EvidenceSettings
    from shared.clock import ManualClock
    from shared.migrations import upgrade

    settings = EvidenceSettings.from_env(service_environ)
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, usecases = build_app(settings, port=0, clock=ManualClock(CONTRACTORS_NOW))
    server, port = await app.start()
    yield f"127.0.0.1:{port}", usecases
    await app.stop(server)


@pytest.fixture(scope="session")
async def evidence_channel(evidence_app: tuple[str, object]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(evidence_app[0]) as channel:
        yield channel


# The exchange relays fast in tests: a partner that is down is retried every few tenths of a
# second, and given up (dead letter) after 12 attempts (two to four seconds).
EXCHANGE_TEST_ENV = {
    "EXCHANGE_RELAY_POLL_S": "0.05",
    "EXCHANGE_RETRY_BASE_S": "0.05",
    "EXCHANGE_RETRY_MAX_S": "0.3",
    "EXCHANGE_MAX_ATTEMPTS": "12",
    "EXCHANGE_BATCH_ROWS": "1000",
}


@pytest.fixture(scope="session")
async def exchange_app(
    service_environ: dict[str, str], claims_addr: str, policy_addr: str, validation_addr: str
) -> AsyncIterator[tuple[str, object]]:
    """The exchange in-process, calling the real validation, claims and policy services."""
    from services.exchange.__main__ import MIGRATIONS
    from services.exchange.server import SCHEMA, build_app
    from services.exchange.settings import ExchangeSettings
    from shared.migrations import upgrade

    settings = ExchangeSettings.from_env(
        {
            **service_environ,
            **EXCHANGE_TEST_ENV,
            "CLAIMS_ADDR": claims_addr,
            "POLICY_ADDR": policy_addr,
            "VALIDATION_ADDR": validation_addr,
        }
    )
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    app, usecases = build_app(settings, port=0)
    server, port = await app.start()
    yield f"127.0.0.1:{port}", usecases
    await app.stop(server)


@pytest.fixture(scope="session")
async def exchange_channel(exchange_app: tuple[str, object]) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(exchange_app[0]) as channel:
        yield channel
