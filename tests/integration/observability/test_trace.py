"""One adjudication is one trace: claims → policy, pricing, contractors, validation, evidence →
PostgreSQL, with the claim id on it; an evidence upload's trace reaches S3.

Every service runs as a real process (``python -m services.<name> serve``) with the ``file``
exporter, as a developer would run it, so the trace context has to cross real gRPC calls
between processes. The services are stopped with SIGTERM before the files are read: a clean
stop must flush the last spans (``shared.telemetry.shutdown_telemetry``).
"""

from __future__ import annotations

import asyncio
import secrets
import signal

import grpc
import pytest

from devstack.traces import by_trace, children, read_spans, render, traces_of_claim
from elevins.claims.v1 import claims_pb2 as pb
from elevins.evidence.v1 import evidence_pb2_grpc
from shared.migrations import upgrade
from tests.e2e.process import ServiceProcess
from tests.integration.claims.helpers import TRACTION_MACHINE, Actors, rid
from tests.integration.evidence.test_evidence_service import open_folder, photo, stream_upload
from tests.integration.policy.helpers import World, meta

pytestmark = pytest.mark.integration

# What claims calls while it adjudicates, by the service that answers.
UPSTREAMS = {
    "policy": "/elevins.policy.v1.PolicyService/CheckCoverage",
    "pricing": "/elevins.pricing.v1.PricingService/BenchmarkQuote",
    "contractors": "/elevins.contractors.v1.ContractorsService/GetContractorStanding",
    "validation": "/elevins.validation.v1.ValidationService/Validate",
    "evidence": "/elevins.evidence.v1.EvidenceService/GetClaimFlags",
}
SQL_SCOPE = "opentelemetry.instrumentation.sqlalchemy"
SERVICES = ("policy", "pricing", "contractors", "validation", "evidence", "claims")


def _migrate(database_url: str) -> None:
    from services.claims.__main__ import MIGRATIONS as CLAIMS
    from services.contractors.__main__ import MIGRATIONS as CONTRACTORS
    from services.evidence.__main__ import MIGRATIONS as EVIDENCE
    from services.policy.__main__ import MIGRATIONS as POLICY
    from services.pricing.__main__ import MIGRATIONS as PRICING

    for schema, folder in [
        ("policy", POLICY),
        ("pricing", PRICING),
        ("contractors", CONTRACTORS),
        ("evidence", EVIDENCE),
        ("claims", CLAIMS),
    ]:
        upgrade(folder, schema=schema, database_url=database_url)


@pytest.fixture(scope="module")
async def recorded(service_environ, mint, tmp_path_factory) -> tuple[str, str, list[dict]]:
    """Every service as a process writing its spans to <dir>/<service>.jsonl; one claim taken
    through adjudication; the services stopped. (claim id, evidence id, every span)."""
    trace_dir = tmp_path_factory.mktemp("traces")
    await asyncio.to_thread(_migrate, service_environ["DATABASE_URL"])
    procs = {name: ServiceProcess(name, service_environ) for name in SERVICES}
    addresses = {f"{name.upper()}_ADDR": p.addr for name, p in procs.items()}
    try:
        for name, process in procs.items():
            process.environ.update(
                addresses,
                OTEL_TRACES_EXPORTER="file",
                ELEVINS_TRACE_FILE=str(trace_dir / f"{name}.jsonl"),
                GRPC_SHUTDOWN_GRACE_S="1",
            )
            process.start()
        claim_id, evidence_id = await _adjudicate_one_claim(procs, mint)
        for process in procs.values():  # a clean stop flushes every buffered span
            assert process.signal(signal.SIGTERM) == 0, process.log.read_text()[-2000:]
    finally:
        for process in procs.values():
            process.stop()
    return claim_id, evidence_id, read_spans(sorted(trace_dir.glob("*.jsonl")))


async def _adjudicate_one_claim(procs: dict[str, ServiceProcess], mint) -> tuple[str, str]:
    """A claim reported, dispatched, its photo uploaded and its quote adjudicated; the claim
    id and the photo's evidence id."""
    await asyncio.gather(*(p.wait_serving(within=60) for p in procs.values()))
    async with grpc.aio.insecure_channel(procs["policy"].addr) as channel:
        elevator, _ = await World(channel, mint("service")).insured_elevator()
    contractor = f"ctr-trace-{rid()[:6]}"
    async with grpc.aio.insecure_channel(procs["claims"].addr) as channel:
        actors = Actors(channel, mint, contractor=contractor)
        claim_id = (await actors.report(elevator.spec.registration_code)).claim.claim_id
        await actors.stub.DispatchContractor(
            pb.DispatchContractorRequest(
                request_id=rid(), claim_id=claim_id, contractor_id=contractor
            ),
            metadata=actors.adjuster,
        )
        await actors.stub.RecordArrival(
            pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id),
            metadata=actors.contractor,
        )
        async with grpc.aio.insecure_channel(procs["evidence"].addr) as evidence_channel:
            evidence_id = await _upload_photo(evidence_channel, mint, claim_id, contractor)
        await actors.stub.SubmitQuote(
            pb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=[TRACTION_MACHINE]),
            metadata=actors.contractor,
        )
        # The adjuster decides: the evidence it rests on is locked in S3 (object retention).
        await actors.stub.DecideClaim(
            pb.DecideClaimRequest(
                request_id=rid(),
                claim_id=claim_id,
                kind=pb.DECISION_KIND_REJECT,
                reason_codes=["EVIDENCE_FLAGGED"],
                note="traced",
            ),
            metadata=actors.adjuster,
        )
    return claim_id, evidence_id


async def _upload_photo(channel, mint, claim_id: str, contractor: str) -> str:
    """What claims will do at dispatch (open the folder), then the contractor's upload."""
    stub = evidence_pb2_grpc.EvidenceServiceStub(channel)
    await open_folder(stub, mint, contractor, claim_id)
    data = photo(seed=secrets.randbelow(1_000_000))  # new bytes: new objects in S3
    md = meta(mint("contractor", subject=contractor, regions=("4302",)))
    return (await stream_upload(stub, md, claim_id, data)).evidence_id


def _one(spans, **match):
    found = [s for s in spans if all(s.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, [s["name"] for s in found])
    return found[0]


async def test_one_adjudication_is_one_trace_across_the_services(recorded) -> None:
    claim_id, _, spans = recorded
    assert {s["service"] for s in spans} == set(SERVICES)

    # The SubmitQuote call, its adjudication span, both naming the claim.
    traces = by_trace(spans)
    submit = next(
        s
        for trace_id in traces_of_claim(spans, claim_id)
        for s in traces[trace_id]
        if s["name"] == "/elevins.claims.v1.ClaimsService/SubmitQuote" and s["kind"] == "SERVER"
    )
    trace = traces[submit["trace_id"]]
    tree = children(trace)
    print(render(trace))  # shown with -s; docs/tracing.md has one
    assert submit["attributes"]["elevins.claim_id"] == claim_id
    assert submit["parent_span_id"] is None or submit["parent_span_id"] not in {
        s["span_id"] for s in trace
    }  # the root of the trace on the server side (the test's client is not traced)
    adjudicate = _one(tree[submit["span_id"]], name="claims.adjudicate")
    assert adjudicate["attributes"]["elevins.claim_id"] == claim_id
    assert adjudicate["attributes"]["elevins.claim_state"] == "under_review"

    # Each upstream: a client span under the adjudication, the upstream's server span under
    # that client span (in the other process), and its SQL under the server span.
    for service, method in UPSTREAMS.items():
        client = _one(tree[adjudicate["span_id"]], name=method, kind="CLIENT")
        assert client["service"] == "claims"
        server = _one(tree[client["span_id"]], name=method, kind="SERVER")
        assert server["service"] == service
        assert server["attributes"]["rpc.grpc.status_code"] in (0, 5)  # OK, or NOT_FOUND
        sql = [s for s in tree.get(server["span_id"], []) if s["scope"] == SQL_SCOPE]
        if service == "validation":
            assert sql == []  # the validation service keeps no data
        else:
            assert sql, f"{service} answered without a traced query"
            assert all(s["service"] == service for s in sql)
    # The claims service's own reads and writes are in the same trace, under its server span.
    own_sql = [s for s in tree[submit["span_id"]] if s["scope"] == SQL_SCOPE]
    assert any("UPDATE claims" in s["attributes"].get("db.statement", "") for s in own_sql)
    assert len({s["trace_id"] for s in trace}) == 1


async def test_an_evidence_upload_traces_down_to_s3(recorded) -> None:
    claim_id, evidence_id, spans = recorded
    upload = next(
        s
        for s in spans
        if s["name"] == "/elevins.evidence.v1.EvidenceService/UploadEvidence"
        and s["kind"] == "SERVER"
        and s["attributes"].get("elevins.claim_id") == claim_id
    )
    trace = by_trace(spans)[upload["trace_id"]]
    tree = children(trace)
    below = [s for s in trace if s["span_id"] != upload["span_id"]]
    s3 = [s for s in below if s["name"].startswith("S3 ")]
    assert upload["attributes"]["rpc.grpc.status_code"] == 0
    # The content-addressed original and its two derived copies, each an S3 call in the trace.
    puts = [s for s in s3 if s["name"] == "S3 PutObject"]
    assert {s["attributes"]["aws.s3.key"].split("/")[0] for s in puts} >= {"sha256", "derived"}
    assert all(s["kind"] == "CLIENT" and s["service"] == "evidence" for s in s3)
    assert all(s["parent_span_id"] == upload["span_id"] for s in s3)
    assert [s for s in tree[upload["span_id"]] if s["scope"] == SQL_SCOPE]
    assert evidence_id


async def test_a_decision_traces_through_evidence_down_to_s3(recorded) -> None:
    claim_id, _, spans = recorded
    decide = next(
        s
        for s in spans
        if s["name"] == "/elevins.claims.v1.ClaimsService/DecideClaim"
        and s["kind"] == "SERVER"
        and s["attributes"].get("elevins.claim_id") == claim_id
    )
    trace = by_trace(spans)[decide["trace_id"]]
    tree = children(trace)
    lock = _one(trace, name="/elevins.evidence.v1.EvidenceService/LockClaimEvidence", kind="CLIENT")
    assert lock["service"] == "claims"
    [server] = [s for s in tree[lock["span_id"]] if s["kind"] == "SERVER"]
    assert server["service"] == "evidence"
    s3 = [s for s in tree[server["span_id"]] if s["name"].startswith("S3 ")]
    assert s3 and all(s["kind"] == "CLIENT" and s["service"] == "evidence" for s in s3)
    assert [s for s in tree[server["span_id"]] if s["scope"] == SQL_SCOPE]
