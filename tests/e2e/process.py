"""A service as a real OS process on a free loopback port, for start/kill/restart tests."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServiceProcess:
    def __init__(self, service: str, environ: dict[str, str]) -> None:
        self.service = service
        self.port = free_port()
        self.environ = {**environ, f"{service.upper()}_PORT": str(self.port)}
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = Path(tempfile.mkdtemp(prefix=f"elevins-{service}-")) / "stderr.log"

    @property
    def addr(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}", "serve"],
            env=self.environ,
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: an unread pipe fills up and blocks the service's logging.
            stderr=self.log.open("ab"),
        )

    async def wait_serving(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        async with grpc.aio.insecure_channel(self.addr) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while time.monotonic() < deadline:
                assert self.proc is not None
                if self.proc.poll() is not None:
                    raise RuntimeError(self.log.read_text(errors="replace")[-4000:])
                try:
                    reply = await health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.aio.AioRpcError:
                    pass
                await asyncio.sleep(0.2)
        raise TimeoutError(f"{self.service} did not become SERVING")

    def signal(self, sig: int) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=30)

    def kill9(self) -> int:
        return self.signal(signal.SIGKILL)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
