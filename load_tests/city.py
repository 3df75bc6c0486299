"""The city the load runs against: the traffic mix, and the data prepared before the run.

**The mix** (:data:`MIX`) is the share of calls each kind of traffic gets. It mirrors a city's
day on the scheme: people reading (adjusters working the review queue and opening claim pages,
partners checking coverage) outnumber writes; IoT alarms are the largest write stream, and a
stuck elevator's controller repeats its alarm (a storm: most alarms fold into a claim already
open); property managers' fault reports (FNOL), quote benchmarks, contractors' photo uploads
and nightly-style validation batches are rarer and heavier. A small share of alarms name an
elevator the registry does not know (a platform's misconfigured device): NOT_FOUND is the
right answer, and the report counts those errors as provoked on purpose.

**The data** (:func:`prepare`, run as ``python -m load_tests.city`` in a process of its own
before locust starts, since locust's gevent patching and grpc.aio do not share a process):
``--elevators N`` insured elevators must exist (50 in the demo city; up to 1,000,000). The
missing ones are built through the policy API, as real data is (a vote before a policy, an
inspection before cover), for at most ``--prepare-seconds``; the registry keeps them, so a
large city is built over several runs against the same `make run` stack. It also opens
evidence folders for the upload traffic and lists claims for the adjusters to read. The result
is a JSON :class:`Fleet` that the locust users read.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

# Share of calls (they add up to 1). Names are "<service>.<Method>" as reported.
MIX: dict[str, float] = {
    "alarm": 0.22,  # claims.ReportLoss from the IoT platform, storms included
    "unknown_elevator_alarm": 0.02,  # claims.ReportLoss, NOT_FOUND on purpose
    "fnol": 0.05,  # claims.ReportLoss from a property manager
    "coverage": 0.20,  # policy.CheckCoverage
    "quote_benchmark": 0.10,  # pricing.BenchmarkQuote
    "evidence_upload": 0.04,  # evidence.UploadEvidence (a photo, streamed)
    "validation_batch": 0.02,  # validation.ValidateBatches (1,000 rows)
    "contractor_standing": 0.05,  # contractors.GetContractorStanding
    "review_queue": 0.15,  # claims.ListClaims (under review)
    "claim_page": 0.15,  # claims.GetClaim + claims.GetAuditTrail
}
STORM_SHARE = 0.6  # of alarms: a repeat of a fault reported moments ago
# The load's tokens reach Zhuzhou (``load.ROLES``), where its elevators are built.
REGION_PREFIX = "4302"
MAX_CODES = 5_000  # registration codes the users pick from; enough variety, bounded memory
EVIDENCE_FOLDERS = 200
LOAD_CONTRACTOR = "load-contractor-1"
CATEGORIES = ("abnormal_noise", "door_fault", "stopped", "leveling_fault", "electrical_fault")
PERILS = ("mechanical_failure", "door_system", "trapped_passenger", "electrical_failure")
MAX_ELEVATORS = 1_000_000


def check_mix(mix: Mapping[str, float]) -> None:
    if abs(sum(mix.values()) - 1) > 1e-9 or any(w < 0 for w in mix.values()):
        raise ValueError(f"the mix must be non-negative shares adding up to 1: {dict(mix)}")


check_mix(MIX)


@dataclass
class Fleet:
    """What the users call with: real codes, policies, claims, folders and rule-set fields."""

    elevators: int  # insured elevators in the registry (all of them, not only the sample)
    registration_codes: list[str]
    claim_ids: list[str]
    evidence_claims: list[str]
    contractor_ids: list[str]
    validation_fields: dict[str, str]
    built: int = 0  # elevators built by this preparation
    prepare_seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Fleet:
        return cls(**json.loads(text))


# ------------------------------------------------------------------ preparation (grpc.aio)


async def prepare(
    addrs: Mapping[str, str],
    tokens: Mapping[str, str],
    *,
    elevators: int,
    seconds: float,
    concurrency: int = 4,
) -> Fleet:
    import grpc

    from elevins.claims.v1 import claims_pb2 as cpb
    from elevins.claims.v1 import claims_pb2_grpc
    from elevins.contractors.v1 import contractors_pb2 as kpb
    from elevins.contractors.v1 import contractors_pb2_grpc
    from elevins.evidence.v1 import evidence_pb2 as epb
    from elevins.evidence.v1 import evidence_pb2_grpc
    from elevins.policy.v1 import policy_pb2 as ppb
    from elevins.policy.v1 import policy_pb2_grpc
    from elevins.validation.v1 import validation_pb2 as vpb
    from elevins.validation.v1 import validation_pb2_grpc
    from load_tests.policy_world import PolicyWorldBuilder
    from shared.timestamps import to_timestamp

    begun = time.monotonic()
    service = (("authorization", f"Bearer {tokens['service']}"),)
    notes: list[str] = []
    async with (
        grpc.aio.insecure_channel(addrs["policy"]) as policy_channel,
        grpc.aio.insecure_channel(addrs["claims"]) as claims_channel,
        grpc.aio.insecure_channel(addrs["evidence"]) as evidence_channel,
        grpc.aio.insecure_channel(addrs["validation"]) as validation_channel,
        grpc.aio.insecure_channel(addrs["contractors"]) as contractors_channel,
    ):
        policy = policy_pb2_grpc.PolicyServiceStub(policy_channel)
        codes: list[str] = []
        total = 0
        token = ""
        while True:  # count every elevator; keep a sample of codes
            page = await policy.ListElevators(
                ppb.ListElevatorsRequest(page_size=500, page_token=token), metadata=service
            )
            # Only elevators the load's tokens may reach: the registry may hold others (tests,
            # other cities), and a report on one of them would be refused, not measured.
            ours = [e for e in page.elevators if e.region_code.startswith(REGION_PREFIX)]
            total += len(ours)
            codes += [e.spec.registration_code for e in ours][: MAX_CODES - len(codes)]
            token = page.next_page_token
            if not token:
                break
        missing = max(0, elevators - total)
        built = 0
        if missing:
            builder = PolicyWorldBuilder(policy_channel, service)
            stop_at = begun + seconds

            async def build() -> None:
                nonlocal built
                while built < missing and time.monotonic() < stop_at:
                    built += 1
                    made = await builder.insured_elevator()
                    if len(codes) < MAX_CODES:
                        codes.append(made.registration_code)

            await asyncio.gather(*(build() for _ in range(concurrency)))
            if built < missing:
                notes.append(
                    f"built {built} of {missing} missing elevators in {seconds:.0f}s; "
                    "run again to build the rest (the registry keeps them)"
                )
        claims = claims_pb2_grpc.ClaimsServiceStub(claims_channel)
        # The claim pages are read by the load's adjuster: claims of its region, any state.
        listed = await claims.ListClaims(
            cpb.ListClaimsRequest(page_size=200, region_code=REGION_PREFIX, include_closed=True),
            metadata=service,
        )
        claim_ids = [c.claim_id for c in listed.claims]
        evidence = evidence_pb2_grpc.EvidenceServiceStub(evidence_channel)
        folders = [f"load-{uuid.uuid4().hex[:12]}" for _ in range(EVIDENCE_FOLDERS)]
        now = to_timestamp(datetime.now(UTC))
        for claim_id in folders:
            await evidence.PutClaimFolder(
                epb.PutClaimFolderRequest(
                    request_id=uuid.uuid4().hex,
                    claim_id=claim_id,
                    region="430202",
                    contractor_id=LOAD_CONTRACTOR,
                    fault_at=now,
                ),
                metadata=service,
            )
        rule_set = await validation_pb2_grpc.ValidationServiceStub(validation_channel).GetRuleSet(
            vpb.GetRuleSetRequest(name="claims"), metadata=service
        )
        # The contractor the uploads come from, registered (a repeat is ALREADY_EXISTS); the
        # standings asked for are its own, since a claim may name a firm never registered.
        try:
            await contractors_pb2_grpc.ContractorsServiceStub(
                contractors_channel
            ).RegisterContractor(
                kpb.RegisterContractorRequest(
                    request_id=uuid.uuid4().hex,
                    contractor_id=LOAD_CONTRACTOR,
                    name="压测电梯维修有限公司",
                    licence_no="TS-LOAD-0001",
                    regions=["430202"],
                ),
                metadata=service,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.ALREADY_EXISTS:
                raise
    return Fleet(
        elevators=total + built,
        registration_codes=codes,
        claim_ids=claim_ids,
        evidence_claims=folders,
        contractor_ids=[LOAD_CONTRACTOR],
        validation_fields=dict(rule_set.rule_set.fields),
        built=built,
        prepare_seconds=round(time.monotonic() - begun, 2),
        notes=notes,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m load_tests.city --out F --elevators N --prepare-seconds S``; addresses and
    tokens as JSON on stdin (never on the command line, where `ps` shows them)."""
    parser = argparse.ArgumentParser(prog="python -m load_tests.city")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--elevators", type=int, default=50)
    parser.add_argument("--prepare-seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    given = json.loads(sys.stdin.read())
    fleet = asyncio.run(
        prepare(
            given["addrs"],
            given["tokens"],
            elevators=args.elevators,
            seconds=args.prepare_seconds,
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(fleet.to_json(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
