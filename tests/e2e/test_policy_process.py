"""The policy service as a real process: start, serve, survive kill -9, stop on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from elevins.policy.v1 import policy_pb2 as pb
from tests.integration.policy.helpers import World

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Process:
    def __init__(self, environ: dict[str, str]) -> None:
        self.port = _free_port()
        self.environ = {**environ, "POLICY_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.policy", "serve"],
            env=self.environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    async def wait_serving(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with grpc.aio.insecure_channel(self.addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.proc is not None and self.proc.poll() is None, (
                    self.proc and self.proc.stderr and self.proc.stderr.read()
                )
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError("policy service did not become SERVING")

    def kill(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)


@pytest.fixture
def process(service_environ, policy_addr) -> Iterator[Process]:
    # policy_addr: the schema is migrated by the in-process fixture; this process reuses it.
    process = Process(service_environ)
    process.start()
    yield process
    if process.proc and process.proc.poll() is None:
        process.proc.kill()
        process.proc.wait()


async def test_sigterm_drains_and_exits_cleanly(process: Process) -> None:
    await process.wait_serving()
    assert process.kill(signal.SIGTERM) == 0


async def test_kill_9_mid_reservations_loses_nothing_and_reserves_nothing_twice(
    process: Process, mint
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
        process.kill(signal.SIGKILL)
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
