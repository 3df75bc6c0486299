"""Protobuf ⇄ domain for the contractors service: field checks and status codes. No rules here."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from elevins.contractors.v1 import contractors_pb2 as pb
from elevins.contractors.v1 import contractors_pb2_grpc
from services.contractors.domain.events import EventKind, JobEvent
from services.contractors.domain.scorecards import Period, Scorecard
from services.contractors.domain.standing import StandingDecision, Status
from services.contractors.store import ContractorRow, ContractorsStore, OverrideRow, StoredEvent
from services.contractors.usecases import ContractorsUseCases, EventRejection
from shared.auth import Role, require_role
from shared.domain_errors import InvalidInput
from shared.errors import Violations

MAX_EVENTS = 10_000
MAX_PAGE = 500
DEFAULT_PAGE = 50
_REGION = re.compile(r"[1-8][0-9]{5}")
_REGION_PREFIX = re.compile(r"[1-8][0-9](?:[0-9]{2}){0,2}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")
ID_RULE = "1 to 64 letters, digits or . _ : - (starting with a letter or digit)"

READERS = (
    Role.SERVICE,
    Role.PARTNER,
    Role.SUPERVISOR,
    Role.ADJUSTER,
    Role.SENIOR_REVIEWER,
    Role.AUDITOR,
    Role.CONTRACTOR,
)
REGISTRARS = (Role.SERVICE, Role.SUPERVISOR)
EVENT_SOURCES = (Role.SERVICE, Role.PARTNER)
RECOMPUTERS = (Role.SERVICE, Role.SUPERVISOR)
OVERRIDE_REQUESTERS = (Role.SUPERVISOR, Role.SENIOR_REVIEWER)
OVERRIDE_APPROVERS = (Role.SUPERVISOR,)


def _period(text: str, field: str, v: Violations, *, required: bool = True) -> Period | None:
    if not text and not required:
        return None
    try:
        return Period.parse(text)
    except (InvalidInput, ValueError):
        v.add(field, f"must be a month YYYY-MM, got {text!r}")
        return None


def _status(text: str, v: Violations) -> Status | None:
    try:
        return Status(text)
    except ValueError:
        v.add("status", f"must be white, grey or black, got {text!r}")
        return None


def standing_pb(d: StandingDecision) -> pb.Standing:
    return pb.Standing(
        contractor_id=d.contractor_id,
        status=d.status.value,
        reason_code=d.reason_code.value,
        explanation_en=d.explanation_en,
        explanation_zh=d.explanation_zh,
        period=str(d.period),
        since=str(d.since),
        rules_version=d.rules_version,
    )


def contractor_pb(
    row: ContractorRow, standing: StandingDecision, history: list[StandingDecision]
) -> pb.Contractor:
    return pb.Contractor(
        contractor_id=row.id,
        name=row.name,
        licence_no=row.licence_no,
        regions=list(row.regions),
        elevators_maintained=row.elevators_maintained,
        licensed_workers=row.licensed_workers,
        standing=standing_pb(standing),
        history=[standing_pb(d) for d in history],
    )


def scorecard_pb(c: Scorecard) -> pb.Scorecard:
    return pb.Scorecard(
        contractor_id=c.contractor_id,
        region=c.region,
        period=str(c.period),
        weights_version=c.weights_version,
        events=c.events,
        metrics=[
            pb.MetricScore(
                metric=s.metric.value,
                successes=s.successes,
                trials=s.trials,
                raw_rate=s.raw_rate,
                prior_mean=s.prior_mean,
                shrunk_rate=s.shrunk_rate,
                lower=s.lower,
                upper=s.upper,
                shrinkage=s.shrinkage,
            )
            for s in c.metrics
        ],
        composite=c.composite,
        rank=c.rank,
        peers=c.peers,
        percentile=c.percentile,
    )


def _timestamp(at: datetime | None) -> Timestamp | None:
    if at is None:
        return None
    ts = Timestamp()
    ts.FromDatetime(at)
    return ts


def override_pb(o: OverrideRow) -> pb.Override:
    return pb.Override(
        override_id=o.id,
        contractor_id=o.contractor_id,
        status=o.status.value,
        reason=o.reason,
        requested_by=o.requested_by,
        approved_by=o.approved_by or "",
        effective_from=str(o.effective_from),
        until="" if o.until is None else str(o.until),
        requested_at=_timestamp(o.requested_at),
        approved_at=_timestamp(o.approved_at),
    )


def _page(size: int, token: str, v: Violations) -> tuple[int, int]:
    """(offset, limit) of a page request; the token is the offset this service handed out."""
    v.require(0 <= size <= MAX_PAGE, "page_size", f"0 to {MAX_PAGE}")
    v.require(not token or token.isdigit(), "page_token", "not a token from this call")
    return (int(token) if token.isdigit() else 0), (size or DEFAULT_PAGE)


def parse_event(e: pb.JobEvent) -> StoredEvent:
    """One event, or InvalidInput naming its first bad field."""
    if not _ID.fullmatch(e.event_id):
        raise InvalidInput(ID_RULE, field="event_id")
    if not _REGION.fullmatch(e.region):
        raise InvalidInput(f"must be a 6-digit GB/T 2260 code, got {e.region!r}", field="region")
    try:
        kind = EventKind(e.kind)
    except ValueError:
        raise InvalidInput(
            f"must be one of {', '.join(EventKind)}, got {e.kind!r}", field="kind"
        ) from None
    try:
        occurred_on = date.fromisoformat(e.occurred_on)
    except ValueError:
        raise InvalidInput(
            f"must be a date YYYY-MM-DD, got {e.occurred_on!r}", field="occurred_on"
        ) from None

    event = JobEvent(  # its own checks raise InvalidValue(field) — an InvalidInput
        contractor_id=e.contractor_id,
        region=e.region,
        elevator_id=e.elevator_id,
        kind=kind,
        occurred_on=occurred_on,
        part=e.part,
        arrival_minutes=e.arrival_minutes if e.HasField("arrival_minutes") else None,
        repaired_within_24h=e.repaired_within_24h if e.HasField("repaired_within_24h") else None,
        quoted_fen=e.quoted_fen if e.HasField("quoted_fen") else None,
        trimmed_fen=e.trimmed_fen if e.HasField("trimmed_fen") else None,
        inspection_first_pass=e.inspection_first_pass
        if e.HasField("inspection_first_pass")
        else None,
    )
    return StoredEvent(e.event_id, event)


class ContractorsServicer(contractors_pb2_grpc.ContractorsServiceServicer):
    def __init__(self, usecases: ContractorsUseCases) -> None:
        self.uc = usecases

    async def RegisterContractor(
        self, request: pb.RegisterContractorRequest, context: Any
    ) -> pb.RegisterContractorResponse:
        require_role(*REGISTRARS)
        v = Violations()
        v.require(bool(_ID.fullmatch(request.contractor_id)), "contractor_id", ID_RULE)
        v.require(bool(request.name.strip()), "name", "required")
        v.require(len(request.name) <= 200, "name", "at most 200 characters")
        v.require(bool(request.licence_no.strip()), "licence_no", "required")
        v.require(len(request.regions) > 0, "regions", "at least one region")
        for i, region in enumerate(request.regions):
            v.require(bool(_REGION.fullmatch(region)), f"regions[{i}]", "a 6-digit GB/T 2260 code")
        v.require(len(set(request.regions)) == len(request.regions), "regions", "listed twice")
        v.require(request.elevators_maintained >= 0, "elevators_maintained", "must not be negative")
        v.require(request.licensed_workers >= 0, "licensed_workers", "must not be negative")
        v.raise_if_any()
        row = ContractorRow(
            id=request.contractor_id,
            name=request.name.strip(),
            licence_no=request.licence_no.strip(),
            regions=tuple(request.regions),
            elevators_maintained=request.elevators_maintained,
            licensed_workers=request.licensed_workers,
        )

        async def work(store: ContractorsStore) -> pb.RegisterContractorResponse:
            stored = await self.uc.register(store, row)
            standing = await self.uc.standing(store, stored.id)
            history = await self.uc.history(store, stored.id)
            return pb.RegisterContractorResponse(
                contractor=contractor_pb(stored, standing, history)
            )

        return await self.uc.write(
            "RegisterContractor", request, pb.RegisterContractorResponse, work
        )

    async def GetContractor(
        self, request: pb.GetContractorRequest, context: Any
    ) -> pb.GetContractorResponse:
        require_role(*READERS)

        async def work(store: ContractorsStore) -> pb.GetContractorResponse:
            row = await self.uc.contractor(store, request.contractor_id)
            standing = await self.uc.standing(store, row.id)
            history = await self.uc.history(store, row.id)
            return pb.GetContractorResponse(contractor=contractor_pb(row, standing, history))

        return await self.uc.read(work)

    async def GetContractorStanding(
        self, request: pb.GetContractorStandingRequest, context: Any
    ) -> pb.GetContractorStandingResponse:
        require_role(*READERS)

        async def work(store: ContractorsStore) -> pb.GetContractorStandingResponse:
            standing = await self.uc.standing(store, request.contractor_id)
            return pb.GetContractorStandingResponse(standing=standing_pb(standing))

        return await self.uc.read(work)

    async def ListContractors(
        self, request: pb.ListContractorsRequest, context: Any
    ) -> pb.ListContractorsResponse:
        require_role(*READERS)
        v = Violations()
        v.require(
            not request.region or bool(_REGION_PREFIX.fullmatch(request.region)),
            "region",
            "a GB/T 2260 code or prefix of 2, 4 or 6 digits",
        )
        offset, limit = _page(request.page_size, request.page_token, v)
        v.raise_if_any()

        async def work(store: ContractorsStore) -> pb.ListContractorsResponse:
            found = await self.uc.contractors_with_standing(
                store, request.region, offset=offset, limit=limit + 1
            )
            return pb.ListContractorsResponse(
                contractors=[contractor_pb(row, standing, []) for row, standing in found[:limit]],
                next_page_token=str(offset + limit) if len(found) > limit else "",
            )

        return await self.uc.read(work)

    async def RecordJobEvents(
        self, request: pb.RecordJobEventsRequest, context: Any
    ) -> pb.RecordJobEventsResponse:
        require_role(*EVENT_SOURCES)
        v = Violations()
        v.require(bool(request.request_id.strip()), "request_id", "required")
        v.require(0 < len(request.events) <= MAX_EVENTS, "events", f"1 to {MAX_EVENTS} events")
        v.raise_if_any()
        events: list[StoredEvent] = []
        positions: list[int] = []
        rejected: list[EventRejection] = []
        seen: set[str] = set()
        for i, e in enumerate(request.events):
            try:
                parsed = parse_event(e)
            except InvalidInput as problem:
                rejected.append(EventRejection(i, problem.field or "event", problem.message))
                continue
            if parsed.event_id in seen:
                rejected.append(EventRejection(i, "event_id", "listed twice in this request"))
                continue
            seen.add(parsed.event_id)
            events.append(parsed)
            positions.append(i)

        async def work(store: ContractorsStore) -> pb.RecordJobEventsResponse:
            report = await self.uc.record_events(store, events, rejected, first_index=positions)
            return pb.RecordJobEventsResponse(
                stored=report.stored,
                duplicates=report.duplicates,
                rejected=[
                    pb.RejectedEvent(index=r.index, field=r.field, reason=r.reason)
                    for r in report.rejected
                ],
            )

        return await self.uc.write("RecordJobEvents", request, pb.RecordJobEventsResponse, work)

    async def RecomputeScorecards(
        self, request: pb.RecomputeScorecardsRequest, context: Any
    ) -> pb.RecomputeScorecardsResponse:
        require_role(*RECOMPUTERS)
        v = Violations()
        period = _period(request.period, "period", v)
        v.raise_if_any()
        assert period is not None

        async def work(store: ContractorsStore) -> pb.RecomputeScorecardsResponse:
            result = await self.uc.recompute(store, period)
            return pb.RecomputeScorecardsResponse(
                period=str(result.period),
                scorecards=result.scorecards,
                events=result.events,
                changes=[standing_pb(d) for d in result.changes],
                weights_version=result.weights_version,
            )

        return await self.uc.write(
            "RecomputeScorecards", request, pb.RecomputeScorecardsResponse, work
        )

    async def GetScorecard(
        self, request: pb.GetScorecardRequest, context: Any
    ) -> pb.GetScorecardResponse:
        require_role(*READERS)
        v = Violations()
        period = _period(request.period, "period", v)
        v.raise_if_any()
        assert period is not None

        async def work(store: ContractorsStore) -> pb.GetScorecardResponse:
            card = await self.uc.scorecard(store, request.contractor_id, period, request.region)
            return pb.GetScorecardResponse(scorecard=scorecard_pb(card))

        return await self.uc.read(work)

    async def ListRankings(
        self, request: pb.ListRankingsRequest, context: Any
    ) -> pb.ListRankingsResponse:
        require_role(*READERS)
        v = Violations()
        v.require(bool(_REGION.fullmatch(request.region)), "region", "a 6-digit GB/T 2260 code")
        period = _period(request.period, "period", v)
        offset, limit = _page(request.page_size, request.page_token, v)
        v.raise_if_any()
        assert period is not None

        async def work(store: ContractorsStore) -> pb.ListRankingsResponse:
            cards = await self.uc.rankings(
                store, request.region, period, offset=offset, limit=limit + 1
            )
            more = len(cards) > limit
            return pb.ListRankingsResponse(
                scorecards=[scorecard_pb(c) for c in cards[:limit]],
                next_page_token=str(offset + limit) if more else "",
            )

        return await self.uc.read(work)

    async def ListScorecardPeriods(
        self, request: pb.ListScorecardPeriodsRequest, context: Any
    ) -> pb.ListScorecardPeriodsResponse:
        require_role(*READERS)
        v = Violations()
        v.require(bool(_REGION.fullmatch(request.region)), "region", "a 6-digit GB/T 2260 code")
        v.raise_if_any()

        async def work(store: ContractorsStore) -> pb.ListScorecardPeriodsResponse:
            periods = await self.uc.scorecard_periods(store, request.region)
            return pb.ListScorecardPeriodsResponse(periods=[str(p) for p in periods])

        return await self.uc.read(work)

    async def RequestOverride(
        self, request: pb.RequestOverrideRequest, context: Any
    ) -> pb.RequestOverrideResponse:
        require_role(*OVERRIDE_REQUESTERS)
        v = Violations()
        status = _status(request.status, v)
        v.require(bool(request.reason.strip()), "reason", "required: the contractor reads it")
        v.require(len(request.reason) <= 500, "reason", "at most 500 characters")
        start = _period(request.effective_from, "effective_from", v)
        until = _period(request.until, "until", v, required=False)
        if start is not None and until is not None:
            v.require(until >= start, "until", "must not be before effective_from")
        v.raise_if_any()
        assert status is not None and start is not None

        async def work(store: ContractorsStore) -> pb.RequestOverrideResponse:
            row = await self.uc.request_override(
                store,
                contractor_id=request.contractor_id,
                status=status,
                reason=request.reason.strip(),
                effective_from=start,
                until=until,
            )
            return pb.RequestOverrideResponse(override=override_pb(row))

        return await self.uc.write("RequestOverride", request, pb.RequestOverrideResponse, work)

    async def ApproveOverride(
        self, request: pb.ApproveOverrideRequest, context: Any
    ) -> pb.ApproveOverrideResponse:
        require_role(*OVERRIDE_APPROVERS)

        async def work(store: ContractorsStore) -> pb.ApproveOverrideResponse:
            row, standing = await self.uc.approve_override(store, request.override_id)
            return pb.ApproveOverrideResponse(
                override=override_pb(row), standing=standing_pb(standing)
            )

        return await self.uc.write("ApproveOverride", request, pb.ApproveOverrideResponse, work)

    async def ListOverrides(
        self, request: pb.ListOverridesRequest, context: Any
    ) -> pb.ListOverridesResponse:
        require_role(*READERS)

        async def work(store: ContractorsStore) -> pb.ListOverridesResponse:
            rows = await self.uc.overrides(store, request.contractor_id)
            return pb.ListOverridesResponse(overrides=[override_pb(o) for o in rows])

        return await self.uc.read(work)
