"""``web_queue_100k``: the UI's pages with 100,000 claims in the database, through HTTP.

The UI issue's criterion: the queue page's server time p95 < 150 ms at 100,000 claims. The
claims ``claims_queue_100k`` loaded (or this benchmark loads, run alone) are read through the
web UI served in-process on loopback, as a signed-in Zhuzhou adjuster, contractor and
supervisor, one request at a time:

- the queue: first page, a district and a state, a common flag, breached only, closed
  included, and a page 20,000 claims deep (the UI's own ``page`` link);
- a contractor's "my jobs" and the supervisor's dashboard.

**Server time** is the page's ``Server-Timing: app;dur=`` header: everything between the
request arriving and the response leaving the handler (session lookup, the call to claims,
rendering). The claims service's own read inside each page is recorded beside it.
**The baseline**, interleaved in the same run, is the same ListClaims called directly over
gRPC by a client, round trip: what the page costs beyond the one call it cannot avoid.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import grpc
from multidict import CIMultiDict, CIMultiDictProxy

from elevins.claims.v1 import claims_pb2 as pb
from elevins.claims.v1 import claims_pb2_grpc
from load_tests.benchmarks.claims_queue import (
    DEEP,
    REGIONS,
    TARGET_P95_MS,
    Timings,
    deep_token,
    format_pcts,
    hundred_thousand_claims,
    metadata_for,
    timed_reads,
)
from load_tests.harness import BenchContext, BenchResult, Measure, WebTarget, benchmark, note
from services.web.domain.access import Role
from services.web.middleware import SESSION_COOKIE
from services.web.store import User
from services.web.views.claims import PAGE_SIZE

CALLS = 150  # per page; × time_scale
BASELINE_CALLS = 50
CONTRACTOR = "ctr-007"
PEOPLE = {
    "adjuster": User("bench.adj", "压测调查员", Role.ADJUSTER, REGIONS, None),
    "contractor": User("bench.ctr", "压测师傅", Role.CONTRACTOR, REGIONS, CONTRACTOR),
    "supervisor": User("bench.sup", "压测主管", Role.SUPERVISOR, REGIONS, None),
}


async def signed_in(target: WebTarget) -> dict[str, str]:
    """A session cookie per person (signed in through the use case the sign-in form calls)."""
    password = secrets.token_urlsafe(16)
    cookies = {}
    for who, user in PEOPLE.items():
        await target.usecases.put_user(user, password)
        session = await target.usecases.sign_in(user.username, password)
        cookies[who] = f"{SESSION_COOKIE}={session.token}"
    return cookies


def server_ms(headers: CIMultiDictProxy[str] | CIMultiDict[str]) -> float:
    """The ``app`` duration of the ``Server-Timing`` headers (``app;dur=12.3, db;dur=4``)."""
    for header in headers.getall("Server-Timing", []):
        for metric in header.split(","):
            name, *params = (part.strip() for part in metric.split(";"))
            durations = [p[4:] for p in params if p.startswith("dur=")]
            if name == "app" and durations:
                return float(durations[0])
    raise ValueError("no Server-Timing app;dur= in the response")


Call = Callable[[], Awaitable[float]]  # one request; returns the server's milliseconds


@benchmark("web_queue_100k")
async def web_queue_100k(ctx: BenchContext) -> BenchResult:
    claims = await ctx.claims()
    dataset = await hundred_thousand_claims(ctx)
    target = await ctx.web()
    cookies = await signed_in(target)
    scale = ctx.time_scale
    calls = max(30, round(CALLS * scale))
    baseline_calls = max(10, round(BASELINE_CALLS * scale))
    adjuster = metadata_for(ctx, "adjuster", PEOPLE["adjuster"].username)

    async with (
        aiohttp.ClientSession(target.base_url) as http,
        grpc.aio.insecure_channel(claims.addr) as channel,
    ):

        def page(who: str, path: str) -> Call:
            async def get() -> float:
                async with http.get(path, headers={"Cookie": cookies[who]}) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"GET {path} as {who}: HTTP {response.status}")
                    return server_ms(response.headers)

            return get

        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        first_page = pb.ListClaimsRequest(page_size=PAGE_SIZE, summaries_only=True)
        total = (await stub.ListClaims(first_page, metadata=adjuster)).total_size
        depth = min(DEEP, total - PAGE_SIZE)
        note(f"following page tokens {depth:,} claims deep …")
        deep = await deep_token(stub, adjuster, depth)

        queue_pages = {
            "queue_first_page": "/queue",
            "queue_district_and_state": "/queue?region=430211&state=under_review",
            "queue_flag_common": "/queue?flag=PRICE_ABOVE_REFERENCE",
            "queue_breached_only": "/queue?breached=1",
            "queue_closed_included": "/queue?closed=1",
            f"queue_page_after_{depth}": f"/queue?page={deep}",
        }
        pages: list[tuple[str, Call]] = [
            *((name, page("adjuster", path)) for name, path in queue_pages.items()),
            ("contractor_jobs", page("contractor", "/jobs")),
            ("dashboard", page("supervisor", "/dashboard")),
        ]
        results: dict[str, dict[str, Any]] = {}
        grpc_round_trip = Timings()
        stride = max(1, calls // baseline_calls)
        with timed_reads(claims) as reads:
            for name, call in pages:
                note(f"  {name} …")
                await call()  # unrecorded: templates compiled, connections open
                timings, upstream = Timings(), Timings()
                for i in range(calls):
                    reads.clear()
                    begun = time.perf_counter()
                    timings.server_ms.append(await call())
                    timings.client_ms.append((time.perf_counter() - begun) * 1000)
                    upstream.server_ms.append(reads[-1])
                    if name == "queue_first_page" and i % stride == 0:
                        begun = time.perf_counter()
                        await stub.ListClaims(first_page, metadata=adjuster)
                        grpc_round_trip.server_ms.append((time.perf_counter() - begun) * 1000)
                results[name] = {
                    "page": timings.summary(),
                    "claims_read": upstream.summary()["server"],
                }
                if name == "queue_first_page":
                    headline = timings

    queue_p95 = {n: results[n]["page"]["server"]["p95_ms"] for n in queue_pages}
    worst = max(queue_p95, key=queue_p95.__getitem__)
    first = results["queue_first_page"]
    text = (
        f"server time (Server-Timing), lower is better. Queue first page p50/p95/p99 "
        f"{format_pcts(first['page']['server'])}, of which the claims read "
        f"{format_pcts(first['claims_read'])}; the same ListClaims straight over gRPC (round trip) "
        f"{format_pcts(grpc_round_trip.summary()['server'])}. Slowest queue page: {worst} p95 "
        f"{queue_p95[worst]:.1f} ms ({'meets' if queue_p95[worst] < TARGET_P95_MS else 'misses'}"
        f" the {TARGET_P95_MS:.0f} ms target). My jobs "
        f"{format_pcts(results['contractor_jobs']['page']['server'])}; dashboard "
        f"{format_pcts(results['dashboard']['page']['server'])}."
    )
    return BenchResult(
        Measure("web_queue_100k", "ms", headline.p95(), first["page"]),
        Measure(
            "claims_list_grpc_round_trip",
            "ms",
            grpc_round_trip.p95(),
            grpc_round_trip.summary()["server"],
        ),
        extra={
            "target_p95_ms": TARGET_P95_MS,
            "meets_target": queue_p95[worst] < TARGET_P95_MS,
            "pages": results,
            "dataset": {**dataset.describe(), "queue_total_for_caller": total},
        },
        note=text,
    )
