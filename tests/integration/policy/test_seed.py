"""The demo city loads through the real use cases, obeys every rule, and loads only once."""

from __future__ import annotations

import asyncio

import pytest

from services.policy.__main__ import MIGRATIONS
from services.policy.seed import seed_demo_city
from services.policy.server import SCHEMA
from services.policy.settings import PolicySettings
from shared.migrations import upgrade

pytestmark = pytest.mark.integration


async def test_demo_city_seeds_once(fresh_database_url, service_environ, capsys) -> None:
    settings = PolicySettings.from_env({**service_environ, "DATABASE_URL": fresh_database_url})
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=fresh_database_url)
    await seed_demo_city(settings, elevators=50)
    first = capsys.readouterr().out
    assert "demo city seeded: 4 communities, 50 elevators" in first
    passed = int(first.split(" votes passed")[0].rsplit(" ", 1)[1])
    failed = int(first.split(" failed")[0].rsplit(" ", 1)[1])
    policies = int(first.split(" policies")[0].rsplit(" ", 1)[1])
    assert passed + failed == 50 and failed > 0 and 0 < policies < passed
    await seed_demo_city(settings, elevators=50)
    assert "already seeded" in capsys.readouterr().out
