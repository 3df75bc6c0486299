"""Benchmarks of the policy service: coverage checks over gRPC, vote decisions, funding plans."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from load_tests.harness import (
    BenchContext,
    BenchResult,
    Measure,
    Metadata,
    Round,
    benchmark,
    interleaved,
    note,
    sync_round,
)
from load_tests.policy_world import PolicyWorldBuilder
from services.policy.domain.flats import Flat
from services.policy.domain.funding import plan_funding
from services.policy.domain.voting import (
    Ballot,
    decide_vote,
    load_default_rule_sets,
    select_rule_set,
)
from shared.money import allocate

if TYPE_CHECKING:
    from elevins.policy.v1.policy_pb2_grpc import PolicyServiceAsyncStub

CONCURRENT_CALLERS = 32
INSURED_ELEVATORS = 8
CALL_TIMEOUT_S = 10.0

# ------------------------------------------------------------------ CheckCoverage over gRPC


def _coverage_round(
    stub: PolicyServiceAsyncStub,
    metadata: Metadata,
    requests: Sequence[pb.CheckCoverageRequest],
    *,
    callers: int,
    seconds: float,
) -> Round:
    """``callers`` closed-loop callers (no think time) for ``seconds``: completed calls/s.

    Any failed call fails the benchmark: a rate that includes errors measures the errors.
    """

    async def run() -> float:
        completed = 0
        start = time.perf_counter()
        end = start + seconds

        async def caller(offset: int) -> None:
            nonlocal completed
            index = offset
            while time.perf_counter() < end:
                await stub.CheckCoverage(
                    requests[index % len(requests)], metadata=metadata, timeout=CALL_TIMEOUT_S
                )
                completed += 1
                index += 1

        await asyncio.gather(*(caller(i) for i in range(callers)))
        return completed / (time.perf_counter() - start)

    return run


@benchmark("policy_check_coverage_concurrent")
async def check_coverage_concurrent(ctx: BenchContext) -> BenchResult:
    """CheckCoverage by 32 concurrent callers vs one: the server's gain from concurrency.

    Real gRPC, real PostgreSQL. The service runs in this process, so callers and server share
    one interpreter: the figures are a floor for the server alone, and the ratio is what
    grpc.aio and the connection pool make of concurrency on this machine.
    """
    target = await ctx.policy()
    async with grpc.aio.insecure_channel(target.addr) as channel:
        note(f"seeding {INSURED_ELEVATORS} insured elevators through the API …")
        world = PolicyWorldBuilder(channel, target.metadata)
        elevators = await world.insured_elevators(INSURED_ELEVATORS)
        loss_time = Timestamp()
        loss_time.FromDatetime(datetime.now(UTC) + timedelta(days=1))
        requests = [
            pb.CheckCoverageRequest(
                registration_code=e.registration_code,
                loss_time=loss_time,
                peril="mechanical_failure",
            )
            for e in elevators
        ]
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        for request in requests:  # measure answers that mean something: every one covered
            answer = await stub.CheckCoverage(request, metadata=target.metadata)
            if not answer.covered:
                raise RuntimeError(f"{request.registration_code} is not covered: {answer.reasons}")
        seconds = 1.5 * ctx.time_scale
        note("measuring CheckCoverage, 32 callers vs 1, alternating rounds …")
        concurrent, sequential = await interleaved(
            _coverage_round(
                stub, target.metadata, requests, callers=CONCURRENT_CALLERS, seconds=seconds
            ),
            _coverage_round(stub, target.metadata, requests, callers=1, seconds=seconds),
            rounds=7,
        )
    return BenchResult(
        Measure("policy_check_coverage_concurrent", "calls/s", concurrent),
        Measure("policy_check_coverage_sequential", "calls/s", sequential),
    )


# ------------------------------------------------------------------ domain: electorate of 36

FLATS = 36  # 18 floors × 2 flats: one unit of a typical high-rise, one elevator


def electorate(flats: int = FLATS) -> list[Flat]:
    """``flats`` flats with varied two-decimal areas; two owners hold a second flat each."""
    result = []
    for i in range(flats):
        owner = f"owner-{i:02d}" if i < flats - 2 else f"owner-{i - (flats - 2):02d}"
        area = Decimal(f"{78 + (i * 37) % 61}.{(i * 53) % 100:02d}")
        result.append(Flat(flat_id=f"flat-{i:02d}", owner_id=owner, area=area))
    return result


def ballots_for(flats: Sequence[Flat]) -> dict[str, Ballot]:
    """A vote that passes: most owners agree, a few disagree or abstain, some stay away."""
    owners = sorted({f.owner_id for f in flats})
    ballots: dict[str, Ballot] = {}
    for i, owner in enumerate(owners):
        if i % 11 == 10:
            continue  # did not vote
        ballots[owner] = (
            Ballot.DISAGREE if i % 7 == 3 else Ballot.ABSTAIN if i % 13 == 5 else Ballot.AGREE
        )
    return ballots


def naive_float_tally(flats: Sequence[tuple[str, float]], ballots: Mapping[str, Ballot]) -> bool:
    """The civil-code test done the obvious way, in floats: the baseline's price of exactness.

    Same owner grouping, same four thresholds; no Fractions, no Decimals, no explanations.
    """
    area: dict[str, float] = {}
    for owner, flat_area in flats:
        area[owner] = area.get(owner, 0.0) + flat_area
    total_area = sum(area.values())
    voting_area = agree_area = 0.0
    voting_heads = agree_heads = 0
    for owner, owner_area in area.items():
        choice = ballots.get(owner, Ballot.NOT_VOTED)
        if choice is Ballot.NOT_VOTED:
            continue
        voting_area += owner_area
        voting_heads += 1
        if choice is Ballot.AGREE:
            agree_area += owner_area
            agree_heads += 1
    return (
        voting_area / total_area >= 2 / 3
        and voting_heads / len(area) >= 2 / 3
        and voting_heads > 0
        and agree_area / voting_area > 1 / 2
        and agree_heads / voting_heads > 1 / 2
    )


@benchmark("policy_vote_decide")
async def vote_decide(ctx: BenchContext) -> BenchResult:
    """decide_vote (exact Fractions, every check explained) vs a naive float tally.

    The ratio is below 1 by design: it is the price of exact thresholds, and shows whether
    that price matters next to a gRPC call (tens of microseconds vs milliseconds).
    """
    rule_set = select_rule_set(load_default_rule_sets(), "civil_code_2021_art278")
    flats = electorate()
    ballots = ballots_for(flats)
    as_floats = [(f.owner_id, float(f.area)) for f in flats]
    outcome = decide_vote(rule_set, flats, ballots)
    if outcome.passed != naive_float_tally(as_floats, ballots) or not outcome.passed:
        raise RuntimeError("the benchmark vote should pass under both tallies")
    seconds = 0.25 * ctx.time_scale
    exact, naive = await interleaved(
        sync_round(lambda: decide_vote(rule_set, flats, ballots), seconds),
        sync_round(lambda: naive_float_tally(as_floats, ballots), seconds),
        rounds=9,
    )
    return BenchResult(
        Measure("policy_vote_decide", "votes/s", exact),
        Measure("policy_vote_naive_float_tally", "votes/s", naive),
    )


@benchmark("policy_funding_plan")
async def funding_plan(ctx: BenchContext) -> BenchResult:
    """plan_funding for 36 flats vs shared.money.allocate of the same shortfall alone.

    The ratio says what the plan adds on top of the largest-remainder split it is built on
    (validation, ordering, account deductions, the lines).
    """
    flats = electorate()
    balances = {f.flat_id: (i * 1_700) % 4_000 for i, f in enumerate(flats) if i % 3}
    premium, appreciation = 130_000, 40_000
    areas = [f.area for f in sorted(flats, key=lambda f: f.flat_id)]
    plan = plan_funding(
        premium_fen=premium,
        appreciation_balance_fen=appreciation,
        flats=flats,
        account_balances=balances,
    )
    if [line.share_fen for line in plan.lines] != allocate(premium - appreciation, areas):
        raise RuntimeError("the plan's shares should be exactly the allocation's")
    seconds = 0.25 * ctx.time_scale
    plans, allocations = await interleaved(
        sync_round(
            lambda: plan_funding(
                premium_fen=premium,
                appreciation_balance_fen=appreciation,
                flats=flats,
                account_balances=balances,
            ),
            seconds,
        ),
        sync_round(lambda: allocate(premium - appreciation, areas), seconds),
        rounds=9,
    )
    return BenchResult(
        Measure("policy_funding_plan", "plans/s", plans),
        Measure("policy_funding_allocate_only", "allocations/s", allocations),
    )
