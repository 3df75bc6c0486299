"""Drive claims over the real gRPC API, as each actor would, with its own token."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from elevins.claims.v1 import claims_pb2 as pb
from elevins.claims.v1 import claims_pb2_grpc
from tests.integration.policy.helpers import World, meta

TRACTION_MACHINE = pb.QuoteLineInput(
    description="曳引机 7.5KW 原厂", quantity="1", unit="台", unit_price_fen=3_980_000
)
INVERTER = pb.QuoteLineInput(
    description="变频器 11kW", quantity="1", unit="台", unit_price_fen=1_200_000
)
ROPES = pb.QuoteLineInput(
    description="曳引钢丝绳φ10", quantity="400", unit="米", unit_price_fen=4_500
)


def rid() -> str:
    return uuid.uuid4().hex


def stamp(at: datetime | None) -> Timestamp | None:
    """A protobuf Timestamp, or None to leave the field unset (the server's now)."""
    if at is None:
        return None
    value = Timestamp()
    value.FromDatetime(at)
    return value


class Actors:
    """One stub, many people: each call says who is calling."""

    def __init__(
        self,
        channel: grpc.aio.Channel,
        mint: Callable[..., str],
        contractor: str,
        regions: tuple[str, ...] = ("4302",),
    ) -> None:
        self.stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        self.iot = meta(mint("partner", subject="iot-platform-1"))
        self.pm = meta(mint("partner", subject="pm-zhang"))
        self.adjuster = meta(mint("adjuster", subject="adj-wang", regions=regions))
        self.other_adjuster = meta(mint("adjuster", subject="adj-zhao", regions=regions))
        self.senior = meta(mint("senior_reviewer", subject="sr-li", regions=regions))
        self.contractor = meta(mint("contractor", subject=contractor, regions=regions))
        self.service = meta(mint("service", subject="svc-test"))
        self.contractor_id = contractor

    async def report(
        self,
        registration_code: str,
        *,
        event: str | None = None,
        category: str = "abnormal_noise",
        at: datetime | None = None,
    ) -> pb.ReportLossResponse:
        return await self.stub.ReportLoss(
            pb.ReportLossRequest(
                source=pb.SOURCE_IOT_ALARM,
                source_event_id=event or f"alarm-{rid()}",
                registration_code=registration_code,
                fault_category=category,
                description="主机异响，运行抖动",
                occurred_at=stamp(at),
            ),
            metadata=self.iot,
        )

    async def to_under_review(
        self, claim_id: str, lines: list[pb.QuoteLineInput], *, arrived_at: datetime | None = None
    ) -> pb.Claim:
        """Dispatched, arrived and quoted: under review, or approved if straight through."""
        await self.stub.DispatchContractor(
            pb.DispatchContractorRequest(
                request_id=rid(), claim_id=claim_id, contractor_id=self.contractor_id
            ),
            metadata=self.adjuster,
        )
        await self.stub.RecordArrival(
            pb.RecordArrivalRequest(
                request_id=rid(), claim_id=claim_id, arrived_at=stamp(arrived_at)
            ),
            metadata=self.contractor,
        )
        reply = await self.stub.SubmitQuote(
            pb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=lines),
            metadata=self.contractor,
        )
        return reply.claim

    async def approve(self, claim_id: str) -> pb.Claim:
        reply = await self.stub.DecideClaim(
            pb.DecideClaimRequest(
                request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE, note="核定"
            ),
            metadata=self.adjuster,
        )
        return reply.claim

    async def repaired(self, claim_id: str, *, at: datetime | None = None) -> pb.Claim:
        reply = await self.stub.MarkRepaired(
            pb.MarkRepairedRequest(request_id=rid(), claim_id=claim_id, repaired_at=stamp(at)),
            metadata=self.contractor,
        )
        return reply.claim

    async def confirmed(self, claim_id: str) -> pb.Claim:
        for kind in (
            pb.CONFIRMATION_KIND_PROPERTY_MANAGER,
            pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE,
        ):
            reply = await self.stub.ConfirmRepair(
                pb.ConfirmRepairRequest(
                    request_id=rid(), claim_id=claim_id, kind=kind, confirmed_by_name="李四"
                ),
                metadata=self.pm,
            )
        return reply.claim

    async def paid(self, claim_id: str) -> pb.Claim:
        reply = await self.stub.PayClaim(
            pb.PayClaimRequest(request_id=rid(), claim_id=claim_id), metadata=self.service
        )
        return reply.claim


async def insured_registration_code(
    policy_channel: grpc.aio.Channel, mint: Callable[..., str]
) -> str:
    world = World(policy_channel, mint("service"))
    elevator, _ = await world.insured_elevator()
    return elevator.spec.registration_code
