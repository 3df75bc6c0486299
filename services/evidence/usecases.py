"""The evidence service's operations: authorisation, verification, storage, forensics.

A piece of evidence is registered in three steps, so that nothing is half-registered: the
bytes are verified in memory (pure, ``domain.verification``), the object and its derived copies
are written to S3 under content-addressed keys (a retry writes the same bytes to the same keys),
and only then one transaction records the evidence, its reuse matches and an audit row. If S3
fails the caller hears UNAVAILABLE and nothing is recorded; if the transaction fails the
objects are unreferenced copies of bytes, never evidence.

Uploads in batches (docs/adr/0010) are accepted first and verified after: ``CompleteUploads``
records what S3 holds as received; the background verifier (``verifier.py``) then does the
three steps above for each (``verify_received``), or rejects it with its reason.

Who may do what: the claims service opens a claim's folder (region, dispatched contractor,
fault and repair times). The dispatched contractor may upload to it and see its own uploads;
people and partner systems of the claim's region may upload and see all of it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, NamedTuple, TypeVar

import numpy as np
from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncEngine

from services.evidence.core.alignment import PhotoView, view_of
from services.evidence.core.hash_index import HashIndex
from services.evidence.core.matching import candidates, confirmed
from services.evidence.core.phash import HASH_VERSION, WORDS
from services.evidence.domain.flags import (
    ClaimTimes,
    Finding,
    reuse_finding,
    time_findings,
    unverified_finding,
)
from services.evidence.domain.uploads import (
    MAX_ATTEMPTS,
    PENDING,
    RECEIVED,
    REJECTED,
    UPLOAD_EXPIRED,
    UPLOAD_NOT_RECEIVED,
    VERIFICATION_FAILED,
    VERIFIED,
    batch_upload_ids,
    id_prefix,
    single_upload_id,
)
from services.evidence.domain.verification import (
    MAX_BYTES,
    PHOTO_KINDS,
    Declared,
    Verified,
    rehashed,
    verify,
)
from services.evidence.objects import (
    STAGING,
    ObjectStore,
    Staged,
    StorageUnavailable,
    derived_key,
    evidence_key,
    staging_key,
)
from services.evidence.store import (
    EvidenceRow,
    EvidenceStore,
    Folder,
    IndexedPhoto,
    Leased,
    StalePhoto,
    UploadRow,
)
from shared.auth import Role, current_principal
from shared.clock import Clock
from shared.domain_errors import DomainError, NotFound, PermissionDenied, PreconditionFailed
from shared.telemetry import annotate
from shared.unit_of_work import Transactions

if TYPE_CHECKING:
    from services.evidence.verifier import Verifier

M = TypeVar("M", bound=Message)
log = logging.getLogger("elevins.evidence")

UPLOADERS = frozenset({Role.CONTRACTOR, Role.SERVICE, Role.PARTNER, Role.ADJUSTER})
VARIANTS = ("original", "display", "thumbnail")
_VIEWS_CACHED = 512  # views of recent candidates kept (~120 KB each): bursts recheck the same
_THUMBNAIL_MAX_BYTES = 1 << 20
_REHASHED_AT_ONCE = 20  # stale photos re-hashed per round of the verifier
# A worker holds a received upload this long; if it dies meanwhile, another takes it after.
LEASE = timedelta(seconds=60)
# After S3 failed, a received upload waits this long before it is tried again.
STORAGE_RETRY = timedelta(seconds=5)
# Staged objects this much older than an upload's lifetime can be of no pending upload.
SWEEP_MARGIN = timedelta(hours=1)


class FolderUnknown(NotFound):
    code = "CLAIM_FOLDER_UNKNOWN"


class EvidenceUnknown(NotFound):
    code = "EVIDENCE_UNKNOWN"


class NotYourClaim(PermissionDenied):
    code = "NOT_YOUR_CLAIM"


class UploadExpired(PreconditionFailed):
    code = "UPLOAD_EXPIRED"


class UploadAlreadyUsed(PreconditionFailed):
    code = "UPLOAD_ALREADY_USED"


class UploadNotReceived(PreconditionFailed):
    code = "UPLOAD_NOT_RECEIVED"


class _Indexed(NamedTuple):
    claim_id: str
    sha256: str


@dataclass(frozen=True)
class Registered:
    evidence: EvidenceRow
    flags: list[Finding]


@dataclass(frozen=True)
class UploadForm:
    upload: UploadRow
    url: str
    fields: dict[str, str]
    max_bytes: int


@dataclass(frozen=True)
class Slot:
    """One upload asked for in a batch."""

    claim_id: str
    declared: Declared
    file_name: str


@dataclass(frozen=True)
class UploadTarget:
    """Where and how the client PUTs one upload's bytes."""

    upload: UploadRow
    url: str
    headers: dict[str, str]


@dataclass(frozen=True)
class UploadState:
    """An upload as its caller sees it; ``registered`` once it is verified."""

    upload: UploadRow
    state: str
    reason: str = ""
    message: str = ""
    registered: Registered | None = None


class EvidenceUseCases(Transactions[EvidenceStore]):
    def __init__(
        self,
        engine: AsyncEngine,
        clock: Clock,
        objects: ObjectStore,
        *,
        upload_ttl: timedelta = timedelta(minutes=15),
        download_ttl: timedelta = timedelta(minutes=5),
    ) -> None:
        super().__init__(engine, EvidenceStore)
        self.clock = clock
        self.objects = objects
        self.upload_ttl = upload_ttl
        self.download_ttl = download_ttl
        self._index = HashIndex(WORDS)
        self._photos: dict[str, _Indexed] = {}  # evidence id → its claim and content hash
        self._stale_left = True  # photos hashed by an older HASH_VERSION may be stored
        self._views: OrderedDict[str, PhotoView] = OrderedDict()  # by content hash, LRU
        # Called when uploads were received, to wake the verifier (``verifier.Verifier``).
        self.on_received: Callable[[], None] | None = None
        # The background verifier of this process, if it runs one (wiring sets it).
        self.verifier: Verifier | None = None
        # Staged objects of uploads the verifier finished with, for ``remove_spent``.
        self.spent: list[tuple[str, str | None]] = []

    # ------------------------------------------------------------ the forensic index

    async def start(self) -> None:
        """The bucket checked (object lock on) and the forensic index loaded."""
        await asyncio.to_thread(self.objects.ensure_bucket)
        await self.load_index()

    async def load_index(self) -> None:
        """Every stored photo's hashes into memory (at start; a photo joins as registered, or
        as ``rehash_stale`` re-hashes it if an older version of the hash made its hashes)."""
        photos = await self.read(lambda store: store.indexed_photos(HASH_VERSION))
        self._index = HashIndex(WORDS)
        self._photos = {}
        for photo in photos:
            self._add_to_index(photo)
        self._index.settle()  # its tables built here, not in the first upload's reuse check
        self._stale_left = True

    async def rehash_stale(self, limit: int = _REHASHED_AT_ONCE) -> int:
        """Up to ``limit`` photos hashed by an older ``HASH_VERSION`` re-hashed from their
        stored bytes and added to the index; how many. Once none is left, later calls cost
        nothing: a new version arrives with a new release, hence a restart. Raises
        ``StorageUnavailable`` (the next round retries)."""
        if not self._stale_left:
            return 0
        stale = await self.read(lambda store: store.stale_photos(HASH_VERSION, limit))
        self._stale_left = len(stale) == limit
        for photo in stale:
            await self._rehash(photo)
        return len(stale)

    async def _rehash(self, photo: StalePhoto) -> None:
        data = await self.objects.read(evidence_key(photo.sha256), max_bytes=MAX_BYTES[photo.kind])
        hashes: tuple[bytes, bytes] | None = None
        if data is None:
            log.error("evidence %s: its object is missing; left out of forensics", photo.id)
        else:
            try:
                hashes = await asyncio.to_thread(rehashed, data)
            except DomainError as error:  # it decoded when it was verified: a newer Pillow?
                log.error("evidence %s cannot be hashed again: %s", photo.id, error)
        changed = await self.transaction(
            lambda store: store.set_hashes(photo.id, HASH_VERSION, hashes)
        )
        if changed and hashes is not None and photo.id not in self._photos:
            self._add_to_index(IndexedPhoto(photo.id, photo.claim_id, photo.sha256, hashes[1]))

    def _add_to_index(self, photo: IndexedPhoto) -> None:
        hashes = np.frombuffer(photo.index_hashes, dtype=np.uint64).reshape(-1, WORDS)
        self._index.extend([photo.id] * len(hashes), hashes)
        self._photos[photo.id] = _Indexed(photo.claim_id, photo.sha256)

    async def _view(self, sha256: str, budget_s: float | None) -> PhotoView | None:
        """The view of a stored photo, from its thumbnail in S3 (None if it has none)."""
        view = self._views.get(sha256)
        if view is None:
            key = derived_key(sha256, "thumbnail")
            thumbnail = await self.objects.read(
                key, max_bytes=_THUMBNAIL_MAX_BYTES, budget_s=budget_s
            )
            if thumbnail is None:
                return None
            view = await asyncio.to_thread(view_of, thumbnail)
            self._views[sha256] = view
            while len(self._views) > _VIEWS_CACHED:
                self._views.popitem(last=False)
        self._views.move_to_end(sha256)
        return view

    async def reuses(
        self, claim_id: str, verified: Verified, budget_s: float | None
    ) -> list[tuple[str, int]]:
        """Photos of other claims this photo is a copy of: (evidence id, hash distance). The
        hash index proposes the nearest few, aligning each with this photo decides
        (``core.matching``); a candidate's view comes from its stored thumbnail."""
        if verified.index_hashes is None or verified.thumbnail is None:
            return []
        query = np.frombuffer(verified.index_hashes, dtype=np.uint64).reshape(-1, WORDS)[0]
        proposed = candidates(
            self._index, query, skip=lambda photo: self._photos[photo].claim_id == claim_id
        )
        if not proposed:
            return []
        views = await asyncio.gather(
            *(self._view(self._photos[photo].sha256, budget_s) for photo, _ in proposed)
        )
        mine = await asyncio.to_thread(view_of, verified.thumbnail)
        aligned = [(p, d, v) for (p, d), v in zip(proposed, views, strict=True) if v is not None]
        found = await asyncio.to_thread(confirmed, mine, aligned)
        return [(match.photo_id, match.distance) for match in found]

    # ------------------------------------------------------------ authorisation

    async def _folder(self, store: EvidenceStore, claim_id: str) -> Folder:
        annotate(claim_id=claim_id)  # the key a trace of any claim's evidence is found by
        return self._visible(await store.folder(claim_id), claim_id, "claim_id")

    def _visible(self, folder: Folder | None, claim_id: str, field: str) -> Folder:
        """``folder`` if the caller may add to and read it."""
        principal = current_principal()
        visible = folder is not None and (
            folder.contractor_id == principal.subject
            if principal.role is Role.CONTRACTOR
            else principal.may_access_region(folder.region)
        )
        if folder is None or not visible:
            # One answer for "no such claim" and "not yours": claim ids are not to be probed.
            raise FolderUnknown(f"no claim {claim_id!r} open for evidence to you", field=field)
        return folder

    def _may_see(self, row: EvidenceRow) -> bool:
        principal = current_principal()
        return principal.role is not Role.CONTRACTOR or row.uploaded_by == principal.subject

    # ------------------------------------------------------------ folders

    async def put_folder(self, store: EvidenceStore, folder: Folder) -> None:
        await store.put_folder(folder)

    # ------------------------------------------------------------ presigned uploads

    def _new_upload(
        self, upload_id: str, claim_id: str, declared: Declared, file_name: str
    ) -> UploadRow:
        return UploadRow(
            id=upload_id,
            claim_id=claim_id,
            kind=declared.kind,
            content_type=declared.content_type,
            size_bytes=declared.size_bytes,
            sha256=declared.sha256,
            file_name=file_name,
            requested_by=current_principal().subject,
            expires_at=self.clock.now() + self.upload_ttl,
        )

    async def create_upload(
        self, store: EvidenceStore, claim_id: str, declared: Declared, file_name: str
    ) -> UploadForm:
        await self._folder(store, claim_id)
        upload = self._new_upload(single_upload_id(), claim_id, declared, file_name)
        await store.add_upload(upload)
        max_bytes = MAX_BYTES[declared.kind]
        url, fields = self.objects.upload_form(
            staging_key(upload.id),
            content_type=declared.content_type,
            max_bytes=max_bytes,
            expires_at=upload.expires_at,
        )
        return UploadForm(upload, url, fields, max_bytes)

    async def create_uploads(
        self, store: EvidenceStore, slots: Sequence[Slot]
    ) -> list[UploadTarget]:
        """A presigned PUT per slot, bound to its bytes (``ObjectStore.put_url``); the slots'
        claims checked once each, the rows written in one statement."""
        folders = await store.folders(sorted({s.claim_id for s in slots}))
        for index, slot in enumerate(slots):
            self._visible(folders.get(slot.claim_id), slot.claim_id, f"slots[{index}].claim_id")
        ids = batch_upload_ids(len(slots))
        rows = [
            self._new_upload(upload_id, s.claim_id, s.declared, s.file_name)
            for upload_id, s in zip(ids, slots, strict=True)
        ]
        await store.add_uploads(rows)
        targets = []
        for row in rows:
            url, headers = self.objects.put_url(
                staging_key(row.id),
                content_type=row.content_type,
                size_bytes=row.size_bytes,
                ttl=self.upload_ttl,
            )
            targets.append(UploadTarget(row, url, headers))
        return targets

    async def pending_upload(self, upload_id: str) -> UploadRow:
        """The upload to complete, if it is the caller's, unused and not expired."""

        async def load(store: EvidenceStore) -> UploadRow:
            upload = await store.upload(upload_id)
            if upload is None or upload.requested_by != current_principal().subject:
                raise NotFound(f"no upload {upload_id!r} of yours", field="upload_id")
            await self._folder(store, upload.claim_id)
            return upload

        upload = await self.read(load)
        if upload.state == VERIFIED:
            raise UploadAlreadyUsed(f"upload {upload_id} has been completed already")
        if upload.state == REJECTED:
            raise UploadAlreadyUsed(f"upload {upload_id} was rejected: {upload.reason}")
        if upload.state == RECEIVED:
            raise UploadAlreadyUsed(f"upload {upload_id} is received and being verified")
        if self.clock.now() >= upload.expires_at:
            raise UploadExpired(f"upload {upload_id} expired at {upload.expires_at.isoformat()}")
        return upload

    async def receive(self, upload: UploadRow, budget_s: float | None) -> tuple[Staged, Verified]:
        """The staged object, verified; a rejected one is removed and the upload closed."""
        declared = Declared(upload.kind, upload.content_type, upload.size_bytes, upload.sha256)
        key = staging_key(upload.id)
        staged = await self.objects.read_version(
            key, max_bytes=MAX_BYTES[upload.kind], budget_s=budget_s
        )
        if staged is None:
            raise UploadNotReceived(f"nothing was uploaded for {upload.id} yet")
        try:
            return staged, await asyncio.to_thread(verify, staged.data, declared)
        except DomainError as error:
            await self._discard(key, staged.version_id, budget_s)
            await self._reject(upload, error, actor=current_principal().subject)
            raise

    async def _reject(self, upload: UploadRow, error: DomainError | str, *, actor: str) -> None:
        """The upload closed as rejected, with the reason and an audit row."""
        if isinstance(error, DomainError):
            reason, message = str(getattr(error, "reason", error.code)), error.message
        else:
            reason, message = error, ""

        async def close(store: EvidenceStore) -> None:
            closed = await store.finish_upload(
                upload.id, evidence_id=None, reason=reason, message=message
            )
            if closed:
                await store.audit(
                    actor,
                    "upload_rejected",
                    claim_id=upload.claim_id,
                    detail=f"{upload.id}: {reason}: {message}",
                )

        await self.transaction(close)

    async def _discard(self, key: str, version_id: str | None, budget_s: float | None) -> None:
        """A staged object that served its purpose, gone for good (that version: the bucket is
        versioned, a plain delete would keep the bytes behind a marker)."""
        try:
            await self.objects.remove(key, version_id=version_id, budget_s=budget_s)
        except StorageUnavailable:  # the sweeper removes it later; nothing refers to it
            log.warning("staged object %s not removed", key)

    # ------------------------------------------------------------ uploads in batches

    async def _caller_uploads(
        self, store: EvidenceStore, upload_ids: Sequence[str]
    ) -> dict[str, UploadRow]:
        """The caller's uploads by id, their claims still visible to the caller; any other id
        is NOT_FOUND (one answer for "no such upload" and "not yours"). One statement."""
        found = await store.uploads_with_folders(upload_ids)
        subject = current_principal().subject
        for index, upload_id in enumerate(upload_ids):
            upload, folder = found.get(upload_id, (None, None))
            if upload is None or upload.requested_by != subject:
                raise NotFound(f"no upload {upload_id!r} of yours", field=f"upload_ids[{index}]")
            self._visible(folder, upload.claim_id, f"upload_ids[{index}]")
        return {upload_id: upload for upload_id, (upload, _) in found.items()}

    async def staged(self, upload_ids: Sequence[str], budget_s: float | None) -> set[str]:
        """Which of these uploads have their object in S3: one listing per batch prefix (the
        ids alone say where to look, so S3 is asked before the database)."""
        prefixes = sorted({STAGING + id_prefix(upload_id) for upload_id in upload_ids})
        listed = await asyncio.gather(
            *(self.objects.sizes(prefix, budget_s=budget_s) for prefix in prefixes)
        )
        keys = {key for found in listed for key in found}
        return {upload_id for upload_id in upload_ids if staging_key(upload_id) in keys}

    async def complete_uploads(
        self,
        request: Message,
        upload_ids: Sequence[str],
        *,
        budget_s: float | None,
        reply: Callable[[list[UploadState]], M],
        response_type: type[M],
    ) -> M:
        """Pending uploads whose objects S3 holds become received (and queued for the
        verifier); expired ones are rejected; the rest are reported as they stand. One listing
        of S3 per batch, then one transaction of a few statements: this is the whole cost of
        accepting a photo beside its PUT (docs/adr/0010)."""
        staged = await self.staged(upload_ids, budget_s)
        now = self.clock.now()
        subject = current_principal().subject

        async def work(store: EvidenceStore) -> M:
            uploads = await self._caller_uploads(store, upload_ids)
            pending = [u for u in uploads.values() if u.state == PENDING]
            expired = [u for u in pending if now >= u.expires_at]
            received = [u for u in pending if now < u.expires_at and u.id in staged]
            await store.mark_received([u.id for u in received], now)
            for upload in received:
                uploads[upload.id] = replace(upload, state=RECEIVED, received_at=now)
            for upload in expired:
                message = f"completed after the upload expired at {upload.expires_at}"
                if await store.finish_upload(
                    upload.id, evidence_id=None, reason=UPLOAD_EXPIRED, message=message
                ):
                    await store.audit(
                        subject, "upload_rejected", claim_id=upload.claim_id, detail=upload.id
                    )
                uploads[upload.id] = replace(
                    upload, state=REJECTED, reason=UPLOAD_EXPIRED, message=message
                )
            return reply(await self._states(store, [uploads[i] for i in upload_ids]))

        response = await self.write("CompleteUploads", request, response_type, work)
        if staged and self.on_received is not None:
            self.on_received()
        return response

    async def upload_states(self, upload_ids: Sequence[str]) -> list[UploadState]:
        async def work(store: EvidenceStore) -> list[UploadState]:
            uploads = await self._caller_uploads(store, upload_ids)
            return await self._states(store, [uploads[i] for i in upload_ids])

        return await self.read(work)

    async def _states(
        self, store: EvidenceStore, uploads: Sequence[UploadRow]
    ) -> list[UploadState]:
        """How these uploads stand; the evidence (and its flags) of the verified ones."""
        registered: dict[str, Registered] = {}
        by_claim: defaultdict[str, list[EvidenceRow]] = defaultdict(list)
        for upload in uploads:
            if upload.state == VERIFIED and upload.evidence_id is not None:
                row = await store.evidence(upload.evidence_id)
                if row is not None:
                    by_claim[row.claim_id].append(row)
        folders = await store.folders(sorted(by_claim)) if by_claim else {}
        for claim_id, rows in by_claim.items():
            flags = await self._flags_of(store, folders[claim_id], rows)
            registered |= {r.id: Registered(r, flags) for r in rows}
        states = []
        for upload in uploads:
            if upload.state == PENDING:
                message = "nothing is in storage for this upload yet: PUT the bytes first"
                states.append(UploadState(upload, PENDING, UPLOAD_NOT_RECEIVED, message))
            else:
                states.append(
                    UploadState(
                        upload,
                        upload.state,
                        upload.reason or "",
                        upload.message or "",
                        registered.get(upload.evidence_id or ""),
                    )
                )
        return states

    # ------------------------------------------------------------ the verifier's work

    async def lease_received(self, limit: int) -> list[Leased]:
        """Up to ``limit`` received uploads for this worker (``LEASE``), oldest first."""
        now = self.clock.now()
        return await self.transaction(
            lambda store: store.lease_received(limit, now=now, until=now + LEASE)
        )

    async def verify_received(self, leased: Leased) -> str:
        """A received upload verified and registered, or rejected with its reason; its staged
        object removed either way (in batches: ``remove_spent``). The state it ended in (still
        ``received`` when S3 failed: it is tried again after ``STORAGE_RETRY``)."""
        upload = leased.upload
        actor = upload.requested_by
        if upload.attempts > MAX_ATTEMPTS:
            log.error("upload %s failed verification %d times", upload.id, upload.attempts - 1)
            await self._reject(upload, VERIFICATION_FAILED, actor=actor)
            return REJECTED
        key = staging_key(upload.id)
        declared = Declared(upload.kind, upload.content_type, upload.size_bytes, upload.sha256)
        try:
            staged = await self.objects.read_version(key, max_bytes=MAX_BYTES[upload.kind])
            if staged is None:
                gone = UploadNotReceived("the uploaded object is no longer in storage")
                await self._reject(upload, gone, actor=actor)
                return REJECTED
            try:
                verified = await asyncio.to_thread(verify, staged.data, declared)
            except DomainError as error:
                await self._reject(upload, error, actor=actor)
                self.spent.append((key, staged.version_id))
                return REJECTED
            await self.store_objects(staged.data, verified, None, registered=leased.stored)
            reuses = await self.reuses(upload.claim_id, verified, None)

            async def work(store: EvidenceStore) -> Registered:
                return await self.register(
                    store,
                    folder=leased.folder,
                    actor=actor,
                    kind=upload.kind,
                    file_name=upload.file_name,
                    verified=verified,
                    reuses=reuses,
                    upload_id=upload.id,
                    with_flags=False,
                )

            try:
                registered = await self.transaction(work)
            except UploadAlreadyUsed:  # another worker finished it first
                return VERIFIED
            self._indexed(registered.evidence)
            self.spent.append((key, staged.version_id))
            return VERIFIED
        except StorageUnavailable as error:
            log.warning("upload %s waits for storage: %s", upload.id, error)
            retry_at = self.clock.now() + STORAGE_RETRY
            await self.transaction(lambda store: store.retry_later(upload.id, retry_at))
            return RECEIVED

    async def remove_spent(self) -> None:
        """The staged objects the verifier is done with, removed for good in one request
        (their versions: a plain delete would keep the bytes behind a marker). If S3 fails,
        the sweeper removes them later: nothing refers to them."""
        spent, self.spent = self.spent, []
        try:
            await self.objects.remove_versions(spent)
        except StorageUnavailable as error:
            log.warning("%d staged objects not removed: %s", len(spent), error)

    async def sweep_staging(self, *, older_than: timedelta | None = None) -> int:
        """Staged objects no upload will read again, removed for good: older than an upload
        lives (plus ``SWEEP_MARGIN``; or ``older_than``) and not waiting for the verifier.
        How many versions (delete markers included)."""
        age = self.upload_ttl + SWEEP_MARGIN if older_than is None else older_than
        old = await self.objects.old_versions(STAGING, older_than=age)
        if not old:
            return 0
        ids = sorted({key.removeprefix(STAGING) for key, _ in old})
        waiting = await self.read(lambda store: store.received(ids))
        # A received upload's object waits for the verifier, however long that takes.
        doomed = [(k, v) for k, v in old if k.removeprefix(STAGING) not in waiting]
        await self.objects.remove_versions(doomed)
        return len(doomed)

    # ------------------------------------------------------------ registration

    async def store_objects(
        self,
        data: bytes,
        verified: Verified,
        budget_s: float | None,
        *,
        registered: bool | None = None,
    ) -> None:
        """The object and its derived copies in S3 (before any row refers to them).
        ``registered``: whether evidence with these bytes is registered (None: not known)."""
        key = evidence_key(verified.sha256)
        # Content-addressed: a retry, or the same photo in two claims, is one object, and a
        # locked object must not be written again. Only registered evidence is ever locked, so
        # bytes no evidence has are written without asking S3 first (a leftover of a crash
        # before registering is the same bytes, unlocked).
        if registered is None:
            registered = await self.objects.exists(key, budget_s=budget_s)
        if not registered:
            await self.objects.write(key, data, verified.content_type, budget_s=budget_s)
        for variant, copy in (("thumbnail", verified.thumbnail), ("display", verified.display)):
            if copy is not None:
                await self.objects.write(
                    derived_key(verified.sha256, variant), copy, "image/jpeg", budget_s=budget_s
                )

    async def register(
        self,
        store: EvidenceStore,
        *,
        folder: Folder,
        actor: str,
        kind: str,
        file_name: str,
        verified: Verified,
        reuses: list[tuple[str, int]],
        upload_id: str | None = None,
        with_flags: bool = True,
    ) -> Registered:
        """One transaction: the evidence row, its reuse matches (``reuses``), the upload
        closed, audit. ``UploadAlreadyUsed`` (rolling it back) if the upload was closed
        meanwhile by another call."""
        facts = verified.photo
        taken = facts.taken_at if facts is not None else None
        row = EvidenceRow(
            id=f"evd_{uuid.uuid4().hex}",
            claim_id=folder.claim_id,
            kind=kind,
            content_type=verified.content_type,
            size_bytes=verified.size_bytes,
            sha256=verified.sha256,
            file_name=file_name,
            uploaded_by=actor,
            uploaded_at=self.clock.now(),
            width=facts.width if facts else None,
            height=facts.height if facts else None,
            taken_at=taken if taken is not None and taken.tzinfo else None,
            taken_at_local=taken if taken is not None and not taken.tzinfo else None,
            device=facts.device if facts else None,
            latitude=facts.gps[0] if facts and facts.gps else None,
            longitude=facts.gps[1] if facts and facts.gps else None,
            photo_hash=verified.photo_hash,
            index_hashes=verified.index_hashes,
            hash_version=HASH_VERSION if verified.index_hashes is not None else None,
        )
        stored = await store.add_evidence(row)
        new = stored.id == row.id
        if new:
            await store.add_matches(stored.id, reuses)
        if upload_id is not None and not await store.finish_upload(
            upload_id, evidence_id=stored.id
        ):
            raise UploadAlreadyUsed(f"upload {upload_id} has been completed already")
        await store.audit(
            actor,
            "evidence_registered" if new else "evidence_uploaded_again",
            claim_id=folder.claim_id,
            evidence_id=stored.id,
            detail=f"{kind} {verified.content_type} {verified.size_bytes} bytes",
        )
        flags = await self._flags_of(store, folder, [stored]) if with_flags else []
        return Registered(stored, flags)

    def _indexed(self, row: EvidenceRow) -> None:
        """A registered photo joins the forensic index (only once its transaction committed)."""
        if row.index_hashes is not None and row.id not in self._photos:
            self._add_to_index(IndexedPhoto(row.id, row.claim_id, row.sha256, row.index_hashes))

    async def complete_upload(
        self,
        request: Message,
        upload_id: str,
        *,
        budget_s: float | None,
        reply: Callable[[Registered], M],
        response_type: type[M],
    ) -> M:
        """Verify the staged object, store it under its hash, register it; a retry of the call
        that completed an upload replays its answer, any other call on it is refused."""
        try:
            upload = await self.pending_upload(upload_id)
        except UploadAlreadyUsed as error:
            used = error

            async def refuse(store: EvidenceStore) -> M:
                raise used

            return await self.write("CompleteUpload", request, response_type, refuse)
        staged, verified = await self.receive(upload, budget_s)
        return await self._register_verified(
            request,
            staged.data,
            verified,
            claim_id=upload.claim_id,
            kind=upload.kind,
            file_name=upload.file_name,
            upload_id=upload.id,
            staged_version=staged.version_id,
            budget_s=budget_s,
            reply=reply,
            response_type=response_type,
        )

    async def upload_bytes(
        self,
        request: Message,
        claim_id: str,
        declared: Declared,
        file_name: str,
        data: bytes,
        *,
        budget_s: float | None,
        reply: Callable[[Registered], M],
        response_type: type[M],
    ) -> M:
        """The streaming path: the same checks on bytes that came through the service."""
        await self.read(lambda store: self._folder(store, claim_id))
        verified = await asyncio.to_thread(verify, data, declared)
        return await self._register_verified(
            request,
            data,
            verified,
            claim_id=claim_id,
            kind=declared.kind,
            file_name=file_name,
            upload_id=None,
            budget_s=budget_s,
            reply=reply,
            response_type=response_type,
        )

    async def _register_verified(
        self,
        request: Message,
        data: bytes,
        verified: Verified,
        *,
        claim_id: str,
        kind: str,
        file_name: str,
        upload_id: str | None,
        budget_s: float | None,
        reply: Callable[[Registered], M],
        response_type: type[M],
        staged_version: str | None = None,
    ) -> M:
        await self.store_objects(data, verified, budget_s)
        reuses = await self.reuses(claim_id, verified, budget_s)
        registered: list[Registered] = []

        async def work(store: EvidenceStore) -> M:
            result = await self.register(
                store,
                folder=await self._folder(store, claim_id),
                actor=current_principal().subject,
                kind=kind,
                file_name=file_name,
                verified=verified,
                reuses=reuses,
                upload_id=upload_id,
            )
            registered.append(result)
            return reply(result)

        method = "CompleteUpload" if upload_id else "UploadEvidence"
        response = await self.write(method, request, response_type, work)
        if registered:
            self._indexed(registered[0].evidence)
        if upload_id is not None:
            await self._discard(staging_key(upload_id), staged_version, budget_s)
        return response

    # ------------------------------------------------------------ reading

    async def _flags_of(
        self, store: EvidenceStore, folder: Folder, rows: list[EvidenceRow]
    ) -> list[Finding]:
        times = ClaimTimes(folder.fault_at, folder.repaired_at)
        ids = {r.id for r in rows}
        found: list[Finding] = []
        for row in rows:
            if row.kind in PHOTO_KINDS:
                taken = row.taken_at or row.taken_at_local
                found += [
                    replace(f, evidence_id=row.id) for f in time_findings(row.kind, taken, times)
                ]
            elif row.content_type == "application/pdf":
                for other in await store.same_bytes_elsewhere(row.sha256, row.claim_id):
                    f = reuse_finding(
                        is_photo=False,
                        other_claim_id=other.claim_id,
                        other_evidence_id=other.id,
                        distance=0,
                    )
                    found.append(replace(f, evidence_id=row.id))
        for reuse in await store.reuses(folder.claim_id):
            if reuse.evidence_id in ids:
                f = reuse_finding(
                    is_photo=True,
                    other_claim_id=reuse.other_claim_id,
                    other_evidence_id=reuse.other_evidence_id,
                    distance=reuse.distance,
                )
                found.append(replace(f, evidence_id=reuse.evidence_id))
        return found

    async def claim_evidence(
        self, store: EvidenceStore, claim_id: str
    ) -> tuple[list[EvidenceRow], list[Finding]]:
        folder = await self._folder(store, claim_id)
        rows = [r for r in await store.claim_evidence(claim_id) if self._may_see(r)]
        return rows, await self._flags_of(store, folder, rows)

    async def claim_flags(
        self, store: EvidenceStore, claim_id: str
    ) -> tuple[list[EvidenceRow], list[Finding], int]:
        """The claim's evidence and flags, and how many uploads are still being verified
        (they count for nothing yet, and say so in a flag: the evidence is not complete)."""
        rows, flags = await self.claim_evidence(store, claim_id)
        unverified = await store.unverified_count(claim_id)
        if unverified:
            flags.append(unverified_finding(unverified))
        return rows, flags, unverified

    async def download_url(
        self, store: EvidenceStore, evidence_id: str, variant: str
    ) -> tuple[str, datetime]:
        row = await store.evidence(evidence_id)
        if row is not None:
            await self._folder(store, row.claim_id)
        if row is None or not self._may_see(row):
            raise EvidenceUnknown(f"no evidence {evidence_id!r} you may see", field="evidence_id")
        if variant != "original" and row.kind not in PHOTO_KINDS:
            raise PreconditionFailed(f"{row.kind} has no {variant} copy", field="variant")
        key = (
            evidence_key(row.sha256) if variant == "original" else derived_key(row.sha256, variant)
        )
        await store.audit(
            current_principal().subject,
            "download_url_issued",
            claim_id=row.claim_id,
            evidence_id=row.id,
            detail=variant,
        )
        url = self.objects.download_url(
            key, expires=self.download_ttl, file_name=row.file_name if variant == "original" else ""
        )
        return url, self.clock.now() + self.download_ttl

    # ------------------------------------------------------------ retention

    async def lock(self, claim_id: str, until: datetime, budget_s: float | None) -> int:
        """Write-once retention of a decided claim's evidence until ``until`` (never shortened)."""

        async def rows_of(store: EvidenceStore) -> list[EvidenceRow]:
            await self._folder(store, claim_id)
            return await store.claim_evidence(claim_id)

        rows = await self.read(rows_of)
        for row in rows:
            if row.retained_until is None or row.retained_until < until:
                await self.objects.retain(evidence_key(row.sha256), until, budget_s=budget_s)

        async def record(store: EvidenceStore) -> None:
            await store.retain([r.id for r in rows], until)
            await store.audit(
                current_principal().subject,
                "retention_set",
                claim_id=claim_id,
                detail=f"{len(rows)} objects until {until.isoformat()}",
            )

        await self.transaction(record)
        return len(rows)
