"""The community reads (ListCommunities, GetCommunity, ListVotes, ListPolicies) over gRPC, on
the real PostgreSQL: what they return, how they page, and whom they refuse."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from elevins.policy.v1 import policy_pb2 as pb
from shared.errors import details_of
from tests.integration.policy.helpers import World, meta, rid

pytestmark = pytest.mark.integration


@dataclass
class Community:
    """Two stairwells: unit 1 insured after a failed and then a passed vote, unit 2 not."""

    community: pb.Community
    insured: pb.Elevator
    uninsured: pb.Elevator
    failed_vote: pb.Vote
    passed_vote: pb.Vote
    policy: pb.Policy


@pytest.fixture
async def world(policy_channel, mint) -> World:
    return World(policy_channel, mint("service"))


@pytest.fixture
def as_role(mint) -> Callable[..., tuple[tuple[str, str]]]:
    def metadata(role: str, *regions: str) -> tuple[tuple[str, str]]:
        return meta(mint(role, regions=regions or ("*",)))

    return metadata


async def _community(world: World, *, region: str = "430202") -> Community:
    # 300 CNY of appreciation income leaves 1,000 CNY of the premium to the owners.
    community = await world.community(region=region, appreciation_fen=30_000)
    cid = community.community_id
    unit1 = await world.flats(cid, ["90.00", "110.00", "100.00"], balances=[50_000, 1_000, None])
    await world.flats(cid, ["80.00", "80.00"], unit="2")
    insured = await world.elevator(cid, unit="1")
    uninsured = await world.elevator(cid, unit="2")
    failed = await world.vote(insured.elevator_id, {unit1[0].owner_id: pb.BALLOT_CHOICE_AGREE})
    passed = await world.vote(
        insured.elevator_id, {f.owner_id: pb.BALLOT_CHOICE_AGREE for f in unit1[:2]}
    )
    policy = (
        await world.stub.IssuePolicy(
            pb.IssuePolicyRequest(
                request_id=rid(), elevator_id=insured.elevator_id, product_code="ELEV-REPAIR-STD"
            ),
            metadata=world.md,
        )
    ).policy
    return Community(community, insured, uninsured, failed, passed, policy)


async def _refused(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def _all_communities(world: World, md: Any, region_prefix: str = "") -> list[pb.Community]:
    found: list[pb.Community] = []
    token = ""
    while True:
        page = await world.stub.ListCommunities(
            pb.ListCommunitiesRequest(region_prefix=region_prefix, page_size=500, page_token=token),
            metadata=md,
        )
        found += [s.community for s in page.communities]
        token = page.next_page_token
        if not token:
            return found


async def test_an_adjuster_lists_the_communities_of_their_own_regions_only(
    world: World, as_role
) -> None:
    zhuzhou = await _community(world, region="430202")
    hangzhou = await _community(world, region="330106")
    adjuster_4302 = as_role("adjuster", "4302")
    adjuster_3301 = as_role("adjuster", "3301")

    seen_4302 = await _all_communities(world, adjuster_4302)
    assert zhuzhou.community.community_id in {c.community_id for c in seen_4302}
    assert all(c.region_code.startswith("4302") for c in seen_4302)
    seen_3301 = await _all_communities(world, adjuster_3301)
    assert hangzhou.community.community_id in {c.community_id for c in seen_3301}
    assert all(c.region_code.startswith("3301") for c in seen_3301)
    # A filter narrows the caller's regions and never widens them.
    assert await _all_communities(world, adjuster_4302, region_prefix="3301") == []
    narrowed = await _all_communities(world, adjuster_4302, region_prefix="430202")
    assert zhuzhou.community.community_id in {c.community_id for c in narrowed}

    summary = (
        await world.stub.GetCommunity(
            pb.GetCommunityRequest(community_id=zhuzhou.community.community_id),
            metadata=adjuster_4302,
        )
    ).community
    assert summary.community.name == zhuzhou.community.name
    assert (summary.elevator_count, summary.insured_elevator_count) == (2, 1)
    assert summary.community.appreciation_balance_fen == 0  # the 300 CNY paid the premium

    refused = await _refused(
        world.stub.GetCommunity(
            pb.GetCommunityRequest(community_id=zhuzhou.community.community_id),
            metadata=adjuster_3301,
        )
    )
    assert refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert details_of(refused).reason == "REGION_FORBIDDEN"
    for call in (
        world.stub.ListVotes(
            pb.ListVotesRequest(community_id=zhuzhou.community.community_id),
            metadata=adjuster_3301,
        ),
        world.stub.ListPolicies(
            pb.ListPoliciesRequest(elevator_id=zhuzhou.insured.elevator_id),
            metadata=adjuster_3301,
        ),
    ):
        assert (await _refused(call)).code() == grpc.StatusCode.PERMISSION_DENIED
    missing = await _refused(
        world.stub.GetCommunity(
            pb.GetCommunityRequest(community_id="com_nope"), metadata=adjuster_4302
        )
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_partners_and_contractors_may_not_read_the_insurers_overview(
    world: World, as_role
) -> None:
    town = await _community(world)
    for role in ("partner", "contractor"):
        md = as_role(role, "4302")
        for call in (
            world.stub.ListCommunities(pb.ListCommunitiesRequest(), metadata=md),
            world.stub.GetCommunity(
                pb.GetCommunityRequest(community_id=town.community.community_id), metadata=md
            ),
            world.stub.ListVotes(
                pb.ListVotesRequest(elevator_id=town.insured.elevator_id), metadata=md
            ),
            world.stub.ListPolicies(
                pb.ListPoliciesRequest(elevator_id=town.insured.elevator_id), metadata=md
            ),
        ):
            assert (await _refused(call)).code() == grpc.StatusCode.PERMISSION_DENIED, role
    for role in ("senior_reviewer", "supervisor", "auditor"):
        reply = await world.stub.GetCommunity(
            pb.GetCommunityRequest(community_id=town.community.community_id),
            metadata=as_role(role, "4302"),
        )
        assert reply.community.elevator_count == 2


async def test_communities_page_in_name_order_without_gaps_or_repeats(world: World) -> None:
    region = f"54{secrets.randbelow(10_000):04d}"  # a region no other test uses
    names = sorted([(await world.community(region=region)).name for _ in range(5)])
    seen: list[str] = []
    token = ""
    while True:
        page = await world.stub.ListCommunities(
            pb.ListCommunitiesRequest(region_prefix=region, page_size=2, page_token=token),
            metadata=world.md,
        )
        assert len(page.communities) <= 2
        seen += [s.community.name for s in page.communities]
        token = page.next_page_token
        if not token:
            break
    assert seen == names
    for bad in (
        pb.ListCommunitiesRequest(region_prefix="43a"),
        pb.ListCommunitiesRequest(region_prefix="4302021"),
        pb.ListCommunitiesRequest(page_token="not-a-token"),
        pb.ListCommunitiesRequest(page_size=501),
    ):
        refused = await _refused(world.stub.ListCommunities(bad, metadata=world.md))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert details_of(refused).violations, bad


async def test_votes_of_an_elevator_or_a_community_newest_first_with_exact_fractions(
    world: World,
) -> None:
    town = await _community(world)
    by_elevator = await world.stub.ListVotes(
        pb.ListVotesRequest(elevator_id=town.insured.elevator_id), metadata=world.md
    )
    assert [v.vote_id for v in by_elevator.votes] == [
        town.passed_vote.vote_id,
        town.failed_vote.vote_id,
    ]
    passed, failed = by_elevator.votes
    assert (passed.status, failed.status) == (pb.VOTE_STATUS_PASSED, pb.VOTE_STATUS_FAILED)
    # Two of three owners (200 of 300 m²) took part and agreed: exactly 2/3, and passed.
    assert passed.tally.turnout_area == "2/3 (0.6667)"
    assert passed.tally.turnout_headcount == "2/3 (0.6667)"
    assert passed.tally.agree_area == "1 (1.0000)"
    assert passed.tally.electorate_headcount == 3
    assert passed.explanation[-1].startswith("passed under civil_code_2021_art278@")
    assert len(passed.ballots) == 2

    # The community's votes are its elevators' votes; the uninsured one never voted.
    first = await world.stub.ListVotes(
        pb.ListVotesRequest(community_id=town.community.community_id, page_size=1),
        metadata=world.md,
    )
    assert [v.vote_id for v in first.votes] == [town.passed_vote.vote_id]
    second = await world.stub.ListVotes(
        pb.ListVotesRequest(
            community_id=town.community.community_id, page_size=1, page_token=first.next_page_token
        ),
        metadata=world.md,
    )
    assert [v.vote_id for v in second.votes] == [town.failed_vote.vote_id]
    assert second.next_page_token == ""

    for bad in (
        pb.ListVotesRequest(),
        pb.ListVotesRequest(elevator_id=""),
        pb.ListVotesRequest(elevator_id=town.insured.elevator_id, page_token="eyJ4Ijoi"),
    ):
        refused = await _refused(world.stub.ListVotes(bad, metadata=world.md))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
    missing = await _refused(
        world.stub.ListVotes(pb.ListVotesRequest(elevator_id="elv_nope"), metadata=world.md)
    )
    assert missing.code() == grpc.StatusCode.NOT_FOUND


async def test_policies_show_the_premium_allocated_per_owner(world: World) -> None:
    town = await _community(world)
    other = await _community(world)  # its policy must not leak into this community's list
    listed = await world.stub.ListPolicies(
        pb.ListPoliciesRequest(community_id=town.community.community_id), metadata=world.md
    )
    assert [p.policy_id for p in listed.policies] == [town.policy.policy_id]
    policy = listed.policies[0]
    funding = policy.funding
    assert funding.premium_fen == 130_000
    assert funding.from_appreciation_fen == 30_000
    # The 1,000 CNY shortfall by area 90 : 110 : 100, from the accounts as far as they go.
    lines = {ln.number: ln for ln in funding.lines}
    assert {n: ln.share_fen for n, ln in lines.items()} == {
        "001": 30_000,
        "002": 36_667,
        "003": 33_333,
    }
    assert (lines["001"].from_account_fen, lines["001"].billed_cash_fen) == (30_000, 0)
    assert (lines["002"].from_account_fen, lines["002"].billed_cash_fen) == (1_000, 35_667)
    assert (lines["003"].from_account_fen, lines["003"].billed_cash_fen) == (0, 33_333)
    assert funding.from_appreciation_fen + sum(ln.share_fen for ln in funding.lines) == 130_000
    for line in funding.lines:
        assert (line.building, line.unit) == ("1", "1")
        assert line.owner_name_masked == "张*"  # never the whole name
        assert line.flat_id in town.insured.served_flat_ids
    assert (policy.reserved_fen, policy.paid_fen, policy.remaining_fen) == (0, 0, 15_000_000)

    by_elevator = await world.stub.ListPolicies(
        pb.ListPoliciesRequest(elevator_id=other.insured.elevator_id), metadata=world.md
    )
    assert [p.policy_id for p in by_elevator.policies] == [other.policy.policy_id]
    none = await world.stub.ListPolicies(
        pb.ListPoliciesRequest(elevator_id=town.uninsured.elevator_id), metadata=world.md
    )
    assert list(none.policies) == [] and none.next_page_token == ""


async def test_a_renewed_and_a_cancelled_policy_are_listed_newest_first(world: World) -> None:
    town = await _community(world)
    renewed = (
        await world.stub.RenewPolicy(
            pb.RenewPolicyRequest(request_id=rid(), policy_id=town.policy.policy_id),
            metadata=world.md,
        )
    ).policy
    await world.stub.CancelPolicy(
        pb.CancelPolicyRequest(request_id=rid(), policy_id=renewed.policy_id, reason="测试"),
        metadata=world.md,
    )
    pages: list[pb.Policy] = []
    token = ""
    while True:
        page = await world.stub.ListPolicies(
            pb.ListPoliciesRequest(
                elevator_id=town.insured.elevator_id, page_size=1, page_token=token
            ),
            metadata=world.md,
        )
        pages += page.policies
        token = page.next_page_token
        if not token:
            break
    assert [p.policy_id for p in pages] == [renewed.policy_id, town.policy.policy_id]
    assert [p.status for p in pages] == [pb.POLICY_STATUS_CANCELLED, pb.POLICY_STATUS_ACTIVE]
    # Each policy carries its own allocation (lines are loaded for the whole page at once).
    assert all(len(p.funding.lines) == 3 for p in pages)
