"""The policy service as a real process: start, serve, survive kill -9, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator

import grpc
import pytest

from elevins.policy.v1 import policy_pb2 as pb
from tests.e2e.process import ServiceProcess
from tests.integration.policy.helpers import World

pytestmark = pytest.mark.integration


@pytest.fixture
def process(service_environ, policy_addr) -> Iterator[ServiceProcess]:
    # policy_addr: the schema is migrated by the in-process fixture; this process reuses it.
    process = ServiceProcess("policy", service_environ)
    process.start()
    yield process
    process.stop()


async def test_sigterm_drains_and_exits_cleanly(process: ServiceProcess) -> None:
    await process.wait_serving()
    assert process.signal(signal.SIGTERM) == 0


async def test_kill_9_mid_reservations_loses_nothing_and_reserves_nothing_twice(
    process: ServiceProcess, mint
) -> None:
    await process.wait_serving()
    amount = 1_000_000
    claims = [f"clm-k9-{os.getpid()}-{i}" for i in range(40)]

    async def reserve_all(world: World, policy_id: str) -> list[object]:
        return await asyncio.gather(
            *(
                world.stub.ReserveLimit(
                    pb.ReserveLimitRequest(claim_id=c, policy_id=policy_id, amount_fen=amount),
                    metadata=world.md,
                    timeout=10,
                )
                for c in claims
            ),
            return_exceptions=True,
        )

    async with grpc.aio.insecure_channel(process.addr) as channel:
        world = World(channel, mint("service"))
        _, policy = await world.insured_elevator()
        calls = asyncio.ensure_future(reserve_all(world, policy.policy_id))
        await asyncio.sleep(0.05)
        process.kill9()
        await calls  # some answered, some cut off: the client cannot know which committed

    process.start()
    await process.wait_serving()
    async with grpc.aio.insecure_channel(process.addr) as channel:
        world = World(channel, mint("service"))
        retried = await reserve_all(world, policy.policy_id)  # the client retries everything
        granted = [r for r in retried if isinstance(r, pb.ReserveLimitResponse)]
        refused = [r for r in retried if isinstance(r, grpc.aio.AioRpcError)]
        assert {e.code() for e in refused} <= {grpc.StatusCode.FAILED_PRECONDITION}
        final = (
            await world.stub.GetPolicy(
                pb.GetPolicyRequest(policy_id=policy.policy_id), metadata=world.md
            )
        ).policy
    # Every granted claim holds exactly one reservation; none beyond the sum insured.
    assert len(granted) == 15
    assert final.reserved_fen == len(granted) * amount == final.product.sum_insured_fen
