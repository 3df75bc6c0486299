"""The exchange schema: the only module that speaks SQL.

Imported rows go in bulk: a batch is copied (COPY, binary) into a temporary staging table and
applied with one ``INSERT … SELECT … ON CONFLICT`` that only replaces a lower version, so a
million-row file is a few dozen statements, and a re-sent file is a no-op by construction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

from services.exchange.domain.records import (
    Code,
    FieldType,
    ParsedBatch,
    RecordKind,
    Rejection,
)
from shared.pgcopy import CopyColumn, PgType, encode

m = sa.MetaData()

partners = sa.Table(
    "partners",
    m,
    sa.Column("partner_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("regions", pg.ARRAY(sa.Text)),
    sa.Column("feeds", pg.ARRAY(sa.Text)),
    sa.Column("inbox_addr", sa.Text),
    sa.Column("topics", pg.ARRAY(sa.Text)),
    sa.Column("outbound_version", sa.Integer),
    sa.Column("registered_by", sa.Text),
)
imports = sa.Table(
    "imports",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("partner_id", sa.Text),
    sa.Column("request_id", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("format", sa.Text),
    sa.Column("file_name", sa.Text),
    sa.Column("regions", pg.ARRAY(sa.Text)),
    sa.Column("state", sa.Text),
    sa.Column("rows", sa.BigInteger),
    sa.Column("applied", sa.BigInteger),
    sa.Column("unchanged", sa.BigInteger),
    sa.Column("stale", sa.BigInteger),
    sa.Column("rejected", sa.BigInteger),
    sa.Column("warnings", sa.BigInteger),
    sa.Column("rule_set_version", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("started_at", sa.DateTime(timezone=True)),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)
rejections = sa.Table(
    "rejections",
    m,
    sa.Column("import_id", sa.Text, primary_key=True),
    sa.Column("row", sa.BigInteger, primary_key=True),
    sa.Column("field", sa.Text, primary_key=True),
    sa.Column("code", sa.Text, primary_key=True),
    sa.Column("record_id", sa.Text),
    sa.Column("reason", sa.Text),
)
alarms = sa.Table(
    "alarms",
    m,
    sa.Column("partner_id", sa.Text, primary_key=True),
    sa.Column("alarm_id", sa.Text, primary_key=True),
    sa.Column("registration_code", sa.Text),
    sa.Column("fault_category", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("description", sa.Text),
    sa.Column("regions", pg.ARRAY(sa.Text)),
    sa.Column("state", sa.Text),
    sa.Column("claim_id", sa.Text),
    sa.Column("reason", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
)
push_receipts = sa.Table(
    "push_receipts",
    m,
    sa.Column("partner_id", sa.Text, primary_key=True),
    sa.Column("digest", sa.Text, primary_key=True),
    sa.Column("signed_at", sa.DateTime(timezone=True)),
)
relay_cursors = sa.Table(
    "relay_cursors",
    m,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("cursor", sa.Text),
    sa.Column("updated_at", sa.DateTime(timezone=True)),
)
claim_regions = sa.Table(
    "claim_regions",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("region_code", sa.Text),
)
deliveries = sa.Table(
    "deliveries",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("partner_id", sa.Text),
    sa.Column("dedup_id", sa.Text),
    sa.Column("topic", sa.Text),
    sa.Column("region_code", sa.Text),
    sa.Column("payload", pg.JSONB),
    sa.Column("occurred_at", sa.DateTime(timezone=True)),
    sa.Column("state", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),
    sa.Column("last_error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True)),
    sa.Column("delivered_at", sa.DateTime(timezone=True)),
)

_PG_STAGE = {
    FieldType.STR: PgType.TEXT,
    FieldType.INT: PgType.INT8,
    FieldType.FLOAT: PgType.FLOAT8,
    FieldType.DATE: PgType.DATE,  # from day numbers: no Python date objects on the hot path
    FieldType.BOOL: PgType.BOOL,
}


STAGE_KEYS = ("row_no", "record_id", "version", "region_code", "flags")


def _pick(values: Sequence[Any], good: np.ndarray, n: int) -> Sequence[Any]:
    """``values`` at the ``good`` positions (all of them, as they are, when none is bad)."""
    if good.size == n:
        return values
    return list(map(values.__getitem__, good.tolist()))


@dataclass(frozen=True)
class Staged:
    """A batch's good rows as a binary COPY payload for its kind's staging table."""

    kind: RecordKind
    count: int
    payload: memoryview


def stage_batch(batch: ParsedBatch, good: np.ndarray, flags: Sequence[str | None]) -> Staged:
    """The ``good`` rows of ``batch`` (``flags[i]``: the warning codes of ``good[i]``),
    encoded column by column (shared/pgcopy.py): no Python object per row. Pure CPU work,
    so the caller may run it in a worker thread while another batch is being written."""
    n = len(batch)
    columns = [
        CopyColumn(PgType.INT8, batch.rows[good]),
        CopyColumn(PgType.TEXT, _pick(batch.record_ids, good, n)),
        CopyColumn(PgType.INT8, batch.versions[good]),
        CopyColumn(PgType.TEXT, _pick(batch.regions, good, n)),
        CopyColumn(PgType.TEXT, flags),
    ]
    for f in batch.kind.fields:
        column = batch.columns[f.name]
        if isinstance(column.values, list):
            columns.append(CopyColumn(PgType.TEXT, _pick(column.values, good, n)))
        else:
            values, nulls = column.values[good], column.nulls[good]
            columns.append(CopyColumn(_PG_STAGE[f.type], values, nulls))
    return Staged(batch.kind, int(good.size), encode(columns, int(good.size)))


@dataclass(frozen=True)
class PartnerRow:
    partner_id: str
    name: str
    kind: str
    regions: tuple[str, ...]
    feeds: tuple[str, ...]
    inbox_addr: str
    topics: tuple[str, ...]
    outbound_version: int


@dataclass(frozen=True)
class ImportRow:
    id: str
    partner_id: str
    request_id: str
    kind: str
    format: str
    file_name: str
    regions: tuple[str, ...]
    state: str
    rows: int
    applied: int
    unchanged: int
    stale: int
    rejected: int
    warnings: int
    rule_set_version: str
    error: str
    started_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True)
class Progress:
    rows: int = 0
    applied: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0
    warnings: int = 0


@dataclass(frozen=True)
class Applied:
    applied: int
    stale: int
    conflicts: tuple[Rejection, ...]


@dataclass(frozen=True)
class AlarmRow:
    partner_id: str
    alarm_id: str
    registration_code: str
    fault_category: str
    occurred_at: datetime
    description: str
    regions: tuple[str, ...]
    state: str
    claim_id: str | None
    reason: str
    attempts: int


@dataclass(frozen=True)
class DeliveryRow:
    id: int
    partner_id: str
    dedup_id: str
    topic: str
    region_code: str
    payload: dict[str, Any]
    occurred_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    created_at: datetime
    delivered_at: datetime | None


def _row(cls: type[Any], row: Any) -> Any:
    values = {f: getattr(row, f) for f in cls.__dataclass_fields__}
    for name in ("regions", "feeds", "topics"):
        if name in values:
            values[name] = tuple(values[name])
    if "payload" in values and isinstance(values["payload"], str):
        values["payload"] = json.loads(values["payload"])
    return cls(**values)


def _table(kind: RecordKind) -> str:
    return f"{kind.name}_records"


class ExchangeStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ partners

    async def add_partner(self, row: PartnerRow, *, registered_by: str) -> None:
        values = {
            **row.__dict__,
            "regions": list(row.regions),
            "feeds": list(row.feeds),
            "topics": list(row.topics),
        }
        insert = pg.insert(partners).values(**values, registered_by=registered_by)
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[partners.c.partner_id],
                set_={k: insert.excluded[k] for k in values if k != "partner_id"},
            )
        )

    async def partner(self, partner_id: str) -> PartnerRow | None:
        row = (
            await self.conn.execute(sa.select(partners).where(partners.c.partner_id == partner_id))
        ).first()
        return None if row is None else _row(PartnerRow, row)

    async def subscribers(self) -> list[PartnerRow]:
        rows = await self.conn.execute(
            sa.select(partners)
            .where(partners.c.inbox_addr != "", sa.func.cardinality(partners.c.topics) > 0)
            .order_by(partners.c.partner_id)
        )
        return [_row(PartnerRow, r) for r in rows]

    # ------------------------------------------------------------ imports

    async def start_import(self, row: ImportRow) -> bool:
        """False when this partner's request id started an import already."""
        values = {**row.__dict__, "regions": list(row.regions)}
        result = await self.conn.execute(
            pg.insert(imports).values(**values).on_conflict_do_nothing().returning(imports.c.id)
        )
        return result.first() is not None

    async def import_by_request(self, partner_id: str, request_id: str) -> ImportRow | None:
        row = (
            await self.conn.execute(
                sa.select(imports).where(
                    imports.c.partner_id == partner_id, imports.c.request_id == request_id
                )
            )
        ).first()
        return None if row is None else _row(ImportRow, row)

    async def import_row(self, import_id: str) -> ImportRow | None:
        row = (await self.conn.execute(sa.select(imports).where(imports.c.id == import_id))).first()
        return None if row is None else _row(ImportRow, row)

    async def add_progress(self, import_id: str, p: Progress, rule_set_version: str) -> None:
        c = imports.c
        await self.conn.execute(
            imports.update()
            .where(c.id == import_id)
            .values(
                rows=c.rows + p.rows,
                applied=c.applied + p.applied,
                unchanged=c.unchanged + p.unchanged,
                stale=c.stale + p.stale,
                rejected=c.rejected + p.rejected,
                warnings=c.warnings + p.warnings,
                rule_set_version=rule_set_version or c.rule_set_version,
            )
        )

    async def finish_import(self, import_id: str, *, at: datetime, error: str = "") -> None:
        await self.conn.execute(
            imports.update()
            .where(imports.c.id == import_id, imports.c.state == "running")
            .values(state="failed" if error else "done", error=error[:2000], finished_at=at)
        )

    async def add_rejections(self, import_id: str, found: Sequence[Rejection]) -> None:
        if not found:
            return
        raw = await self._asyncpg()
        await raw.copy_records_to_table(
            "rejections",
            records=[
                (import_id, r.row, r.field, str(r.code), r.record_id, r.reason) for r in found
            ],
            columns=["import_id", "row", "field", "code", "record_id", "reason"],
        )

    async def rejections_of(self, import_id: str, *, after_row: int, limit: int) -> list[Rejection]:
        rows = await self.conn.execute(
            sa.select(rejections)
            .where(rejections.c.import_id == import_id, rejections.c.row > after_row)
            .order_by(rejections.c.row, rejections.c.field, rejections.c.code)
            .limit(limit)
        )
        return [Rejection(r.row, r.record_id, r.field, r.code, r.reason) for r in rows]

    async def first_rejections(self, import_id: str, limit: int) -> list[Rejection]:
        return await self.rejections_of(import_id, after_row=0, limit=limit)

    # ------------------------------------------------------------ records, in bulk

    async def _asyncpg(self) -> Any:
        """The asyncpg connection under this unit of work (COPY), in its transaction."""
        # SQLAlchemy begins the transaction lazily, at its first statement: make sure it has
        # begun, or COPY would run (and commit) on its own.
        await self.conn.execute(sa.text("SELECT 1"))
        raw = await self.conn.get_raw_connection()
        return raw.driver_connection

    async def apply_batch(self, staged: Staged, *, partner_id: str, import_id: str) -> Applied:
        """Copies the staged rows into staging and applies them: new records and higher
        versions are written, lower versions are stale, the same version with other values
        is a VERSION_CONFLICT rejection."""
        kind = staged.kind
        if staged.count == 0:
            return Applied(0, 0, ())
        names = list(kind.names)
        stage = f"stage_{kind.name}"
        # Creating the staging table (once per connection) is also what begins the
        # transaction: one round trip, where a batch's statements wait on the loop.
        await self.conn.execute(
            sa.text(
                f"CREATE TEMP TABLE IF NOT EXISTS {stage} (row_no bigint, record_id text, "
                "version bigint, region_code text, flags text, "
                + ", ".join(f"{f.name} {_PG_STAGE[f.type]}" for f in kind.fields)
                + ") ON COMMIT DELETE ROWS"
            )
        )
        raw: Any = (await self.conn.get_raw_connection()).driver_connection
        await raw.copy_to_table(
            stage, source=staged.payload, columns=list(STAGE_KEYS) + names, format="binary"
        )
        table = _table(kind)
        ours = ", ".join(["region_code", *names])
        theirs = ", ".join(f"s.{n}" for n in ["region_code", *names])
        updates = ", ".join(
            f"{n} = EXCLUDED.{n}" for n in ["version", "region_code", "flags", "import_id", *names]
        )
        applied = await raw.fetchval(
            f"WITH up AS (INSERT INTO {table} (partner_id, record_id, version, flags, import_id, "  # noqa: S608
            f"{ours}) SELECT $1, s.record_id, s.version, s.flags, $2, {theirs} FROM {stage} s "
            f"ON CONFLICT (partner_id, record_id) DO UPDATE SET {updates}, updated_at = now() "
            f"WHERE {table}.version < EXCLUDED.version RETURNING 1) SELECT count(*) FROM up",
            partner_id,
            import_id,
        )
        if applied == staged.count:
            # Every row was new or newer: nothing can be stale or in conflict, and a first
            # import (the bulk of the work) skips a second look-up of every row.
            return Applied(int(applied), 0, ())
        # The rows not written were held at a version as high or higher. Looked at after the
        # upsert: a written row now equals its staged row, so only the others can show here.
        ours_t = ", ".join(f"t.{n}" for n in ["region_code", *names])
        clashes = await raw.fetch(
            # Table and column names come from the kinds in code, never from a request.
            f"SELECT s.row_no, s.record_id, s.version, t.version > s.version AS stale "  # noqa: S608
            f"FROM {stage} s JOIN {table} t ON t.partner_id = $1 AND t.record_id = s.record_id "
            f"WHERE t.version > s.version "
            f"OR (t.version = s.version AND ({ours_t}) IS DISTINCT FROM ({theirs}))",
            partner_id,
        )
        conflicts = tuple(
            Rejection(
                int(r["row_no"]),
                r["record_id"],
                "version",
                Code.VERSION_CONFLICT,
                f"version {r['version']} was applied before with other values: "
                "send a higher version to change the record",
            )
            for r in clashes
            if not r["stale"]
        )
        return Applied(int(applied), sum(1 for r in clashes if r["stale"]), conflicts)

    async def apply_one(
        self,
        kind: RecordKind,
        *,
        partner_id: str,
        import_id: str,
        record_id: str,
        version: int,
        region_code: str,
        values: dict[str, Any],
        flags: str | None,
    ) -> str:
        """One record the plain way (the benchmark's row-by-row baseline): an upsert, then
        a look at what was there. applied | unchanged | stale | conflict."""
        table = sa.table(
            _table(kind),
            *(
                sa.column(n)
                for n in (
                    "partner_id",
                    "record_id",
                    "version",
                    "region_code",
                    "flags",
                    "import_id",
                    *kind.names,
                )
            ),
        )
        row = {
            "partner_id": partner_id,
            "record_id": record_id,
            "version": version,
            "region_code": region_code,
            "flags": flags,
            "import_id": import_id,
            **values,
        }
        insert = pg.insert(table).values(**row)
        done = await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=["partner_id", "record_id"],
                set_={k: insert.excluded[k] for k in row if k not in ("partner_id", "record_id")},
                where=table.c.version < insert.excluded.version,
            ).returning(table.c.record_id)
        )
        if done.first() is not None:
            return "applied"
        held = (
            await self.conn.execute(
                sa.select(table).where(
                    table.c.partner_id == partner_id, table.c.record_id == record_id
                )
            )
        ).one()
        if held.version > version:
            return "stale"
        same = all(getattr(held, k) == v for k, v in values.items()) and (
            held.region_code == region_code
        )
        return "unchanged" if same else "conflict"

    async def count_records(self, kind: RecordKind, partner_id: str) -> int:
        return int(
            (
                await self.conn.execute(
                    sa.text(f"SELECT count(*) FROM {_table(kind)} WHERE partner_id = :p"),  # noqa: S608
                    {"p": partner_id},
                )
            ).scalar_one()
        )

    # ------------------------------------------------------------ alarms and push receipts

    async def add_alarm(self, row: AlarmRow, *, next_attempt_at: datetime) -> bool:
        values = {**row.__dict__, "regions": list(row.regions)}
        result = await self.conn.execute(
            pg.insert(alarms)
            .values(**values, next_attempt_at=next_attempt_at)
            .on_conflict_do_nothing()
            .returning(alarms.c.alarm_id)
        )
        return result.first() is not None

    async def alarm(self, partner_id: str, alarm_id: str, *, for_update: bool = False) -> AlarmRow:
        query = sa.select(alarms).where(
            alarms.c.partner_id == partner_id, alarms.c.alarm_id == alarm_id
        )
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).one()
        return _row(AlarmRow, row)  # type: ignore[no-any-return]

    async def settle_alarm(
        self,
        partner_id: str,
        alarm_id: str,
        *,
        state: str,
        claim_id: str | None,
        reason: str,
        next_attempt_at: datetime | None,
    ) -> None:
        await self.conn.execute(
            alarms.update()
            .where(alarms.c.partner_id == partner_id, alarms.c.alarm_id == alarm_id)
            .values(
                state=state,
                claim_id=claim_id,
                reason=reason[:500],
                attempts=alarms.c.attempts + 1,
                next_attempt_at=next_attempt_at,
            )
        )

    async def queued_alarms(self, now: datetime, limit: int) -> list[AlarmRow]:
        rows = await self.conn.execute(
            sa.select(alarms)
            .where(alarms.c.state == "queued", alarms.c.next_attempt_at <= now)
            .order_by(alarms.c.next_attempt_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_row(AlarmRow, r) for r in rows]

    async def add_push_receipt(self, partner_id: str, digest: str, signed_at: datetime) -> bool:
        """False if this signature was accepted before: a replay."""
        result = await self.conn.execute(
            pg.insert(push_receipts)
            .values(partner_id=partner_id, digest=digest, signed_at=signed_at)
            .on_conflict_do_nothing()
            .returning(push_receipts.c.digest)
        )
        return result.first() is not None

    async def prune_push_receipts(self, before: datetime) -> None:
        # Older receipts are not needed: their timestamps are outside the window anyway.
        await self.conn.execute(push_receipts.delete().where(push_receipts.c.signed_at < before))

    # ------------------------------------------------------------ the relay and deliveries

    async def cursor(self, source: str) -> str:
        row = (
            await self.conn.execute(
                sa.select(relay_cursors.c.cursor)
                .where(relay_cursors.c.source == source)
                .with_for_update()
            )
        ).first()
        return "" if row is None else str(row.cursor)

    async def set_cursor(self, source: str, cursor: str) -> None:
        insert = pg.insert(relay_cursors).values(source=source, cursor=cursor)
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[relay_cursors.c.source],
                set_={"cursor": insert.excluded.cursor, "updated_at": sa.func.now()},
            )
        )

    async def claim_region(self, claim_id: str) -> str | None:
        row = (
            await self.conn.execute(
                sa.select(claim_regions.c.region_code).where(claim_regions.c.claim_id == claim_id)
            )
        ).first()
        return None if row is None else str(row.region_code)

    async def remember_claim_region(self, claim_id: str, region_code: str) -> None:
        await self.conn.execute(
            pg.insert(claim_regions)
            .values(claim_id=claim_id, region_code=region_code)
            .on_conflict_do_nothing()
        )

    async def add_deliveries(self, rows: Sequence[dict[str, Any]]) -> int:
        if not rows:
            return 0
        result = await self.conn.execute(
            pg.insert(deliveries).on_conflict_do_nothing().returning(deliveries.c.id), list(rows)
        )
        return len(result.all())

    async def lease_due(
        self, now: datetime, lease_until: datetime, limit: int
    ) -> list[DeliveryRow]:
        """Due deliveries, pushed to ``lease_until`` so no other sender takes them meanwhile
        (a sender that dies mid-call leaves them to be retried when the lease ends)."""
        due = (
            sa.select(deliveries.c.id)
            .where(deliveries.c.state == "pending", deliveries.c.next_attempt_at <= now)
            .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(due))
            .values(next_attempt_at=lease_until)
            .returning(*deliveries.c)
        )
        return sorted((_row(DeliveryRow, r) for r in rows), key=lambda d: d.id)

    async def mark_delivered(self, delivery_id: int, at: datetime) -> None:
        await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id, deliveries.c.state == "pending")
            .values(state="delivered", delivered_at=at, attempts=deliveries.c.attempts + 1)
        )

    async def mark_failed(
        self, delivery_id: int, *, error: str, next_attempt_at: datetime, dead: bool
    ) -> None:
        await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id, deliveries.c.state == "pending")
            .values(
                state="dead" if dead else "pending",
                attempts=deliveries.c.attempts + 1,
                next_attempt_at=next_attempt_at,
                last_error=error[:500],
            )
        )

    async def deliveries_page(
        self, *, state: str, partner_id: str, regions: Sequence[str], after_id: int, limit: int
    ) -> list[DeliveryRow]:
        query = sa.select(deliveries).where(deliveries.c.id > after_id)
        if state:
            query = query.where(deliveries.c.state == state)
        if partner_id:
            query = query.where(deliveries.c.partner_id == partner_id)
        if "*" not in regions:
            query = query.where(sa.or_(*(deliveries.c.region_code.startswith(r) for r in regions)))
        rows = await self.conn.execute(query.order_by(deliveries.c.id).limit(limit))
        return [_row(DeliveryRow, r) for r in rows]

    async def replay(self, ids: Sequence[int], now: datetime) -> int:
        result = await self.conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.state == "dead")
            .values(state="pending", attempts=0, next_attempt_at=now, last_error="")
            .returning(deliveries.c.id)
        )
        return len(result.all())

    async def delivery_regions(self, ids: Sequence[int]) -> dict[int, str]:
        rows = await self.conn.execute(
            sa.select(deliveries.c.id, deliveries.c.region_code).where(
                deliveries.c.id.in_(list(ids))
            )
        )
        return {int(r.id): str(r.region_code) for r in rows}
