"""The demo claims load through the real use cases into every state, once."""

from __future__ import annotations

import pytest

from services.claims.seed import SCRIPT, seed_demo_claims
from services.claims.settings import ClaimsSettings
from services.policy.seed import seed_demo_city
from services.policy.settings import PolicySettings

pytestmark = pytest.mark.integration


async def test_demo_claims_reach_every_scripted_state_once(
    policy_addr, claims_addr, service_environ, capsys
) -> None:
    await seed_demo_city(PolicySettings.from_env(service_environ), elevators=50)
    settings = ClaimsSettings.from_env({**service_environ, "POLICY_ADDR": policy_addr})
    capsys.readouterr()
    await seed_demo_claims(settings)
    out = capsys.readouterr().out
    assert out.startswith("demo claims seeded: "), out
    states = {part.split(" ", 1)[1] for part in out.strip().split(": ", 1)[1].split(", ")}
    assert states == {goal for goal, _, _ in SCRIPT}
    await seed_demo_claims(settings)
    assert "already seeded" in capsys.readouterr().out
