"""The demo seed on a database of its own: every demo firm gets its months of scorecards."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.contractors.domain.scorecards import Period
from services.contractors.seed import DEMO, MONTHS, seed_demo_contractors
from services.contractors.server import build_usecases
from services.contractors.settings import ContractorsSettings
from services.contractors.store import ContractorsStore
from shared.auth import Principal, Role, set_principal
from tests.databases import fresh_database

pytestmark = pytest.mark.integration


@pytest.fixture
async def settings(stack, service_environ) -> AsyncIterator[ContractorsSettings]:
    from services.contractors.__main__ import MIGRATIONS
    from services.contractors.server import SCHEMA
    from shared.migrations import upgrade

    async with fresh_database(stack.database_url, "seed") as url:
        await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=url)
        yield ContractorsSettings.from_env({**service_environ, "DATABASE_URL": url})


async def test_every_demo_firm_has_a_scorecard_every_month_and_a_reseed_adds_nothing(
    settings, capsys
) -> None:
    await seed_demo_contractors(settings)
    first = capsys.readouterr().out
    uc = build_usecases(settings)
    set_principal(Principal("test", Role.SERVICE, frozenset({"*"}), expires_at=2**62))
    months = [Period.from_index(uc.this_month().index - k) for k in range(MONTHS, 0, -1)]

    async def cards(store: ContractorsStore) -> dict[str, list[int]]:
        # Each firm's events are its own: with one id numbering for every firm, all but the
        # first firm's events were skipped as repeats and later firms had no scorecard at all.
        return {
            firm.row.id: [
                sum(c.events for c in await store.scorecards_of(firm.row.id, m)) for m in months
            ]
            for firm in DEMO
        }

    try:
        events = await uc.read(cards)
        for firm in DEMO:
            assert all(n > 0 for n in events[firm.row.id]), (firm.row.id, events)
        # Jobs scale with the elevators a firm looks after: the big firm does more than the small.
        assert sum(events["zz-lift-02"]) > 10 * sum(events["zz-lift-05"])
        await seed_demo_contractors(settings)
        again = capsys.readouterr().out
        assert " 0 new job events" in again and " 0 new job events" not in first
        assert await uc.read(cards) == events
    finally:
        await uc.dispose()
