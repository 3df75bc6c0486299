"""The dashboard: the figures the scheme promises residents, over the user's regions."""

from __future__ import annotations

from aiohttp import web

from elevins.claims.v1 import claims_pb2 as cpb
from services.web.context import TRANSLATOR
from services.web.domain.access import Capability
from services.web.domain.charts import BarInput, bar_chart, line_chart, number_label
from services.web.domain.dashboard import UNIT_KEY, bucket_label, share
from services.web.pages import render
from services.web.views.claims import STATES
from services.web.views.convert import when
from services.web.views.guard import caller, requires, upstreams

routes = web.RouteTableDef()


def _histogram(kind: str, figures: cpb.ClockFigures) -> object:
    rows = [
        BarInput(bucket_label(kind, b.from_seconds, b.to_seconds), float(b.count))
        for b in figures.histogram
    ]
    top = max((r.value or 0.0 for r in rows), default=0.0)
    return bar_chart(
        rows, domain=(0.0, max(top, 1.0)), width=320, label=number_label, margin=(8, 24, 26, 60)
    )


@routes.get("/dashboard")
@requires(Capability.READ_CLAIMS)
async def dashboard(request: web.Request) -> web.StreamResponse:
    region = request.query.get("region", "").strip()
    reply = await caller(request)(
        upstreams(request).claims.GetDashboard,
        cpb.GetDashboardRequest(region_code=region, months=12),
    )
    t = request[TRANSLATOR]
    by_state = [
        BarInput(t(f"state.{s}"), float(reply.claims_by_state.get(s, 0)))
        for s in STATES
        if reply.claims_by_state.get(s, 0)
    ]
    top = max((b.value or 0.0 for b in by_state), default=0.0)
    clocks = [
        (kind, figures, _histogram(kind, figures), t(UNIT_KEY[kind]))
        for kind, figures in (
            ("arrival", reply.arrival),
            ("repair", reply.repair),
            ("payment", reply.payment),
        )
    ]
    return render(
        request,
        "dashboard.html",
        reply=reply,
        region=region,
        window_start=when(reply.window_start),
        window_end=when(reply.window_end),
        clocks=clocks,
        share=share,
        by_state=bar_chart(
            by_state, domain=(0.0, max(top, 1.0)), label=number_label, margin=(8, 16, 26, 120)
        ),
        by_month=line_chart([(m.month, float(m.claims)) for m in reply.claims_by_month]),
    )
