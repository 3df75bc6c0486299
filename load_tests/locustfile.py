"""Locust users for elevins: a gRPC user class, the elevins traffic mix, and web page users.

Importing this module imports locust, which monkey-patches the process for gevent: only the
load process (``load_tests.load``) imports it, never the test session. gRPC's sync API is
made gevent-friendly with ``grpc.experimental.gevent.init_gevent()`` before any channel.

The users read their configuration (addresses, tokens, the prepared :class:`Fleet`) from the
JSON file named by ``ELEVINS_LOAD_CONFIG``, so ``locust -f load_tests/locustfile.py`` works
with that file too (``python -m load_tests.load`` writes it).

* :class:`GrpcUser`: an abstract locust ``User`` with one channel per service and
  :meth:`GrpcUser.call`, which times a call and reports it to locust's request event under
  ``<service>.<Method>`` with its status code.
* :class:`ElevinsUser`: the weighted mix of :data:`load_tests.city.MIX`, closed loop (no think
  time: the step profile raises concurrency until latency bends).
* :class:`WebUser`: the adjusters' pages over HTTP; used only when ``WEB_ADDR`` is set (the web
  service is not built yet, and the run must not depend on it).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc.experimental.gevent as grpc_gevent

grpc_gevent.init_gevent()

import grpc  # noqa: E402 (after init_gevent)
from locust import HttpUser, User, constant, task  # noqa: E402

from elevins.claims.v1 import claims_pb2 as cpb  # noqa: E402
from elevins.claims.v1 import claims_pb2_grpc  # noqa: E402
from elevins.contractors.v1 import contractors_pb2 as kpb  # noqa: E402
from elevins.contractors.v1 import contractors_pb2_grpc  # noqa: E402
from elevins.evidence.v1 import evidence_pb2 as epb  # noqa: E402
from elevins.evidence.v1 import evidence_pb2_grpc  # noqa: E402
from elevins.policy.v1 import policy_pb2 as ppb  # noqa: E402
from elevins.policy.v1 import policy_pb2_grpc  # noqa: E402
from elevins.pricing.v1 import pricing_pb2 as prpb  # noqa: E402
from elevins.pricing.v1 import pricing_pb2_grpc  # noqa: E402
from elevins.validation.v1 import validation_pb2 as vpb  # noqa: E402
from elevins.validation.v1 import validation_pb2_grpc  # noqa: E402
from load_tests.callers import IntakePlan, IntakeSchedule  # noqa: E402
from load_tests.city import CATEGORIES, MIX, PERILS, STORM_SHARE, Fleet  # noqa: E402
from load_tests.validation_client import BatchSpec, request_bytes  # noqa: E402
from shared.timestamps import to_timestamp  # noqa: E402

CALL_TIMEOUT_S = 10.0
BATCH_ROWS = 1_000
PHOTO_SIDE = 320
# Errors the scenario provokes: (call name, status code).
ON_PURPOSE = {("claims.ReportLoss", "NOT_FOUND")}


def load_config() -> dict[str, Any]:
    path = os.environ.get("ELEVINS_LOAD_CONFIG", "build/load/config.json")
    with open(path, encoding="utf-8") as file:
        config: dict[str, Any] = json.load(file)
    return config


_CONFIG: dict[str, Any] | None = None


def config() -> dict[str, Any]:
    global _CONFIG
    if _CONFIG is None:
        _CONFIG = load_config()
    return _CONFIG


class GrpcUser(User):
    """A locust user that calls gRPC services and reports each call to locust."""

    abstract = True

    def on_start(self) -> None:
        self.addrs: dict[str, str] = config()["addrs"]
        self._channels: dict[str, grpc.Channel] = {}

    def on_stop(self) -> None:
        for channel in self._channels.values():
            channel.close()

    def channel(self, service: str) -> grpc.Channel:
        if service not in self._channels:
            self._channels[service] = grpc.insecure_channel(
                self.addrs[service], options=[("grpc.use_local_subchannel_pool", 1)]
            )
        return self._channels[service]

    def call(self, name: str, send: Callable[[], Any]) -> Any:
        """Run ``send`` (one gRPC call) and report it as ``name``; None if it failed."""
        begun = time.perf_counter()
        answer, code, error = None, "OK", None
        try:
            answer = send()
        except grpc.RpcError as exc:
            code = exc.code().name if isinstance(exc, grpc.Call) else "UNKNOWN"
            error = exc
        self.environment.events.request.fire(
            request_type="grpc",
            name=name,
            response_time=(time.perf_counter() - begun) * 1000,
            response_length=answer.ByteSize() if answer is not None else 0,
            exception=error,
            context={"code": code, "expected": (name, code) in ON_PURPOSE},
        )
        return answer


def _md(role: str) -> tuple[tuple[str, str]]:
    return (("authorization", f"Bearer {config()['tokens'][role]}"),)


def _photo(rng: random.Random) -> bytes:
    """A small JPEG of noise: new bytes each time, so each upload stores new objects."""
    from PIL import Image

    image = Image.frombytes("L", (PHOTO_SIDE, PHOTO_SIDE), rng.randbytes(PHOTO_SIDE * PHOTO_SIDE))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=70)
    return out.getvalue()


class ElevinsUser(GrpcUser):
    """Every kind of elevins traffic, weighted as :data:`load_tests.city.MIX` says."""

    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.fleet = Fleet(**config()["fleet"])
        self.rng = random.Random()
        self.run_id = uuid.uuid4().hex[:10]
        self.seq = 0
        self.intake = IntakeSchedule(
            IntakePlan(
                registration_codes=tuple(
                    self.rng.sample(
                        self.fleet.registration_codes, len(self.fleet.registration_codes)
                    )
                ),
                categories=CATEGORIES,
                storm_share=STORM_SHARE,
                seed=self.rng.randrange(1 << 30),
            )
        )
        self.claims = claims_pb2_grpc.ClaimsServiceStub(self.channel("claims"))
        self.policy = policy_pb2_grpc.PolicyServiceStub(self.channel("policy"))
        self.pricing = pricing_pb2_grpc.PricingServiceStub(self.channel("pricing"))
        self.evidence = evidence_pb2_grpc.EvidenceServiceStub(self.channel("evidence"))
        self.validation = validation_pb2_grpc.ValidationServiceStub(self.channel("validation"))
        self.contractors = contractors_pb2_grpc.ContractorsServiceStub(self.channel("contractors"))
        self.batch = vpb.ValidateBatchesRequest.FromString(
            request_bytes(
                BatchSpec("load", BATCH_ROWS, seed=self.rng.randrange(1 << 30), failing=0),
                self.fleet.validation_fields,
                on=datetime.now(UTC).date().isoformat(),
            )
        )

    def _event_id(self) -> str:
        self.seq += 1
        return f"load-{self.run_id}-{self.seq}"

    def _report(self, source: int, code: str, category: str, md: Any) -> None:
        self.call(
            "claims.ReportLoss",
            lambda: self.claims.ReportLoss(
                cpb.ReportLossRequest(
                    source=source,
                    source_event_id=self._event_id(),
                    registration_code=code,
                    fault_category=category,
                    description="主机异响，运行抖动",
                ),
                metadata=md,
                timeout=CALL_TIMEOUT_S,
            ),
        )

    @task(int(MIX["alarm"] * 1000))
    def alarm(self) -> None:
        code, category, _ = self.intake.next()
        self._report(cpb.SOURCE_IOT_ALARM, code, category, _md("partner"))

    @task(int(MIX["unknown_elevator_alarm"] * 1000))
    def unknown_elevator_alarm(self) -> None:
        code = f"梯11湘Z{self.rng.randrange(100_000):05d}(99)"  # valid shape, never registered
        self._report(cpb.SOURCE_IOT_ALARM, code, "stopped", _md("partner"))

    @task(int(MIX["fnol"] * 1000))
    def fnol(self) -> None:
        code = self.rng.choice(self.fleet.registration_codes)
        self._report(cpb.SOURCE_PROPERTY_MANAGER, code, self.rng.choice(CATEGORIES), _md("partner"))

    @task(int(MIX["coverage"] * 1000))
    def coverage(self) -> None:
        self.call(
            "policy.CheckCoverage",
            lambda: self.policy.CheckCoverage(
                ppb.CheckCoverageRequest(
                    registration_code=self.rng.choice(self.fleet.registration_codes),
                    loss_time=to_timestamp(datetime.now(UTC)),
                    peril=self.rng.choice(PERILS),
                ),
                metadata=_md("partner"),
                timeout=CALL_TIMEOUT_S,
            ),
        )

    @task(int(MIX["quote_benchmark"] * 1000))
    def quote_benchmark(self) -> None:
        quote = prpb.Quote(
            quote_id=f"load-{self._event_id()}",
            region="430200",
            quoted_on=datetime.now(UTC).date().isoformat(),
            elevator=prpb.Elevator(
                registration_code=self.rng.choice(self.fleet.registration_codes),
                brand="奥的斯",
                rope_count=6,
                rope_length_m="62.5",
                landings=18,
                motor_kw="7.5",
            ),
            fault=prpb.Fault(category="machine_noise"),
            lines=[
                prpb.QuoteLine(
                    line_no=1,
                    kind="part",
                    description="曳引机 7.5KW 原厂",
                    qty="1",
                    unit="台",
                    unit_price_fen=self.rng.randrange(3_000_000, 9_800_000),
                ),
                prpb.QuoteLine(
                    line_no=2,
                    kind="part",
                    description="曳引钢丝绳φ10 （含安装）",
                    qty="420",
                    unit="米",
                    unit_price_fen=4_500,
                ),
                prpb.QuoteLine(
                    line_no=3,
                    kind="labour",
                    description="人工费",
                    qty="40",
                    unit="工时",
                    unit_price_fen=12_000,
                ),
            ],
        )
        self.call(
            "pricing.BenchmarkQuote",
            lambda: self.pricing.BenchmarkQuote(
                prpb.BenchmarkQuoteRequest(quote=quote),
                metadata=_md("adjuster"),
                timeout=CALL_TIMEOUT_S,
            ),
        )

    @task(int(MIX["evidence_upload"] * 1000))
    def evidence_upload(self) -> None:
        data = _photo(self.rng)
        header = epb.UploadHeader(
            claim_id=self.rng.choice(self.fleet.evidence_claims),
            kind="before_photo",
            content_type="image/jpeg",
            size_bytes=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            file_name="before.jpg",
        )

        def messages() -> Iterator[epb.UploadEvidenceRequest]:
            yield epb.UploadEvidenceRequest(request_id=uuid.uuid4().hex, header=header)
            yield epb.UploadEvidenceRequest(chunk=data)

        self.call(
            "evidence.UploadEvidence",
            lambda: self.evidence.UploadEvidence(
                messages(), metadata=_md("contractor"), timeout=CALL_TIMEOUT_S
            ),
        )

    @task(int(MIX["validation_batch"] * 1000))
    def validation_batch(self) -> None:
        def one_batch() -> vpb.ValidateBatchesResponse:
            replies = list(
                self.validation.ValidateBatches(
                    iter([self.batch]), metadata=_md("service"), timeout=CALL_TIMEOUT_S
                )
            )
            if len(replies) != 1 or replies[0].HasField("error"):
                raise RuntimeError(f"the batch was not judged: {replies}")
            return replies[0]

        self.call("validation.ValidateBatches", one_batch)

    @task(int(MIX["contractor_standing"] * 1000))
    def contractor_standing(self) -> None:
        self.call(
            "contractors.GetContractorStanding",
            lambda: self.contractors.GetContractorStanding(
                kpb.GetContractorStandingRequest(
                    contractor_id=self.rng.choice(self.fleet.contractor_ids)
                ),
                metadata=_md("service"),
                timeout=CALL_TIMEOUT_S,
            ),
        )

    @task(int(MIX["review_queue"] * 1000))
    def review_queue(self) -> None:
        self.call(
            "claims.ListClaims",
            lambda: self.claims.ListClaims(
                cpb.ListClaimsRequest(state="under_review", page_size=20),
                metadata=_md("adjuster"),
                timeout=CALL_TIMEOUT_S,
            ),
        )

    @task(int(MIX["claim_page"] * 1000))
    def claim_page(self) -> None:
        if not self.fleet.claim_ids:
            return
        claim_id = self.rng.choice(self.fleet.claim_ids)
        self.call(
            "claims.GetClaim",
            lambda: self.claims.GetClaim(
                cpb.GetClaimRequest(claim_id=claim_id),
                metadata=_md("adjuster"),
                timeout=CALL_TIMEOUT_S,
            ),
        )
        self.call(
            "claims.GetAuditTrail",
            lambda: self.claims.GetAuditTrail(
                cpb.GetAuditTrailRequest(claim_id=claim_id),
                metadata=_md("adjuster"),
                timeout=CALL_TIMEOUT_S,
            ),
        )


class WebUser(HttpUser):
    """An adjuster in the browser: the review queue and claim pages (``WEB_ADDR``)."""

    wait_time = constant(0)
    host = f"http://{os.environ.get('WEB_ADDR', '127.0.0.1:8080')}"

    @task(3)
    def queue(self) -> None:
        self.client.get("/claims?state=under_review", name="web GET /claims")

    @task(2)
    def claim(self) -> None:
        ids = Fleet(**config()["fleet"]).claim_ids
        if ids:
            self.client.get(f"/claims/{random.choice(ids)}", name="web GET /claims/{id}")


def user_classes() -> list[type[User]]:
    """The gRPC mix always; the web pages only when a web address is given."""
    return [ElevinsUser, WebUser] if os.environ.get("WEB_ADDR") else [ElevinsUser]
