"""The adjusters' pages: the work queue, a claim, its decision and its second review."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import grpc
from aiohttp import web

from elevins.claims.v1 import claims_pb2 as cpb
from elevins.contractors.v1 import contractors_pb2 as kpb
from elevins.evidence.v1 import evidence_pb2 as epb
from elevins.policy.v1 import policy_pb2 as ppb
from services.web.clients import Caller, is_status
from services.web.context import TRANSLATOR
from services.web.domain.access import Capability
from services.web.domain.formatting import yuan_to_fen
from services.web.domain.reasons import DECISION_KINDS, DECISION_REASONS
from services.web.domain.urgency import urgency
from services.web.middleware import REFUSALS, flash
from services.web.pages import render
from services.web.views.convert import when
from services.web.views.guard import caller, request_id, requires, see_other, upstreams
from shared.errors import details_of

routes = web.RouteTableDef()

PAGE_SIZE = 50
STATES = (
    "reported",
    "dispatched",
    "on_site",
    "quoted",
    "under_review",
    "pending_second_review",
    "approved",
    "partly_approved",
    "rejected",
    "repaired",
    "confirmed",
    "paid",
    "closed",
)
# The flags a reviewer filters by most: padding, evidence, coverage, the contractor.
QUEUE_FLAGS = (
    "PRICE_ABOVE_REFERENCE",
    "QTY_ABOVE_SPEC",
    "PART_UNRELATED_TO_FAULT",
    "LABOUR_ABOVE_NORM",
    "UNMATCHED_ITEM",
    "NO_REFERENCE_PRICE",
    "EVIDENCE_FLAGGED",
    "NOT_COVERED",
    "LIMIT_CAPPED",
    "CONTRACTOR_BLACKLISTED",
    "VALIDATION_ERROR",
)
_KIND = {
    "approve": cpb.DECISION_KIND_APPROVE,
    "approve_in_part": cpb.DECISION_KIND_APPROVE_IN_PART,
    "reject": cpb.DECISION_KIND_REJECT,
    "request_evidence": cpb.DECISION_KIND_REQUEST_EVIDENCE,
}


def queue_row(item: cpb.ClaimSummary, now: datetime) -> dict[str, Any]:
    """A queue or job-list row from the claims service's summary (no per-claim calls)."""
    due = when(item.next_due_at)
    return {
        "claim": item,
        "due_at": due,
        "urgency": urgency(due, now, breached=bool(item.breached_clocks)).value,
        "minutes_left": None if due is None else int((due - now).total_seconds() // 60),
        "flags": list(item.flags),
        "amount_fen": item.approved_total_fen
        if item.HasField("approved_total_fen")
        else (item.quoted_total_fen if item.HasField("quoted_total_fen") else None),
        "reported_at": when(item.reported_at),
    }


@routes.get("/queue")
@requires(Capability.READ_CLAIMS)
async def queue(request: web.Request) -> web.StreamResponse:
    q = request.query
    filters = {
        "region": q.get("region", "").strip(),
        "state": q.get("state", "").strip(),
        "contractor": q.get("contractor", "").strip(),
        "flag": q.get("flag", "").strip(),
        "breached": q.get("breached", "") == "1",
        "closed": q.get("closed", "") == "1",
    }
    reply = await caller(request)(
        upstreams(request).claims.ListClaims,
        cpb.ListClaimsRequest(
            state=str(filters["state"]),
            region_code=str(filters["region"]),
            contractor_id=str(filters["contractor"]),
            flag=str(filters["flag"]),
            breached_only=bool(filters["breached"]),
            include_closed=bool(filters["closed"]),
            summaries_only=True,
            page_size=PAGE_SIZE,
            page_token=q.get("page", ""),
        ),
    )
    now = datetime.now(UTC)
    return render(
        request,
        "queue.html",
        rows=[queue_row(item, now) for item in reply.items],
        filters=filters,
        states=STATES,
        flags=QUEUE_FLAGS,
        total=reply.total_size,
        next_page=reply.next_page_token,
        request_page=q.get("page", ""),
        query_without_page=urlencode([(k, v) for k, v in q.items() if k != "page"]),
        breaches=dict(reply.breaches_by_clock),
    )


async def _optional(call: Caller, method: Any, request: Any) -> Any:
    """A side panel's data: missing or forbidden leaves the panel empty, not the page broken."""
    try:
        return await call(method, request)
    except grpc.aio.AioRpcError as error:
        if is_status(error, grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED):
            return None
        raise


async def claim_context(request: web.Request, claim_id: str) -> dict[str, Any]:
    """Everything the claim page shows, fetched in parallel from the services."""
    call = caller(request)
    up = upstreams(request)
    claim = (await call(up.claims.GetClaim, cpb.GetClaimRequest(claim_id=claim_id))).claim
    evidence, flags, elevator, contractor = await asyncio.gather(
        _optional(
            call, up.evidence.ListClaimEvidence, epb.ListClaimEvidenceRequest(claim_id=claim_id)
        ),
        _optional(call, up.evidence.GetClaimFlags, epb.GetClaimFlagsRequest(claim_id=claim_id)),
        _optional(
            call, up.policy.GetElevator, ppb.GetElevatorRequest(elevator_id=claim.elevator_id)
        ),
        _optional(
            call,
            up.contractors.GetContractorStanding,
            kpb.GetContractorStandingRequest(contractor_id=claim.contractor_id),
        )
        if claim.contractor_id
        else _none(),
    )
    try:
        parts = await up.part_names(call)
    except grpc.aio.AioRpcError:
        parts = {}  # the catalogue's names are a nicety: the page works without them
    english = request[TRANSLATOR].locale == "en"
    # Until the claim is assessed it names no policy: show the one in force on the elevator.
    policy_id = claim.policy_id or (elevator.elevator.current_policy_id if elevator else "")
    policy = (
        await _optional(call, up.policy.GetPolicy, ppb.GetPolicyRequest(policy_id=policy_id))
        if policy_id
        else None
    )
    now = datetime.now(UTC)
    items = list(evidence.evidence) if evidence else []
    return {
        "claim": claim,
        "now": now,
        "clocks": [
            {
                "kind": c.kind,
                "due_at": when(c.due_at),
                "target_at": when(c.target_at),
                "met_at": when(c.met_at),
                "breached": c.breached,
                "urgency": urgency(when(c.due_at), now, breached=c.breached).value
                if not c.HasField("met_at")
                else "none",
            }
            for c in claim.clocks
        ],
        "timeline": [
            {"t": t, "at": when(t.at)} for t in sorted(claim.timeline, key=lambda t: t.at.seconds)
        ],
        "before": [e for e in items if e.kind == "before_photo"],
        "after": [e for e in items if e.kind in ("after_photo", "replaced_part_photo")],
        "documents": [
            e for e in items if e.kind not in ("before_photo", "after_photo", "replaced_part_photo")
        ],
        "evidence_flags": list(flags.flags) if flags else [],
        "elevator": elevator.elevator if elevator else None,
        "policy": policy.policy if policy else None,
        "standing": contractor.standing if contractor else None,
        "reported_at": when(claim.reported_at),
        "source": cpb.Source.Name(claim.source).removeprefix("SOURCE_").lower(),
        "policy_starts": when(policy.policy.starts_at) if policy else None,
        "policy_ends": when(policy.policy.ends_at) if policy else None,
        "part_name": lambda code: parts.get(code, (code, code))[1 if english else 0],
        "request_id": uuid.uuid4().hex,
        "decision_kinds": DECISION_KINDS,
        "decision_reasons": DECISION_REASONS,
    }


async def _none() -> None:
    return None


@routes.get("/claims/{claim_id}")
@requires(Capability.READ_CLAIMS)
async def claim_page(request: web.Request) -> web.StreamResponse:
    context = await claim_context(request, request.match_info["claim_id"])
    return render(request, "claim.html", **context)


async def act(
    request: web.Request, claim_id: str, method: Any, message: Any, back: str = ""
) -> web.Response:
    """Make the call and go back to the page; a refusal is shown there in plain words."""
    response = see_other(back or f"/claims/{claim_id}")
    try:
        await caller(request)(method, message)
    except grpc.aio.AioRpcError as error:
        if not is_status(error, *REFUSALS):
            raise  # the error pages answer it
        details = details_of(error)
        reason_key = f"refusal.{details.reason}"
        t = request[TRANSLATOR]
        text = t(reason_key) if details.reason and t.has(reason_key) else details.message
        flash(request, response, "error", text)
        return response
    flash(request, response, "ok", request[TRANSLATOR]("claim.saved"))
    return response


@routes.post("/claims/{claim_id}/decision")
@requires(Capability.DECIDE)
async def decide(request: web.Request) -> web.StreamResponse:
    claim_id = request.match_info["claim_id"]
    form = await request.post()
    kind = str(form.get("kind", ""))
    t = request[TRANSLATOR]
    if kind not in _KIND:
        raise web.HTTPBadRequest(text=t("error.bad_decision_kind"))
    lines = []
    if kind == "approve_in_part":
        for key, value in form.items():
            if key.startswith("line_"):
                try:
                    lines.append(
                        cpb.LineAmount(line_no=int(key[5:]), approved_fen=yuan_to_fen(str(value)))
                    )
                except ValueError:
                    raise web.HTTPBadRequest(text=t("error.bad_amount", value=value)) from None
    message = cpb.DecideClaimRequest(
        request_id=request_id(form),
        claim_id=claim_id,
        kind=_KIND[kind],
        line_amounts=lines,
        reason_codes=[str(r) for r in form.getall("reason", [])],
        note=str(form.get("note", "")).strip(),
    )
    return await act(request, claim_id, upstreams(request).claims.DecideClaim, message)


@routes.post("/claims/{claim_id}/second-review")
@requires(Capability.SECOND_REVIEW)
async def second_review(request: web.Request) -> web.StreamResponse:
    claim_id = request.match_info["claim_id"]
    form = await request.post()
    message = cpb.SecondReviewRequest(
        request_id=request_id(form),
        claim_id=claim_id,
        approve=form.get("verdict") == "approve",
        reason_codes=[str(r) for r in form.getall("reason", [])],
        note=str(form.get("note", "")).strip(),
    )
    return await act(request, claim_id, upstreams(request).claims.SecondReview, message)


@routes.get("/evidence/{evidence_id}/{variant}")
@requires(Capability.READ_CLAIMS)
async def evidence_file(request: web.Request) -> web.StreamResponse:
    return await evidence_redirect(request)


async def evidence_redirect(request: web.Request) -> web.StreamResponse:
    """A fresh presigned URL per view: the page never holds a link that outlives the check."""
    variant = request.match_info["variant"]
    if variant not in ("original", "display", "thumbnail"):
        raise web.HTTPNotFound
    reply = await caller(request)(
        upstreams(request).evidence.GetDownloadUrl,
        epb.GetDownloadUrlRequest(evidence_id=request.match_info["evidence_id"], variant=variant),
    )
    return web.Response(status=302, headers={"Location": reply.url, "Cache-Control": "no-store"})
