"""Alarm → incident → quote → review → double approval → confirmation → payment, over gRPC
against the real PostgreSQL and the real policy service."""

from __future__ import annotations

import asyncio
import json
import sys

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from shared.errors import details_of
from tests.integration.claims.helpers import (
    INVERTER,
    ROPES,
    TRACTION_MACHINE,
    Actors,
    insured_registration_code,
    rid,
)
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration


async def test_alarm_to_payment_with_double_review_and_a_verified_audit_chain(
    claims_channel, policy_channel, mint, service_environ
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-e2e")
    opened = await a.report(code)
    assert opened.created and opened.claim.state == "reported"
    assert {c.kind for c in opened.claim.clocks} == {"repair"}
    claim_id = opened.claim.claim_id

    claim = await a.to_under_review(claim_id, [TRACTION_MACHINE, INVERTER, ROPES])
    assert claim.state == "under_review"
    lines = {ln.line_no: ln for ln in claim.quote.lines}
    assert lines[1].approved_fen == 3_600_000 and "PRICE_ABOVE_REFERENCE" in lines[1].reason_codes
    assert claim.recommendation.approved_total_fen == 3_600_000 + 1_200_000 + 1_800_000
    assert any(step.source.startswith("pricing@") for step in claim.recommendation.trace)

    first = await a.stub.DecideClaim(
        pb.DecideClaimRequest(
            request_id=rid(),
            claim_id=claim_id,
            kind=pb.DECISION_KIND_APPROVE,
            note="价格已按市场价核减",
        ),
        metadata=a.adjuster,
    )
    assert first.claim.state == "pending_second_review"  # 66,000 CNY is above 50,000

    with pytest.raises(grpc.aio.AioRpcError) as alone:
        await a.stub.SecondReview(
            pb.SecondReviewRequest(request_id=rid(), claim_id=claim_id, approve=True),
            metadata=meta(mint("senior_reviewer", subject="adj-wang", regions=("4302",))),
        )
    assert alone.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(alone.value).reason == "SAME_PERSON_APPROVAL"

    second = await a.stub.SecondReview(
        pb.SecondReviewRequest(request_id=rid(), claim_id=claim_id, approve=True, note="复核同意"),
        metadata=a.senior,
    )
    assert second.claim.state == "approved"

    await a.stub.MarkRepaired(
        pb.MarkRepairedRequest(request_id=rid(), claim_id=claim_id), metadata=a.contractor
    )
    half = await a.stub.ConfirmRepair(
        pb.ConfirmRepairRequest(
            request_id=rid(),
            claim_id=claim_id,
            kind=pb.CONFIRMATION_KIND_PROPERTY_MANAGER,
            confirmed_by_name="张经理",
        ),
        metadata=a.pm,
    )
    assert half.claim.state == "repaired"
    confirmed = await a.stub.ConfirmRepair(
        pb.ConfirmRepairRequest(
            request_id=rid(),
            claim_id=claim_id,
            kind=pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE,
            confirmed_by_name="业委会李主任",
        ),
        metadata=a.pm,
    )
    assert confirmed.claim.state == "confirmed"
    assert "payment" in {c.kind for c in confirmed.claim.clocks}

    paid = await a.stub.PayClaim(
        pb.PayClaimRequest(request_id=rid(), claim_id=claim_id), metadata=a.service
    )
    assert paid.claim.state == "paid"
    assert (
        paid.claim.payout.amount_fen == 6_600_000 and paid.claim.payout.contractor_id == "ctr-e2e"
    )
    policy = (
        await policy_pb2_grpc.PolicyServiceStub(policy_channel).GetPolicy(
            ppb.GetPolicyRequest(policy_id=paid.claim.policy_id), metadata=meta(mint("service"))
        )
    ).policy
    assert policy.paid_fen == 6_600_000 and policy.reserved_fen == 0

    assert [t.to_state for t in paid.claim.timeline] == [
        "dispatched",
        "on_site",
        "quoted",
        "under_review",
        "pending_second_review",
        "approved",
        "repaired",
        "repaired",
        "confirmed",
        "paid",
    ]
    trail = await a.stub.GetAuditTrail(
        pb.GetAuditTrailRequest(claim_id=claim_id), metadata=a.adjuster
    )
    assert trail.chain_ok and len(trail.events) >= 12
    verify = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.claims",
        "verify-audit",
        "--claim",
        claim_id,
        env=service_environ,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output = (await asyncio.wait_for(verify.communicate(), 60))[0].decode()
    assert verify.returncode == 0, output
    assert f"{claim_id}: ok" in output

    events = await a.stub.ListEvents(pb.ListEventsRequest(limit=1000), metadata=a.service)
    topics = {
        e.topic for e in events.events if json.loads(e.payload_json).get("claim_id") == claim_id
    }
    assert {"claim.opened", "claim.decided", "claim.paid"} <= topics


async def test_a_hundred_copies_of_one_alarm_make_one_claim_and_a_storm_folds(
    claims_channel, policy_channel, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-storm")
    replies = await asyncio.gather(*(a.report(code, event="alarm-same-1") for _ in range(100)))
    assert len({r.claim.claim_id for r in replies}) == 1
    assert sum(r.created for r in replies) == 1
    storm = await asyncio.gather(*(a.report(code, event=f"alarm-storm-{i}") for i in range(20)))
    assert {r.claim.claim_id for r in storm} == {replies[0].claim.claim_id}
    final = (
        await a.stub.GetClaim(
            pb.GetClaimRequest(claim_id=replies[0].claim.claim_id), metadata=a.adjuster
        )
    ).claim
    assert final.report_count == 21
    other = await a.report(code, category="door_fault")
    assert other.created and other.claim.claim_id != final.claim_id


async def test_thirty_two_concurrent_approvals_and_payments_pay_once(
    claims_channel, policy_channel, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    a = Actors(claims_channel, mint, contractor="ctr-race")
    claim_id = (await a.report(code)).claim.claim_id
    await a.to_under_review(claim_id, [INVERTER])  # 12,000 CNY: one approval is enough
    approvals = await asyncio.gather(
        *(
            a.stub.DecideClaim(
                pb.DecideClaimRequest(
                    request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE, note="ok"
                ),
                metadata=meta(mint("adjuster", subject=f"adj-{i}", regions=("4302",))),
            )
            for i in range(32)
        ),
        return_exceptions=True,
    )
    won = [r for r in approvals if isinstance(r, pb.DecideClaimResponse)]
    lost = [r for r in approvals if isinstance(r, grpc.aio.AioRpcError)]
    assert len(won) == 1 and {e.code() for e in lost} == {grpc.StatusCode.FAILED_PRECONDITION}
    await a.stub.MarkRepaired(
        pb.MarkRepairedRequest(request_id=rid(), claim_id=claim_id), metadata=a.contractor
    )
    for kind in (pb.CONFIRMATION_KIND_PROPERTY_MANAGER, pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE):
        await a.stub.ConfirmRepair(
            pb.ConfirmRepairRequest(
                request_id=rid(), claim_id=claim_id, kind=kind, confirmed_by_name="x"
            ),
            metadata=a.pm,
        )
    payments = await asyncio.gather(
        *(
            a.stub.PayClaim(
                pb.PayClaimRequest(request_id=rid(), claim_id=claim_id), metadata=a.service
            )
            for _ in range(32)
        ),
        return_exceptions=True,
    )
    assert all(isinstance(p, pb.PayClaimResponse) for p in payments), payments
    assert {p.claim.payout.amount_fen for p in payments} == {1_200_000}
    policy = (
        await policy_pb2_grpc.PolicyServiceStub(policy_channel).GetPolicy(
            ppb.GetPolicyRequest(policy_id=payments[0].claim.policy_id),
            metadata=meta(mint("service")),
        )
    ).policy
    assert policy.paid_fen == 1_200_000
