"""Protobuf ⇄ domain for the claims service: field checks and status codes. No rules here."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message

from elevins.claims.v1 import claims_pb2 as pb
from elevins.claims.v1 import claims_pb2_grpc
from services.claims.clients import UpstreamUnavailable
from services.claims.domain.clocks import ClockKind
from services.claims.domain.dashboard import (
    BUCKET_BOUNDS,
    DEFAULT_MONTHS,
    MAX_MONTHS,
    buckets,
    share,
)
from services.claims.domain.queue import QueueFilter, is_reason_code, is_region_prefix
from services.claims.domain.quotes import RawLine, parse_quote_lines
from services.claims.domain.states import ClaimState
from services.claims.store import (
    ClaimRow,
    ClaimsStore,
    ClockCounts,
    ClockRow,
    PayoutRow,
    QueueRow,
    QuoteRow,
)
from services.claims.usecases import ClaimsUseCases, Dashboard
from shared.errors import (
    FieldViolation,
    ServiceError,
    Violations,
    from_domain_error,
    invalid_argument,
)
from shared.outbox import event_fields, parse_page_request
from shared.timestamps import from_timestamp, to_timestamp

M = TypeVar("M", bound=Message)

_SOURCES = {
    pb.SOURCE_IOT_ALARM: "iot_alarm",
    pb.SOURCE_PROPERTY_MANAGER: "property_manager",
    pb.SOURCE_OWNER_VIA_PROPERTY_MANAGER: "owner_via_property_manager",
    pb.SOURCE_ADJUSTER: "adjuster",
}
_SOURCES_PB = {v: k for k, v in _SOURCES.items()}
_DECISIONS = {
    pb.DECISION_KIND_APPROVE: "approve",
    pb.DECISION_KIND_APPROVE_IN_PART: "approve_in_part",
    pb.DECISION_KIND_REJECT: "reject",
    pb.DECISION_KIND_REQUEST_EVIDENCE: "request_evidence",
}
MAX_PAGE = 200
DEFAULT_PAGE = 50
_STATES = frozenset(state.value for state in ClaimState)
MAX_QUOTE_LINES = 200


def map_domain_error(exc: Exception) -> ServiceError | None:
    if isinstance(exc, UpstreamUnavailable):
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "UPSTREAM_UNAVAILABLE", str(exc))
    return from_domain_error(exc)


def _required(violations: Violations, value: str, field: str) -> None:
    violations.require(bool(value.strip()), field, "required")


class ClaimsServicer(claims_pb2_grpc.ClaimsServiceServicer):
    def __init__(self, usecases: ClaimsUseCases) -> None:
        self.uc = usecases

    async def _write(
        self,
        method: str,
        request: Message,
        work: Callable[[ClaimsStore], Awaitable[ClaimRow]],
        response_type: type[M],
    ) -> M:
        async def respond(store: ClaimsStore) -> M:
            claim = await work(store)
            return response_type(claim=await claim_pb(store, claim))

        return await self.uc.write(method, request, response_type, respond)

    async def ReportLoss(
        self, request: pb.ReportLossRequest, context: Any
    ) -> pb.ReportLossResponse:
        v = Violations()
        v.require(request.source in _SOURCES, "source", "one of the Source values")
        _required(v, request.registration_code, "registration_code")
        occurred_at = from_timestamp(request.occurred_at, "occurred_at", v)
        v.raise_if_any()
        intake = await self.uc.report_loss(
            source=_SOURCES[request.source],
            source_event_id=request.source_event_id,
            registration_code=request.registration_code,
            category=request.fault_category,
            occurred_at=occurred_at,
            description=request.description,
            # The reply is built in the intake's own transaction: no second round trip.
            present=partial(claim_pb, full=False),
        )
        return pb.ReportLossResponse(claim=intake.reply, created=intake.created)

    async def DispatchContractor(
        self, request: pb.DispatchContractorRequest, context: Any
    ) -> pb.DispatchContractorResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        _required(v, request.contractor_id, "contractor_id")
        v.raise_if_any()
        return await self._write(
            "DispatchContractor",
            request,
            lambda s: self.uc.dispatch(
                s, claim_id=request.claim_id, contractor_id=request.contractor_id
            ),
            pb.DispatchContractorResponse,
        )

    async def RecordArrival(
        self, request: pb.RecordArrivalRequest, context: Any
    ) -> pb.RecordArrivalResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        at = from_timestamp(request.arrived_at, "arrived_at", v)
        v.raise_if_any()
        return await self._write(
            "RecordArrival",
            request,
            lambda s: self.uc.arrive(s, claim_id=request.claim_id, at=at),
            pb.RecordArrivalResponse,
        )

    async def SubmitQuote(
        self, request: pb.SubmitQuoteRequest, context: Any
    ) -> pb.SubmitQuoteResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.require(
            0 < len(request.lines) <= MAX_QUOTE_LINES, "lines", f"1 to {MAX_QUOTE_LINES} lines"
        )
        v.raise_if_any()
        lines = parse_quote_lines(
            [
                RawLine(
                    description=ln.description,
                    quantity=ln.quantity,
                    unit=ln.unit,
                    unit_price_fen=ln.unit_price_fen,
                )
                for ln in request.lines
            ]
        )
        return await self._write(
            "SubmitQuote",
            request,
            lambda s: self.uc.submit_quote(s, claim_id=request.claim_id, lines=lines),
            pb.SubmitQuoteResponse,
        )

    async def DecideClaim(
        self, request: pb.DecideClaimRequest, context: Any
    ) -> pb.DecideClaimResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.require(
            request.kind in _DECISIONS,
            "kind",
            "APPROVE, APPROVE_IN_PART, REJECT or REQUEST_EVIDENCE",
        )
        v.raise_if_any()
        return await self._write(
            "DecideClaim",
            request,
            lambda s: self.uc.decide(
                s,
                claim_id=request.claim_id,
                kind=_DECISIONS[request.kind],
                line_amounts={a.line_no: a.approved_fen for a in request.line_amounts} or None,
                reason_codes=tuple(request.reason_codes),
                note=request.note,
            ),
            pb.DecideClaimResponse,
        )

    async def SecondReview(
        self, request: pb.SecondReviewRequest, context: Any
    ) -> pb.SecondReviewResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.require(request.approve or bool(request.note.strip()), "note", "required to send back")
        v.raise_if_any()
        return await self._write(
            "SecondReview",
            request,
            lambda s: self.uc.second_review(
                s,
                claim_id=request.claim_id,
                approve=request.approve,
                reason_codes=tuple(request.reason_codes),
                note=request.note.strip(),
            ),
            pb.SecondReviewResponse,
        )

    async def MarkRepaired(
        self, request: pb.MarkRepairedRequest, context: Any
    ) -> pb.MarkRepairedResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        at = from_timestamp(request.repaired_at, "repaired_at", v)
        v.raise_if_any()
        return await self._write(
            "MarkRepaired",
            request,
            lambda s: self.uc.mark_repaired(s, claim_id=request.claim_id, at=at),
            pb.MarkRepairedResponse,
        )

    async def ConfirmRepair(
        self, request: pb.ConfirmRepairRequest, context: Any
    ) -> pb.ConfirmRepairResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.require(
            request.kind
            in (pb.CONFIRMATION_KIND_PROPERTY_MANAGER, pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE),
            "kind",
            "PROPERTY_MANAGER or OWNER_REPRESENTATIVE",
        )
        _required(v, request.confirmed_by_name, "confirmed_by_name")
        v.raise_if_any()
        return await self._write(
            "ConfirmRepair",
            request,
            lambda s: self.uc.confirm(
                s,
                claim_id=request.claim_id,
                owner_representative=request.kind == pb.CONFIRMATION_KIND_OWNER_REPRESENTATIVE,
                name=request.confirmed_by_name.strip(),
            ),
            pb.ConfirmRepairResponse,
        )

    async def PayClaim(self, request: pb.PayClaimRequest, context: Any) -> pb.PayClaimResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.raise_if_any()
        return await self._write(
            "PayClaim",
            request,
            lambda s: self.uc.pay(s, claim_id=request.claim_id),
            pb.PayClaimResponse,
        )

    async def CloseClaim(
        self, request: pb.CloseClaimRequest, context: Any
    ) -> pb.CloseClaimResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        v.raise_if_any()
        return await self._write(
            "CloseClaim",
            request,
            lambda s: self.uc.close(s, claim_id=request.claim_id, note=request.note.strip()),
            pb.CloseClaimResponse,
        )

    async def ReopenClaim(
        self, request: pb.ReopenClaimRequest, context: Any
    ) -> pb.ReopenClaimResponse:
        v = Violations()
        _required(v, request.claim_id, "claim_id")
        _required(v, request.reason, "reason")
        v.raise_if_any()
        return await self._write(
            "ReopenClaim",
            request,
            lambda s: self.uc.reopen(s, claim_id=request.claim_id, reason=request.reason.strip()),
            pb.ReopenClaimResponse,
        )

    async def GetClaim(self, request: pb.GetClaimRequest, context: Any) -> pb.GetClaimResponse:
        if not request.claim_id:
            raise invalid_argument([FieldViolation("claim_id", "required")])

        async def work(store: ClaimsStore) -> pb.Claim:
            return await claim_pb(store, await self.uc.get(store, request.claim_id))

        return pb.GetClaimResponse(claim=await self.uc.read(work))

    async def ListClaims(
        self, request: pb.ListClaimsRequest, context: Any
    ) -> pb.ListClaimsResponse:
        v = Violations()
        v.require(0 <= request.page_size <= MAX_PAGE, "page_size", f"0 to {MAX_PAGE}")
        v.require(
            request.state == "" or request.state in _STATES, "state", "one of the claim states"
        )
        v.require(
            request.region_code == "" or is_region_prefix(request.region_code),
            "region_code",
            "a GB/T 2260 region code or prefix, 2 to 6 digits",
        )
        v.require(
            request.flag == "" or is_reason_code(request.flag),
            "flag",
            "a reason code such as PRICE_ABOVE_REFERENCE",
        )
        v.raise_if_any()
        filters = QueueFilter(
            state=request.state,
            region_code=request.region_code,
            contractor_id=request.contractor_id,
            breached_only=request.breached_only,
            flag=request.flag,
            include_closed=request.include_closed,
        )

        async def work(store: ClaimsStore) -> pb.ListClaimsResponse:
            page = await self.uc.queue(
                store,
                filters,
                page_token=request.page_token,
                page_size=request.page_size or DEFAULT_PAGE,
            )
            response = pb.ListClaimsResponse(
                items=[_summary_pb(r) for r in page.rows],
                next_page_token=page.next_page_token,
                breaches_by_clock=page.totals.breaches,
                total_size=page.totals.claims,
            )
            if page.rows and not request.summaries_only:
                # Three queries for the page whatever its size, never one per claim.
                ids = [r.id for r in page.rows]
                rows, clocks = await store.claims_by_ids(ids), await store.clocks_of(ids)
                response.claims.extend(
                    [await claim_pb(store, rows[i], full=False, clocks=clocks[i]) for i in ids]
                )
            return response

        return await self.uc.read(work)

    async def GetDashboard(
        self, request: pb.GetDashboardRequest, context: Any
    ) -> pb.GetDashboardResponse:
        v = Violations()
        v.require(
            request.region_code == "" or is_region_prefix(request.region_code),
            "region_code",
            "a GB/T 2260 region code or prefix, 2 to 6 digits",
        )
        v.require(0 <= request.months <= MAX_MONTHS, "months", f"0 to {MAX_MONTHS}")
        v.raise_if_any()

        async def work(store: ClaimsStore) -> pb.GetDashboardResponse:
            found = await self.uc.dashboard(
                store, region_code=request.region_code, months=request.months or DEFAULT_MONTHS
            )
            return dashboard_pb(found)

        return await self.uc.read(work)

    async def GetAuditTrail(
        self, request: pb.GetAuditTrailRequest, context: Any
    ) -> pb.GetAuditTrailResponse:
        if not request.claim_id:
            raise invalid_argument([FieldViolation("claim_id", "required")])
        from services.claims.domain.audit import verify_chain

        async def work(store: ClaimsStore) -> pb.GetAuditTrailResponse:
            await self.uc.get(store, request.claim_id)  # authorises
            events = await store.audit_trail(request.claim_id)
            report = verify_chain(events)
            return pb.GetAuditTrailResponse(
                events=[
                    pb.AuditEvent(
                        seq=e.seq,
                        at=to_timestamp(e.at),
                        actor=e.actor,
                        kind=e.kind,
                        payload_json=json.dumps(
                            dict(e.payload), ensure_ascii=False, sort_keys=True, default=str
                        ),
                        prev_hash=e.prev_hash,
                        hash=e.hash,
                    )
                    for e in events
                ],
                chain_ok=report.ok,
                first_broken_seq=report.first_broken_seq or 0,
            )

        return await self.uc.read(work)

    async def ListEvents(
        self, request: pb.ListEventsRequest, context: Any
    ) -> pb.ListEventsResponse:
        from shared.auth import Role, require_role

        require_role(Role.SERVICE, Role.PARTNER, Role.AUDITOR)
        xid, last_id, limit = parse_page_request(request.after_cursor, request.limit)

        async def work(store: ClaimsStore) -> pb.ListEventsResponse:
            page = await store.events_after(xid, last_id, limit, request.after_cursor)
            return pb.ListEventsResponse(
                events=[pb.Event(**event_fields(e)) for e in page.events],
                next_cursor=page.next_cursor,
            )

        return await self.uc.read(work)


async def claim_pb(
    store: ClaimsStore,
    claim: ClaimRow,
    *,
    full: bool = True,
    clocks: list[ClockRow] | None = None,
) -> pb.Claim:
    """The claim; ``full=False`` leaves out the quote, decisions, payout and timeline (their
    queries), ``clocks`` when the caller read them already (a page's in one query)."""
    message = pb.Claim(
        claim_id=claim.id,
        state=claim.state,
        elevator_id=claim.elevator_id,
        registration_code=claim.registration_code,
        region_code=claim.region_code,
        fault_category=claim.category,
        peril=claim.peril,
        description=claim.description,
        source=_SOURCES_PB.get(claim.source, pb.SOURCE_UNSPECIFIED),
        report_count=claim.report_count,
        reported_at=to_timestamp(claim.reported_at),
        policy_id=claim.policy_id or "",
        contractor_id=claim.contractor_id or "",
        property_manager_confirmed=bool(claim.pm_confirmed_by),
        owner_representative_confirmed=bool(claim.owner_confirmed_by),
        approved_total_fen=claim.approved_total_fen or 0,
        community_id=claim.community_id or "",
        clocks=[_clock_pb(c) for c in (await store.clocks(claim.id) if clocks is None else clocks)],
    )
    if not full:
        return message
    quote, versions = await store.latest_quote(claim.id)
    if quote is not None:
        message.quote.CopyFrom(_quote_pb(quote, claim))
        message.quote_versions = versions
    if claim.recommendation:
        r = claim.recommendation
        message.recommendation.CopyFrom(
            pb.Recommendation(
                approved_total_fen=r.get("approved_total_fen", 0),
                reason_codes=r.get("reason_codes", []),
                straight_through=r.get("straight_through", False),
                needs_person=r.get("needs_person", False),
                trace=[
                    pb.TraceStep(
                        **{
                            k: str(t.get(k, ""))
                            for k in ("step", "source", "version", "verdict", "detail")
                        }
                    )
                    for t in r.get("trace", [])
                ],
            )
        )
    for field, decision in (
        ("first_decision", claim.first_decision),
        ("second_decision", claim.second_decision),
    ):
        if decision:
            getattr(message, field).CopyFrom(
                pb.Decision(
                    kind=str(
                        decision.get("kind", "approve" if decision.get("approve") else "send_back")
                    ),
                    reviewer=str(decision.get("reviewer", "")),
                    at=to_timestamp(decision.get("at")),
                    approved_total_fen=int(decision.get("approved_total_fen") or 0),
                    reason_codes=list(decision.get("reason_codes", [])),
                    note=str(decision.get("note", "")),
                )
            )
    payout = await store.payout(claim.id)
    if payout is not None:
        message.payout.CopyFrom(_payout_pb(payout))
    message.timeline.extend(
        pb.Transition(
            from_state=t["from_state"],
            to_state=t["to_state"],
            action=t["action"],
            actor=t["actor"],
            at=to_timestamp(t["at"]),
            reason=t["reason"],
        )
        for t in await store.timeline(claim.id)
    )
    return message


def _clock_pb(c: ClockRow) -> pb.Clock:
    return pb.Clock(
        kind=c.kind,
        due_at=to_timestamp(c.due_at),
        target_at=to_timestamp(c.target_at),
        met_at=to_timestamp(c.met_at),
        breached=c.breached_at is not None,
    )


def _quote_pb(q: QuoteRow, claim: ClaimRow) -> pb.Quote:
    decided = {str(ln.get("line_no")): ln for ln in (claim.recommendation or {}).get("lines", [])}
    approvals = claim.line_approvals or {}
    lines = []
    for ln in q.lines:
        key = str(ln["line_no"])
        rec = decided.get(key, {})
        approved = approvals.get(key, rec.get("approved_fen", 0))
        lines.append(
            pb.QuoteLine(
                line_no=ln["line_no"],
                description=ln["description"],
                quantity=ln["quantity"],
                unit=ln["unit"],
                unit_price_fen=ln["unit_price_fen"],
                amount_fen=ln["amount_fen"],
                approved_fen=int(approved),
                reason_codes=list(rec.get("reason_codes", [])),
                category=rec.get("category") or "",
                reference_unit_price_fen=rec.get("reference_unit_price_fen"),
            )
        )
    return pb.Quote(
        version=q.version,
        lines=lines,
        total_fen=q.total_fen,
        submitted_by=q.submitted_by,
        submitted_at=to_timestamp(q.submitted_at),
    )


def _payout_pb(p: PayoutRow) -> pb.Payout:
    return pb.Payout(
        amount_fen=p.amount_fen, contractor_id=p.contractor_id, paid_at=to_timestamp(p.paid_at)
    )


def _summary_pb(r: QueueRow) -> pb.ClaimSummary:
    summary = pb.ClaimSummary(
        claim_id=r.id,
        state=r.state,
        region_code=r.region_code,
        community_id=r.community_id or "",
        elevator_id=r.elevator_id,
        registration_code=r.registration_code,
        fault_category=r.category,
        contractor_id=r.contractor_id or "",
        reported_at=to_timestamp(r.reported_at),
        report_count=r.report_count,
        next_due_at=to_timestamp(r.next_due_at),
        next_due_clock=r.next_due_clock or "",
        breached_clocks=r.breached_clocks,
        flags=r.flags,
    )
    if r.quoted_total_fen is not None:
        summary.quoted_total_fen = r.quoted_total_fen
    if r.approved_total_fen is not None:
        summary.approved_total_fen = r.approved_total_fen
    return summary


def dashboard_pb(found: Dashboard) -> pb.GetDashboardResponse:
    counts, span = found.counts, found.window
    by_state: dict[str, int] = {}
    by_month = dict.fromkeys(span.months, 0)
    money = pb.MoneyFigures()
    for row in counts.by_state_month:
        by_state[row.state] = by_state.get(row.state, 0) + row.claims
        by_month[row.month] = by_month.get(row.month, 0) + row.claims
        money.approved_claims += row.approved_claims
        money.quoted_fen += row.quoted_fen
        money.approved_fen += row.approved_fen
        money.paid_fen += row.paid_fen
    money.trimmed_fen = money.quoted_fen - money.approved_fen
    response = pb.GetDashboardResponse(
        window_start=to_timestamp(span.start),
        window_end=to_timestamp(span.end),
        claims=sum(by_state.values()),
        claims_by_state=by_state,
        claims_by_month=[pb.MonthFigures(month=m, claims=n) for m, n in by_month.items()],
        money=money,
        communities=[
            pb.CommunityFigures(
                community_id=c.community_id,
                region_code=c.region_code,
                claims=c.claims,
                elevators_with_claims=c.elevators,
            )
            for c in counts.communities
        ],
        communities_total=counts.communities_total,
    )
    for kind, target in (
        (ClockKind.ARRIVAL, response.arrival),
        (ClockKind.REPAIR, response.repair),
        (ClockKind.PAYMENT, response.payment),
    ):
        target.CopyFrom(_clock_figures_pb(counts.clocks.get(kind.value), BUCKET_BOUNDS[kind]))
    return response


def _clock_figures_pb(found: ClockCounts | None, bounds: tuple[int, ...]) -> pb.ClockFigures:
    histogram = [
        pb.DurationBucket(from_seconds=low, to_seconds=high, count=n)
        for low, high, n in buckets(bounds, found.histogram if found else {})
    ]
    if found is None:
        return pb.ClockFigures(histogram=histogram)
    return pb.ClockFigures(
        met=found.met,
        met_on_time=found.met_on_time,
        met_within_target=found.met_within_target,
        on_time_share=share(found.met_on_time, found.met),
        within_target_share=share(found.met_within_target, found.met),
        median_seconds=round(found.median_seconds or 0),
        running=found.running,
        running_overdue=found.running_overdue,
        histogram=histogram,
    )
