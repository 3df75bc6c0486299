"""Starting and stopping a grpc.aio server the same way in every service.

Health and reflection are always on; the standard interceptors are installed; with a
``metrics_port`` the Prometheus endpoint is served beside the gRPC port (``shared.metrics``);
SIGTERM and SIGINT flip health to NOT_SERVING, then drain in-flight calls for the grace period.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client.registry import Collector

from shared.auth import parse_keys
from shared.interceptors import ErrorMapper, standard_interceptors
from shared.metrics import MetricsServer, Refresher
from shared.telemetry import TelemetrySettings, configure_telemetry, shutdown_telemetry

log = logging.getLogger("elevins.server")


@dataclass(frozen=True)
class ServiceBinding:
    """One gRPC service to mount: its full name and the generated ``add_..._to_server``."""

    full_name: str
    add_to_server: Callable[[Any, grpc.aio.Server], None]
    servicer: Any


@dataclass
class GrpcApp:
    name: str
    bind: str
    auth_key: str
    bindings: Sequence[ServiceBinding]
    map_error: ErrorMapper | None = None
    default_deadline_s: float = 30.0
    grace_s: float = 10.0
    max_message_bytes: int = 4 * 1024 * 1024  # gRPC's default; a service may allow more
    metrics_port: int = 0  # 0: no metrics endpoint
    # Business figures read just before each scrape, and the collectors that report them.
    metrics_refreshers: list[Refresher] = field(default_factory=list)
    metrics_collectors: list[Collector] = field(default_factory=list)
    metrics: MetricsServer | None = field(default=None, init=False)
    on_start: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    async def start(self) -> tuple[grpc.aio.Server, int]:
        """Start serving; returns the server and the bound port (useful when asked for 0)."""
        server = grpc.aio.server(
            interceptors=standard_interceptors(
                keys=parse_keys(self.auth_key),
                default_deadline_s=self.default_deadline_s,
                map_error=self.map_error,
            ),
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", self.max_message_bytes),
                ("grpc.max_send_message_length", self.max_message_bytes),
            ],
        )
        health_servicer = health.aio.HealthServicer()  # type: ignore[attr-defined]
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        for binding in self.bindings:
            binding.add_to_server(binding.servicer, server)
        names = [b.full_name for b in self.bindings]
        reflection.enable_server_reflection(
            [
                *names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            server,
        )
        port = server.add_insecure_port(self.bind)
        if port == 0:
            raise RuntimeError(f"{self.name}: cannot bind {self.bind}")
        await server.start()
        for service in ["", *names]:
            await health_servicer.set(service, health_pb2.HealthCheckResponse.SERVING)
        self._health = health_servicer
        host = self.bind.rsplit(":", 1)[0]
        if self.metrics_port:
            self.metrics = MetricsServer(
                host.strip("[]"),
                self.metrics_port,
                refreshers=self.metrics_refreshers,
                collectors=self.metrics_collectors,
            )
            await self.metrics.start()
            log.info("%s metrics on http://%s:%d/metrics", self.name, host, self.metrics.port)
        for hook in self.on_start:
            await hook()
        log.info("%s serving on %s", self.name, f"{host}:{port}")
        return server, port

    async def stop(self, server: grpc.aio.Server) -> None:
        await self._health.enter_graceful_shutdown()
        await server.stop(self.grace_s)
        if self.metrics is not None:
            await self.metrics.stop()
        for hook in self.on_stop:
            await hook()
        log.info("%s stopped", self.name)

    async def serve_forever(self) -> None:
        server, _ = await self.start()
        stopping = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stopping.set)
        await stopping.wait()
        log.info("%s: signal received, draining for up to %.0fs", self.name, self.grace_s)
        await self.stop(server)


def serve_until_stopped(
    name: str, settings: TelemetrySettings, build: Callable[[], GrpcApp]
) -> None:
    """``python -m services.<name> serve``: tracing set up, the app built inside the running
    loop (gRPC channels belong to the loop that made them), served until SIGTERM, and the last
    spans flushed on the way out."""
    configure_telemetry(name, settings)

    async def serve() -> None:
        await build().serve_forever()

    try:
        asyncio.run(serve())
    finally:
        shutdown_telemetry()
