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
    sa.Column("message", sa.Text),
    sa.Column("received_at", TS),
    sa.Column("lease_until", TS),
    sa.Column("attempts", sa.Integer),
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
    sa.Column("hash_version", sa.SmallInteger),
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
    state: str = "pending"  # → received → verified | rejected (domain.uploads)
    evidence_id: str | None = None
    reason: str | None = None
    message: str | None = None
    received_at: datetime | None = None
    attempts: int = 0  # times a verifier took it


@dataclass(frozen=True)
class UploadFigures:
    by_state: dict[str, int]
    oldest_received: datetime | None  # of the uploads waiting for the verifier


@dataclass(frozen=True)
class Leased:
    """A received upload a verifier holds, its claim's folder, and whether evidence with the
    declared bytes is registered already (then their object is in S3: not written again)."""

    upload: UploadRow
    folder: Folder
    stored: bool


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
    hash_version: int | None = None  # phash.HASH_VERSION the hashes were made by
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
class StalePhoto:
    """A stored photo whose hashes an older version of the hash made."""

    id: str
    claim_id: str
    sha256: str
    kind: str


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


# The statements of the upload path, built once: building a SQLAlchemy statement per call
# cost more CPU than PostgreSQL spent running it (the benchmark's profile, docs/adr/0010).
_ids = sa.bindparam("ids", type_=pg.ARRAY(sa.Text))
_FOLDERS = sa.select(claim_folders).where(claim_folders.c.claim_id == sa.func.any(_ids))
_UPLOADS_WITH_FOLDERS = (
    sa.select(
        uploads,
        claim_folders.c.claim_id.label("folder_claim_id"),
        claim_folders.c.region,
        claim_folders.c.contractor_id,
        claim_folders.c.fault_at,
        claim_folders.c.repaired_at,
    )
    .select_from(uploads.outerjoin(claim_folders, claim_folders.c.claim_id == uploads.c.claim_id))
    .where(uploads.c.id == sa.func.any(_ids))
)
_UPLOAD_FIELDS = tuple(UploadRow.__dataclass_fields__)
_ADD_UPLOAD = uploads.insert().values({name: sa.bindparam(name) for name in _UPLOAD_FIELDS})
_RECEIVED = (
    uploads.update()
    .where(uploads.c.id == sa.func.any(_ids), uploads.c.state == "pending")
    .values(state="received", received_at=sa.bindparam("at"))
)
_queue = (
    sa.select(uploads.c.id)
    .where(
        uploads.c.state == "received",
        sa.or_(uploads.c.lease_until.is_(None), uploads.c.lease_until <= sa.bindparam("now")),
    )
    .order_by(uploads.c.received_at, uploads.c.id)
    .limit(sa.bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_LEASE = (
    uploads.update()
    .where(uploads.c.id.in_(_queue), uploads.c.claim_id == claim_folders.c.claim_id)
    .values(lease_until=sa.bindparam("until"), attempts=uploads.c.attempts + 1)
    .returning(
        *uploads.c,
        claim_folders.c.region,
        claim_folders.c.contractor_id,
        claim_folders.c.fault_at,
        claim_folders.c.repaired_at,
        sa.exists().where(evidence.c.sha256 == uploads.c.sha256).label("stored"),
    )
)
_UNVERIFIED = sa.select(sa.func.count()).where(
    uploads.c.claim_id == sa.bindparam("claim_id"), uploads.c.state == "received"
)
_RECEIVED_OF = sa.select(uploads.c.id).where(
    uploads.c.id == sa.func.any(_ids), uploads.c.state == "received"
)


def _upload_values(row: UploadRow) -> dict[str, Any]:
    return {name: getattr(row, name) for name in _UPLOAD_FIELDS}


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

    async def folders(self, claim_ids: Sequence[str]) -> dict[str, Folder]:
        rows = await self.conn.execute(_FOLDERS, {"ids": list(claim_ids)})
        return {r.claim_id: _row(Folder, r) for r in rows}

    # ------------------------------------------------------------ uploads

    async def add_upload(self, upload: UploadRow) -> None:
        await self.add_uploads([upload])

    async def add_uploads(self, rows: Sequence[UploadRow]) -> None:
        """One statement for the lot (executemany): a batch costs about what one upload does."""
        await self.conn.execute(_ADD_UPLOAD, [_upload_values(r) for r in rows])

    async def upload(self, upload_id: str, *, for_update: bool = False) -> UploadRow | None:
        query = sa.select(uploads).where(uploads.c.id == upload_id)
        row = (await self.conn.execute(query.with_for_update() if for_update else query)).first()
        return None if row is None else _row(UploadRow, row)

    async def uploads_with_folders(
        self, upload_ids: Sequence[str]
    ) -> dict[str, tuple[UploadRow, Folder | None]]:
        """The uploads by id, each with its claim's folder (one statement)."""
        rows = await self.conn.execute(_UPLOADS_WITH_FOLDERS, {"ids": list(upload_ids)})
        found = {}
        for r in rows:
            folder = None
            if r.folder_claim_id is not None:
                folder = Folder(
                    r.folder_claim_id, r.region, r.contractor_id, r.fault_at, r.repaired_at
                )
            found[r.id] = (_row(UploadRow, r), folder)
        return found

    async def mark_received(self, upload_ids: Sequence[str], at: datetime) -> None:
        """pending → received (only from pending: a repeat changes nothing)."""
        if upload_ids:
            await self.conn.execute(_RECEIVED, {"ids": list(upload_ids), "at": at})

    async def lease_received(self, limit: int, *, now: datetime, until: datetime) -> list[Leased]:
        """Up to ``limit`` received uploads nobody holds, oldest first, held until ``until``
        (``SKIP LOCKED``: two workers never take the same one; a worker that dies lets its
        lease run out and another takes the upload again); with what the verifier needs to
        know besides, in the same statement."""
        rows = await self.conn.execute(_LEASE, {"limit": limit, "now": now, "until": until})
        leased = [
            Leased(
                _row(UploadRow, r),
                Folder(r.claim_id, r.region, r.contractor_id, r.fault_at, r.repaired_at),
                r.stored,
            )
            for r in rows
        ]
        return sorted(leased, key=lambda x: (x.upload.received_at, x.upload.id))

    async def finish_upload(
        self,
        upload_id: str,
        *,
        evidence_id: str | None,
        reason: str | None = None,
        message: str | None = None,
    ) -> bool:
        """pending or received → verified (with ``evidence_id``) or rejected (with the
        reason); False if the upload was already finished (by another worker, or a retry)."""
        done = await self.conn.execute(
            uploads.update()
            .where(uploads.c.id == upload_id, uploads.c.state.in_(("pending", "received")))
            .values(
                state="verified" if evidence_id else "rejected",
                evidence_id=evidence_id,
                reason=reason,
                message=message,
                lease_until=None,
            )
        )
        return bool(done.rowcount)

    async def unverified_count(self, claim_id: str) -> int:
        return int((await self.conn.execute(_UNVERIFIED, {"claim_id": claim_id})).scalar_one())

    async def upload_figures(self) -> UploadFigures:
        """Uploads by state, and when the oldest received one arrived (the index of the
        verifier's queue answers it)."""
        rows = await self.conn.execute(
            sa.select(uploads.c.state, sa.func.count()).group_by(uploads.c.state)
        )
        oldest = await self.conn.execute(
            sa.select(sa.func.min(uploads.c.received_at)).where(uploads.c.state == "received")
        )
        return UploadFigures({r[0]: r[1] for r in rows}, oldest.scalar_one())

    async def received(self, upload_ids: Sequence[str]) -> set[str]:
        """Which of these uploads are received: their staged objects wait for the verifier."""
        if not upload_ids:
            return set()
        rows = await self.conn.execute(_RECEIVED_OF, {"ids": list(upload_ids)})
        return {r.id for r in rows}

    async def retry_later(self, upload_id: str, at: datetime) -> None:
        """A received upload the verifier could not finish for want of storage: tried again
        from ``at``, and the attempt not counted (storage being down is not the upload's
        fault, and an outage must not use up its attempts)."""
        await self.conn.execute(
            uploads.update()
            .where(uploads.c.id == upload_id, uploads.c.state == "received")
            .values(lease_until=at, attempts=uploads.c.attempts - 1)
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

    async def indexed_photos(self, version: int) -> list[IndexedPhoto]:
        """Every photo the forensic index holds (hashed by ``version``), oldest first."""
        rows = await self.conn.execute(
            sa.select(
                evidence.c.id, evidence.c.claim_id, evidence.c.sha256, evidence.c.index_hashes
            )
            .where(evidence.c.index_hashes.is_not(None), evidence.c.hash_version == version)
            .order_by(evidence.c.uploaded_at, evidence.c.id)
        )
        return [IndexedPhoto(r.id, r.claim_id, r.sha256, r.index_hashes) for r in rows]

    async def stale_photos(self, version: int, limit: int) -> list[StalePhoto]:
        """Up to ``limit`` photos hashed by a version older than ``version``, oldest first."""
        rows = await self.conn.execute(
            sa.select(evidence.c.id, evidence.c.claim_id, evidence.c.sha256, evidence.c.kind)
            .where(evidence.c.index_hashes.is_not(None), evidence.c.hash_version < version)
            .order_by(evidence.c.uploaded_at, evidence.c.id)
            .limit(limit)
        )
        return [StalePhoto(r.id, r.claim_id, r.sha256, r.kind) for r in rows]

    async def set_hashes(
        self, evidence_id: str, version: int, hashes: tuple[bytes, bytes] | None
    ) -> bool:
        """A stale photo's hashes replaced by ``version``'s (``(photo_hash, index_hashes)``;
        None: it cannot be hashed, and leaves forensics). False if another replica did it."""
        photo, index = hashes if hashes is not None else (None, None)
        updated = await self.conn.execute(
            evidence.update()
            .where(evidence.c.id == evidence_id, evidence.c.hash_version < version)
            .values(photo_hash=photo, index_hashes=index, hash_version=version)
        )
        return bool(updated.rowcount)

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
