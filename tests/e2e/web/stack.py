"""A whole city in miniature for the browser tests: every service the UI calls as a real
process on a database of its own, the web UI as a process too, and a few claims made through
the services' APIs the way partners and contractors make them."""

from __future__ import annotations

import asyncio
import hashlib
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import grpc

from elevins.claims.v1 import claims_pb2 as cpb
from elevins.evidence.v1 import evidence_pb2 as epb
from elevins.evidence.v1 import evidence_pb2_grpc
from services.web.domain.access import Role
from services.web.store import User
from tests.e2e.process import ServiceProcess
from tests.integration.claims.helpers import INVERTER, Actors, rid
from tests.integration.evidence.test_evidence_service import photo
from tests.integration.policy.helpers import World

PASSWORD = "correct horse battery staple"
CONTRACTOR_A = "zz-lift-01"
CONTRACTOR_B = "zz-lift-02"
PEOPLE = {
    "adjuster": User("wang.adj", "王调查", Role.ADJUSTER, ("4302",), None),
    "supervisor": User("zhao.sup", "赵主管", Role.SUPERVISOR, ("4302",), None),
    # A list override needs two supervisors: one requests, the other approves.
    "supervisor_2": User("qian.sup", "钱主管", Role.SUPERVISOR, ("4302",), None),
    "senior": User("chen.sr", "陈复核", Role.SENIOR_REVIEWER, ("4302",), None),
    "contractor_a": User("liu.ctr", "刘师傅", Role.CONTRACTOR, ("4302",), CONTRACTOR_A),
    "contractor_b": User("zhou.ctr", "周师傅", Role.CONTRACTOR, ("4302",), CONTRACTOR_B),
    "outsider": User("sun.adj", "孙调查", Role.ADJUSTER, ("3301",), None),
}
GRPC_SERVICES = ("policy", "pricing", "contractors", "validation", "evidence", "claims")
SCHEMAS = ("policy", "pricing", "contractors", "evidence", "claims", "web")
# A traction machine at 1.6 times its market price: the benchmark trims it to the reference.
PADDED_MACHINE = cpb.QuoteLineInput(
    description="曳引机 7.5KW 原厂", quantity="1", unit="台", unit_price_fen=5_800_000
)
# Low enough that the demo amounts need a senior reviewer's second approval.
SECOND_REVIEW_ABOVE_FEN = "500000"


@dataclass
class City:
    base_url: str
    claim_a: str  # contractor A's job: flagged, reported first, the riskiest in the queue
    claim_b: str  # contractor B's job
    procs: dict[str, ServiceProcess] = field(default_factory=dict)


def migrate(database_url: str) -> None:
    from importlib import import_module

    from shared.migrations import upgrade

    for schema in SCHEMAS:
        folder = import_module(f"services.{schema}.__main__").MIGRATIONS
        upgrade(folder, schema=schema, database_url=database_url)


async def add_people(database_url: str) -> None:
    from services.web.server import SCHEMA
    from services.web.usecases import WebUseCases
    from shared.clock import SystemClock
    from shared.db import create_engine

    usecases = WebUseCases(create_engine(database_url, schema=SCHEMA), SystemClock())
    try:
        for user in PEOPLE.values():
            await usecases.put_user(user, PASSWORD)
    finally:
        await usecases.dispose()


def wait_http(url: str, proc: ServiceProcess, within: float = 30.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        assert proc.proc is not None
        if proc.proc.poll() is not None:
            raise RuntimeError(proc.log.read_text(errors="replace")[-4000:])
        try:
            with urllib.request.urlopen(url, timeout=1) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


async def start_city(environ: dict[str, str]) -> City:
    await asyncio.to_thread(migrate, environ["DATABASE_URL"])
    await add_people(environ["DATABASE_URL"])
    # Reference prices, so that padded lines are trimmed and flagged; Zhuzhou's demo
    # contractors, with six months of scorecards and standings for the contractor pages.
    for service in ("pricing", "contractors"):
        seed = [sys.executable, "-m", f"services.{service}", "seed"]
        await asyncio.to_thread(subprocess.run, seed, env=environ, check=True, timeout=120)
    procs = {name: ServiceProcess(name, environ) for name in GRPC_SERVICES}
    addresses = {f"{name.upper()}_ADDR": p.addr for name, p in procs.items()}
    for process in procs.values():
        process.environ.update(
            addresses,
            CLAIMS_SECOND_REVIEW_ABOVE_FEN=SECOND_REVIEW_ABOVE_FEN,
            GRPC_SHUTDOWN_GRACE_S="1",
        )
        process.start()
    web = ServiceProcess("web", environ)
    procs["web"] = web
    web.environ.update(addresses)
    await asyncio.gather(*(procs[n].wait_serving(within=180) for n in GRPC_SERVICES))
    web.start()
    base_url = f"http://127.0.0.1:{web.port}"
    await asyncio.to_thread(wait_http, f"{base_url}/healthz", web)
    claim_a, claim_b = await _two_claims_under_review(procs, environ)
    return City(base_url=base_url, claim_a=claim_a, claim_b=claim_b, procs=procs)


async def _two_claims_under_review(
    procs: dict[str, ServiceProcess], environ: dict[str, str]
) -> tuple[str, str]:
    from shared.auth import mint_token

    def mint(role: str = "service", regions=("*",), subject: str | None = None) -> str:
        return mint_token(
            environ["ELEVINS_AUTH_KEY"],
            subject=subject or f"test-{role}",
            role=role,
            regions=regions,
            ttl_seconds=3600,
        )

    async with grpc.aio.insecure_channel(procs["policy"].addr) as channel:
        world = World(channel, mint("service"))
        elevator_a, _ = await world.insured_elevator()
        elevator_b, _ = await world.insured_elevator()
    claims = []
    async with (
        grpc.aio.insecure_channel(procs["claims"].addr) as channel,
        grpc.aio.insecure_channel(procs["evidence"].addr) as evidence_channel,
    ):
        evidence = evidence_pb2_grpc.EvidenceServiceStub(evidence_channel)
        for elevator, contractor, lines in (
            (elevator_a, CONTRACTOR_A, [PADDED_MACHINE, INVERTER]),
            (elevator_b, CONTRACTOR_B, [INVERTER]),
        ):
            actors = Actors(channel, mint, contractor=contractor)
            claim_id = (await actors.report(elevator.spec.registration_code)).claim.claim_id
            await actors.stub.DispatchContractor(
                cpb.DispatchContractorRequest(
                    request_id=rid(), claim_id=claim_id, contractor_id=contractor
                ),
                metadata=actors.adjuster,
            )
            await actors.stub.RecordArrival(
                cpb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id),
                metadata=actors.contractor,
            )
            await _before_photo(evidence, actors, claim_id, seed=len(claims) + 7)
            reply = await actors.stub.SubmitQuote(
                cpb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=lines),
                metadata=actors.contractor,
            )
            assert reply.claim.state == "under_review", reply.claim.state
            claims.append(claim_id)
    return claims[0], claims[1]


async def _before_photo(stub, actors: Actors, claim_id: str, *, seed: int) -> None:
    data = photo(seed, taken=datetime.now(UTC) - timedelta(minutes=5))
    header = epb.UploadHeader(
        claim_id=claim_id,
        kind="before_photo",
        content_type="image/jpeg",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file_name="机房-故障前.jpg",
    )

    async def messages():
        yield epb.UploadEvidenceRequest(request_id=rid(), header=header)
        yield epb.UploadEvidenceRequest(chunk=data)

    await stub.UploadEvidence(messages(), metadata=actors.contractor)


def stop_city(city: City) -> None:
    for process in city.procs.values():
        process.stop()
