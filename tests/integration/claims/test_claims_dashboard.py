"""GetDashboard over the real API, on a small world whose every figure is known in advance.

A claims server of its own runs on a manual clock, so a payment can be made ten days late;
its claims live in a region of their own (439803), which the callers' tokens are scoped to.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.policy.v1 import policy_pb2 as ppb
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from shared.clock import SHANGHAI, ManualClock
from shared.errors import details_of
from tests.integration.claims.helpers import Actors, rid, stamp
from tests.integration.policy.helpers import World, meta

pytestmark = pytest.mark.integration

REGION = "439803"
BUTTONS = pb.QuoteLineInput(
    description="按钮 层站召唤", quantity="4", unit="个", unit_price_fen=8_000
)
ENCODER_PADDED = pb.QuoteLineInput(
    description="编码器", quantity="1", unit="个", unit_price_fen=200_000
)
DOOR_OPERATOR = pb.QuoteLineInput(
    description="门机 变频门机系统", quantity="1", unit="套", unit_price_fen=650_000
)
MIN, HOUR, DAY = 60, 3600, 86400


@pytest.fixture(scope="module")
async def world(
    claims_channel, policy_channel, policy_addr, service_environ, mint
) -> AsyncIterator[dict[str, object]]:
    policy = World(policy_channel, mint("service"))
    e1, _ = await policy.insured_elevator(region=REGION)
    e2, _ = await policy.insured_elevator(community_id=e1.community_id, unit="2")
    e3, _ = await policy.insured_elevator(region=REGION)
    e4, _ = await policy.insured_elevator(region=REGION)
    # Every loss after the policies began (they start when issued): the claims' clock runs
    # two days ahead of the wall clock.
    base = datetime.now(UTC) + timedelta(hours=1)
    clock = ManualClock(base + timedelta(days=2))
    settings = ClaimsSettings.from_env({**service_environ, "POLICY_ADDR": policy_addr})
    app, _ = build_app(settings, clock=clock, port=0)
    server, port = await app.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        a = Actors(channel, mint, contractor="ctr-dash", regions=(REGION,))

        async def report(elevator: ppb.Elevator, category: str, at: datetime) -> str:
            code = elevator.spec.registration_code
            return (await a.report(code, category=category, at=at)).claim.claim_id

        # c1: arrived after 10 minutes, clean and straight through, repaired in 5 hours,
        # paid at once.
        c1 = await report(e1, "trapped_passenger", base)
        claim = await a.to_under_review(c1, [BUTTONS], arrived_at=base + timedelta(minutes=10))
        assert claim.state == "approved"
        await a.repaired(c1, at=base + timedelta(hours=5))
        # c2: arrived after 20 minutes, a padded price trimmed, repaired in 30 hours, paid
        # twenty days after the confirmation.
        c2 = await report(e2, "trapped_passenger", base)
        claim = await a.to_under_review(
            c2, [ENCODER_PADDED], arrived_at=base + timedelta(minutes=20)
        )
        assert claim.state == "under_review"
        await a.approve(c2)
        await a.repaired(c2, at=base + timedelta(hours=30))
        # c3: arrived after 40 minutes, never quoted: its repair clock is overdue.
        c3 = await report(e3, "trapped_passenger", base)
        await a.stub.DispatchContractor(
            pb.DispatchContractorRequest(request_id=rid(), claim_id=c3, contractor_id="ctr-dash"),
            metadata=a.adjuster,
        )
        await a.stub.RecordArrival(
            pb.RecordArrivalRequest(
                request_id=rid(), claim_id=c3, arrived_at=stamp(base + timedelta(minutes=40))
            ),
            metadata=a.contractor,
        )
        # c4: trapped 45 minutes before the claims' now, nobody has arrived.
        await report(e4, "trapped_passenger", clock.now() - timedelta(minutes=45))
        # c5: a door fault on e1, quoted and rejected: its money and clocks count nowhere.
        c5_at = base + timedelta(hours=1)
        c5 = await report(e1, "door_fault", c5_at)
        await a.to_under_review(c5, [DOOR_OPERATOR])
        await a.stub.DecideClaim(
            pb.DecideClaimRequest(
                request_id=rid(),
                claim_id=c5,
                kind=pb.DECISION_KIND_REJECT,
                reason_codes=["PART_UNRELATED_TO_FAULT"],
                note="门机与故障无关",
            ),
            metadata=a.adjuster,
        )
        for claim_id in (c1, c2):
            await a.confirmed(claim_id)
        await a.paid(c1)
        # Twenty days: late whatever holidays follow (3 working days never span that many).
        clock.advance(timedelta(days=20))
        await a.paid(c2)
        yield {
            "actors": a,
            "now": clock.now(),
            "reported": [base, base, base, base + timedelta(days=2, minutes=-45), c5_at],
            "communities": (e1.community_id, e3.community_id, e4.community_id),
        }
    finally:
        await channel.close()
        await app.stop(server)


def _buckets(figures: pb.ClockFigures) -> dict[tuple[int, int], int]:
    return {(b.from_seconds, b.to_seconds): b.count for b in figures.histogram if b.count}


async def test_the_dashboard_counts_exactly_what_happened(world) -> None:
    a: Actors = world["actors"]  # type: ignore[assignment]
    got = await a.stub.GetDashboard(pb.GetDashboardRequest(), metadata=a.adjuster)

    assert got.claims == 5
    assert dict(got.claims_by_state) == {"paid": 2, "on_site": 1, "reported": 1, "rejected": 1}
    months: dict[str, int] = {}
    for at in world["reported"]:  # type: ignore[attr-defined]
        label = at.astimezone(SHANGHAI).strftime("%Y-%m")
        months[label] = months.get(label, 0) + 1
    assert len(got.claims_by_month) == 12
    assert {m.month: m.claims for m in got.claims_by_month if m.claims} == months
    assert got.claims_by_month[-1].month == world["now"].astimezone(SHANGHAI).strftime("%Y-%m")

    arrival = got.arrival  # 10, 20 and 40 minutes; one still waiting, long overdue
    assert (arrival.met, arrival.met_within_target, arrival.met_on_time) == (3, 1, 2)
    assert arrival.within_target_share == pytest.approx(1 / 3)
    assert arrival.on_time_share == pytest.approx(2 / 3)
    assert arrival.median_seconds == 20 * MIN
    assert (arrival.running, arrival.running_overdue) == (1, 1)
    assert _buckets(arrival) == {
        (10 * MIN, 15 * MIN): 1,
        (20 * MIN, 25 * MIN): 1,
        (30 * MIN, 45 * MIN): 1,
    }
    assert len(arrival.histogram) == 9 and arrival.histogram[-1].to_seconds == 0

    repair = got.repair  # 5 and 30 hours; c3 and c4 overdue; the rejected c5 not counted
    assert (repair.met, repair.met_on_time, repair.on_time_share) == (2, 1, 0.5)
    assert repair.median_seconds == (5 * HOUR + 30 * HOUR) // 2
    assert (repair.running, repair.running_overdue) == (2, 2)
    assert _buckets(repair) == {(4 * HOUR, 8 * HOUR): 1, (24 * HOUR, 48 * HOUR): 1}
    assert repair.met_within_target == 0

    payment = got.payment  # at once, and twenty days late
    assert (payment.met, payment.met_on_time, payment.running) == (2, 1, 0)
    assert payment.median_seconds == 20 * DAY // 2
    assert _buckets(payment) == {(0, DAY): 1, (14 * DAY, 0): 1}

    money = got.money  # 320 CNY as quoted; 2,000 CNY quoted, 1,500 approved
    assert (money.approved_claims, money.quoted_fen, money.approved_fen) == (2, 232_000, 182_000)
    assert (money.trimmed_fen, money.paid_fen) == (50_000, 182_000)

    k1, k2, k3 = world["communities"]  # type: ignore[misc]
    assert got.communities_total == 3
    assert [(c.community_id, c.claims, c.elevators_with_claims) for c in got.communities] == [
        (k1, 3, 2),
        *sorted([(k2, 1, 1), (k3, 1, 1)]),
    ]
    assert {c.region_code for c in got.communities} == {REGION}
    start, end = got.window_start.ToDatetime(UTC), got.window_end.ToDatetime(UTC)
    assert start.astimezone(SHANGHAI).day == 1 and end - start > timedelta(days=360)


async def test_the_dashboard_sees_only_the_callers_regions(world, mint) -> None:
    a: Actors = world["actors"]  # type: ignore[assignment]
    narrowed = await a.stub.GetDashboard(
        pb.GetDashboardRequest(region_code="4398"), metadata=a.adjuster
    )
    assert narrowed.claims == 5  # a wider filter does not widen the caller's regions
    elsewhere = meta(mint("supervisor", regions=("439804",)))
    empty = await a.stub.GetDashboard(pb.GetDashboardRequest(months=1), metadata=elsewhere)
    assert empty.claims == 0 and not empty.communities and empty.money.quoted_fen == 0
    assert len(empty.claims_by_month) == 1 and len(empty.arrival.histogram) == 9
    auditor = meta(mint("auditor", regions=(REGION,)))
    assert (await a.stub.GetDashboard(pb.GetDashboardRequest(), metadata=auditor)).claims == 5


@pytest.mark.parametrize("role", ["contractor", "partner"])
async def test_contractors_and_partners_get_no_dashboard(world, mint, role) -> None:
    a: Actors = world["actors"]  # type: ignore[assignment]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await a.stub.GetDashboard(
            pb.GetDashboardRequest(), metadata=meta(mint(role, regions=(REGION,)))
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.GetDashboardRequest(months=61), "months"),
        (pb.GetDashboardRequest(months=-1), "months"),
        (pb.GetDashboardRequest(region_code="Hunan"), "region_code"),
    ],
)
async def test_bad_dashboard_requests_name_the_field(world, request_, field) -> None:
    a: Actors = world["actors"]  # type: ignore[assignment]
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await a.stub.GetDashboard(request_, metadata=a.adjuster)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(caught.value).violations] == [field]
