"""Wiring only: settings → engine → use cases, service clients, templates → aiohttp app."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from services.web.clients import Upstreams
from services.web.domain.i18n import Catalogues
from services.web.middleware import (
    CATALOGUES,
    COOKIE_SECURE,
    IMAGE_ORIGINS,
    USECASES,
    csrf,
    error_pages,
    language,
    security_headers,
    session,
)
from services.web.pages import ENV_KEY, environment
from services.web.settings import WebSettings
from services.web.usecases import WebUseCases
from services.web.views import account, claims, communities, contractors, dashboard, jobs
from services.web.views.guard import UPSTREAMS
from shared.clock import Clock, SystemClock
from shared.db import create_engine
from shared.metrics import http_metrics, metrics_context

SCHEMA = "web"
# Connections per replica, and as many again in overflow (k8s/ sizes PostgreSQL with this): a
# page holds one only to look up its session, then calls the services; a sign-in holds one
# through its argon2id check, so at most 2 x POOL_SIZE checks (64 MiB each) run at once.
POOL_SIZE = 5
STATIC = Path(__file__).resolve().parent / "static"


def s3_origin(settings: WebSettings) -> str:
    """The object store's origin, which the browser loads evidence from and uploads to."""
    if not settings.s3_endpoint:
        return ""
    endpoint = settings.s3_endpoint
    if "://" in endpoint:
        return endpoint.rstrip("/")
    return f"{'https' if settings.s3_secure else 'http'}://{endpoint}"


def build_app(settings: WebSettings, *, clock: Clock | None = None) -> web.Application:
    app = web.Application(
        # http_metrics outermost: it counts the status the browser gets, error pages included.
        middlewares=[http_metrics, security_headers, error_pages, language, session, csrf],
        client_max_size=256 * 1024,  # forms and JSON only: files go to object storage
    )
    usecases = WebUseCases(
        create_engine(settings.database_url, schema=SCHEMA, pool_size=POOL_SIZE),
        clock or SystemClock(),
    )
    upstreams = Upstreams(settings)
    app[USECASES] = usecases
    app[UPSTREAMS] = upstreams
    app[CATALOGUES] = Catalogues()
    app[ENV_KEY] = environment()
    app[COOKIE_SECURE] = settings.cookie_secure
    app[IMAGE_ORIGINS] = s3_origin(settings)
    for module in (account, claims, jobs, dashboard, communities, contractors):
        app.add_routes(module.routes)
    app.router.add_static("/static/", STATIC, name="static", append_version=True)

    async def close(_: web.Application) -> None:
        await upstreams.close()
        await usecases.dispose()

    app.on_cleanup.append(close)
    if settings.metrics_port:
        app.cleanup_ctx.append(metrics_context(settings.bind_host, settings.metrics_port))
    return app
