"""The contractors service's operations: authorisation and transactions around the domain.

Who may see what: a contractor sees only itself; everyone else sees a contractor that works in
one of their regions. The scoring and the list are pure (``domain/``); a recompute reads the
month's events, scores them in bulk and writes every scorecard and standing in one transaction.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from services.contractors.domain.scorecards import (
    MAINTENANCE_INTERVAL_DAYS,
    REPEAT_FAULT_DAYS,
    Period,
    Scorecard,
    ScoringWeights,
    compute_scorecards_from_events,
)
from services.contractors.domain.standing import (
    RuleBook,
    StandingDecision,
    Status,
    decide_standing,
    deciding_scorecard,
)
from services.contractors.store import (
    ContractorRow,
    ContractorsStore,
    OverrideRow,
    StoredEvent,
)
from shared.auth import ALL_REGIONS, Principal, Role, current_principal
from shared.clock import Clock, shanghai_date
from shared.domain_errors import Conflict, NotFound, PermissionDenied, PreconditionFailed
from shared.unit_of_work import Transactions

# Events read before the month: the repeat-fault and maintenance-gap look-backs need them.
LOOK_BACK_DAYS = max(REPEAT_FAULT_DAYS, MAINTENANCE_INTERVAL_DAYS) + 1
MAX_PERIODS = 120  # ten years of months: more than any page shows
MAX_OVERRIDES = 100


class ContractorUnknown(NotFound):
    code = "CONTRACTOR_UNKNOWN"


class NoScorecard(NotFound):
    code = "NO_SCORECARD"


class RegionForbidden(PermissionDenied):
    code = "REGION_FORBIDDEN"


class NotYourRecord(PermissionDenied):
    code = "NOT_YOUR_RECORD"


class SameApprover(PermissionDenied):
    code = "SAME_PERSON_APPROVAL"


@dataclass(frozen=True)
class EventRejection:
    index: int
    field: str
    reason: str


@dataclass(frozen=True)
class RecordReport:
    stored: int
    duplicates: int
    rejected: tuple[EventRejection, ...]


@dataclass(frozen=True)
class Recompute:
    period: Period
    scorecards: int
    events: int
    changes: tuple[StandingDecision, ...]
    weights_version: str


def _may_rank(region: str) -> None:
    """Rankings compare firms with each other: the insurer's staff of the region only."""
    principal = current_principal()
    if principal.role is Role.CONTRACTOR or not principal.may_access_region(region):
        raise RegionForbidden(f"no access to the rankings of {region}", field="region")


def _may_see(principal: Principal, row: ContractorRow) -> bool:
    if principal.role is Role.CONTRACTOR:
        return principal.subject == row.id
    return any(principal.may_access_region(r) for r in row.regions)


class ContractorsUseCases(Transactions[ContractorsStore]):
    def __init__(
        self, engine: AsyncEngine, clock: Clock, *, weights: ScoringWeights, rules: RuleBook
    ) -> None:
        super().__init__(engine, ContractorsStore)
        self.clock = clock
        self.weights = weights
        self.rules = rules

    def this_month(self) -> Period:
        return Period.of(shanghai_date(self.clock.now()))

    # ------------------------------------------------------------ the register

    async def register(self, store: ContractorsStore, row: ContractorRow) -> ContractorRow:
        principal = current_principal()
        outside = [r for r in row.regions if not principal.may_access_region(r)]
        if outside:
            raise RegionForbidden(f"no access to region(s) {', '.join(outside)}", field="regions")
        if not await store.add_contractor(row, registered_by=principal.subject):
            existing = await store.contractor(row.id)
            if existing == row:  # the same registration again: nothing to do
                return existing
            raise Conflict(
                f"contractor {row.id} or licence {row.licence_no} is registered already",
                field="contractor_id",
            )
        return row

    async def contractor(self, store: ContractorsStore, contractor_id: str) -> ContractorRow:
        row = await store.contractor(contractor_id)
        # The same answer for "no such contractor" and "not yours": ids are not to be probed.
        if row is None or not _may_see(current_principal(), row):
            raise ContractorUnknown(
                f"no contractor {contractor_id!r} that you may see", field="contractor_id"
            )
        return row

    async def standing(self, store: ContractorsStore, contractor_id: str) -> StandingDecision:
        """The standing in force now: the latest decision, or new-contractor grey."""
        await self.contractor(store, contractor_id)
        now = self.this_month()
        decided = [d for d in await store.standings_of(contractor_id) if d.period <= now]
        if decided:
            return decided[0]
        return decide_standing(contractor_id, [], None, self.rules, [], now)

    async def contractors_with_standing(
        self, store: ContractorsStore, region: str, *, offset: int, limit: int
    ) -> list[tuple[ContractorRow, StandingDecision]]:
        """The contractors under ``region`` that the caller may see, with the standing in force."""
        principal = current_principal()
        if principal.role is Role.CONTRACTOR:
            rows = await store.contractors_in(
                region, visible=None, only_id=principal.subject, offset=offset, limit=limit
            )
        else:
            everywhere = ALL_REGIONS in principal.regions
            rows = await store.contractors_in(
                region,
                visible=None if everywhere else sorted(principal.regions),
                offset=offset,
                limit=limit,
            )
        now = self.this_month()
        decided = await store.standings_in_force([r.id for r in rows], now)
        return [
            (r, decided.get(r.id) or decide_standing(r.id, [], None, self.rules, [], now))
            for r in rows
        ]

    async def history(self, store: ContractorsStore, contractor_id: str) -> list[StandingDecision]:
        await self.contractor(store, contractor_id)
        return await store.standings_of(contractor_id)

    # ------------------------------------------------------------ events and scoring

    async def record_events(
        self,
        store: ContractorsStore,
        events: Sequence[StoredEvent],
        rejected: Sequence[EventRejection],
        *,
        first_index: Sequence[int],
    ) -> RecordReport:
        """Stores the valid events whose contractor exists and is in the caller's regions.

        ``first_index[i]`` is the position of ``events[i]`` in the request (for the report).
        """
        principal = current_principal()
        regions = await store.contractor_regions(e.event.contractor_id for e in events)
        problems = list(rejected)
        good: list[StoredEvent] = []
        for index, e in zip(first_index, events, strict=True):
            if e.event.contractor_id not in regions:
                problems.append(EventRejection(index, "contractor_id", "unknown contractor"))
            elif not principal.may_access_region(e.event.region):
                problems.append(EventRejection(index, "region", "outside your regions"))
            else:
                good.append(e)
        stored = await store.add_events(good, recorded_by=principal.subject)
        return RecordReport(
            stored=stored,
            duplicates=len(good) - stored,
            rejected=tuple(sorted(problems, key=lambda p: (p.index, p.field))),
        )

    async def recompute(self, store: ContractorsStore, period: Period) -> Recompute:
        if period > self.this_month():
            raise PreconditionFailed(f"{period} has not begun", field="period")
        start = period.start - dt.timedelta(days=LOOK_BACK_DAYS)
        events = await store.events_between(start, period.end)
        cards = compute_scorecards_from_events(events, period, self.weights)
        await store.replace_scorecards(period, cards)

        by_contractor: dict[str, list[Scorecard]] = {}
        for card in cards:
            by_contractor.setdefault(card.contractor_id, []).append(card)
        history = await store.standings_before(period)
        overrides = await store.approved_overrides()
        decisions = [
            decide_standing(
                cid,
                history.get(cid, []),
                deciding_scorecard(by_contractor.get(cid, [])),
                self.rules,
                overrides,
                period,
            )
            for cid in await store.all_contractor_ids()
        ]
        await store.put_standings(decisions)

        def before(cid: str) -> Status:
            past = history.get(cid)
            return past[-1].status if past else Status.GREY

        changes = tuple(d for d in decisions if d.status is not before(d.contractor_id))
        in_month = sum(1 for e in events if period.start <= e.occurred_on <= period.end)
        return Recompute(period, len(cards), in_month, changes, self.weights.version)

    async def scorecard(
        self, store: ContractorsStore, contractor_id: str, period: Period, region: str = ""
    ) -> Scorecard:
        """The month's scorecard in ``region``, or (no region) the one deciding the standing."""
        await self.contractor(store, contractor_id)
        principal = current_principal()
        visible = [
            c
            for c in await store.scorecards_of(contractor_id, period)
            if principal.role is Role.CONTRACTOR or principal.may_access_region(c.region)
        ]
        card = (
            next((c for c in visible if c.region == region), None)
            if region
            else deciding_scorecard(visible)
        )
        if card is None:
            where = f" in {region}" if region else ""
            raise NoScorecard(
                f"no scorecard of {contractor_id} for {period}{where}", field="period"
            )
        return card

    async def rankings(
        self, store: ContractorsStore, region: str, period: Period, *, offset: int, limit: int
    ) -> list[Scorecard]:
        _may_rank(region)
        return await store.rankings(region, period, offset=offset, limit=limit)

    async def scorecard_periods(self, store: ContractorsStore, region: str) -> list[Period]:
        _may_rank(region)
        return await store.scorecard_periods(region, limit=MAX_PERIODS)

    # ------------------------------------------------------------ manual overrides

    async def request_override(
        self,
        store: ContractorsStore,
        *,
        contractor_id: str,
        status: Status,
        reason: str,
        effective_from: Period,
        until: Period | None,
    ) -> OverrideRow:
        await self.contractor(store, contractor_id)
        row = OverrideRow(
            id=f"ovr_{uuid.uuid4().hex}",
            contractor_id=contractor_id,
            status=status,
            reason=reason,
            requested_by=current_principal().subject,
            approved_by=None,
            effective_from=effective_from,
            until=until,
        )
        requested_at = await store.add_override(row)
        return dataclasses.replace(row, requested_at=requested_at)

    async def overrides(self, store: ContractorsStore, contractor_id: str) -> list[OverrideRow]:
        await self.contractor(store, contractor_id)
        return await store.overrides_of(contractor_id, limit=MAX_OVERRIDES)

    async def approve_override(
        self, store: ContractorsStore, override_id: str
    ) -> tuple[OverrideRow, StandingDecision]:
        """The second person's approval; the standing of this month is decided again at once."""
        row = await store.override_for_update(override_id)
        if row is None:
            raise NotFound(f"no override {override_id!r}", field="override_id")
        await self.contractor(store, row.contractor_id)
        approver = current_principal().subject
        if row.approved_by is not None:
            if row.approved_by == approver:  # the same approval again
                return row, await self.standing(store, row.contractor_id)
            raise PreconditionFailed(f"override {override_id} is approved already")
        if approver.casefold() == row.requested_by.casefold():
            raise SameApprover(
                "an override needs a second person: you requested it", field="override_id"
            )
        approved_at = await store.approve_override(override_id, approver)
        approved = dataclasses.replace(row, approved_by=approver, approved_at=approved_at)
        now = self.this_month()
        history = (await store.standings_before(now)).get(row.contractor_id, [])
        decision = decide_standing(
            row.contractor_id,
            history,
            deciding_scorecard(await store.scorecards_of(row.contractor_id, now)),
            self.rules,
            await store.approved_overrides(),
            now,
        )
        await store.put_standings([decision])
        return approved, decision
