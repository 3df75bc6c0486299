"""Contractor pages: the region's ranking with the black/white list, a contractor's scorecard
with its trends, list history and manual overrides (requested by one person, approved by
another — the contractors service enforces it; this page only offers the buttons)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import quote

import grpc
from aiohttp import web

from elevins.contractors.v1 import contractors_pb2 as kpb
from services.web.clients import Caller, is_status
from services.web.context import TRANSLATOR, USER
from services.web.domain import charts
from services.web.domain.access import Capability
from services.web.domain.listing import (
    STATUSES,
    in_regions,
    month_of,
    months_ending,
    override_state,
)
from services.web.pages import render
from services.web.store import User
from services.web.views.claims import act
from services.web.views.convert import when
from services.web.views.guard import caller, request_id, requires, upstreams

routes = web.RouteTableDef()

TREND_MONTHS = 12
PAGE = 500  # the contractors service's largest page
METRICS = (
    "rescue_within_15",
    "rescue_within_30",
    "repair_within_24h",
    "first_time_fix",
    "maintenance_on_schedule",
    "quote_untrimmed",
    "evidence_clean",
    "complaint_free",
    "inspection_first_pass",
)

Item = TypeVar("Item")


async def _every_page(fetch: Callable[[str], Awaitable[tuple[list[Item], str]]]) -> list[Item]:
    items: list[Item] = []
    token = ""
    while True:
        page, token = await fetch(token)
        items += page
        if not token:
            return items


async def _contractors(call: Caller, request: web.Request) -> list[kpb.Contractor]:
    stub = upstreams(request).contractors

    async def fetch(token: str) -> tuple[list[kpb.Contractor], str]:
        reply = await call(
            stub.ListContractors, kpb.ListContractorsRequest(page_size=PAGE, page_token=token)
        )
        return list(reply.contractors), reply.next_page_token

    return await _every_page(fetch)


async def _rankings(
    call: Caller, request: web.Request, region: str, period: str
) -> list[kpb.Scorecard]:
    stub = upstreams(request).contractors

    async def fetch(token: str) -> tuple[list[kpb.Scorecard], str]:
        reply = await call(
            stub.ListRankings,
            kpb.ListRankingsRequest(region=region, period=period, page_size=PAGE, page_token=token),
        )
        return list(reply.scorecards), reply.next_page_token

    return await _every_page(fetch)


def _user(request: web.Request) -> User:
    user = request[USER]
    if user is None:  # every view here is behind @requires: a bug if it happens
        raise RuntimeError("a contractor page outside a signed-in view")
    return user


@dataclass(frozen=True)
class Row:
    card: kpb.Scorecard | None  # None: no scorecard in the month shown
    firm: kpb.Contractor | None  # None: ranked in a region the firm no longer lists
    explanation: str  # the standing's reason, as the contractors service words it


def _explanation(standing: kpb.Standing, locale: str) -> str:
    return standing.explanation_zh if locale == "zh-CN" else standing.explanation_en


@routes.get("/contractors")
@requires(Capability.READ_CONTRACTORS)
async def ranking_page(request: web.Request) -> web.StreamResponse:
    q = request.query
    user = _user(request)
    call = caller(request)
    firms = await _contractors(call, request)
    regions = sorted({r for f in firms for r in f.regions if in_regions(r, user.regions)})
    region = q.get("region", "") if q.get("region", "") in regions else next(iter(regions), "")
    status = q.get("status", "") if q.get("status", "") in STATUSES else ""
    periods: list[str] = []
    if region:
        reply = await call(
            upstreams(request).contractors.ListScorecardPeriods,
            kpb.ListScorecardPeriodsRequest(region=region),
        )
        periods = list(reply.periods)
    period = q.get("period", "") if q.get("period", "") in periods else next(iter(periods), "")
    cards = await _rankings(call, request, region, period) if period else []

    by_id = {f.contractor_id: f for f in firms}
    locale = request[TRANSLATOR].locale

    def row(card: kpb.Scorecard | None, firm: kpb.Contractor | None) -> Row:
        explanation = _explanation(firm.standing, locale) if firm else ""
        return Row(card, firm, explanation)

    ranked = [row(card, by_id.get(card.contractor_id)) for card in cards]
    seen = {card.contractor_id for card in cards}
    # The region's firms without a scorecard this month still belong on its list.
    unranked = [row(None, f) for f in firms if region in f.regions and f.contractor_id not in seen]
    if status:
        ranked = [r for r in ranked if r.firm and r.firm.standing.status == status]
        unranked = [r for r in unranked if r.firm and r.firm.standing.status == status]
    return render(
        request,
        "contractors.html",
        regions=regions,
        periods=periods,
        statuses=STATUSES,
        filters={"region": region, "period": period, "status": status},
        ranked=ranked,
        unranked=unranked,
    )


async def _scorecard(
    call: Caller, request: web.Request, cid: str, period: str, region: str
) -> kpb.Scorecard | None:
    """The month's scorecard, or None for a month without one (no jobs, or not computed)."""
    try:
        reply = await call(
            upstreams(request).contractors.GetScorecard,
            kpb.GetScorecardRequest(contractor_id=cid, period=period, region=region),
        )
    except grpc.aio.AioRpcError as error:
        if is_status(error, grpc.StatusCode.NOT_FOUND):
            return None
        raise
    return reply.scorecard


def _optional(message: Any, field: str) -> float | None:
    return getattr(message, field) if message.HasField(field) else None


def _metric_rows(card: kpb.Scorecard | None) -> list[dict[str, Any]]:
    if card is None:
        return []
    order = {m: i for i, m in enumerate(METRICS)}
    return [
        {
            "metric": s.metric,
            "successes": s.successes,
            "trials": s.trials,
            "raw_rate": _optional(s, "raw_rate"),
            "prior_mean": _optional(s, "prior_mean"),
            "shrunk_rate": _optional(s, "shrunk_rate"),
            "lower": _optional(s, "lower"),
            "upper": _optional(s, "upper"),
            "shrinkage": s.shrinkage,
        }
        for s in sorted(card.metrics, key=lambda s: order.get(s.metric, len(order)))
    ]


def _metric_trend(
    months: tuple[str, ...], cards: dict[str, kpb.Scorecard | None], metric: str
) -> list[tuple[str, float | None]]:
    series: list[tuple[str, float | None]] = []
    for month in months:
        card = cards[month]
        score = next((s for s in card.metrics if s.metric == metric), None) if card else None
        series.append((month, _optional(score, "shrunk_rate") if score else None))
    return series


@routes.get("/contractors/{contractor_id}")
@requires(Capability.READ_CONTRACTORS)
async def scorecard_page(request: web.Request) -> web.StreamResponse:
    cid = request.match_info["contractor_id"]
    q = request.query
    user = _user(request)
    call = caller(request)
    stub = upstreams(request).contractors
    contractor = (
        await call(stub.GetContractor, kpb.GetContractorRequest(contractor_id=cid))
    ).contractor
    regions = [r for r in contractor.regions if in_regions(r, user.regions)]
    # No region: the scorecard that decides the standing (the contractor's largest region).
    region = q.get("region", "") if q.get("region", "") in regions else ""
    this_month = month_of(datetime.now(UTC))
    # Standings are decided for every computed month: the newest is the latest scorecard month.
    latest = contractor.history[0].period if contractor.history else this_month
    months = months_ending(latest, TREND_MONTHS)
    found, overrides = await asyncio.gather(
        asyncio.gather(*(_scorecard(call, request, cid, month, region) for month in months)),
        call(stub.ListOverrides, kpb.ListOverridesRequest(contractor_id=cid)),
    )
    cards: dict[str, kpb.Scorecard | None] = dict(zip(months, found, strict=True))
    with_card = [m for m in months if cards[m] is not None]
    wanted = q.get("period", "")
    period = wanted if wanted in with_card else (with_card[-1] if with_card else "")
    card = cards[period] if period else None
    metric_rows = _metric_rows(card)
    sparks = {metric: charts.sparkline(_metric_trend(months, cards, metric)) for metric in METRICS}
    locale = request[TRANSLATOR].locale
    return render(
        request,
        "contractor.html",
        contractor=contractor,
        standing=contractor.standing,
        explanation=_explanation(contractor.standing, locale),
        regions=regions,
        region=region,
        months=months,
        cards=cards,
        period=period,
        card=card,
        metric_rows=metric_rows,
        trend=charts.line_chart(
            [(m, c.composite if (c := cards[m]) else None) for m in months],
            domain=(0.0, 100.0),
        ),
        sparks=sparks,
        # What the sparkline shows, for a screen reader: "2026-05 82%, 2026-06 85%, …".
        spark_values={
            metric: ", ".join(f"{p.category} {p.value * 100:.0f}%" for p in line.points)
            for metric, line in sparks.items()
        },
        bars=charts.bar_chart(
            [
                charts.BarInput(
                    r["metric"], r["shrunk_rate"], r["lower"], r["upper"], r["raw_rate"]
                )
                for r in metric_rows
            ]
        ),
        history=[
            {"standing": h, "explanation": _explanation(h, locale)} for h in contractor.history
        ],
        overrides=[
            {
                "override": o,
                "state": override_state(
                    approved=bool(o.approved_by),
                    effective_from=o.effective_from,
                    until=o.until,
                    this_month=this_month,
                ).value,
                "requested_at": when(o.requested_at),
                "approved_at": when(o.approved_at),
                "mine": o.requested_by.casefold() == user.subject.casefold(),
                "approve_request_id": uuid.uuid4().hex,
            }
            for o in overrides.overrides
        ],
        statuses=STATUSES,
        this_month=this_month,
        request_id=uuid.uuid4().hex,
    )


def _back(cid: str) -> str:
    return f"/contractors/{quote(cid, safe='')}"


@routes.post("/contractors/{contractor_id}/overrides")
@requires(Capability.REQUEST_OVERRIDE)
async def request_override(request: web.Request) -> web.StreamResponse:
    cid = request.match_info["contractor_id"]
    form = await request.post()
    message = kpb.RequestOverrideRequest(
        request_id=request_id(form),
        contractor_id=cid,
        status=str(form.get("status", "")),
        reason=str(form.get("reason", "")).strip(),
        effective_from=str(form.get("effective_from", "")).strip(),
        until=str(form.get("until", "")).strip(),
    )
    return await act(
        request, cid, upstreams(request).contractors.RequestOverride, message, _back(cid)
    )


@routes.post("/contractors/{contractor_id}/overrides/{override_id}/approve")
@requires(Capability.APPROVE_OVERRIDE)
async def approve_override(request: web.Request) -> web.StreamResponse:
    cid = request.match_info["contractor_id"]
    form = await request.post()
    message = kpb.ApproveOverrideRequest(
        request_id=request_id(form),
        override_id=request.match_info["override_id"],
    )
    return await act(
        request, cid, upstreams(request).contractors.ApproveOverride, message, _back(cid)
    )
