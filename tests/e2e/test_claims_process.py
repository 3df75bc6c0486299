"""The claims service killed with SIGKILL mid-load loses no acknowledged claim and pays once."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as pb
from elevins.claims.v1 import claims_pb2_grpc
from elevins.policy.v1 import policy_pb2 as ppb
from elevins.policy.v1 import policy_pb2_grpc
from tests.e2e.process import ServiceProcess
from tests.integration.claims.helpers import INVERTER, Actors, rid
from tests.integration.policy.helpers import World, meta

pytestmark = pytest.mark.integration


@pytest.fixture
def claims_process(service_environ, policy_addr, claims_addr) -> Iterator[ServiceProcess]:
    # claims_addr: the schema is migrated by the in-process fixture; this process reuses it.
    process = ServiceProcess("claims", {**service_environ, "POLICY_ADDR": policy_addr})
    process.start()
    yield process
    process.stop()


async def test_kill_9_mid_intake_and_mid_payment(
    claims_process: ServiceProcess, policy_channel, mint
) -> None:
    await claims_process.wait_serving()
    world = World(policy_channel, mint("service"))
    elevators = [(await world.insured_elevator())[0] for _ in range(4)]
    categories = ("abnormal_noise", "door_fault", "stopped", "leveling_fault", "electrical_fault")
    reports = [
        pb.ReportLossRequest(
            source=pb.SOURCE_IOT_ALARM,
            source_event_id=f"k9-{os.getpid()}-{i}",
            registration_code=elevators[i % 4].spec.registration_code,
            fault_category=categories[i % 5],
            description="报警：运行异常",
        )
        for i in range(200)
    ]
    iot = meta(mint("partner", subject="iot-k9"))

    async def send_all(
        stub: claims_pb2_grpc.ClaimsServiceStub, acknowledged: dict[str, str]
    ) -> dict[str, str]:
        """Fill source_event_id → claim_id for every report the server acknowledged."""

        async def one(request: pb.ReportLossRequest) -> None:
            try:
                reply = await stub.ReportLoss(request, metadata=iot, timeout=10)
                acknowledged[request.source_event_id] = reply.claim.claim_id
            except grpc.aio.AioRpcError:
                pass  # cut off by the kill: the client will retry

        await asyncio.gather(*(one(r) for r in reports))
        return acknowledged

    async with grpc.aio.insecure_channel(claims_process.addr) as channel:
        before: dict[str, str] = {}
        load = asyncio.ensure_future(send_all(claims_pb2_grpc.ClaimsServiceStub(channel), before))
        while len(before) < 20 and not load.done():  # noqa: ASYNC110  (poll a plain dict)
            await asyncio.sleep(0.005)
        claims_process.kill9()
        await load
    assert 0 < len(before) < len(reports), "the kill should land in the middle of the load"

    claims_process.start()
    await claims_process.wait_serving()
    async with grpc.aio.insecure_channel(claims_process.addr) as channel:
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)
        after = await send_all(stub, {})  # every client retries every report
        assert len(after) == len(reports)
        # Nothing acknowledged was lost, and a retry never made a second claim.
        assert all(after[event] == claim for event, claim in before.items())
        assert len(set(after.values())) == len(
            {(r.registration_code, r.fault_category) for r in reports}
        )

        # Payment: kill during a burst of PayClaim calls, restart, retry: paid exactly once.
        a = Actors(channel, mint, contractor="ctr-k9")
        claim_id = next(iter(after.values()))
        await a.to_under_review(claim_id, [INVERTER])
        await a.stub.DecideClaim(
            pb.DecideClaimRequest(
                request_id=rid(), claim_id=claim_id, kind=pb.DECISION_KIND_APPROVE, note="ok"
            ),
            metadata=a.adjuster,
        )
        await a.stub.MarkRepaired(
            pb.MarkRepairedRequest(request_id=rid(), claim_id=claim_id), metadata=a.contractor
        )
        for kind in (
            pb.CONFIRMATION_KIND_PROPERTY_MANAGER,
            pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE,
        ):
            await a.stub.ConfirmRepair(
                pb.ConfirmRepairRequest(
                    request_id=rid(), claim_id=claim_id, kind=kind, confirmed_by_name="x"
                ),
                metadata=a.pm,
            )
        pay_ids = [rid() for _ in range(16)]
        burst = asyncio.gather(
            *(
                a.stub.PayClaim(
                    pb.PayClaimRequest(request_id=p, claim_id=claim_id),
                    metadata=a.service,
                    timeout=10,
                )
                for p in pay_ids
            ),
            return_exceptions=True,
        )
        await asyncio.sleep(0.01)
        claims_process.kill9()
        await burst
    claims_process.start()
    await claims_process.wait_serving()
    async with grpc.aio.insecure_channel(claims_process.addr) as channel:
        a = Actors(channel, mint, contractor="ctr-k9")
        retried = await asyncio.gather(
            *(
                a.stub.PayClaim(
                    pb.PayClaimRequest(request_id=p, claim_id=claim_id), metadata=a.service
                )
                for p in pay_ids
            )
        )
        assert {r.claim.state for r in retried} == {"paid"}
        assert {r.claim.payout.amount_fen for r in retried} == {1_200_000}
    policy = (
        await policy_pb2_grpc.PolicyServiceStub(policy_channel).GetPolicy(
            ppb.GetPolicyRequest(policy_id=retried[0].claim.policy_id),
            metadata=meta(mint("service")),
        )
    ).policy
    assert policy.paid_fen == 1_200_000
