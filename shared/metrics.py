"""Prometheus metrics: RED per gRPC method (per HTTP route for the web UI), and an endpoint.

**RED** (rate, errors, duration), recorded by :class:`MetricsInterceptor` for every call:

* ``grpc_server_handled_total{grpc_service, grpc_method, grpc_code}``: calls finished, by
  status code. Rate is ``rate(…[5m])``; errors are the codes other than ``OK``.
* ``grpc_server_handling_seconds{grpc_service, grpc_method}``: a histogram of durations, from
  the moment the handler is entered to the last response message (a whole stream for a
  streaming call).

The names and labels are those of go-grpc-prometheus and grpc-java, so existing Grafana
dashboards and alerts work unchanged.

The web UI, which serves HTTP, not gRPC, records the same pair with :func:`http_metrics`:
``http_server_requests_total{method, route, code}`` and
``http_server_request_duration_seconds{method, route}``, where ``route`` is the route's
pattern (``/claims/{claim_id}``), never the path, so that ids do not become label values.

**The endpoint**: ``METRICS_PORT`` (``shared.settings.CommonSettings``; 0, the default, means
off) serves ``GET /metrics`` on the service's ``BIND_HOST`` with aiohttp on the service's own
event loop (an aiohttp app, the web UI, starts it with :func:`metrics_context`). A service
can add *refreshers*: coroutines run just before each scrape (bounded by
:data:`REFRESH_TIMEOUT_S`) that read current figures, such as open claims by state, from its
database. Computing them on scrape keeps them right after a restart and across replicas
(every replica reports the same database-wide figure; aggregate them with ``max``, not
``sum``), at the price of one or two aggregate queries per scrape interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence

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
HTTP_HANDLED = Counter(
    "http_server_requests_total",
    "HTTP requests answered, by route pattern and status code.",
    ["method", "route", "code"],
)
HTTP_HANDLING = Histogram(
    "http_server_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
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


# Anything else a client sends as a method is counted as "other": labels stay bounded.
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def http_route(request: web.Request) -> str:
    """The matched route's pattern, or ``unmatched`` (a 404 for a path no route knows)."""
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else "unmatched"


@web.middleware
async def http_metrics(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request by its final status; the outermost middleware, so it
    sees what the browser gets (error pages included)."""
    started = time.perf_counter()
    code = "500"  # an exception no middleware turned into a response
    try:
        response = await handler(request)
        code = str(response.status)
        return response
    except web.HTTPException as error:
        code = str(error.status)
        raise
    except asyncio.CancelledError:
        code = "499"  # the client went away first (nginx's name for it)
        raise
    finally:
        method = request.method if request.method in HTTP_METHODS else "other"
        route = http_route(request)
        HTTP_HANDLED.labels(method, route, code).inc()
        HTTP_HANDLING.labels(method, route).observe(time.perf_counter() - started)


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


def metrics_context(host: str, port: int) -> Callable[[web.Application], AsyncIterator[None]]:
    """For an aiohttp application's ``cleanup_ctx``: ``GET /metrics`` on ``host:port`` from
    the app's start to its cleanup, on the app's event loop (what :class:`~shared.grpc_server.
    GrpcApp` does for the gRPC services)."""

    async def serve(_: web.Application) -> AsyncIterator[None]:
        server = MetricsServer(host, port)
        await server.start()
        log.info("metrics on http://%s:%d/metrics", host, server.port)
        yield
        await server.stop()

    return serve


__all__ = [
    "BUCKETS",
    "HANDLED",
    "HANDLING",
    "HTTP_HANDLED",
    "HTTP_HANDLING",
    "MetricsInterceptor",
    "MetricsServer",
    "Refresher",
    "http_metrics",
    "http_route",
    "metrics_context",
    "split_method",
]
