"""Clocks run out while nobody is looking, and a payout never exceeds what the policy has left."""

from __future__ import annotations

from datetime import timedelta

import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from shared.clock import ManualClock, SystemClock
from tests.integration.claims.helpers import (
    TRACTION_MACHINE,
    Actors,
    insured_registration_code,
    rid,
)
from tests.integration.policy.helpers import World, meta

pytestmark = pytest.mark.integration


async def test_a_trapped_passenger_clock_breach_is_flagged_escalated_and_counted(
    claims_channel, policy_channel, policy_addr, service_environ, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-late")
    claim = (await a.report(code, category="trapped_passenger")).claim
    assert {c.kind for c in claim.clocks} == {"arrival", "repair"}

    # A second claims process whose clock reads 31 minutes later: deadlines live in the
    # database, so any process (or a restarted one) sees them and flags the breach.
    clock = ManualClock(SystemClock().now() + timedelta(minutes=31))
    settings = ClaimsSettings.from_env({**service_environ, "POLICY_ADDR": policy_addr})
    app, later = build_app(settings, clock=clock, port=0)
    try:
        assert await later.sweep_clocks() >= 1
        assert await later.sweep_clocks() == 0  # flagged once, not again
    finally:
        for hook in app.on_stop:
            await hook()
    now = (
        await a.stub.GetClaim(pb.GetClaimRequest(claim_id=claim.claim_id), metadata=a.adjuster)
    ).claim
    arrival = next(c for c in now.clocks if c.kind == "arrival")
    assert arrival.breached and not next(c for c in now.clocks if c.kind == "repair").breached
    queue = await a.stub.ListClaims(pb.ListClaimsRequest(breached_only=True), metadata=a.adjuster)
    assert claim.claim_id in {c.claim_id for c in queue.claims}
    assert queue.breaches_by_clock["arrival"] >= 1
    events = await a.stub.ListEvents(pb.ListEventsRequest(limit=1000), metadata=a.service)
    assert any(
        e.topic == "claim.clock_breached" and e.key == f"{claim.claim_id}:arrival"
        for e in events.events
    )
    trail = await a.stub.GetAuditTrail(
        pb.GetAuditTrailRequest(claim_id=claim.claim_id), metadata=a.adjuster
    )
    assert trail.chain_ok and "clock_breached" in {e.kind for e in trail.events}


async def test_the_recommendation_never_exceeds_what_the_policy_has_left(
    claims_channel, policy_channel, mint
) -> None:
    world = World(policy_channel, mint("service"))
    elevator, policy = await world.insured_elevator()
    # Another claim already holds 140,000 of the 150,000 CNY sum insured.
    await world.stub.ReserveLimit(
        ppb.ReserveLimitRequest(
            claim_id=f"clm-other-{rid()}", policy_id=policy.policy_id, amount_fen=14_000_000
        ),
        metadata=world.md,
    )
    a = Actors(claims_channel, mint, contractor="ctr-cap")
    claim_id = (await a.report(elevator.spec.registration_code)).claim.claim_id
    claim = await a.to_under_review(claim_id, [TRACTION_MACHINE])
    assert claim.recommendation.approved_total_fen == 1_000_000
    assert "LIMIT_CAPPED" in claim.recommendation.reason_codes
    approved = await a.stub.DecideClaim(
        pb.DecideClaimRequest(
            request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE, note="限额内"
        ),
        metadata=a.adjuster,
    )
    assert approved.claim.state == "approved" and approved.claim.approved_total_fen == 1_000_000
    after = (
        await policy_pb2_grpc.PolicyServiceStub(policy_channel).GetPolicy(
            ppb.GetPolicyRequest(policy_id=policy.policy_id), metadata=meta(mint("service"))
        )
    ).policy
    assert after.remaining_fen == 0
