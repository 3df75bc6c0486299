"""The evidence schema: the only module that speaks SQL."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg
from sqlalchemy.ext.asyncio import AsyncConnection

m = sa.MetaData()
TS = sa.DateTime(timezone=True)

claim_folders = sa.Table(
    "claim_folders",
    m,
    sa.Column("claim_id", sa.Text, primary_key=True),
    sa.Column("region", sa.Text),
    sa.Column("contractor_id", sa.Text),
    sa.Column("fault_at", TS),
    sa.Column("repaired_at", TS),
    sa.Column("updated_at", TS),
)
uploads = sa.Table(
    "uploads",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("claim_id", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("sha256", sa.Text),
    sa.Column("file_name", sa.Text),
    sa.Column("requested_by", sa.Text),
    sa.Column("expires_at", TS),
    sa.Column("state", sa.Text),
    sa.Column("evidence_id", sa.Text),
    sa.Column("reason", sa.Text),
)
evidence = sa.Table(
    "evidence",
    m,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("claim_id", sa.Text),
    sa.Column("kind", sa.Text),
    sa.Column("content_type", sa.Text),
    sa.Column("size_bytes", sa.BigInteger),
    sa.Column("sha256", sa.Text),
    sa.Column("file_name", sa.Text),
    sa.Column("uploaded_by", sa.Text),
    sa.Column("uploaded_at", TS),
    sa.Column("width", sa.Integer),
    sa.Column("height", sa.Integer),
    sa.Column("taken_at", TS),
    sa.Column("taken_at_local", sa.DateTime(timezone=False)),
    sa.Column("device", sa.Text),
    sa.Column("latitude", sa.Float),
    sa.Column("longitude", sa.Float),
    sa.Column("photo_hash", sa.LargeBinary),
    sa.Column("index_hashes", sa.LargeBinary),
    sa.Column("retained_until", TS),
)
reuse_matches = sa.Table(
    "reuse_matches",
    m,
    sa.Column("evidence_id", sa.Text, primary_key=True),
    sa.Column("other_evidence_id", sa.Text, primary_key=True),
    sa.Column("distance", sa.Integer),
)
audit_log = sa.Table(
    "audit_log",
    m,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("actor", sa.Text),
    sa.Column("action", sa.Text),
    sa.Column("claim_id", sa.Text),
    sa.Column("evidence_id", sa.Text),
    sa.Column("detail", sa.Text),
)


@dataclass(frozen=True)
class Folder:
    claim_id: str
    region: str
    contractor_id: str
    fault_at: datetime
    repaired_at: datetime | None


@dataclass(frozen=True)
class UploadRow:
    id: str
    claim_id: str
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    file_name: str
    requested_by: str
    expires_at: datetime
    state: str = "pending"
    evidence_id: str | None = None
    reason: str | None = None


@dataclass(frozen=True)
class EvidenceRow:
    id: str
    claim_id: str
    kind: str
    content_type: str
    size_bytes: int
    sha256: str
    file_name: str
    uploaded_by: str
    uploaded_at: datetime
    width: int | None = None
    height: int | None = None
    taken_at: datetime | None = None
    taken_at_local: datetime | None = None
    device: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    photo_hash: bytes | None = None
    index_hashes: bytes | None = None
    retained_until: datetime | None = None


@dataclass(frozen=True)
class IndexedPhoto:
    """What the forensic index keeps of a photo: whose it is, where its thumbnail is (by hash),
    and the hashes it is found by."""

    id: str
    claim_id: str
    sha256: str
    index_hashes: bytes


@dataclass(frozen=True)
class Reuse:
    """A match of one of a claim's evidence with evidence of another claim."""

    evidence_id: str
    other_evidence_id: str
    other_claim_id: str
    distance: int
    is_photo: bool


def _row(cls: Any, row: Any) -> Any:
    return cls(**{k: row._mapping[k] for k in cls.__dataclass_fields__})


class EvidenceStore:
    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn

    # ------------------------------------------------------------ folders

    async def put_folder(self, folder: Folder) -> None:
        insert = pg.insert(claim_folders).values(**asdict(folder))
        await self.conn.execute(
            insert.on_conflict_do_update(
                index_elements=[claim_folders.c.claim_id],
                set_={
                    "region": insert.excluded.region,
                    "contractor_id": insert.excluded.contractor_id,
                    "fault_at": insert.excluded.fault_at,
                    "repaired_at": insert.excluded.repaired_at,
                    "updated_at": sa.func.now(),
                },
            )
        )

    async def folder(self, claim_id: str) -> Folder | None:
        row = (
            await self.conn.execute(
                sa.select(claim_folders).where(claim_folders.c.claim_id == claim_id)
            )
        ).first()
        return None if row is None else _row(Folder, row)

    # ------------------------------------------------------------ uploads

    async def add_upload(self, upload: UploadRow) -> None:
        await self.conn.execute(uploads.insert().values(**asdict(upload)))

    async def upload(self, upload_id: str, *, for_update: bool = False) -> UploadRow | None:
        query = sa.select(uploads).where(uploads.c.id == upload_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else _row(UploadRow, row)

    async def finish_upload(
        self, upload_id: str, *, evidence_id: str | None, reason: str | None = None
    ) -> None:
        await self.conn.execute(
            uploads.update()
            .where(uploads.c.id == upload_id, uploads.c.state == "pending")
            .values(
                state="completed" if evidence_id else "rejected",
                evidence_id=evidence_id,
                reason=reason,
            )
        )

    # ------------------------------------------------------------ evidence

    async def add_evidence(self, row: EvidenceRow) -> EvidenceRow:
        """Stores ``row``, or returns the claim's evidence with the same bytes."""
        inserted = (
            await self.conn.execute(
                pg.insert(evidence)
                .values(**asdict(row))
                .on_conflict_do_nothing(constraint="once_per_claim")
                .returning(evidence.c.id)
            )
        ).first()
        if inserted is not None:
            return row
        existing = (
            await self.conn.execute(
                sa.select(evidence).where(
                    evidence.c.claim_id == row.claim_id, evidence.c.sha256 == row.sha256
                )
            )
        ).one()
        return _row(EvidenceRow, existing)  # type: ignore[no-any-return]

    async def evidence(self, evidence_id: str) -> EvidenceRow | None:
        row = (
            await self.conn.execute(sa.select(evidence).where(evidence.c.id == evidence_id))
        ).first()
        return None if row is None else _row(EvidenceRow, row)

    async def claim_evidence(self, claim_id: str) -> list[EvidenceRow]:
        rows = await self.conn.execute(
            sa.select(evidence)
            .where(evidence.c.claim_id == claim_id)
            .order_by(evidence.c.uploaded_at, evidence.c.id)
        )
        return [_row(EvidenceRow, r) for r in rows]

    async def same_bytes_elsewhere(self, sha256: str, claim_id: str) -> list[EvidenceRow]:
        rows = await self.conn.execute(
            sa.select(evidence)
            .where(evidence.c.sha256 == sha256, evidence.c.claim_id != claim_id)
            .order_by(evidence.c.uploaded_at)
        )
        return [_row(EvidenceRow, r) for r in rows]

    async def indexed_photos(self) -> list[IndexedPhoto]:
        """Every photo the forensic index holds, oldest first."""
        rows = await self.conn.execute(
            sa.select(
                evidence.c.id, evidence.c.claim_id, evidence.c.sha256, evidence.c.index_hashes
            )
            .where(evidence.c.index_hashes.is_not(None))
            .order_by(evidence.c.uploaded_at, evidence.c.id)
        )
        return [IndexedPhoto(r.id, r.claim_id, r.sha256, r.index_hashes) for r in rows]

    async def add_matches(self, evidence_id: str, matches: Sequence[tuple[str, int]]) -> None:
        if matches:
            await self.conn.execute(
                pg.insert(reuse_matches).on_conflict_do_nothing(),
                [
                    {"evidence_id": evidence_id, "other_evidence_id": other, "distance": d}
                    for other, d in matches
                ],
            )

    async def reuses(self, claim_id: str) -> list[Reuse]:
        """Matches in either direction between this claim's evidence and another claim's."""
        mine, other = evidence.alias("mine"), evidence.alias("other")
        found: list[Reuse] = []
        for near, far in (
            (reuse_matches.c.evidence_id, reuse_matches.c.other_evidence_id),
            (reuse_matches.c.other_evidence_id, reuse_matches.c.evidence_id),
        ):
            rows = await self.conn.execute(
                sa.select(
                    mine.c.id, other.c.id.label("oid"), other.c.claim_id, reuse_matches.c.distance
                )
                .select_from(
                    reuse_matches.join(mine, mine.c.id == near).join(other, other.c.id == far)
                )
                .where(mine.c.claim_id == claim_id, other.c.claim_id != claim_id)
            )
            found += [Reuse(r.id, r.oid, r.claim_id, r.distance, True) for r in rows]
        return found

    async def retain(self, evidence_ids: Sequence[str], until: datetime) -> None:
        await self.conn.execute(
            evidence.update()
            .where(
                evidence.c.id.in_(evidence_ids),
                sa.or_(evidence.c.retained_until.is_(None), evidence.c.retained_until < until),
            )
            .values(retained_until=until)
        )

    # ------------------------------------------------------------ audit

    async def audit(
        self,
        actor: str,
        action: str,
        *,
        claim_id: str = "",
        evidence_id: str = "",
        detail: str = "",
    ) -> None:
        await self.conn.execute(
            audit_log.insert().values(
                actor=actor,
                action=action,
                claim_id=claim_id or None,
                evidence_id=evidence_id or None,
                detail=detail,
            )
        )
