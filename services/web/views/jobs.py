"""The contractors' pages, made for a phone at the elevator: my jobs, one job, its uploads.

Photos go from the phone straight to object storage (a presigned form from the evidence
service); the web service only hands out the form and tells the evidence service when the
bytes are there. The claims and evidence services check that the job is this company's.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from elevins.claims.v1 import claims_pb2 as cpb
from elevins.evidence.v1 import evidence_pb2 as epb
from services.web.context import TRANSLATOR
from services.web.domain.access import Capability
from services.web.domain.formatting import yuan_to_fen
from services.web.domain.i18n import Translator
from services.web.pages import render
from services.web.views.claims import act, claim_context, evidence_redirect, queue_row
from services.web.views.convert import when
from services.web.views.guard import caller, request_id, requires, upstreams

routes = web.RouteTableDef()

OPEN_FOR_CONTRACTOR = frozenset(
    {
        "dispatched",
        "on_site",
        "quoted",
        "under_review",
        "pending_second_review",
        "approved",
        "partly_approved",
        "repaired",
    }
)
UPLOAD_KINDS = (
    "before_photo",
    "after_photo",
    "replaced_part_photo",
    "inspection_report",
    "invoice",
    "video",
)


@routes.get("/jobs")
@requires(Capability.CONTRACTOR_WORK)
async def my_jobs(request: web.Request) -> web.StreamResponse:
    reply = await caller(request)(
        upstreams(request).claims.ListClaims,
        cpb.ListClaimsRequest(page_size=100, include_closed=True, summaries_only=True),
    )
    now = datetime.now(UTC)
    jobs = [queue_row(item, now) for item in reply.items]
    for job in jobs:
        job["open"] = job["claim"].state in OPEN_FOR_CONTRACTOR
    return render(
        request,
        "jobs.html",
        open_jobs=[j for j in jobs if j["open"]],
        done_jobs=[j for j in jobs if not j["open"]],
    )


@routes.get("/jobs/{claim_id}")
@requires(Capability.CONTRACTOR_WORK)
async def job_page(request: web.Request) -> web.StreamResponse:
    context = await claim_context(request, request.match_info["claim_id"])
    return render(request, "job.html", upload_kinds=UPLOAD_KINDS, **context)


def _back(claim_id: str) -> str:
    return f"/jobs/{claim_id}"


@routes.post("/jobs/{claim_id}/arrival")
@requires(Capability.CONTRACTOR_WORK)
async def arrived(request: web.Request) -> web.StreamResponse:
    claim_id = request.match_info["claim_id"]
    form = await request.post()
    message = cpb.RecordArrivalRequest(request_id=request_id(form), claim_id=claim_id)
    return await act(
        request, claim_id, upstreams(request).claims.RecordArrival, message, _back(claim_id)
    )


@routes.post("/jobs/{claim_id}/repaired")
@requires(Capability.CONTRACTOR_WORK)
async def repaired(request: web.Request) -> web.StreamResponse:
    claim_id = request.match_info["claim_id"]
    form = await request.post()
    message = cpb.MarkRepairedRequest(request_id=request_id(form), claim_id=claim_id)
    return await act(
        request, claim_id, upstreams(request).claims.MarkRepaired, message, _back(claim_id)
    )


def _quote_lines(form: MultiDictProxy[Any], t: Translator) -> list[cpb.QuoteLineInput]:
    """The quote form's rows (blank rows skipped); prices typed in yuan become fen."""
    lines = []
    rows = zip(
        form.getall("description", []),
        form.getall("quantity", []),
        form.getall("unit", []),
        form.getall("unit_price", []),
        strict=False,
    )
    for description, quantity, unit, price in rows:
        if not str(description).strip():
            continue
        try:
            fen = yuan_to_fen(str(price))
        except ValueError:
            raise web.HTTPBadRequest(text=t("error.bad_amount", value=price)) from None
        lines.append(
            cpb.QuoteLineInput(
                description=str(description).strip(),
                quantity=str(quantity).strip(),
                unit=str(unit).strip(),
                unit_price_fen=fen,
            )
        )
    return lines


@routes.post("/jobs/{claim_id}/quote")
@requires(Capability.CONTRACTOR_WORK)
async def quote(request: web.Request) -> web.StreamResponse:
    claim_id = request.match_info["claim_id"]
    form = await request.post()
    message = cpb.SubmitQuoteRequest(
        request_id=request_id(form),
        claim_id=claim_id,
        lines=_quote_lines(form, request[TRANSLATOR]),
    )
    return await act(
        request, claim_id, upstreams(request).claims.SubmitQuote, message, _back(claim_id)
    )


# ---------------------------------------------------------------- uploads (JSON, from upload.js


@routes.post("/jobs/{claim_id}/uploads")
@requires(Capability.CONTRACTOR_WORK)
async def create_upload(request: web.Request) -> web.StreamResponse:
    try:
        body = await request.json()
        message = epb.CreateUploadRequest(
            request_id=str(body["request_id"]),
            claim_id=request.match_info["claim_id"],
            kind=str(body["kind"]),
            content_type=str(body["content_type"]),
            size_bytes=int(body["size_bytes"]),
            sha256=str(body["sha256"]),
            file_name=str(body.get("file_name", ""))[:200],
        )
    except (ValueError, KeyError, TypeError):
        return web.json_response(
            {"reason": "BAD_REQUEST", "message": "bad upload request"}, status=400
        )
    reply = await caller(request)(upstreams(request).evidence.CreateUpload, message)
    return web.json_response(
        {
            "upload_id": reply.upload_id,
            "url": reply.url,
            "fields": dict(reply.form_fields),
            "max_bytes": reply.max_bytes,
            "expires_at": (when(reply.expires_at) or datetime.now(UTC)).isoformat(),
        }
    )


@routes.post("/jobs/{claim_id}/uploads/{upload_id}/complete")
@requires(Capability.CONTRACTOR_WORK)
async def complete_upload(request: web.Request) -> web.StreamResponse:
    message = epb.CompleteUploadRequest(
        request_id=f"complete-{request.match_info['upload_id']}",
        upload_id=request.match_info["upload_id"],
    )
    reply = await caller(request)(upstreams(request).evidence.CompleteUpload, message)
    e = reply.evidence
    t = request[TRANSLATOR]
    return web.json_response(
        {
            "evidence_id": e.evidence_id,
            "kind": e.kind,
            "file_name": e.file_name,
            "flags": [t(f"reason.{f.code}") for f in e.flags],
        },
        dumps=lambda o: json.dumps(o, ensure_ascii=False),
    )


@routes.get("/jobs/{claim_id}/evidence/{evidence_id}/{variant}")
@requires(Capability.CONTRACTOR_WORK)
async def job_evidence_file(request: web.Request) -> web.StreamResponse:
    return await evidence_redirect(request)
