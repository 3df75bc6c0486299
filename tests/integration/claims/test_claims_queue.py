"""The work queue over the real API: risk order, filters, keyset paging, who sees what.

The claims live in regions of their own (439801, 439802), so the callers' tokens, scoped to
them, see exactly the claims made here whatever the other tests put in the shared database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from shared.errors import details_of
from tests.integration.claims.helpers import Actors, rid
from tests.integration.policy.helpers import World

pytestmark = pytest.mark.integration

NORTH, SOUTH = "439801", "439802"
BUTTONS = pb.QuoteLineInput(
    description="按钮 层站召唤", quantity="4", unit="个", unit_price_fen=8_000
)
TWO_BUTTONS = pb.QuoteLineInput(
    description="按钮 层站召唤", quantity="2", unit="个", unit_price_fen=8_000
)
ENCODER_PADDED = pb.QuoteLineInput(
    description="编码器", quantity="1", unit="个", unit_price_fen=200_000
)
DOOR_OPERATOR = pb.QuoteLineInput(
    description="门机 变频门机系统", quantity="1", unit="套", unit_price_fen=650_000
)
UNKNOWN_PART = pb.QuoteLineInput(
    description="专用配件X", quantity="1", unit="个", unit_price_fen=300_000
)


@dataclass
class Queue:
    """Named claims, built once for the module, and who made them."""

    north: Actors  # contractor ctr-north, tokens for both regions
    south: Actors  # contractor ctr-south, tokens for both regions
    ids: dict[str, str]
    mint: Callable[..., str]

    def name(self, claim_id: str) -> str:
        return next(n for n, i in self.ids.items() if i == claim_id)

    async def names(self, md: object, **filters: object) -> list[str]:
        """Every page of the listing, followed to the end (page size 2), as claim names."""
        found: list[str] = []
        token = ""
        while True:
            page = await self.north.stub.ListClaims(
                pb.ListClaimsRequest(page_size=2, page_token=token, **filters),
                metadata=md,
            )
            found += [self.name(c.claim_id) for c in page.items]
            assert [c.claim_id for c in page.claims] == [c.claim_id for c in page.items]
            token = page.next_page_token
            if not token:
                return found


@pytest.fixture(scope="module")
async def queue(claims_channel, policy_channel, policy_addr, service_environ, mint) -> Queue:
    world = World(policy_channel, mint("service"))
    north = Actors(claims_channel, mint, contractor="ctr-north", regions=(NORTH, SOUTH))
    south = Actors(claims_channel, mint, contractor="ctr-south", regions=(NORTH, SOUTH))
    now = datetime.now(UTC)

    async def elevator(region: str) -> str:
        found, _ = await world.insured_elevator(region=region)
        return found.spec.registration_code

    ids: dict[str, str] = {}

    async def report(name: str, region: str, ago: timedelta, category: str = "door_fault") -> str:
        code = await elevator(region)
        # Now (the server's) for claims to be quoted: their policy began a moment ago.
        at = now - ago if ago else None
        claim = (await north.report(code, category=category, at=at)).claim
        ids[name] = claim.claim_id
        return claim.claim_id

    # Running clocks: the repair clock (24 h) of each, the arrival clock (30 min) of a
    # trapped passenger. Reported before the policies began, but none of these is quoted.
    await report("overdue", NORTH, timedelta(hours=30))  # repair due 6 h ago
    await report("trapped", SOUTH, timedelta(minutes=20), "trapped_passenger")  # due in 10 min
    await report("ten_hours", NORTH, timedelta(hours=10))  # due in 14 h
    one_hour = await report("one_hour", SOUTH, timedelta(hours=1))  # due in 23 h
    await south.stub.DispatchContractor(
        pb.DispatchContractorRequest(
            request_id=rid(), claim_id=one_hour, contractor_id=south.contractor_id
        ),
        metadata=south.adjuster,
    )
    # Under review with a running repair clock, flagged: no price for the part.
    unmatched = await report("unmatched", NORTH, timedelta(0))
    assert (await north.to_under_review(unmatched, [UNKNOWN_PART])).state == "under_review"

    # Repaired, waiting for confirmation: no running clock, so flags then amount decide.
    async def repaired(name: str, line: pb.QuoteLineInput, by: Actors) -> None:
        claim_id = await report(name, NORTH, timedelta(0))
        claim = await by.to_under_review(claim_id, [line])
        if claim.state == "under_review":
            await by.approve(claim_id)
        assert (await by.repaired(claim_id)).state == "repaired"

    await repaired("padded", ENCODER_PADDED, north)  # 1,500 CNY approved, price trimmed
    await repaired("big", DOOR_OPERATOR, south)  # 6,500 CNY, clean
    await repaired("small", BUTTONS, north)  # 320 CNY, clean, straight through

    # Paid: no longer active.
    paid = await report("paid", SOUTH, timedelta(0))
    await north.to_under_review(paid, [TWO_BUTTONS])
    await north.repaired(paid)
    await north.confirmed(paid)
    assert (await north.paid(paid)).state == "paid"

    # The overdue repair clock is flagged by a sweep, as the server's sweeper would.
    settings = ClaimsSettings.from_env({**service_environ, "POLICY_ADDR": policy_addr})
    app, sweeper = build_app(settings, port=0)
    try:
        await sweeper.sweep_clocks()
    finally:
        for hook in app.on_stop:
            await hook()
    return Queue(north, south, ids, mint)


ACTIVE_ORDER = [
    "overdue",  # 6 h overdue
    "trapped",  # arrival due in 10 minutes
    "ten_hours",  # repair due in 14 hours
    "one_hour",  # repair due in 23 hours
    "unmatched",  # repair due in 24 hours
    "padded",  # no running clock: flagged first,
    "big",  # then the larger amount,
    "small",
]


async def test_the_queue_puts_the_least_time_left_first_then_flags_then_money(queue) -> None:
    assert await queue.names(queue.north.adjuster) == ACTIVE_ORDER


async def test_a_queue_row_says_what_the_queue_ranks_by(queue) -> None:
    page = await queue.north.stub.ListClaims(
        pb.ListClaimsRequest(summaries_only=True), metadata=queue.north.adjuster
    )
    assert not page.claims and page.total_size == len(ACTIVE_ORDER)
    rows = {queue.name(r.claim_id): r for r in page.items}
    trapped, padded, small = rows["trapped"], rows["padded"], rows["small"]
    assert trapped.next_due_clock == "arrival" and trapped.region_code == SOUTH
    assert trapped.next_due_at.ToDatetime(UTC) - trapped.reported_at.ToDatetime(UTC) == (
        timedelta(minutes=30)
    )
    assert not trapped.HasField("quoted_total_fen") and not trapped.flags
    assert rows["overdue"].breached_clocks == ["repair"]
    assert rows["unmatched"].flags == ["UNMATCHED_ITEM"]
    assert padded.flags == ["PRICE_ABOVE_REFERENCE"] and not padded.HasField("next_due_at")
    assert (padded.quoted_total_fen, padded.approved_total_fen) == (200_000, 150_000)
    assert (small.quoted_total_fen, small.approved_total_fen, small.flags) == (32_000, 32_000, [])
    assert small.community_id and small.contractor_id == "ctr-north"
    assert page.breaches_by_clock == {"repair": 1}


async def test_filters_by_region_state_contractor_flag_and_breach(queue) -> None:
    md = queue.north.adjuster
    assert await queue.names(md, region_code=SOUTH) == ["trapped", "one_hour"]
    assert await queue.names(md, region_code="4398") == ACTIVE_ORDER
    assert await queue.names(md, state="repaired") == ["padded", "big", "small"]
    assert await queue.names(md, contractor_id="ctr-south") == ["one_hour", "big"]
    assert await queue.names(md, flag="PRICE_ABOVE_REFERENCE") == ["padded"]
    assert await queue.names(md, flag="EVIDENCE_FLAGGED") == []
    assert await queue.names(md, breached_only=True) == ["overdue"]
    assert await queue.names(md, state="paid") == ["paid"]
    every = await queue.names(md, include_closed=True)
    assert every == [*ACTIVE_ORDER, "paid"]  # no running clock and no flag: last
    both = await queue.north.stub.ListClaims(
        pb.ListClaimsRequest(region_code=NORTH, state="repaired", contractor_id="ctr-north"),
        metadata=md,
    )
    assert [queue.name(c.claim_id) for c in both.items] == ["padded", "small"]
    assert both.total_size == 2 and dict(both.breaches_by_clock) == {}


async def test_a_principal_sees_only_its_regions(queue) -> None:
    north_only = (("authorization", f"Bearer {queue.mint('adjuster', regions=(NORTH,))}"),)
    expected = [n for n in ACTIVE_ORDER if n not in ("trapped", "one_hour")]
    assert await queue.names(north_only) == expected
    # Asking for another region narrows, it never widens.
    assert await queue.names(north_only, region_code=SOUTH) == []
    elsewhere = (("authorization", f"Bearer {queue.mint('adjuster', regions=('4302',))}"),)
    page = await queue.north.stub.ListClaims(pb.ListClaimsRequest(), metadata=elsewhere)
    assert not {c.claim_id for c in page.items} & set(queue.ids.values())


async def test_a_contractor_sees_only_its_own_jobs(queue) -> None:
    assert await queue.names(queue.south.contractor) == ["one_hour", "big"]
    # Asking for another contractor's jobs does not show them.
    assert await queue.names(queue.south.contractor, contractor_id="ctr-north") == [
        "one_hour",
        "big",
    ]
    assert await queue.names(queue.north.contractor, include_closed=True) == [
        "unmatched",
        "padded",
        "small",
        "paid",
    ]


async def test_pages_continue_where_the_last_one_ended(queue) -> None:
    md = queue.north.adjuster
    first = await queue.north.stub.ListClaims(pb.ListClaimsRequest(page_size=3), metadata=md)
    second = await queue.north.stub.ListClaims(
        pb.ListClaimsRequest(page_size=3, page_token=first.next_page_token), metadata=md
    )
    third = await queue.north.stub.ListClaims(
        pb.ListClaimsRequest(page_size=3, page_token=second.next_page_token), metadata=md
    )
    names = [queue.name(c.claim_id) for p in (first, second, third) for c in p.items]
    assert names == ACTIVE_ORDER and third.next_page_token == ""
    assert {p.total_size for p in (first, second, third)} == {len(ACTIVE_ORDER)}


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ListClaimsRequest(page_token="not-a-token"), "page_token"),
        (pb.ListClaimsRequest(state="lost"), "state"),
        (pb.ListClaimsRequest(region_code="43-02"), "region_code"),
        (pb.ListClaimsRequest(flag="price above"), "flag"),
        (pb.ListClaimsRequest(page_size=201), "page_size"),
    ],
)
async def test_bad_queue_requests_name_the_field(queue, request_, field) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await queue.north.stub.ListClaims(request_, metadata=queue.north.adjuster)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in details_of(caught.value).violations] == [field]


async def test_a_page_token_only_continues_the_listing_it_came_from(queue) -> None:
    md = queue.north.adjuster
    first = await queue.north.stub.ListClaims(pb.ListClaimsRequest(page_size=2), metadata=md)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await queue.north.stub.ListClaims(
            pb.ListClaimsRequest(page_size=2, page_token=first.next_page_token, state="repaired"),
            metadata=md,
        )
    problem = details_of(caught.value)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in problem.violations] == [
        ("page_token", "the token came from a listing with other filters")
    ]


async def test_the_queue_pages_are_read_from_an_index_without_sorting(
    queue, service_environ
) -> None:
    """The planner may prefer a scan for a table this small; with scans and sorts made
    prohibitive it must still find an index that yields the queue's order for the store's own
    queries, the first page and a later one (had none fitted, the plan would sort)."""
    import sqlalchemy as sa

    from services.claims.domain.queue import QueueFilter, QueueKey
    from services.claims.store import ClaimsStore
    from shared.db import create_engine

    engine = create_engine(service_environ["DATABASE_URL"], schema="claims")
    after = QueueKey(None, True, 150_000, queue.ids["padded"])
    plans = {}
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SET enable_sort = off"))
            await conn.execute(sa.text("SET enable_seqscan = off"))
            raw = (await conn.get_raw_connection()).driver_connection
            store = ClaimsStore(conn)
            for name, filters, key in (
                ("first", QueueFilter(), None),
                ("later", QueueFilter(), after),
                ("contractor", QueueFilter(contractor_id="ctr-north"), after),
                ("every state", QueueFilter(include_closed=True), after),
            ):
                query = store.queue_query(filters, region_prefixes=["4398"], after=key, limit=51)
                compiled = query.compile(
                    dialect=conn.dialect, compile_kwargs={"render_postcompile": True}
                )
                params = compiled.construct_params()
                rows = await raw.fetch(
                    f"EXPLAIN {compiled}", *(params[k] for k in compiled.positiontup or ())
                )
                plans[name] = "\n".join(r[0] for r in rows)
    finally:
        await engine.dispose()
    # Which of the queue's indexes a plan walks depends on the statistics of a tiny table;
    # that one of them yields the order, and a later page starts inside it, does not.
    for name, plan in plans.items():
        assert "Index Scan using claims_queue_" in plan and "Sort" not in plan, plan
        if name != "first":
            condition = next(line for line in plan.splitlines() if "Index Cond" in line)
            assert "ROW(queue_due, queue_unflagged, queue_neg_amount, id) >" in condition, plan
