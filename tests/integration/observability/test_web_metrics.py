"""The web UI's Prometheus endpoint, scraped: RED per route pattern (never per path, so claim
ids do not become label values), served beside the UI on METRICS_PORT as Kubernetes scrapes it."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from aiohttp import web

from services.web.__main__ import MIGRATIONS
from services.web.server import SCHEMA, build_app
from services.web.settings import WebSettings
from shared.migrations import upgrade
from tests.e2e.process import free_port
from tests.integration.observability.test_metrics import delta, scrape

pytestmark = pytest.mark.integration

REQUESTS = "http_server_requests_total"
SECONDS = "http_server_request_duration_seconds_count"


async def test_requests_are_counted_by_route_pattern_and_status(service_environ) -> None:
    metrics_port = free_port()
    settings = WebSettings.from_env({**service_environ, "METRICS_PORT": str(metrics_port)})
    await asyncio.to_thread(upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url)
    runner = web.AppRunner(build_app(settings))
    await runner.setup()  # starts /metrics (the app's cleanup context)
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        before = await asyncio.to_thread(scrape, metrics_port)  # served by this loop
        async with aiohttp.ClientSession() as client:
            for _ in range(2):
                async with client.get(f"{base}/healthz") as reply:
                    assert reply.status == 200
            # Not signed in: sent to the sign-in page, whatever the claim.
            for claim_id in ("CLM-1", "CLM-2"):
                async with client.get(f"{base}/claims/{claim_id}", allow_redirects=False) as r:
                    signin = r.status
                    assert 300 <= signin < 400
            async with client.get(f"{base}/no/such/page") as reply:
                assert reply.status == 404
        after = await asyncio.to_thread(scrape, metrics_port)
    finally:
        await runner.cleanup()

    assert delta(before, after, REQUESTS, method="GET", route="/healthz", code="200") == 2
    assert delta(before, after, SECONDS, method="GET", route="/healthz") == 2
    claim = {"method": "GET", "route": "/claims/{claim_id}"}
    assert delta(before, after, REQUESTS, **claim, code=str(signin)) == 2
    assert delta(before, after, REQUESTS, method="GET", route="unmatched", code="404") == 1
    # The path itself is in no label.
    labels = {value for (_, pairs) in after for (_, value) in pairs}
    assert not {"CLM-1", "CLM-2", "/claims/CLM-1", "/no/such/page"} & labels
    # Stopped with the app: nothing listens on the metrics port any more.
    with pytest.raises(OSError):
        await asyncio.to_thread(scrape, metrics_port)
