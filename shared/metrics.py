"""Prometheus metrics: RED per gRPC method for every service, and an endpoint to scrape.

**RED** (rate, errors, duration), recorded by :class:`MetricsInterceptor` for every call:

* ``grpc_server_handled_total{grpc_service, grpc_method, grpc_code}``: calls finished, by
  status code. Rate is ``rate(…[5m])``; errors are the codes other than ``OK``.
* ``grpc_server_handling_seconds{grpc_service, grpc_method}``: a histogram of durations, from
  the moment the handler is entered to the last response message (a whole stream for a
  streaming call).

The names and labels are those of go-grpc-prometheus and grpc-java, so existing Grafana
dashboards and alerts work unchanged.

**The endpoint**: ``METRICS_PORT`` (``shared.settings.CommonSettings``; 0, the default, means
off) serves ``GET /metrics`` on the service's ``BIND_HOST`` with aiohttp on the service's own
event loop. A service can add *refreshers*: coroutines run just before each scrape (bounded
by :data:`REFRESH_TIMEOUT_S`) that read current figures, such as open claims by state, from
its database. Computing them on scrape keeps them right after a restart and across replicas
(every replica reports the same database-wide figure; aggregate them with ``max``, not
``sum``), at the price of one or two aggregate queries per scrape interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.registry import Collector

from shared.interceptors import Context, Observer, status_of

log = logging.getLogger("elevins.metrics")

REFRESH_TIMEOUT_S = 2.0
# From a cached lookup (~1 ms) to a call that waits on its deadline: where the SLOs live.
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

HANDLED = Counter(
    "grpc_server_handled_total",
    "gRPC calls completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
HANDLING = Histogram(
    "grpc_server_handling_seconds",
    "Time to answer a gRPC call (a whole stream for streaming calls).",
    ["grpc_service", "grpc_method"],
    buckets=BUCKETS,
)
REFRESH_FAILURES = Counter(
    "elevins_metrics_refresh_failures_total",
    "Scrapes whose business figures could not be read in time (the last ones were served).",
)

Refresher = Callable[[], Awaitable[None]]


def split_method(method: str) -> tuple[str, str]:
    """``/pkg.Service/Method`` → (``pkg.Service``, ``Method``)."""
    service, _, name = method.lstrip("/").rpartition("/")
    return service or "unknown", name


class MetricsInterceptor(Observer):
    """Counts and times every call by its final status code.

    Installed outside the error interceptor, so that it sees the code a client sees: the
    domain error already turned into INVALID_ARGUMENT, FAILED_PRECONDITION…
    """

    def finished(
        self, method: str, context: Context, started: float, error: BaseException | None
    ) -> None:
        service, name = split_method(method)
        HANDLED.labels(service, name, status_of(context, error).name).inc()
        HANDLING.labels(service, name).observe(time.perf_counter() - started)


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (0: a free port, see :attr:`port`)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        refreshers: Sequence[Refresher] = (),
        collectors: Iterable[Collector] = (),
    ) -> None:
        self.host = host
        self.port = port
        self._refreshers = list(refreshers)
        # The service's own collectors (business figures) in a registry of their own, so that
        # two apps in one process (tests) never register the same names twice.
        self._registry = CollectorRegistry(auto_describe=True)
        for collector in collectors:
            self._registry.register(collector)
        self._runner: web.AppRunner | None = None

    async def start(self) -> int:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])  # the bound port, when asked for 0
        return self.port

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def refresh(self) -> None:
        for refresher in self._refreshers:
            try:
                await asyncio.wait_for(refresher(), REFRESH_TIMEOUT_S)
            except Exception:
                REFRESH_FAILURES.inc()
                log.warning("a metrics refresher failed; serving its last figures", exc_info=True)

    def text(self) -> bytes:
        return generate_latest(REGISTRY) + generate_latest(self._registry)

    async def _metrics(self, request: web.Request) -> web.Response:
        await self.refresh()
        return web.Response(body=self.text(), headers={"Content-Type": CONTENT_TYPE_LATEST})


__all__ = [
    "BUCKETS",
    "HANDLED",
    "HANDLING",
    "MetricsInterceptor",
    "MetricsServer",
    "Refresher",
    "split_method",
]
