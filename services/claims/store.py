"""The claims schema in PostgreSQL: the only module that speaks SQL.

State changes are conditional updates (``… WHERE state = :expected``), so two concurrent
requests can never both move a claim; the loser sees zero rows and is told the state changed.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.claims.domain.audit import AuditEvent
from shared.outbox import OutboxPage, events_after

m = sa.MetaData()
TS = sa.DateTime(timezone=True)

claims = sa.Table(
    "claims",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("elevator_id", sa.Text),
    sa.Column("registration_code", sa.Text),
    sa.Column("region_code", sa.Text),
    sa.Column("category", sa.Text),
    sa.Column("peril", sa.Text),
    sa.Column("description", sa.Text),
    sa.Column("source", sa.Text),
    sa.Column("state", sa.Text),
    sa.Column("policy_id", sa.Text),
    sa.Column("contractor_id", sa.Text),
    sa.Column("report_count", sa.Integer),
    sa.Column("reported_at", TS),
    sa.Column("reported_by", sa.Text),
    sa.Column("quote_submitter", sa.Text),
    sa.Column("recommendation", pg.JSONB),
    sa.Column("first_decision", pg.JSONB),
    sa.Column("first_reviewer", sa.Text),
    sa.Column("second_decision", pg.JSONB),
    sa.Column("second_reviewer", sa.Text),
    sa.Column("approved_total_fen", sa.BigInteger),
    sa.Column("line_approvals", pg.JSONB),
    sa.Column("pm_confirmed_by", sa.Text),
    sa.Column("owner_confirmed_by", sa.Text),
    sa.Column("escalated_at", TS),
    sa.Column("updated_at", TS),
)
claim_reports = sa.Table(
    "claim_reports",
    m,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("source_event_id", sa.Text, primary_key=True),
    sa.Column("claim_id", sa.Text),
    sa.Column("received_at", TS),
    sa.Column("reported_by", sa.Text),
    sa.Column("occurred_at", TS),
)
transitions = sa.Table(
    "transitions",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("claim_id", sa.Text),
    sa.Column("from_state", sa.Text),
    sa.Column("to_state", sa.Text),
    sa.Column("action", sa.Text),
    sa.Column("actor", sa.Text),
    sa.Column("role", sa.Text),
    sa.Column("at", TS),
    sa.Column("reason", sa.Text),
)
quotes = sa.Table(
    "quotes",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("lines", pg.JSONB),
    sa.Column("total_fen", sa.BigInteger),
    sa.Column("submitted_by", sa.Text),
    sa.Column("submitted_at", TS),
)
clocks = sa.Table(
    "clocks",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, primary_key=True),
    sa.Column("starts_at", TS),
    sa.Column("due_at", TS),
    sa.Column("target_at", TS),
    sa.Column("met_at", TS),
    sa.Column("breached_at", TS),
)
payouts = sa.Table(
    "payouts",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("policy_id", sa.Text),
    sa.Column("contractor_id", sa.Text),
    sa.Column("amount_fen", sa.BigInteger),
    sa.Column("paid_at", TS),
    sa.Column("paid_by", sa.Text),
)
audit_events = sa.Table(
    "audit_events",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("at", TS),
    sa.Column("actor", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("payload", pg.JSONB),
    sa.Column("prev_hash", sa.Text),
    sa.Column("hash", sa.Text),
)
outbox = sa.Table(
    "outbox",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("topic", sa.Text),
    sa.Column("key", sa.Text),
    sa.Column("payload", pg.JSONB),
    sa.Column("created_at", TS),
)


def new_claim_id() -> str:
    return f"clm_{uuid.uuid4().hex}"


@dataclass(frozen=True)
class ClaimRow:
    """A claim as stored (the columns of ``claims``)."""

    id: str
    elevator_id: str
    registration_code: str
    region_code: str
    category: str
    peril: str
    description: str
    source: str
    state: str
    policy_id: str | None
    contractor_id: str | None
    report_count: int
    reported_at: datetime
    reported_by: str
    quote_submitter: str | None
    recommendation: dict[str, Any] | None
    first_decision: dict[str, Any] | None
    first_reviewer: str | None
    second_decision: dict[str, Any] | None
    second_reviewer: str | None
    approved_total_fen: int | None
    line_approvals: dict[str, Any] | None
    pm_confirmed_by: str | None
    owner_confirmed_by: str | None
    escalated_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class QuoteRow:
    version: int
    lines: list[dict[str, Any]]
    total_fen: int
    submitted_by: str
    submitted_at: datetime


@dataclass(frozen=True)
class ClockRow:
    kind: str
    starts_at: datetime
    due_at: datetime
    target_at: datetime | None
    met_at: datetime | None
    breached_at: datetime | None


@dataclass(frozen=True)
class PayoutRow:
    policy_id: str
    contractor_id: str
    amount_fen: int
    paid_at: datetime


@dataclass(frozen=True)
class ClaimFigures:
    by_state: dict[str, int]
    breaches: dict[str, int]  # clock kind → clocks that ran out (met late or still open)
    decided_quoted_fen: int  # the last quote's total, over claims with an approved amount
    approved_fen: int  # what was approved of those quotes

    @property
    def trimmed_fen(self) -> int:
        return self.decided_quoted_fen - self.approved_fen


def _row(cls: type[Any], row: Any) -> Any:
    return cls(**{f: getattr(row, f) for f in cls.__dataclass_fields__})


class ClaimsStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ intake

    async def lock_fold_key(self, key: str) -> None:
        """Serialise intake for one elevator and fault until the transaction ends."""
        await self.conn.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )

    async def claim_for_report(self, source: str, source_event_id: str) -> str | None:
        row = (
            await self.conn.execute(
                sa.select(claim_reports.c.claim_id).where(
                    claim_reports.c.source == source,
                    claim_reports.c.source_event_id == source_event_id,
                )
            )
        ).first()
        return None if row is None else str(row.claim_id)

    async def open_claim_id(self, elevator_id: str, category: str) -> str | None:
        row = (
            await self.conn.execute(
                sa.select(claims.c.id).where(
                    claims.c.elevator_id == elevator_id,
                    claims.c.category == category,
                    claims.c.state.not_in(("rejected", "paid", "closed")),
                )
            )
        ).first()
        return None if row is None else str(row.id)

    async def any_claim_reported_by(self, subject: str) -> bool:
        row = (
            await self.conn.execute(
                sa.select(claims.c.id).where(claims.c.reported_by == subject).limit(1)
            )
        ).first()
        return row is not None

    async def claims_in_year(self, elevator_id: str, *, before: datetime) -> int:
        """This elevator's claims reported in the 365 days up to ``before`` (inclusive)."""
        return int(
            (
                await self.conn.execute(
                    sa.select(sa.func.count()).where(
                        claims.c.elevator_id == elevator_id,
                        claims.c.reported_at <= before,
                        claims.c.reported_at > before - timedelta(days=365),
                    )
                )
            ).scalar_one()
        )

    async def add_claim(self, **values: Any) -> None:
        await self.conn.execute(claims.insert().values(**values))

    async def add_report(
        self,
        *,
        source: str,
        source_event_id: str,
        claim_id: str,
        received_at: datetime,
        reported_by: str,
        occurred_at: datetime,
    ) -> None:
        await self.conn.execute(
            claim_reports.insert().values(
                source=source,
                source_event_id=source_event_id,
                claim_id=claim_id,
                received_at=received_at,
                reported_by=reported_by,
                occurred_at=occurred_at,
            )
        )

    async def count_report(self, claim_id: str) -> None:
        await self.conn.execute(
            claims.update()
            .where(claims.c.id == claim_id)
            .values(report_count=claims.c.report_count + 1)
        )

    # ------------------------------------------------------------ claims

    async def claim(self, claim_id: str, *, for_update: bool = False) -> ClaimRow | None:
        query = claims.select().where(claims.c.id == claim_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else _row(ClaimRow, row)

    async def move(
        self, claim_id: str, *, expected: str, to: str, at: datetime, **values: Any
    ) -> bool:
        """Move the claim from ``expected`` to ``to`` (and set ``values``) or do nothing."""
        result = await self.conn.execute(
            claims.update()
            .where(claims.c.id == claim_id, claims.c.state == expected)
            .values(state=to, updated_at=at, **values)
        )
        return result.rowcount == 1

    async def update(self, claim_id: str, **values: Any) -> None:
        await self.conn.execute(claims.update().where(claims.c.id == claim_id).values(**values))

    async def add_transition(
        self,
        *,
        claim_id: str,
        from_state: str,
        to_state: str,
        action: str,
        actor: str,
        role: str,
        at: datetime,
        reason: str,
    ) -> None:
        await self.conn.execute(
            transitions.insert().values(
                claim_id=claim_id,
                from_state=from_state,
                to_state=to_state,
                action=action,
                actor=actor,
                role=role,
                at=at,
                reason=reason,
            )
        )

    async def timeline(self, claim_id: str) -> list[dict[str, Any]]:
        rows = await self.conn.execute(
            transitions.select()
            .where(transitions.c.claim_id == claim_id)
            .order_by(transitions.c.id)
        )
        return [dict(r._mapping) for r in rows]

    async def list_claims(
        self,
        *,
        state: str,
        region_prefixes: Sequence[str] | None,
        region_code: str,
        contractor_id: str,
        breached_only: bool,
        offset: int,
        limit: int,
    ) -> list[ClaimRow]:
        """Most urgent first: the earliest running deadline, then the largest amount."""
        next_due = (
            sa.select(sa.func.min(clocks.c.due_at))
            .where(clocks.c.claim_id == claims.c.id, clocks.c.met_at.is_(None))
            .scalar_subquery()
        )
        query = claims.select()
        if state:
            query = query.where(claims.c.state == state)
        if region_code:
            query = query.where(claims.c.region_code == region_code)
        if region_prefixes is not None:
            query = query.where(
                sa.or_(*(claims.c.region_code.startswith(p) for p in region_prefixes))
            )
        if contractor_id:
            query = query.where(claims.c.contractor_id == contractor_id)
        if breached_only:
            query = query.where(
                sa.exists().where(
                    clocks.c.claim_id == claims.c.id, clocks.c.breached_at.is_not(None)
                )
            )
        query = query.order_by(
            next_due.asc().nulls_last(),
            sa.func.coalesce(claims.c.approved_total_fen, 0).desc(),
            claims.c.id,
        )
        rows = await self.conn.execute(query.offset(offset).limit(limit))
        return [_row(ClaimRow, r) for r in rows]

    # ------------------------------------------------------------ quotes

    async def add_quote(
        self, claim_id: str, *, lines: list[dict[str, Any]], total_fen: int, by: str, at: datetime
    ) -> int:
        version = (
            await self.conn.execute(
                sa.select(sa.func.coalesce(sa.func.max(quotes.c.version), 0) + 1).where(
                    quotes.c.claim_id == claim_id
                )
            )
        ).scalar_one()
        await self.conn.execute(
            quotes.insert().values(
                claim_id=claim_id,
                version=version,
                lines=lines,
                total_fen=total_fen,
                submitted_by=by,
                submitted_at=at,
            )
        )
        return int(version)

    async def latest_quote(self, claim_id: str) -> tuple[QuoteRow | None, int]:
        rows = (
            await self.conn.execute(
                quotes.select()
                .where(quotes.c.claim_id == claim_id)
                .order_by(quotes.c.version.desc())
            )
        ).all()
        return (_row(QuoteRow, rows[0]) if rows else None), len(rows)

    # ------------------------------------------------------------ clocks

    async def start_clock(
        self,
        claim_id: str,
        *,
        kind: str,
        starts_at: datetime,
        due_at: datetime,
        target_at: datetime | None,
    ) -> None:
        await self.conn.execute(
            pg.insert(clocks)
            .values(
                claim_id=claim_id,
                kind=kind,
                starts_at=starts_at,
                due_at=due_at,
                target_at=target_at,
            )
            .on_conflict_do_nothing()
        )

    async def stop_clock(self, claim_id: str, kind: str, at: datetime) -> ClockRow | None:
        """Mark the clock met at ``at``; a late stop records the breach at the same moment."""
        row = (
            await self.conn.execute(
                clocks.update()
                .where(
                    clocks.c.claim_id == claim_id, clocks.c.kind == kind, clocks.c.met_at.is_(None)
                )
                .values(
                    met_at=at,
                    breached_at=sa.case(
                        (clocks.c.breached_at.is_not(None), clocks.c.breached_at),
                        (clocks.c.due_at < at, at),
                        else_=None,
                    ),
                )
                .returning(*clocks.c)
            )
        ).first()
        return None if row is None else _row(ClockRow, row)

    async def clocks(self, claim_id: str) -> list[ClockRow]:
        rows = await self.conn.execute(
            clocks.select()
            .where(clocks.c.claim_id == claim_id)
            .order_by(clocks.c.starts_at, clocks.c.kind)
        )
        return [_row(ClockRow, r) for r in rows]

    async def flag_breaches(self, now: datetime) -> list[tuple[str, str, datetime]]:
        """Flag every running clock past due; returns (claim, kind, due) of the new breaches."""
        rows = await self.conn.execute(
            clocks.update()
            .where(clocks.c.met_at.is_(None), clocks.c.breached_at.is_(None), clocks.c.due_at < now)
            .values(breached_at=now)
            .returning(clocks.c.claim_id, clocks.c.kind, clocks.c.due_at)
        )
        return [(r.claim_id, r.kind, r.due_at) for r in rows]

    async def breach_counts(self) -> dict[str, int]:
        rows = await self.conn.execute(
            sa.select(clocks.c.kind, sa.func.count())
            .where(clocks.c.breached_at.is_not(None))
            .group_by(clocks.c.kind)
        )
        return {r[0]: int(r[1]) for r in rows}

    # ------------------------------------------------------------ payouts

    async def add_payout(
        self,
        claim_id: str,
        *,
        policy_id: str,
        contractor_id: str,
        amount_fen: int,
        at: datetime,
        by: str,
    ) -> bool:
        result = await self.conn.execute(
            pg.insert(payouts)
            .values(
                claim_id=claim_id,
                policy_id=policy_id,
                contractor_id=contractor_id,
                amount_fen=amount_fen,
                paid_at=at,
                paid_by=by,
            )
            .on_conflict_do_nothing()
            .returning(payouts.c.claim_id)
        )
        return result.first() is not None

    async def payout(self, claim_id: str) -> PayoutRow | None:
        row = (
            await self.conn.execute(payouts.select().where(payouts.c.claim_id == claim_id))
        ).first()
        return None if row is None else _row(PayoutRow, row)

    # ------------------------------------------------------------ audit and outbox

    async def last_audit_event(self, claim_id: str) -> AuditEvent | None:
        row = (
            await self.conn.execute(
                audit_events.select()
                .where(audit_events.c.claim_id == claim_id)
                .order_by(audit_events.c.seq.desc())
                .limit(1)
            )
        ).first()
        return None if row is None else _row(AuditEvent, row)

    async def append_audit(self, event: AuditEvent) -> None:
        await self.conn.execute(
            audit_events.insert().values(
                claim_id=event.claim_id,
                seq=event.seq,
                at=event.at,
                actor=event.actor,
                kind=event.kind,
                payload=dict(event.payload),
                prev_hash=event.prev_hash,
                hash=event.hash,
            )
        )

    async def audit_trail(self, claim_id: str) -> list[AuditEvent]:
        rows = await self.conn.execute(
            audit_events.select()
            .where(audit_events.c.claim_id == claim_id)
            .order_by(audit_events.c.seq)
        )
        return [_row(AuditEvent, r) for r in rows]

    async def audited_claim_ids(self) -> list[str]:
        rows = await self.conn.execute(sa.select(audit_events.c.claim_id).distinct())
        return [str(r[0]) for r in rows]

    async def emit(self, topic: str, key: str, payload: dict[str, Any]) -> None:
        await self.conn.execute(outbox.insert().values(topic=topic, key=key, payload=payload))

    async def events_after(
        self, after_xid: int, after_id: int, limit: int, cursor: str
    ) -> OutboxPage:
        """The outbox in commit-safe order (``shared.outbox``)."""
        return await events_after(self.conn, after_xid, after_id, limit, cursor=cursor)

    # ------------------------------------------------------------ figures for the metrics

    async def figures(self) -> ClaimFigures:
        """Claims by state, breached clocks by kind, and the money of decided quotes.

        Three aggregates over the whole schema, for a scrape every 15–60 s: at a city's
        volume (a few hundred thousand claims) each is a sequential scan of tens of ms.
        """
        by_state = await self.conn.execute(
            sa.select(claims.c.state, sa.func.count()).group_by(claims.c.state)
        )
        breaches = await self.conn.execute(
            sa.select(clocks.c.kind, sa.func.count())
            .where(clocks.c.breached_at.is_not(None))
            .group_by(clocks.c.kind)
        )
        latest = (
            sa.select(quotes.c.claim_id, sa.func.max(quotes.c.version).label("version"))
            .group_by(quotes.c.claim_id)
            .subquery()
        )
        quoted, approved = (
            await self.conn.execute(
                sa.select(
                    sa.func.coalesce(sa.func.sum(quotes.c.total_fen), 0),
                    sa.func.coalesce(sa.func.sum(claims.c.approved_total_fen), 0),
                )
                .select_from(
                    claims.join(latest, latest.c.claim_id == claims.c.id).join(
                        quotes,
                        (quotes.c.claim_id == latest.c.claim_id)
                        & (quotes.c.version == latest.c.version),
                    )
                )
                .where(claims.c.approved_total_fen.is_not(None))
            )
        ).one()
        return ClaimFigures(
            by_state={str(s): int(n) for s, n in by_state},
            breaches={str(k): int(n) for k, n in breaches},
            decided_quoted_fen=int(quoted),
            approved_fen=int(approved),
        )
