"""The contractors schema: the only module that speaks SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.contractors.domain.events import EventKind, JobEvent
from services.contractors.domain.scorecards import Metric, MetricScore, Period, Scorecard
from services.contractors.domain.standing import (
    ManualOverride,
    StandingDecision,
    StandingReason,
    Status,
)

m = sa.MetaData()

contractors = sa.Table(
    "contractors",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("licence_no", sa.Text),
    sa.Column("regions", pg.ARRAY(sa.Text)),
    sa.Column("elevators_maintained", sa.Integer),
    sa.Column("licensed_workers", sa.Integer),
    sa.Column("registered_by", sa.Text),
)
job_events = sa.Table(
    "job_events",
    m,
    sa.Column("recorded_by", sa.Text, primary_key=True),
    sa.Column("event_id", sa.Text, primary_key=True),
    sa.Column("contractor_id", sa.Text),
    sa.Column("region", sa.Text),
    sa.Column("elevator_id", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("occurred_on", sa.Date),
    sa.Column("part", sa.Text),
    sa.Column("arrival_minutes", sa.Float),
    sa.Column("repaired_within_24h", sa.Boolean),
    sa.Column("quoted_fen", sa.BigInteger),
    sa.Column("trimmed_fen", sa.BigInteger),
    sa.Column("inspection_first_pass", sa.Boolean),
)
scorecards = sa.Table(
    "scorecards",
    m,
    sa.Column("contractor_id", sa.Text, primary_key=True),
    sa.Column("region", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, primary_key=True),
    sa.Column("weights_version", sa.Text),
    sa.Column("events", sa.Integer),
    sa.Column("composite", sa.Float),
    sa.Column("rank", sa.Integer),
    sa.Column("peers", sa.Integer),
    sa.Column("percentile", sa.Float),
    sa.Column("metrics", pg.JSONB),
)
standings = sa.Table(
    "standings",
    m,
    sa.Column("contractor_id", sa.Text, primary_key=True),
    sa.Column("period", sa.Text, primary_key=True),
    sa.Column("status", sa.Text),
    sa.Column("reason_code", sa.Text),
    sa.Column("explanation_en", sa.Text),
    sa.Column("explanation_zh", sa.Text),
    sa.Column("since", sa.Text),
    sa.Column("rules_version", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
)
overrides = sa.Table(
    "overrides",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("contractor_id", sa.Text),
    sa.Column("status", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("requested_by", sa.Text),
    sa.Column("approved_by", sa.Text),
    sa.Column("effective_from", sa.Text),
    sa.Column("until", sa.Text),
    sa.Column("requested_at", sa.DateTime(timezone=True)),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
)


@dataclass(frozen=True)
class ContractorRow:
    id: str
    name: str
    licence_no: str
    regions: tuple[str, ...]
    elevators_maintained: int
    licensed_workers: int


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    event: JobEvent


@dataclass(frozen=True)
class OverrideRow:
    id: str
    contractor_id: str
    status: Status
    reason: str
    requested_by: str
    approved_by: str | None
    effective_from: Period
    until: Period | None
    requested_at: dt.datetime | None = None  # set by the database when stored
    approved_at: dt.datetime | None = None

    def approved(self) -> ManualOverride:
        assert self.approved_by is not None
        return ManualOverride(
            contractor_id=self.contractor_id,
            status=self.status,
            reason=self.reason,
            requested_by=self.requested_by,
            approved_by=self.approved_by,
            effective_from=self.effective_from,
            until=self.until,
        )


def _contractor(row: Any) -> ContractorRow:
    return ContractorRow(
        id=row.id,
        name=row.name,
        licence_no=row.licence_no,
        regions=tuple(row.regions),
        elevators_maintained=row.elevators_maintained,
        licensed_workers=row.licensed_workers,
    )


def _standing(row: Any) -> StandingDecision:
    return StandingDecision(
        contractor_id=row.contractor_id,
        period=Period.parse(row.period),
        status=Status(row.status),
        reason_code=StandingReason(row.reason_code),
        explanation_en=row.explanation_en,
        explanation_zh=row.explanation_zh,
        since=Period.parse(row.since),
        rules_version=row.rules_version,
    )


def _scorecard(row: Any) -> Scorecard:
    return Scorecard(
        contractor_id=row.contractor_id,
        region=row.region,
        period=Period.parse(row.period),
        weights_version=row.weights_version,
        events=row.events,
        metrics=tuple(MetricScore(**{**m, "metric": Metric(m["metric"])}) for m in row.metrics),
        composite=row.composite,
        rank=row.rank,
        peers=row.peers,
        percentile=row.percentile,
    )


def _override(row: Any) -> OverrideRow:
    return OverrideRow(
        id=row.id,
        contractor_id=row.contractor_id,
        status=Status(row.status),
        reason=row.reason,
        requested_by=row.requested_by,
        approved_by=row.approved_by,
        effective_from=Period.parse(row.effective_from),
        until=None if row.until is None else Period.parse(row.until),
        requested_at=row.requested_at,
        approved_at=row.approved_at,
    )


class ContractorsStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ the register

    async def add_contractor(self, row: ContractorRow, *, registered_by: str) -> bool:
        """False if the id or the licence number is registered already."""
        result = await self.conn.execute(
            pg.insert(contractors)
            .values(**asdict(row) | {"regions": list(row.regions)}, registered_by=registered_by)
            .on_conflict_do_nothing()
            .returning(contractors.c.id)
        )
        return result.first() is not None

    async def contractor(self, contractor_id: str) -> ContractorRow | None:
        row = (
            await self.conn.execute(sa.select(contractors).where(contractors.c.id == contractor_id))
        ).first()
        return None if row is None else _contractor(row)

    async def contractor_regions(self, ids: Iterable[str]) -> dict[str, tuple[str, ...]]:
        rows = await self.conn.execute(
            sa.select(contractors.c.id, contractors.c.regions).where(
                contractors.c.id.in_(sorted(set(ids)))
            )
        )
        return {r.id: tuple(r.regions) for r in rows}

    async def contractors_in(
        self,
        within: str,
        *,
        visible: Sequence[str] | None,
        only_id: str | None = None,
        offset: int,
        limit: int,
    ) -> list[ContractorRow]:
        """Contractors with a region under ``within`` that is also under one of the ``visible``
        prefixes (None: every region), by id; ``only_id`` narrows to one contractor."""
        code = sa.func.unnest(contractors.c.regions).table_valued("code").render_derived("r")
        conditions: list[sa.ColumnElement[bool]] = [sa.func.starts_with(code.c.code, within)]
        if visible is not None:
            conditions.append(
                sa.or_(sa.false(), *(sa.func.starts_with(code.c.code, p) for p in visible))
            )
        query = sa.select(contractors).where(sa.exists().select_from(code).where(*conditions))
        if only_id is not None:
            query = query.where(contractors.c.id == only_id)
        rows = await self.conn.execute(query.order_by(contractors.c.id).offset(offset).limit(limit))
        return [_contractor(r) for r in rows]

    async def all_contractor_ids(self) -> list[str]:
        return list(
            (await self.conn.execute(sa.select(contractors.c.id).order_by(contractors.c.id)))
            .scalars()
            .all()
        )

    # ------------------------------------------------------------ job events

    async def add_events(self, events: Sequence[StoredEvent], *, recorded_by: str) -> int:
        """Stores the events not stored before (same sender, same id); how many were new."""
        if not events:
            return 0
        rows = [
            {
                **asdict(e.event),
                "kind": e.event.kind.value,
                "event_id": e.event_id,
                "recorded_by": recorded_by,
            }
            for e in events
        ]
        result = await self.conn.execute(
            pg.insert(job_events).on_conflict_do_nothing().returning(job_events.c.event_id), rows
        )
        return len(result.all())

    async def events_between(self, start: dt.date, end: dt.date) -> list[JobEvent]:
        rows = await self.conn.execute(
            sa.select(
                job_events.c.contractor_id,
                job_events.c.region,
                job_events.c.elevator_id,
                job_events.c.kind,
                job_events.c.occurred_on,
                job_events.c.part,
                job_events.c.arrival_minutes,
                job_events.c.repaired_within_24h,
                job_events.c.quoted_fen,
                job_events.c.trimmed_fen,
                job_events.c.inspection_first_pass,
            )
            .where(job_events.c.occurred_on.between(start, end))
            .order_by(job_events.c.occurred_on, job_events.c.recorded_by, job_events.c.event_id)
        )
        return [JobEvent(**{**r._mapping, "kind": EventKind(r.kind)}) for r in rows]

    # ------------------------------------------------------------ scorecards

    async def replace_scorecards(self, period: Period, cards: Sequence[Scorecard]) -> None:
        """The month's scorecards are exactly ``cards``: a recompute leaves no stale row."""
        await self.conn.execute(scorecards.delete().where(scorecards.c.period == str(period)))
        if cards:
            await self.conn.execute(
                scorecards.insert(),
                [
                    {
                        **{k: v for k, v in asdict(c).items() if k != "metrics"},
                        "period": str(c.period),
                        "metrics": [asdict(s) | {"metric": s.metric.value} for s in c.metrics],
                    }
                    for c in cards
                ],
            )

    async def scorecards_of(self, contractor_id: str, period: Period) -> list[Scorecard]:
        rows = await self.conn.execute(
            sa.select(scorecards)
            .where(scorecards.c.contractor_id == contractor_id, scorecards.c.period == str(period))
            .order_by(scorecards.c.region)
        )
        return [_scorecard(r) for r in rows]

    async def scorecard_periods(self, region: str, *, limit: int) -> list[Period]:
        """The months with scorecards in ``region``, newest first."""
        rows = await self.conn.execute(
            sa.select(scorecards.c.period)
            .where(scorecards.c.region == region)
            .group_by(scorecards.c.period)
            .order_by(scorecards.c.period.desc())
            .limit(limit)
        )
        return [Period.parse(p) for p in rows.scalars()]

    async def rankings(
        self, region: str, period: Period, *, offset: int, limit: int
    ) -> list[Scorecard]:
        rows = await self.conn.execute(
            sa.select(scorecards)
            .where(scorecards.c.region == region, scorecards.c.period == str(period))
            .order_by(scorecards.c.rank, scorecards.c.contractor_id)
            .offset(offset)
            .limit(limit)
        )
        return [_scorecard(r) for r in rows]

    # ------------------------------------------------------------ standings

    async def put_standings(self, decisions: Sequence[StandingDecision]) -> None:
        if not decisions:
            return
        rows = [
            {
                **asdict(d),
                "period": str(d.period),
                "since": str(d.since),
                "status": d.status.value,
                "reason_code": d.reason_code.value,
            }
            for d in decisions
        ]
        insert = pg.insert(standings)
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[standings.c.contractor_id, standings.c.period],
                set_={
                    c: insert.excluded[c] for c in rows[0] if c not in ("contractor_id", "period")
                }
                | {"decided_at": sa.func.now()},
            ),
            rows,
        )

    async def standings_of(self, contractor_id: str) -> list[StandingDecision]:
        """Newest first."""
        rows = await self.conn.execute(
            sa.select(standings)
            .where(standings.c.contractor_id == contractor_id)
            .order_by(standings.c.period.desc())
        )
        return [_standing(r) for r in rows]

    async def standings_in_force(
        self, contractor_ids: Sequence[str], now: Period
    ) -> dict[str, StandingDecision]:
        """Each contractor's latest decision up to ``now`` (none for one never decided)."""
        rows = await self.conn.execute(
            sa.select(standings)
            .distinct(standings.c.contractor_id)
            .where(
                standings.c.contractor_id.in_(sorted(set(contractor_ids))),
                standings.c.period <= str(now),
            )
            .order_by(standings.c.contractor_id, standings.c.period.desc())
        )
        return {r.contractor_id: _standing(r) for r in rows}

    async def standings_before(self, period: Period) -> dict[str, list[StandingDecision]]:
        """Every contractor's decisions before ``period``, oldest first."""
        rows = await self.conn.execute(
            sa.select(standings)
            .where(standings.c.period < str(period))
            .order_by(standings.c.contractor_id, standings.c.period)
        )
        history: dict[str, list[StandingDecision]] = {}
        for r in rows:
            history.setdefault(r.contractor_id, []).append(_standing(r))
        return history

    # ------------------------------------------------------------ overrides

    async def add_override(self, row: OverrideRow) -> dt.datetime:
        """Stores the request; when it was stored."""
        result = await self.conn.execute(
            overrides.insert()
            .values(
                id=row.id,
                contractor_id=row.contractor_id,
                status=row.status.value,
                reason=row.reason,
                requested_by=row.requested_by,
                effective_from=str(row.effective_from),
                until=None if row.until is None else str(row.until),
            )
            .returning(overrides.c.requested_at)
        )
        at: dt.datetime = result.scalar_one()
        return at

    async def override_for_update(self, override_id: str) -> OverrideRow | None:
        row = (
            await self.conn.execute(
                sa.select(overrides).where(overrides.c.id == override_id).with_for_update()
            )
        ).first()
        return None if row is None else _override(row)

    async def approve_override(self, override_id: str, approved_by: str) -> dt.datetime:
        """Records the approval; when it was recorded."""
        result = await self.conn.execute(
            overrides.update()
            .where(overrides.c.id == override_id)
            .values(approved_by=approved_by, approved_at=sa.func.now())
            .returning(overrides.c.approved_at)
        )
        at: dt.datetime = result.scalar_one()
        return at

    async def overrides_of(self, contractor_id: str, *, limit: int) -> list[OverrideRow]:
        """Newest request first."""
        rows = await self.conn.execute(
            sa.select(overrides)
            .where(overrides.c.contractor_id == contractor_id)
            .order_by(overrides.c.requested_at.desc(), overrides.c.id)
            .limit(limit)
        )
        return [_override(r) for r in rows]

    async def approved_overrides(self) -> list[ManualOverride]:
        rows = await self.conn.execute(
            sa.select(overrides)
            .where(overrides.c.approved_by.is_not(None))
            .order_by(overrides.c.approved_at)
        )
        return [_override(r).approved() for r in rows]
