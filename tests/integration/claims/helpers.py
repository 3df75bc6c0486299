"""Drive claims over the real gRPC API, as each actor would, with its own token."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc

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


class Actors:
    """One stub, many people: each call says who is calling."""

    def __init__(
        self, channel: grpc.aio.Channel, mint: Callable[..., str], contractor: str
    ) -> None:
        self.stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        self.iot = meta(mint("partner", subject="iot-platform-1"))
        self.pm = meta(mint("partner", subject="pm-zhang"))
        self.adjuster = meta(mint("adjuster", subject="adj-wang", regions=("4302",)))
        self.other_adjuster = meta(mint("adjuster", subject="adj-zhao", regions=("4302",)))
        self.senior = meta(mint("senior_reviewer", subject="sr-li", regions=("4302",)))
        self.contractor = meta(mint("contractor", subject=contractor, regions=("4302",)))
        self.service = meta(mint("service", subject="svc-test"))
        self.contractor_id = contractor

    async def report(
        self, registration_code: str, *, event: str | None = None, category: str = "abnormal_noise"
    ) -> pb.ReportLossResponse:
        return await self.stub.ReportLoss(
            pb.ReportLossRequest(
                source=pb.SOURCE_IOT_ALARM,
                source_event_id=event or f"alarm-{rid()}",
                registration_code=registration_code,
                fault_category=category,
                description="主机异响，运行抖动",
            ),
            metadata=self.iot,
        )

    async def to_under_review(self, claim_id: str, lines: list[pb.QuoteLineInput]) -> pb.Claim:
        await self.stub.DispatchContractor(
            pb.DispatchContractorRequest(
                request_id=rid(), claim_id=claim_id, contractor_id=self.contractor_id
            ),
            metadata=self.adjuster,
        )
        await self.stub.RecordArrival(
            pb.RecordArrivalRequest(request_id=rid(), claim_id=claim_id), metadata=self.contractor
        )
        reply = await self.stub.SubmitQuote(
            pb.SubmitQuoteRequest(request_id=rid(), claim_id=claim_id, lines=lines),
            metadata=self.contractor,
        )
        return reply.claim


async def insured_registration_code(
    policy_channel: grpc.aio.Channel, mint: Callable[..., str]
) -> str:
    world = World(policy_channel, mint("service"))
    elevator, _ = await world.insured_elevator()
    return elevator.spec.registration_code
