"""The claims service's operations: intake, the lifecycle, adjudication, review, payment.

Every operation locks the claim row (``FOR UPDATE``) before it decides, records the move, the
audit event and any outbox event in the same transaction, and moves the state only by a
conditional update. Calls to the policy service are idempotent by claim id, so a retry after a
crash between the call and the commit never reserves or pays twice.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from services.claims.clients import ClaimFolder, Upstreams
from services.claims.domain.adjudication import (
    LineDecision,
    Provenance,
    Recommendation,
    StepTrace,
    recommend,
)
from services.claims.domain.audit import next_event
from services.claims.domain.clocks import ClockKind, deadlines_on_report, payment_deadline
from services.claims.domain.dashboard import BUCKET_BOUNDS, TOP_COMMUNITIES, Window, window
from services.claims.domain.errors import (
    ClaimNotFound,
    IllegalTransition,
    PermissionDenied,
    PreconditionFailed,
)
from services.claims.domain.intake import validate_report
from services.claims.domain.queue import (
    QueueFilter,
    decode_page_token,
    encode_page_token,
    flags_of,
)
from services.claims.domain.quotes import Quote, QuoteLine
from services.claims.domain.review import (
    Decision,
    DecisionKind,
    ReviewPolicy,
    SecondReview,
    SecondReviewKind,
    check_first_reviewer,
    check_second_review,
    make_decision,
    state_after_decision,
)
from services.claims.domain.states import Action, ClaimState, check_role, perform
from services.claims.store import (
    ClaimRow,
    ClaimsStore,
    DashboardCounts,
    QueueRow,
    QueueTotals,
    new_claim_id,
)
from shared.auth import Role, current_principal, require_region, require_role
from shared.clock import Clock, shanghai_date
from shared.telemetry import annotate, tracer
from shared.unit_of_work import Transactions
from shared.workdays import WorkdayCalendar, default_calendar

R = TypeVar("R")
_tracer = tracer(__name__)

PIPELINE_ACTOR = "claims-pipeline"
# IoT platforms and property managers (partners), the insurer's own people and systems.
REPORTERS = (Role.PARTNER, Role.SERVICE, Role.ADJUSTER, Role.SUPERVISOR)
# The insurer's people who watch the scheme's figures (not contractors, not partners).
DASHBOARD_ROLES = (Role.ADJUSTER, Role.SENIOR_REVIEWER, Role.SUPERVISOR, Role.AUDITOR)


@dataclass(frozen=True)
class Rules:
    """Thresholds from configuration (see settings.py)."""

    straight_through_max_fen: int
    white_list_straight_through_max_fen: int
    second_review_above_fen: int


@dataclass(frozen=True)
class Intake(Generic[R]):
    claim: ClaimRow
    created: bool
    # What the caller built from the claim inside the same transaction (e.g. its reply).
    reply: R


@dataclass(frozen=True)
class QueuePage:
    rows: list[QueueRow]
    next_page_token: str
    totals: QueueTotals


@dataclass(frozen=True)
class Dashboard:
    window: Window
    counts: DashboardCounts


class ContractorBlacklisted(PreconditionFailed):
    code = "CONTRACTOR_BLACKLISTED"


class NotYourClaim(PermissionDenied):
    code = "NOT_YOUR_CLAIM"


class ClaimsUseCases(Transactions[ClaimsStore]):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        upstreams: Upstreams,
        rules: Rules,
        calendar: WorkdayCalendar | None = None,
    ) -> None:
        super().__init__(engine, ClaimsStore)
        self.clock = clock
        self.up = upstreams
        self.rules = rules
        self.calendar = calendar or default_calendar()

    # ------------------------------------------------------------ intake

    async def report_loss(
        self,
        *,
        source: str,
        source_event_id: str,
        registration_code: str,
        category: str,
        occurred_at: datetime | None,
        description: str,
        present: Callable[[ClaimsStore, ClaimRow], Awaitable[R]],
    ) -> Intake[R]:
        principal = require_role(*REPORTERS)
        now = self.clock.now()
        elevator = await self.up.policy.elevator(registration_code)
        require_region(elevator.region_code)
        report = validate_report(
            source=source,
            source_event_id=source_event_id,
            elevator_id=elevator.elevator_id,
            category=category,
            reported_at=occurred_at or now,
            description=description,
            reporter=principal.subject,
            now=now,
        )

        async def work(store: ClaimsStore) -> Intake[R]:
            async def done(claim_id: str, created: bool) -> Intake[R]:
                annotate(claim_id=claim_id, claim_created=created)
                claim = await self._load(store, claim_id)
                return Intake(claim, created, await present(store, claim))

            await store.lock_fold_key(report.fold_key)
            known = await store.claim_for_report(report.source.value, report.source_event_id)
            if known is not None:
                return await done(known, created=False)
            open_id = await store.open_claim_id(report.elevator_id, report.category.value)
            if open_id is not None:  # an alarm storm: one incident, many reports
                await store.add_report(
                    source=report.source.value,
                    source_event_id=report.source_event_id,
                    claim_id=open_id,
                    received_at=now,
                    reported_by=principal.subject,
                    occurred_at=report.reported_at,
                )
                await store.count_report(open_id)
                await self._audit(
                    store,
                    open_id,
                    "report_folded",
                    {
                        "source": report.source.value,
                        "source_event_id": report.source_event_id,
                    },
                )
                return await done(open_id, created=False)
            claim_id = new_claim_id()
            await store.add_claim(
                id=claim_id,
                elevator_id=elevator.elevator_id,
                registration_code=elevator.registration_code,
                region_code=elevator.region_code,
                category=report.category.value,
                peril=report.peril,
                description=report.description,
                source=report.source.value,
                state=ClaimState.REPORTED.value,
                reported_at=report.reported_at,
                reported_by=principal.subject,
                updated_at=now,
                community_id=elevator.community_id or None,
            )
            await store.add_report(
                source=report.source.value,
                source_event_id=report.source_event_id,
                claim_id=claim_id,
                received_at=now,
                reported_by=principal.subject,
                occurred_at=report.reported_at,
            )
            await store.start_clocks(
                claim_id, deadlines_on_report(report.category, report.reported_at)
            )
            await self._audit(
                store,
                claim_id,
                "reported",
                {
                    "source": report.source.value,
                    "source_event_id": report.source_event_id,
                    "registration_code": elevator.registration_code,
                    "category": report.category.value,
                    "reported_at": report.reported_at,
                },
            )
            await store.emit(
                "claim.opened",
                claim_id,
                {
                    "claim_id": claim_id,
                    "registration_code": elevator.registration_code,
                    "region_code": elevator.region_code,
                    "category": report.category.value,
                    "reported_at": report.reported_at.isoformat(),
                },
            )
            return await done(claim_id, created=True)

        return await self.transaction(work)

    # ------------------------------------------------------------ lifecycle

    async def dispatch(self, store: ClaimsStore, *, claim_id: str, contractor_id: str) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        standing = await self.up.contractors.standing(contractor_id)
        if standing.status == "black":
            raise ContractorBlacklisted(
                f"contractor {contractor_id} is blacklisted: {standing.reason}",
                field="contractor_id",
            )
        moved = await self._move(store, claim, Action.DISPATCH, contractor_id=contractor_id)
        # Inside the transaction: if evidence cannot open the folder the dispatch rolls back
        # and the caller retries, so a dispatched contractor can always upload its photos.
        await self.up.evidence.open_folder(_folder_of(moved))
        return moved

    async def arrive(self, store: ClaimsStore, *, claim_id: str, at: datetime | None) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        moment = at or self.clock.now()
        moved = await self._move(store, claim, Action.ARRIVE, at=moment)
        await self._stop_clock(store, claim_id, ClockKind.ARRIVAL, moment)
        return moved

    async def submit_quote(
        self, store: ClaimsStore, *, claim_id: str, lines: Sequence[QuoteLine]
    ) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        principal = current_principal()
        now = self.clock.now()
        total_fen = sum(line.amount_fen for line in lines)
        claim = await self._move(
            store,
            claim,
            Action.SUBMIT_QUOTE,
            quote_submitter=principal.subject,
            quoted_total_fen=total_fen,
        )
        version = await store.add_quote(
            claim_id,
            lines=[_line_json(line) for line in lines],
            total_fen=total_fen,
            by=principal.subject,
            at=now,
        )
        await self._audit(
            store,
            claim_id,
            "quote_submitted",
            {
                "version": version,
                "total_fen": total_fen,
                "lines": len(lines),
            },
        )
        return await self._assess(store, claim, Quote(version=version, lines=tuple(lines)))

    async def _assess(self, store: ClaimsStore, claim: ClaimRow, quote: Quote) -> ClaimRow:
        """The adjudication pipeline: every upstream's view, one recommendation, one move.

        One span covers it, so a trace shows the pipeline's calls to policy, pricing,
        contractors, validation and evidence side by side under it, with the claim id.
        """
        with _tracer.start_as_current_span(
            "claims.adjudicate",
            attributes={"elevins.claim_id": claim.id, "elevins.quote_version": quote.version},
        ) as span:
            moved = await self._adjudicate(store, claim, quote)
            span.set_attributes(
                {
                    "elevins.claim_state": moved.state,
                    "elevins.approved_total_fen": moved.approved_total_fen or 0,
                }
            )
            return moved

    async def _adjudicate(self, store: ClaimsStore, claim: ClaimRow, quote: Quote) -> ClaimRow:
        elevator = await self.up.policy.elevator(claim.registration_code)
        coverage = await self.up.policy.coverage(
            claim.registration_code, claim.reported_at, claim.peril
        )
        prices = await self.up.pricing.benchmark(
            claim.region_code,
            quote.lines,
            elevator=elevator,
            fault_category=claim.category,
            quoted_on=shanghai_date(claim.reported_at),
        )
        standing = await self.up.contractors.standing(claim.contractor_id or "")
        today = shanghai_date(self.clock.now())
        findings = await self.up.validation.check_claim(
            {
                "loss_date": shanghai_date(claim.reported_at),
                "policy_start": coverage.policy_start,
                "policy_end": coverage.policy_end,
                "inspection_passed": elevator.inspection_passed,
                "inspection_valid_until": elevator.inspection_valid_until,
                # Not known here yet: the maintenance log (exchange), photos (evidence), the
                # previous claim for the same part. Sent as nulls; the rules say so.
                "claimed_amount_fen": quote.total_fen,
                "remaining_sum_insured_fen": coverage.remaining_fen if coverage.policy_id else None,
                "quote_date": today,
                "contractor_list": {"white": "white", "black": "black"}.get(
                    standing.status, "normal"
                ),
                "iot_alarm": claim.source == "iot_alarm",
                "property_report": claim.source
                in ("property_manager", "owner_via_property_manager"),
                "claims_on_elevator_12m": await store.claims_in_year(
                    claim.elevator_id, before=claim.reported_at
                ),
            },
            on=today,
        )
        flags = await self.up.evidence.flags(claim.id)
        recommendation = recommend(
            quote=quote,
            coverage=coverage,
            prices=prices,
            findings=findings,
            evidence=flags,
            standing=standing,
            straight_through_max_fen=self.rules.straight_through_max_fen,
            white_list_straight_through_max_fen=self.rules.white_list_straight_through_max_fen,
            provenance={
                "coverage": Provenance("policy", "v1"),
                "pricing": _provenance(self.up.pricing.source),
                "validation": _provenance(self.up.validation.source),
                "evidence": _provenance(self.up.evidence.source),
                "contractor": _provenance(self.up.contractors.source),
            },
        )
        straight = recommendation.straight_through and coverage.policy_id is not None
        values: dict[str, Any] = {
            "recommendation": _jsonable(recommendation),
            "flags": list(flags_of(recommendation)),
            "policy_id": coverage.policy_id,
        }
        if straight:
            assert coverage.policy_id is not None
            values["approved_total_fen"] = recommendation.approved_total_fen
            values["line_approvals"] = {
                str(line.line_no): line.approved_fen for line in recommendation.lines
            }
            await self.up.policy.reserve(
                claim_id=claim.id,
                policy_id=coverage.policy_id,
                amount_fen=recommendation.approved_total_fen,
            )
        return await self._move(
            store,
            claim,
            Action.ASSESS,
            actor=PIPELINE_ACTOR,
            role=Role.SERVICE.value,
            target=ClaimState.APPROVED if straight else ClaimState.UNDER_REVIEW,
            reason="straight-through" if straight else "needs a person",
            **values,
        )

    async def decide(
        self,
        store: ClaimsStore,
        *,
        claim_id: str,
        kind: str,
        line_amounts: Mapping[int, int] | None,
        reason_codes: Sequence[str],
        note: str,
    ) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        principal = current_principal()
        action = Action(kind)
        check_role(action, principal.role.value)  # who before what: roles first, as perform does
        if claim.state != ClaimState.UNDER_REVIEW or not claim.recommendation:
            raise IllegalTransition(ClaimState(claim.state), action)
        check_first_reviewer(reviewer=principal.subject, submitter=claim.quote_submitter)
        decision = make_decision(
            kind=DecisionKind(kind),
            reviewer=principal.subject,
            role=principal.role.value,
            at=self.clock.now(),
            recommendation=recommendation_from_json(claim.recommendation),
            line_amounts=line_amounts,
            reason_codes=reason_codes,
            note=note,
        )
        target = state_after_decision(decision, ReviewPolicy(self.rules.second_review_above_fen))
        values: dict[str, Any] = {
            "first_decision": _jsonable(decision),
            "first_reviewer": principal.subject,
        }
        if decision.kind in (DecisionKind.APPROVE, DecisionKind.APPROVE_IN_PART):
            values["approved_total_fen"] = decision.approved_total_fen
            lines = decision.line_amounts or {
                ln["line_no"]: ln["approved_fen"] for ln in claim.recommendation.get("lines", [])
            }
            values["line_approvals"] = {str(k): v for k, v in lines.items()}
        if target in (ClaimState.APPROVED, ClaimState.PARTLY_APPROVED):
            await self._reserve(claim, decision.approved_total_fen)
        return await self._move(store, claim, action, target=target, reason=note, **values)

    async def second_review(
        self,
        store: ClaimsStore,
        *,
        claim_id: str,
        approve: bool,
        reason_codes: Sequence[str],
        note: str,
    ) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        principal = current_principal()
        kind = SecondReviewKind.SECOND_APPROVE if approve else SecondReviewKind.SECOND_REJECT
        check_role(Action(kind), principal.role.value)
        if claim.state != ClaimState.PENDING_SECOND_REVIEW or not claim.first_decision:
            raise IllegalTransition(ClaimState(claim.state), Action(kind))
        review = SecondReview(
            kind=kind,
            reviewer=principal.subject,
            role=principal.role.value,
            at=self.clock.now(),
            reason_codes=tuple(reason_codes),
            note=note,
        )
        target = check_second_review(
            review, first=decision_from_json(claim.first_decision), submitter=claim.quote_submitter
        )
        if target is not ClaimState.REJECTED:
            await self._reserve(claim, claim.approved_total_fen or 0)
        return await self._move(
            store,
            claim,
            Action(kind),
            target=target,
            reason=note,
            second_decision=_jsonable(review),
            second_reviewer=principal.subject,
        )

    async def mark_repaired(
        self, store: ClaimsStore, *, claim_id: str, at: datetime | None
    ) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        moment = at or self.clock.now()
        moved = await self._move(store, claim, Action.MARK_REPAIRED, at=moment)
        await self._stop_clock(store, claim_id, ClockKind.REPAIR, moment)
        # The repair time is what "photo taken long after the repair" is measured from.
        await self.up.evidence.open_folder(replace(_folder_of(moved), repaired_at=moment))
        return moved

    async def confirm(
        self, store: ClaimsStore, *, claim_id: str, owner_representative: bool, name: str
    ) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        who = f"{current_principal().subject}:{name}"
        pm = who if not owner_representative else claim.pm_confirmed_by
        owner = who if owner_representative else claim.owner_confirmed_by
        both = bool(pm and owner)
        now = self.clock.now()
        moved = await self._move(
            store,
            claim,
            Action.CONFIRM,
            target=ClaimState.CONFIRMED if both else ClaimState.REPAIRED,
            reason="owner representative" if owner_representative else "property manager",
            pm_confirmed_by=pm,
            owner_confirmed_by=owner,
        )
        if both:
            await store.start_clocks(claim_id, [payment_deadline(now, self.calendar)])
        return moved

    async def pay(self, store: ClaimsStore, *, claim_id: str) -> ClaimRow:
        claim = await self._claim(store, claim_id)
        if claim.state in (ClaimState.PAID, ClaimState.CLOSED) and await store.payout(claim_id):
            return claim  # paid already: a repeat is an answer, never a second payment
        if claim.state != ClaimState.CONFIRMED:
            raise IllegalTransition(ClaimState(claim.state), Action.PAY)
        assert claim.policy_id and claim.contractor_id and claim.approved_total_fen is not None
        now = self.clock.now()
        # Idempotent by claim id in the policy ledger: a retry after a crash here pays once.
        await self.up.policy.pay(claim_id=claim_id, amount_fen=claim.approved_total_fen)
        await store.add_payout(
            claim_id,
            policy_id=claim.policy_id,
            contractor_id=claim.contractor_id,
            amount_fen=claim.approved_total_fen,
            at=now,
            by=current_principal().subject,
        )
        moved = await self._move(store, claim, Action.PAY, paid_fen=claim.approved_total_fen)
        await self._stop_clock(store, claim_id, ClockKind.PAYMENT, now)
        await store.emit(
            "claim.paid",
            claim_id,
            {
                "claim_id": claim_id,
                "amount_fen": claim.approved_total_fen,
                "contractor_id": claim.contractor_id,
                "paid_at": now.isoformat(),
            },
        )
        return moved

    async def close(self, store: ClaimsStore, *, claim_id: str, note: str) -> ClaimRow:
        return await self._move(
            store, await self._claim(store, claim_id), Action.CLOSE, reason=note
        )

    async def reopen(self, store: ClaimsStore, *, claim_id: str, reason: str) -> ClaimRow:
        return await self._move(
            store, await self._claim(store, claim_id), Action.REOPEN, reason=reason
        )

    # ------------------------------------------------------------ reads

    async def get(self, store: ClaimsStore, claim_id: str) -> ClaimRow:
        return await self._claim(store, claim_id, lock=False)

    async def queue(
        self, store: ClaimsStore, filters: QueueFilter, *, page_token: str, page_size: int
    ) -> QueuePage:
        """A page of the work queue (``domain.queue``) within the caller's regions, and the
        totals of the whole selection. A contractor sees only its own jobs."""
        principal = current_principal()
        prefixes = None if "*" in principal.regions else sorted(principal.regions)
        if principal.role is Role.CONTRACTOR:
            filters = replace(filters, contractor_id=principal.subject)
        after = decode_page_token(page_token, filters) if page_token else None
        rows = await store.list_queue(
            filters, region_prefixes=prefixes, after=after, limit=page_size + 1
        )
        page = rows[:page_size]
        return QueuePage(
            rows=page,
            next_page_token=(
                encode_page_token(page[-1].key, filters) if len(rows) > page_size else ""
            ),
            totals=await store.queue_totals(filters, region_prefixes=prefixes),
        )

    async def dashboard(self, store: ClaimsStore, *, region_code: str, months: int) -> Dashboard:
        """The scheme's figures over the claims reported in the window, in the caller's
        regions (``domain.dashboard``)."""
        principal = require_role(*DASHBOARD_ROLES)
        now = self.clock.now()
        span = window(now, months)
        counts = await store.dashboard(
            region_prefixes=None if "*" in principal.regions else sorted(principal.regions),
            region_code=region_code,
            start=span.start,
            end=span.end,
            now=now,
            bucket_bounds={k.value: b for k, b in BUCKET_BOUNDS.items()},
            top_communities=TOP_COMMUNITIES,
        )
        return Dashboard(window=span, counts=counts)

    # ------------------------------------------------------------ clocks

    async def sweep_clocks(self) -> int:
        """Flag and escalate every clock that ran out; safe to run anywhere, any number of times."""

        async def work(store: ClaimsStore) -> int:
            now = self.clock.now()
            breaches = await store.flag_breaches(now)
            for claim_id, kind, due_at in breaches:
                await self._audit(
                    store,
                    claim_id,
                    "clock_breached",
                    {"clock": kind, "due_at": due_at},
                    actor=PIPELINE_ACTOR,
                )
                await store.update(claim_id, escalated_at=now)
                await store.emit(
                    "claim.clock_breached",
                    f"{claim_id}:{kind}",
                    {
                        "claim_id": claim_id,
                        "clock": kind,
                        "due_at": due_at.isoformat(),
                    },
                )
            return len(breaches)

        return await self.transaction(work)

    # ------------------------------------------------------------ helpers

    async def _load(self, store: ClaimsStore, claim_id: str) -> ClaimRow:
        claim = await store.claim(claim_id)
        if claim is None:
            raise ClaimNotFound(claim_id)
        return claim

    async def _claim(self, store: ClaimsStore, claim_id: str, *, lock: bool = True) -> ClaimRow:
        annotate(claim_id=claim_id)
        claim = await store.claim(claim_id, for_update=lock)
        if claim is None:
            raise ClaimNotFound(claim_id)
        require_region(claim.region_code)
        principal = current_principal()
        if principal.role is Role.CONTRACTOR and claim.contractor_id != principal.subject:
            raise NotYourClaim(f"claim {claim_id} is not dispatched to {principal.subject}")
        return claim

    async def _move(
        self,
        store: ClaimsStore,
        claim: ClaimRow,
        action: Action,
        *,
        target: ClaimState | None = None,
        reason: str = "",
        at: datetime | None = None,
        actor: str | None = None,
        role: str | None = None,
        **values: Any,
    ) -> ClaimRow:
        principal = current_principal()
        moment = at or self.clock.now()
        move = perform(
            claim_id=claim.id,
            state=ClaimState(claim.state),
            action=action,
            actor=actor or principal.subject,
            role=role or principal.role.value,
            at=moment,
            reason=reason,
            target=target,
        )
        if not await store.move(
            claim.id, expected=claim.state, to=move.to_state.value, at=self.clock.now(), **values
        ):
            raise IllegalTransition(ClaimState(claim.state), action)  # moved under us
        await store.add_transition(
            claim_id=claim.id,
            from_state=move.from_state.value,
            to_state=move.to_state.value,
            action=move.action.value,
            actor=move.actor,
            role=move.role,
            at=move.at,
            reason=move.reason,
        )
        await self._audit(
            store,
            claim.id,
            "transition",
            {
                "from": move.from_state.value,
                "to": move.to_state.value,
                "action": move.action.value,
                "role": move.role,
                "reason": move.reason,
            },
            actor=move.actor,
        )
        if move.to_state in _LOCKS_EVIDENCE:
            # The evidence a decision or a payment rests on becomes write-once (S3 object lock);
            # in the transaction, so a decision never stands on evidence that could change.
            await self.up.evidence.lock(claim.id, moment)
        if move.to_state in (ClaimState.APPROVED, ClaimState.PARTLY_APPROVED, ClaimState.REJECTED):
            await store.emit(
                "claim.decided",
                claim.id,
                {
                    "claim_id": claim.id,
                    "state": move.to_state.value,
                    "approved_total_fen": values.get(
                        "approved_total_fen", claim.approved_total_fen
                    ),
                },
            )
        return await self._load(store, claim.id)

    async def _reserve(self, claim: ClaimRow, amount_fen: int) -> None:
        if claim.policy_id is None:
            raise PreconditionFailed(f"claim {claim.id} has no policy to pay from")
        await self.up.policy.reserve(
            claim_id=claim.id, policy_id=claim.policy_id, amount_fen=amount_fen
        )

    async def _stop_clock(
        self, store: ClaimsStore, claim_id: str, kind: ClockKind, at: datetime
    ) -> None:
        clock = await store.stop_clock(claim_id, kind.value, at)
        if clock is not None and clock.breached_at is not None:
            await self._audit(
                store,
                claim_id,
                "clock_breached",
                {"clock": kind.value, "due_at": clock.due_at, "met_at": at},
                actor=PIPELINE_ACTOR,
            )
            await store.emit(
                "claim.clock_breached",
                f"{claim_id}:{kind.value}",
                {
                    "claim_id": claim_id,
                    "clock": kind.value,
                    "due_at": clock.due_at.isoformat(),
                },
            )

    async def _audit(
        self,
        store: ClaimsStore,
        claim_id: str,
        kind: str,
        payload: Mapping[str, Any],
        *,
        actor: str | None = None,
    ) -> None:
        previous = await store.last_audit_event(claim_id)
        event = next_event(
            previous,
            claim_id=claim_id,
            at=self.clock.now(),
            actor=actor or current_principal().subject,
            kind=kind,
            payload=payload,
        )
        await store.append_audit(event)


def _provenance(source: str) -> Provenance:
    name, _, version = source.partition("@")
    return Provenance(source, version or name)


def recommendation_from_json(data: Mapping[str, Any]) -> Recommendation:
    return Recommendation(
        lines=tuple(
            LineDecision(
                ln["line_no"],
                ln["submitted_fen"],
                ln["approved_fen"],
                tuple(ln["reason_codes"]),
                category=ln.get("category"),
                reference_unit_price_fen=ln.get("reference_unit_price_fen"),
            )
            for ln in data["lines"]
        ),
        approved_total_fen=data["approved_total_fen"],
        reason_codes=tuple(data["reason_codes"]),
        straight_through=data["straight_through"],
        needs_person=data["needs_person"],
        trace=tuple(StepTrace(**step) for step in data["trace"]),
        max_payable_fen=data.get("max_payable_fen"),
    )


def decision_from_json(data: Mapping[str, Any]) -> Decision:
    return Decision(
        kind=DecisionKind(data["kind"]),
        reviewer=data["reviewer"],
        role=data["role"],
        at=datetime.fromisoformat(data["at"]),
        approved_total_fen=data["approved_total_fen"],
        line_amounts={int(k): v for k, v in data["line_amounts"].items()}
        if data.get("line_amounts")
        else None,
        reason_codes=tuple(data["reason_codes"]),
        note=data["note"],
    )


def _line_json(line: QuoteLine) -> dict[str, Any]:
    return {
        "line_no": line.line_no,
        "description": line.description,
        "quantity": str(line.quantity),
        "unit": line.unit,
        "unit_price_fen": line.unit_price_fen,
        "amount_fen": line.amount_fen,
    }


def _jsonable(value: Any) -> Any:
    """Domain records as JSON for the claim row (enums as values, datetimes as ISO text)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "value") and isinstance(value.value, str):
        return value.value
    return value


_LOCKS_EVIDENCE = frozenset(
    {ClaimState.APPROVED, ClaimState.PARTLY_APPROVED, ClaimState.REJECTED, ClaimState.PAID}
)


def _folder_of(claim: ClaimRow) -> ClaimFolder:
    assert claim.contractor_id is not None  # dispatched
    return ClaimFolder(claim.id, claim.region_code, claim.contractor_id, claim.reported_at)
