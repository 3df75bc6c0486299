"""Typed clients of the services claims depends on, with in-memory fakes.

Each upstream has a gRPC client that calls it with the claims service's own identity and a
bounded timeout per call, and an in-memory stand-in for unit tests and partial stacks that says
so in the adjudication trace (``source="pricing@fake"``); the server wires the real one when
its ``<NAME>_ADDR`` is set.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol, cast

import grpc

from elevins.contractors.v1 import contractors_pb2 as cpb
from elevins.contractors.v1 import contractors_pb2_grpc
from elevins.evidence.v1 import evidence_pb2 as epb
from elevins.evidence.v1 import evidence_pb2_grpc
from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from elevins.pricing.v1 import pricing_pb2 as prpb
from elevins.pricing.v1 import pricing_pb2_grpc
from elevins.validation.v1 import validation_pb2 as vpb
from elevins.validation.v1 import validation_pb2_grpc
from services.claims.domain.adjudication import (
    ContractorStanding,
    CoverageFacts,
    EvidenceFlag,
    LinePrice,
    RuleFinding,
    StandingStatus,
)
from services.claims.domain.errors import InvalidValue, NotFound, PreconditionFailed
from services.claims.domain.quotes import QuoteLine
from shared.clock import shanghai_date
from shared.errors import details_of
from shared.timestamps import to_timestamp

CALL_TIMEOUT_S = 5.0
# Evidence of a decided claim is write-once for this long. Insurance Law art. 87: records of
# contracts of a year or less are kept at least five years from the contract's end, so five
# years from the decision plus the longest policy year.
EVIDENCE_RETENTION = timedelta(days=6 * 366)


@dataclass(frozen=True)
class ElevatorFacts:
    elevator_id: str
    registration_code: str
    region_code: str
    community_id: str = ""
    # What pricing needs to judge quantities (rope metres, landing doors, a second machine).
    brand: str = ""
    rope_count: int = 0
    rope_length_m: str = "0"
    landings: int = 0
    motor_kw: str = "0"
    # The last periodic inspection, as the registry knows it (None: none on record).
    inspection_passed: bool | None = None
    inspection_valid_until: date | None = None


class ElevatorUnknown(NotFound):
    code = "ELEVATOR_NOT_FOUND"


class LimitRefused(PreconditionFailed):
    """The policy ledger refused the reservation (limit exhausted, policy not active)."""

    code = "LIMIT_REFUSED"


class UpstreamUnavailable(Exception):
    """Another service did not answer in time: the caller retries later (UNAVAILABLE)."""


class PolicyClient(Protocol):
    async def elevator(self, registration_code: str) -> ElevatorFacts: ...

    async def coverage(
        self, registration_code: str, loss_time: datetime, peril: str
    ) -> CoverageFacts: ...

    async def reserve(self, *, claim_id: str, policy_id: str, amount_fen: int) -> None: ...

    async def pay(self, *, claim_id: str, amount_fen: int) -> None: ...


class GrpcPolicyClient:
    """The policy service over gRPC. Elevator identities are cached for a few minutes: every
    alarm needs one, they change only when the registry does, and the lookup is the largest
    single cost of intake (measured in ``make bench``)."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        token: str,
        *,
        elevator_ttl_s: float = 300.0,
        max_cached: int = 100_000,
    ) -> None:
        self._stub = policy_pb2_grpc.PolicyServiceStub(channel)
        self._md = (("authorization", f"Bearer {token}"),)
        self._elevators: dict[str, tuple[float, ElevatorFacts]] = {}
        self._ttl = elevator_ttl_s
        self._max_cached = max_cached

    async def _call(self, method: str, request: object) -> object:
        try:
            return await getattr(self._stub, method)(
                request, metadata=self._md, timeout=CALL_TIMEOUT_S
            )
        except grpc.aio.AioRpcError as error:
            code = error.code()
            if code == grpc.StatusCode.NOT_FOUND:
                raise ElevatorUnknown(
                    error.details() or "not found", field="registration_code"
                ) from error
            if code == grpc.StatusCode.INVALID_ARGUMENT:
                problem = details_of(error).violations
                raise InvalidValue(
                    problem[0].field if problem else "registration_code",
                    problem[0].description if problem else (error.details() or "invalid"),
                ) from error
            if code == grpc.StatusCode.FAILED_PRECONDITION:
                raise LimitRefused(error.details() or "refused by the policy ledger") from error
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise UpstreamUnavailable(f"policy service: {code.name}") from error
            raise

    async def elevator(self, registration_code: str) -> ElevatorFacts:
        now = time.monotonic()
        cached = self._elevators.get(registration_code)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        facts = await self._lookup_elevator(registration_code)
        if len(self._elevators) >= self._max_cached:
            self._elevators.clear()  # crude but bounded; a registry rarely has more elevators
        self._elevators[registration_code] = (now, facts)
        return facts

    async def _lookup_elevator(self, registration_code: str) -> ElevatorFacts:
        reply = await self._call(
            "GetElevator", ppb.GetElevatorRequest(registration_code=registration_code)
        )
        assert isinstance(reply, ppb.GetElevatorResponse)
        e = reply.elevator
        return ElevatorFacts(
            e.elevator_id,
            e.spec.registration_code,
            e.region_code,
            community_id=e.community_id,
            brand=e.spec.brand,
            rope_count=e.spec.rope_count,
            rope_length_m=e.spec.rope_length_m,
            landings=e.spec.landings,
            motor_kw=e.spec.motor_kw,
        )

    async def coverage(
        self, registration_code: str, loss_time: datetime, peril: str
    ) -> CoverageFacts:
        reply = await self._call(
            "CheckCoverage",
            ppb.CheckCoverageRequest(
                registration_code=registration_code, loss_time=to_timestamp(loss_time), peril=peril
            ),
        )
        assert isinstance(reply, ppb.CheckCoverageResponse)
        return CoverageFacts(
            covered=reply.covered,
            reasons=tuple(r.code for r in reply.reasons),
            remaining_fen=reply.remaining_fen,
            per_claim_limit_fen=reply.per_claim_limit_fen,
            deductible_fen=reply.deductible_fen,
            policy_id=reply.policy.policy_id or None,
            policy_start=shanghai_date(reply.policy.starts_at.ToDatetime(tzinfo=UTC))
            if reply.policy.policy_id
            else None,
            # ends_at is exclusive: the last covered day is the one before it ends.
            policy_end=shanghai_date(
                reply.policy.ends_at.ToDatetime(tzinfo=UTC) - timedelta(microseconds=1)
            )
            if reply.policy.policy_id
            else None,
        )

    async def reserve(self, *, claim_id: str, policy_id: str, amount_fen: int) -> None:
        await self._call(
            "ReserveLimit",
            ppb.ReserveLimitRequest(claim_id=claim_id, policy_id=policy_id, amount_fen=amount_fen),
        )

    async def pay(self, *, claim_id: str, amount_fen: int) -> None:
        await self._call("PayLimit", ppb.PayLimitRequest(claim_id=claim_id, amount_fen=amount_fen))


# ---------------------------------------------------------------- stand-ins until the services land


class PricingClient(Protocol):
    source: str

    async def benchmark(
        self,
        region_code: str,
        lines: Sequence[QuoteLine],
        *,
        elevator: ElevatorFacts,
        fault_category: str,
        quoted_on: date,
    ) -> list[LinePrice]: ...


class ValidationClient(Protocol):
    source: str

    async def check_claim(self, facts: Mapping[str, object], *, on: date) -> list[RuleFinding]: ...


class GrpcValidationClient:
    """The validation service's claims rule set, over gRPC: the rules are the validation
    service's to version and deploy, and one call (~1 ms on loopback) is small beside the rest
    of the pipeline. Facts the claims service cannot know yet are sent as nulls."""

    source = "validation@claims"

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = validation_pb2_grpc.ValidationServiceStub(channel)
        self._md = (("authorization", f"Bearer {token}"),)
        self._rules: dict[str, tuple[str, str]] = {}  # code → (severity, description)

    async def check_claim(self, facts: Mapping[str, object], *, on: date) -> list[RuleFinding]:
        try:
            if not self._rules:
                rule_set = (
                    await self._stub.GetRuleSet(
                        vpb.GetRuleSetRequest(name="claims"),
                        metadata=self._md,
                        timeout=CALL_TIMEOUT_S,
                    )
                ).rule_set
                self._rules = {r.code: (r.severity, r.description) for r in rule_set.rules}
            reply = await self._stub.Validate(
                vpb.ValidateRequest(
                    rule_set="claims",
                    on=on.isoformat(),
                    fields={k: _value(v) for k, v in facts.items() if v is not None},
                ),
                metadata=self._md,
                timeout=CALL_TIMEOUT_S,
            )
        except grpc.aio.AioRpcError as error:
            if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise UpstreamUnavailable(f"validation service: {error.code().name}") from error
            raise
        return [
            RuleFinding(
                code=code,
                severity="warning"
                if self._rules.get(code, ("error", ""))[0] == "warning"
                else "error",
                message=self._rules.get(code, ("", code))[1] or code,
                rule_set_version=reply.rule_set_version,
            )
            for code in reply.failed
        ]


def _value(value: object) -> vpb.Value:
    if isinstance(value, bool):
        return vpb.Value(bool_value=value)
    if isinstance(value, int):
        return vpb.Value(int_value=value)
    if isinstance(value, float):
        return vpb.Value(float_value=value)
    if isinstance(value, date):
        return vpb.Value(date_value=value.isoformat())
    return vpb.Value(string_value=str(value))


@dataclass(frozen=True)
class ClaimFolder:
    """What evidence must know of a claim to judge its photos and to let the right contractor
    upload: where, who, and the fault and repair times the photos' EXIF times are checked
    against."""

    claim_id: str
    region_code: str
    contractor_id: str
    fault_at: datetime
    repaired_at: datetime | None = None


class EvidenceClient(Protocol):
    source: str

    async def open_folder(self, folder: ClaimFolder) -> None: ...

    async def flags(self, claim_id: str) -> list[EvidenceFlag]: ...

    async def lock(self, claim_id: str, at: datetime) -> None: ...


class ContractorsClient(Protocol):
    source: str

    async def standing(self, contractor_id: str) -> ContractorStanding: ...


# The claims service's fault categories in the pricing service's words (see pricing.proto).
PRICING_FAULTS = {
    "trapped_passenger": "trapped_passenger",
    "door_fault": "door_fault",
    "abnormal_noise": "machine_noise",
    "stopped": "control_fault",
    "overspeed": "overspeed_or_slip",
    "leveling_fault": "leveling_fault",
    "electrical_fault": "control_fault",
    "brake_fault": "brake_fault",
    "wear": "rope_wear",
}
LABOUR_UNITS = frozenset({"工时", "小时", "人工", "人天", "工日", "h"})


class GrpcPricingClient:
    """The pricing service: every line matched and judged against the reference in force on
    the day of the fault. The approved amount of a line (price and quantity trims together)
    comes back to the pipeline as an effective unit price."""

    source = "pricing@v1"

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = pricing_pb2_grpc.PricingServiceStub(channel)
        self._md = (("authorization", f"Bearer {token}"),)

    async def benchmark(
        self,
        region_code: str,
        lines: Sequence[QuoteLine],
        *,
        elevator: ElevatorFacts,
        fault_category: str,
        quoted_on: date,
    ) -> list[LinePrice]:
        quote = prpb.Quote(
            quote_id=f"claims-{quoted_on.isoformat()}",
            # Prices are kept per city: a district (430202) is judged by its city (430200).
            region=region_code[:4] + "00",
            quoted_on=quoted_on.isoformat(),
            elevator=prpb.Elevator(
                registration_code=elevator.registration_code,
                brand=elevator.brand,
                rope_count=elevator.rope_count,
                rope_length_m=elevator.rope_length_m,
                landings=elevator.landings,
                motor_kw=elevator.motor_kw,
            ),
            fault=prpb.Fault(category=PRICING_FAULTS.get(fault_category, "")),
            lines=[
                prpb.QuoteLine(
                    line_no=ln.line_no,
                    kind="labour" if ln.unit in LABOUR_UNITS else "part",
                    description=ln.description,
                    qty=str(ln.quantity),
                    unit=ln.unit,
                    unit_price_fen=ln.unit_price_fen,
                )
                for ln in lines
            ],
        )
        request = prpb.BenchmarkQuoteRequest(quote=quote)
        reply = await _call(self._stub.BenchmarkQuote, request, self._md, "pricing")
        quantity = {ln.line_no: ln.quantity for ln in lines}
        return [
            LinePrice(
                line_no=v.line_no,
                category=None if v.part_category == "unknown" else v.part_category,
                reference_unit_price_fen=int(v.approved_amount_fen / quantity[v.line_no])
                if v.HasField("reference_unit_price_fen")
                else None,
                reason_codes=tuple(v.reasons),
            )
            for v in reply.verdict.lines
        ]


# A handful of market prices (fen per unit) for common parts, so the demo can show trimming.
# The pricing service (its own issue) replaces this with a real catalogue and matcher.
_FAKE_CATALOGUE: tuple[tuple[str, str, int], ...] = (
    ("曳引机|traction machine", "traction_machine", 3_600_000),
    ("钢丝绳|wire rope", "wire_rope", 4_500),
    ("变频器|inverter", "inverter", 1_200_000),
    ("主板|control board", "control_board", 800_000),
    ("门机|door operator", "door_operator", 650_000),
    ("抱闸|制动器|brake", "brake", 500_000),
    ("编码器|encoder", "encoder", 150_000),
    ("按钮|button", "push_button", 8_000),
)


class GrpcContractorsClient:
    """The contractors service's black/white list over gRPC. A contractor the register does not
    know is treated as grey (ordinary review, never the white-list fast track) and says so."""

    source = "contractors@claims"

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = contractors_pb2_grpc.ContractorsServiceStub(channel)
        self._md = (("authorization", f"Bearer {token}"),)

    async def standing(self, contractor_id: str) -> ContractorStanding:
        request = cpb.GetContractorStandingRequest(contractor_id=contractor_id)
        try:
            reply = await _call(self._stub.GetContractorStanding, request, self._md, "contractors")
        except grpc.aio.AioRpcError as error:
            if not _is_not_found(error):
                raise
            return ContractorStanding("grey", f"{contractor_id} is not on the register")
        s = reply.standing
        status = cast(StandingStatus, s.status)  # ContractorStanding refuses any other value
        return ContractorStanding(
            status, f"{s.reason_code} ({s.period}, since {s.since}): {s.explanation_en}"
        )


class GrpcEvidenceClient:
    """The evidence service: claims opens a claim's folder at dispatch (and records the repair
    time in it), and reads the photo checks when it assesses a quote. A claim with nothing
    uploaded yet is flagged too: the insurer pays on evidence, never without it."""

    source = "evidence@claims"

    def __init__(self, channel: grpc.aio.Channel, token: str) -> None:
        self._stub = evidence_pb2_grpc.EvidenceServiceStub(channel)
        self._md = (("authorization", f"Bearer {token}"),)

    async def open_folder(self, folder: ClaimFolder) -> None:
        # Idempotent by content: the same folder state is the same request.
        state = folder.repaired_at.isoformat() if folder.repaired_at else "open"
        request = epb.PutClaimFolderRequest(
            request_id=f"folder:{folder.claim_id}:{folder.contractor_id}:{state}",
            claim_id=folder.claim_id,
            region=folder.region_code,
            contractor_id=folder.contractor_id,
            fault_at=to_timestamp(folder.fault_at),
            repaired_at=to_timestamp(folder.repaired_at),  # None: unset, still open
        )
        await _call(self._stub.PutClaimFolder, request, self._md, "evidence")

    async def flags(self, claim_id: str) -> list[EvidenceFlag]:
        request = epb.GetClaimFlagsRequest(claim_id=claim_id)
        try:
            reply = await _call(self._stub.GetClaimFlags, request, self._md, "evidence")
        except grpc.aio.AioRpcError as error:
            if not _is_not_found(error):
                raise
            return [EvidenceFlag("EVIDENCE_FOLDER_MISSING", "evidence has no folder for it")]
        found = [EvidenceFlag(f.code, _flag_message(f)) for f in reply.flags]
        # Uploads still being verified come as their own flag (EVIDENCE_BEING_VERIFIED).
        if reply.evidence_count == 0 and reply.unverified_count == 0:
            found.append(EvidenceFlag("NO_EVIDENCE", "no photo or document uploaded yet"))
        return found

    async def lock(self, claim_id: str, at: datetime) -> None:
        until = at + EVIDENCE_RETENTION
        request = epb.LockClaimEvidenceRequest(
            request_id=f"lock:{claim_id}:{until.isoformat()}",
            claim_id=claim_id,
            retain_until=to_timestamp(until),
        )
        try:
            await _call(self._stub.LockClaimEvidence, request, self._md, "evidence")
        except grpc.aio.AioRpcError as error:
            if not _is_not_found(error):  # no folder: nothing was ever uploaded to keep
                raise


def _flag_message(flag: epb.Flag) -> str:
    if flag.other_claim_id:
        return f"{flag.message} (claim {flag.other_claim_id}, evidence {flag.other_evidence_id})"
    return flag.message


async def _call(
    method: Any, request: Any, metadata: tuple[tuple[str, str], ...], service: str
) -> Any:
    """One bounded call; UNAVAILABLE/DEADLINE_EXCEEDED → UpstreamUnavailable (the claim call is
    retried), any other status propagates for the caller to read."""
    try:
        return await method(request, metadata=metadata, timeout=CALL_TIMEOUT_S)
    except grpc.aio.AioRpcError as error:
        if error.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
            raise UpstreamUnavailable(f"{service} service: {error.code().name}") from error
        raise


def _is_not_found(error: grpc.aio.AioRpcError) -> bool:
    return bool(error.code() == grpc.StatusCode.NOT_FOUND)


@dataclass
class FakePricing:
    source: str = "pricing@fake-catalogue-0"

    async def benchmark(
        self,
        region_code: str,
        lines: Sequence[QuoteLine],
        *,
        elevator: ElevatorFacts,
        fault_category: str,
        quoted_on: date,
    ) -> list[LinePrice]:
        prices = []
        for line in lines:
            match = next(
                (c for c in _FAKE_CATALOGUE if re.search(c[0], line.description, re.IGNORECASE)),
                None,
            )
            prices.append(
                LinePrice(
                    line_no=line.line_no,
                    category=match[1] if match else None,
                    reference_unit_price_fen=match[2] if match else None,
                    reason_codes=(),
                )
            )
        return prices


@dataclass
class FakeValidation:
    source: str = "validation@fake"
    findings: list[RuleFinding] = field(default_factory=list)

    async def check_claim(self, facts: Mapping[str, object], *, on: date) -> list[RuleFinding]:
        return list(self.findings)


@dataclass
class FakeEvidence:
    source: str = "evidence@fake"
    by_claim: dict[str, list[EvidenceFlag]] = field(default_factory=dict)
    folders: dict[str, ClaimFolder] = field(default_factory=dict)

    locked: dict[str, datetime] = field(default_factory=dict)

    async def open_folder(self, folder: ClaimFolder) -> None:
        self.folders[folder.claim_id] = folder

    async def lock(self, claim_id: str, at: datetime) -> None:
        self.locked[claim_id] = at + EVIDENCE_RETENTION

    async def flags(self, claim_id: str) -> list[EvidenceFlag]:
        return list(self.by_claim.get(claim_id, []))


@dataclass
class FakeContractors:
    source: str = "contractors@fake"
    white: frozenset[str] = frozenset()
    black: frozenset[str] = frozenset()

    async def standing(self, contractor_id: str) -> ContractorStanding:
        if contractor_id in self.black:
            return ContractorStanding("black", "on the demo blacklist")
        if contractor_id in self.white:
            return ContractorStanding("white", "on the demo white list")
        return ContractorStanding("grey", "no standing recorded yet")


@dataclass
class Upstreams:
    policy: PolicyClient
    pricing: PricingClient = field(default_factory=FakePricing)
    validation: ValidationClient = field(default_factory=FakeValidation)
    evidence: EvidenceClient = field(default_factory=FakeEvidence)
    contractors: ContractorsClient = field(default_factory=FakeContractors)
