"""The Prometheus endpoint, scraped: RED per method by status code, and the claims service's
business figures (open claims by state, clock breaches, money trimmed) read from PostgreSQL."""

from __future__ import annotations

import asyncio
import urllib.request
from datetime import timedelta

import grpc
import pytest
from prometheus_client.parser import text_string_to_metric_families

from elevins.claims.v1 import claims_pb2 as pb
from services.claims.server import build_app
from services.claims.settings import ClaimsSettings
from shared.clock import ManualClock, SystemClock
from tests.e2e.process import free_port
from tests.integration.claims.helpers import Actors, insured_registration_code, rid

pytestmark = pytest.mark.integration

CLAIMS = "elevins.claims.v1.ClaimsService"
PADDED = pb.QuoteLineInput(
    description="曳引机 7.5KW 原厂", quantity="1", unit="台", unit_price_fen=9_800_000
)


def scrape(port: int) -> dict[tuple[str, frozenset], float]:
    """(sample name, labels) → value, as Prometheus would read the endpoint."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        assert reply.headers["Content-Type"].startswith("text/plain")
        text = reply.read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def delta(before, after, name: str, **labels: str) -> float:
    key = (name, frozenset(labels.items()))
    return after.get(key, 0.0) - before.get(key, 0.0)


async def test_red_and_business_metrics_move_with_the_calls(
    claims_addr,  # migrates the claims schema
    service_environ,
    policy_addr,
    policy_channel,
    mint,
) -> None:
    port = free_port()
    settings = ClaimsSettings.from_env(
        {**service_environ, "POLICY_ADDR": policy_addr, "METRICS_PORT": str(port)}
    )
    # Two days on: a policy issued today is in force from tomorrow.
    clock = ManualClock(SystemClock().now() + timedelta(days=2))
    app, _ = build_app(settings, clock=clock, port=0)
    server, grpc_port = await app.start()
    try:
        code = await insured_registration_code(policy_channel, mint)
        before = await asyncio.to_thread(scrape, port)  # served by this loop
        async with grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}") as channel:
            a = Actors(channel, mint, contractor="ctr-metrics")
            claim_id = (await a.report(code, category="trapped_passenger")).claim.claim_id
            with pytest.raises(grpc.aio.AioRpcError) as bad:
                await a.report("")  # no registration code: the caller's mistake
            assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            await a.stub.DispatchContractor(
                pb.DispatchContractorRequest(
                    request_id=rid(), claim_id=claim_id, contractor_id=a.contractor_id
                ),
                metadata=a.adjuster,
            )
            clock.set(clock.now() + timedelta(minutes=45))  # 30 minutes to reach the trapped
            await a.stub.RecordArrival(
                pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id),
                metadata=a.contractor,
            )
            quoted = await a.stub.SubmitQuote(
                pb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=[PADDED]),
                metadata=a.contractor,
            )
            assert quoted.claim.state == "under_review"
            decided = await a.stub.DecideClaim(
                pb.DecideClaimRequest(
                    request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE, note="核价"
                ),
                metadata=a.adjuster,
            )
        after = await asyncio.to_thread(scrape, port)
    finally:
        await app.stop(server)

    approved = decided.claim.approved_total_fen
    assert decided.claim.state == "approved" and 0 < approved < PADDED.unit_price_fen
    # RED: every call counted once under the code the client saw, and timed.
    handled = "grpc_server_handled_total"
    assert delta(before, after, handled, grpc_service=CLAIMS, grpc_method="ReportLoss",
                 grpc_code="OK") == 1  # fmt: skip
    assert delta(before, after, handled, grpc_service=CLAIMS, grpc_method="ReportLoss",
                 grpc_code="INVALID_ARGUMENT") == 1  # fmt: skip
    assert delta(before, after, handled, grpc_service=CLAIMS, grpc_method="DecideClaim",
                 grpc_code="OK") == 1  # fmt: skip
    seconds = "grpc_server_handling_seconds_count"
    assert delta(before, after, seconds, grpc_service=CLAIMS, grpc_method="ReportLoss") == 2
    # Business figures: the claim ends approved, its arrival clock was breached, and the
    # padding the pipeline trimmed is counted.
    assert delta(before, after, "elevins_claims_open", state="approved") == 1
    assert delta(before, after, "elevins_claims_open", state="reported") == 0
    assert delta(before, after, "elevins_claims_clock_breaches_total", clock="arrival") >= 1
    assert delta(before, after, "elevins_claims_approved_fen_total") == approved
    assert delta(before, after, "elevins_claims_trimmed_fen_total") == 9_800_000 - approved
