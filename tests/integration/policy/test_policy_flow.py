"""The policy service end to end over gRPC, on the real PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from elevins.policy.v1 import policy_pb2 as pb
from shared.errors import details_of
from tests.integration.policy.helpers import World, rid

pytestmark = pytest.mark.integration


def ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


@pytest.fixture
async def world(policy_channel, mint) -> World:
    return World(policy_channel, mint("service"))


async def test_enrol_vote_issue_and_check_coverage(world: World) -> None:
    # Appreciation income of 1,000 CNY covers most of the 1,300 CNY premium; the 300 CNY
    # shortfall is shared by floor area 90 : 110 : 100, from the fund accounts where they suffice.
    community = await world.community(appreciation_fen=100_000)
    flats = await world.flats(
        community.community_id, ["90.00", "110.00", "100.00"], balances=[50_000, 1_000, None]
    )
    elevator = await world.elevator(community.community_id)
    assert sorted(elevator.served_flat_ids) == sorted(f.flat_id for f in flats)

    vote = await world.vote(
        elevator.elevator_id,
        {
            flats[0].owner_id: pb.BALLOT_CHOICE_AGREE,
            flats[1].owner_id: pb.BALLOT_CHOICE_AGREE,
            flats[2].owner_id: pb.BALLOT_CHOICE_DISAGREE,
        },
    )
    assert vote.status == pb.VOTE_STATUS_PASSED
    assert any("turnout" in line for line in vote.explanation)

    policy = (
        await world.stub.IssuePolicy(
            pb.IssuePolicyRequest(
                request_id=rid(), elevator_id=elevator.elevator_id, product_code="ELEV-REPAIR-STD"
            ),
            metadata=world.md,
        )
    ).policy
    funding = policy.funding
    assert funding.premium_fen == 130_000
    assert funding.from_appreciation_fen == 100_000
    shares = {line.flat_id: line for line in funding.lines}
    assert [shares[f.flat_id].share_fen for f in flats] == [9_000, 11_000, 10_000]
    assert shares[flats[0].flat_id].from_account_fen == 9_000
    assert (
        shares[flats[1].flat_id].from_account_fen,
        shares[flats[1].flat_id].billed_cash_fen,
    ) == (1_000, 10_000)
    assert shares[flats[2].flat_id].billed_cash_fen == 10_000
    assert (
        funding.from_appreciation_fen + sum(ln.share_fen for ln in funding.lines)
        == funding.premium_fen
    )

    covered = await world.stub.CheckCoverage(
        pb.CheckCoverageRequest(
            registration_code=elevator.spec.registration_code,
            loss_time=ts(datetime.now(UTC) + timedelta(days=1)),
            peril="mechanical_failure",
        ),
        metadata=world.md,
    )
    assert covered.covered and covered.remaining_fen == 15_000_000
    excluded = await world.stub.CheckCoverage(
        pb.CheckCoverageRequest(
            registration_code=elevator.spec.registration_code,
            loss_time=ts(datetime.now(UTC) + timedelta(days=1)),
            peril="vandalism",
        ),
        metadata=world.md,
    )
    assert not excluded.covered
    assert [r.code for r in excluded.reasons] == ["PERIL_EXCLUDED"]
    lapsed = await world.stub.CheckCoverage(
        pb.CheckCoverageRequest(
            registration_code=elevator.spec.registration_code,
            loss_time=ts(datetime.now(UTC) + timedelta(days=400)),
            peril="mechanical_failure",
        ),
        metadata=world.md,
    )
    assert "LAPSED" in [r.code for r in lapsed.reasons]


async def test_a_retry_returns_the_first_answer(world: World) -> None:
    request = pb.RegisterCommunityRequest(
        request_id=rid(), region_code="430202", name=f"重试小区{rid()[:6]}"
    )
    first, second = await asyncio.gather(
        world.stub.RegisterCommunity(request, metadata=world.md),
        world.stub.RegisterCommunity(request, metadata=world.md),
    )
    assert first.community.community_id == second.community.community_id
    changed = pb.RegisterCommunityRequest(
        request_id=request.request_id, region_code="430202", name="另一个"
    )
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.stub.RegisterCommunity(changed, metadata=world.md)
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert details_of(caught.value).reason == "REQUEST_ID_REUSED"


async def test_sixty_four_concurrent_reservations_never_exceed_the_sum_insured(
    world: World,
) -> None:
    _, policy = await world.insured_elevator()
    amount = 1_000_000  # 10,000 CNY each: 15 fit in the 150,000 CNY sum insured, 49 must not
    results = await asyncio.gather(
        *(
            world.stub.ReserveLimit(
                pb.ReserveLimitRequest(
                    claim_id=f"clm-{policy.policy_id}-{i}",
                    policy_id=policy.policy_id,
                    amount_fen=amount,
                ),
                metadata=world.md,
            )
            for i in range(64)
        ),
        return_exceptions=True,
    )
    granted = [r for r in results if isinstance(r, pb.ReserveLimitResponse)]
    refused = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
    assert len(granted) == 15 and len(refused) == 49
    assert {e.code() for e in refused} == {grpc.StatusCode.FAILED_PRECONDITION}
    assert {details_of(e).reason for e in refused} == {"LIMIT_EXCEEDED"}
    final = (
        await world.stub.GetPolicy(
            pb.GetPolicyRequest(policy_id=policy.policy_id), metadata=world.md
        )
    ).policy
    assert final.reserved_fen == 15 * amount and final.remaining_fen == 0


async def test_reserve_pay_release_are_idempotent_by_claim(world: World) -> None:
    _, policy = await world.insured_elevator()
    reserve = pb.ReserveLimitRequest(
        claim_id=f"clm-{rid()}", policy_id=policy.policy_id, amount_fen=1_200_000
    )
    first = await world.stub.ReserveLimit(reserve, metadata=world.md)
    again = await world.stub.ReserveLimit(reserve, metadata=world.md)
    assert first.position.reserved_fen == again.position.reserved_fen == 1_200_000
    paid = await world.stub.PayLimit(
        pb.PayLimitRequest(claim_id=reserve.claim_id, amount_fen=1_100_000), metadata=world.md
    )
    paid_again = await world.stub.PayLimit(
        pb.PayLimitRequest(claim_id=reserve.claim_id, amount_fen=1_100_000), metadata=world.md
    )
    assert paid.position.paid_fen == paid_again.position.paid_fen == 1_100_000
    assert paid_again.position.reserved_fen == 0
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.stub.ReleaseLimit(
            pb.ReleaseLimitRequest(claim_id=reserve.claim_id), metadata=world.md
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def test_list_elevators_pages_and_shows_the_policy_in_force(world: World) -> None:
    elevator, policy = await world.insured_elevator()
    listed = await world.stub.ListElevators(
        pb.ListElevatorsRequest(community_id=elevator.community_id, page_size=1), metadata=world.md
    )
    assert [e.elevator_id for e in listed.elevators] == [elevator.elevator_id]
    assert listed.elevators[0].current_policy_id == policy.policy_id
    assert listed.next_page_token == ""
    error = None
    try:
        await world.stub.ListElevators(pb.ListElevatorsRequest(page_size=10_000), metadata=world.md)
    except grpc.aio.AioRpcError as caught:
        error = caught
    assert error is not None and error.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_renewal_follows_on_and_cancellation_refunds_unused_days(world: World) -> None:
    elevator, policy = await world.insured_elevator(appreciation_fen=1_000_000)
    renewed = (
        await world.stub.RenewPolicy(
            pb.RenewPolicyRequest(request_id=rid(), policy_id=policy.policy_id), metadata=world.md
        )
    ).policy
    assert renewed.starts_at == policy.ends_at
    assert renewed.renewed_from_policy_id == policy.policy_id
    assert renewed.funding.from_appreciation_fen == 130_000  # paid again, from appreciation

    # Cancel the first year after 73 of its 365 days: 292 days unused.
    effective = policy.starts_at.ToDatetime(tzinfo=UTC) + timedelta(days=73)
    cancelled = (
        await world.stub.CancelPolicy(
            pb.CancelPolicyRequest(
                request_id=rid(),
                policy_id=policy.policy_id,
                reason="楼栋拆除",
                effective_at=ts(effective),
            ),
            metadata=world.md,
        )
    ).policy
    assert cancelled.status == pb.POLICY_STATUS_CANCELLED
    assert cancelled.refund_fen == 130_000 * 292 // 365
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await world.stub.CancelPolicy(
            pb.CancelPolicyRequest(request_id=rid(), policy_id=policy.policy_id, reason="again"),
            metadata=world.md,
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    after = await world.stub.CheckCoverage(
        pb.CheckCoverageRequest(
            registration_code=elevator.spec.registration_code,
            loss_time=ts(effective + timedelta(days=1)),
            peril="mechanical_failure",
        ),
        metadata=world.md,
    )
    assert [r.code for r in after.reasons] == ["CANCELLED"]
