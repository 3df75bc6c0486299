"""Protobuf ⇄ domain for the evidence service: field checks and status codes. No rules here."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import grpc

from elevins.evidence.v1 import evidence_pb2 as pb
from elevins.evidence.v1 import evidence_pb2_grpc
from services.evidence.core.content import ContentRejected
from services.evidence.core.images import ImageRejected
from services.evidence.domain.flags import Finding
from services.evidence.domain.uploads import MAX_SLOTS
from services.evidence.domain.verification import (
    MAX_BYTES,
    Declared,
    UploadRejected,
    check_declared,
)
from services.evidence.objects import StorageUnavailable
from services.evidence.store import EvidenceRow, EvidenceStore, Folder
from services.evidence.usecases import (
    UPLOADERS,
    VARIANTS,
    EvidenceUseCases,
    Registered,
    Slot,
    UploadState,
)
from shared.auth import Role, require_role
from shared.errors import ServiceError, Violations, from_domain_error
from shared.timestamps import from_timestamp, to_timestamp

CHUNK_MAX = 1024 * 1024
READERS = (*UPLOADERS, Role.SUPERVISOR, Role.SENIOR_REVIEWER, Role.AUDITOR)
_REGION = re.compile(r"[1-8][0-9]{5}")


def map_error(exc: Exception) -> ServiceError | None:
    if isinstance(exc, StorageUnavailable):
        return ServiceError(grpc.StatusCode.UNAVAILABLE, "STORAGE_UNAVAILABLE", str(exc))
    error = from_domain_error(exc)
    if error is not None and isinstance(exc, ContentRejected | ImageRejected | UploadRejected):
        # The precise code (TRUNCATED_IMAGE, HASH_MISMATCH…) is what a client acts on.
        error.reason = exc.reason
    return error


def _budget(context: Any) -> float | None:
    """What the RPC has left, minus a margin to answer in: every S3 call must fit in it."""
    remaining = context.time_remaining() if context is not None else None
    return None if remaining is None else max(0.05, remaining - 0.2)


def flag_pb(f: Finding) -> pb.Flag:
    return pb.Flag(
        code=f.code,
        message=f.message,
        evidence_id=f.evidence_id,
        other_claim_id=f.other_claim_id,
        other_evidence_id=f.other_evidence_id,
        distance=f.distance,
    )


def evidence_pb(row: EvidenceRow, flags: list[Finding]) -> pb.Evidence:
    photo = None
    if row.width is not None:
        photo = pb.PhotoFacts(
            width=row.width,
            height=row.height or 0,
            taken_at=to_timestamp(row.taken_at) if row.taken_at else None,
            device=row.device or "",
            has_gps=row.latitude is not None,
            latitude=row.latitude or 0.0,
            longitude=row.longitude or 0.0,
        )
    return pb.Evidence(
        evidence_id=row.id,
        claim_id=row.claim_id,
        kind=row.kind,
        content_type=row.content_type,
        size_bytes=row.size_bytes,
        sha256=row.sha256,
        file_name=row.file_name,
        uploaded_by=row.uploaded_by,
        uploaded_at=to_timestamp(row.uploaded_at),
        photo=photo,
        flags=[flag_pb(f) for f in flags if f.evidence_id == row.id],
        retained_until=to_timestamp(row.retained_until) if row.retained_until else None,
    )


def _declared(
    h: pb.UploadHeader | pb.CreateUploadRequest | pb.UploadSlot, v: Violations, at: str = ""
) -> Declared:
    """What the client declares, every bad field added to ``v`` (named ``at`` + field)."""
    declared = Declared(h.kind, h.content_type.strip().lower(), h.size_bytes, h.sha256.lower())
    v.require(bool(h.claim_id.strip()), f"{at}claim_id", "required")
    v.require(len(h.file_name) <= 255, f"{at}file_name", "at most 255 characters")
    for problem in check_declared(declared):
        v.add(f"{at}{problem.field or 'upload'}", problem.message)
    return declared


def _upload_ids(ids: Any, v: Violations) -> list[str]:
    v.require(1 <= len(ids) <= MAX_SLOTS, "upload_ids", f"1 to {MAX_SLOTS} ids")
    v.require(len(set(ids)) == len(ids), "upload_ids", "each id once")
    for index, upload_id in enumerate(ids):
        v.require(bool(upload_id.strip()), f"upload_ids[{index}]", "required")
    return list(ids)


def status_pb(s: UploadState) -> pb.UploadStatus:
    return pb.UploadStatus(
        upload_id=s.upload.id,
        claim_id=s.upload.claim_id,
        state=s.state,
        reason=s.reason,
        message=s.message,
        evidence=evidence_pb(s.registered.evidence, s.registered.flags) if s.registered else None,
        received_at=to_timestamp(s.upload.received_at) if s.upload.received_at else None,
    )


class EvidenceServicer(evidence_pb2_grpc.EvidenceServiceServicer):
    def __init__(self, usecases: EvidenceUseCases) -> None:
        self.uc = usecases

    async def PutClaimFolder(
        self, request: pb.PutClaimFolderRequest, context: Any
    ) -> pb.PutClaimFolderResponse:
        require_role(Role.SERVICE)
        v = Violations()
        v.require(bool(request.claim_id.strip()), "claim_id", "required")
        v.require(bool(_REGION.fullmatch(request.region)), "region", "a 6-digit GB/T 2260 code")
        v.require(bool(request.contractor_id.strip()), "contractor_id", "required")
        v.require(request.HasField("fault_at"), "fault_at", "required")
        fault_at = from_timestamp(request.fault_at, "fault_at", v)
        repaired_at = (
            from_timestamp(request.repaired_at, "repaired_at", v)
            if request.HasField("repaired_at")
            else None
        )
        v.raise_if_any()
        assert fault_at is not None
        folder = Folder(
            request.claim_id, request.region, request.contractor_id, fault_at, repaired_at
        )

        async def work(store: EvidenceStore) -> pb.PutClaimFolderResponse:
            await self.uc.put_folder(store, folder)
            return pb.PutClaimFolderResponse(claim_id=folder.claim_id)

        return await self.uc.write("PutClaimFolder", request, pb.PutClaimFolderResponse, work)

    async def CreateUpload(
        self, request: pb.CreateUploadRequest, context: Any
    ) -> pb.CreateUploadResponse:
        require_role(*UPLOADERS)
        v = Violations()
        declared = _declared(request, v)
        v.raise_if_any()

        async def work(store: EvidenceStore) -> pb.CreateUploadResponse:
            form = await self.uc.create_upload(
                store, request.claim_id, declared, request.file_name.strip()
            )
            return pb.CreateUploadResponse(
                upload_id=form.upload.id,
                url=form.url,
                form_fields=form.fields,
                expires_at=to_timestamp(form.upload.expires_at),
                max_bytes=form.max_bytes,
            )

        return await self.uc.write("CreateUpload", request, pb.CreateUploadResponse, work)

    async def CreateUploads(
        self, request: pb.CreateUploadsRequest, context: Any
    ) -> pb.CreateUploadsResponse:
        require_role(*UPLOADERS)
        v = Violations()
        v.require(1 <= len(request.slots) <= MAX_SLOTS, "slots", f"1 to {MAX_SLOTS} slots")
        slots = [
            Slot(s.claim_id, _declared(s, v, f"slots[{i}]."), s.file_name.strip())
            for i, s in enumerate(request.slots)
        ]
        v.raise_if_any()

        async def work(store: EvidenceStore) -> pb.CreateUploadsResponse:
            targets = await self.uc.create_uploads(store, slots)
            return pb.CreateUploadsResponse(
                uploads=[
                    pb.PresignedPut(
                        upload_id=t.upload.id,
                        url=t.url,
                        headers=t.headers,
                        expires_at=to_timestamp(t.upload.expires_at),
                    )
                    for t in targets
                ]
            )

        return await self.uc.write("CreateUploads", request, pb.CreateUploadsResponse, work)

    async def CompleteUploads(
        self, request: pb.CompleteUploadsRequest, context: Any
    ) -> pb.CompleteUploadsResponse:
        require_role(*UPLOADERS)
        v = Violations()
        v.require(bool(request.request_id.strip()), "request_id", "required")
        upload_ids = _upload_ids(request.upload_ids, v)
        v.raise_if_any()
        return await self.uc.complete_uploads(
            request,
            upload_ids,
            budget_s=_budget(context),
            reply=lambda states: pb.CompleteUploadsResponse(uploads=[status_pb(s) for s in states]),
            response_type=pb.CompleteUploadsResponse,
        )

    async def GetUploads(
        self, request: pb.GetUploadsRequest, context: Any
    ) -> pb.GetUploadsResponse:
        require_role(*UPLOADERS)
        v = Violations()
        upload_ids = _upload_ids(request.upload_ids, v)
        v.raise_if_any()
        states = await self.uc.upload_states(upload_ids)
        return pb.GetUploadsResponse(uploads=[status_pb(s) for s in states])

    async def CompleteUpload(
        self, request: pb.CompleteUploadRequest, context: Any
    ) -> pb.CompleteUploadResponse:
        require_role(*UPLOADERS)
        v = Violations()
        v.require(bool(request.request_id.strip()), "request_id", "required")
        v.require(bool(request.upload_id.strip()), "upload_id", "required")
        v.raise_if_any()
        return await self.uc.complete_upload(
            request,
            request.upload_id,
            budget_s=_budget(context),
            reply=lambda r: pb.CompleteUploadResponse(evidence=evidence_pb(r.evidence, r.flags)),
            response_type=pb.CompleteUploadResponse,
        )

    async def UploadEvidence(
        self, request_iterator: AsyncIterator[pb.UploadEvidenceRequest], context: Any
    ) -> pb.UploadEvidenceResponse:
        require_role(*UPLOADERS)
        first: pb.UploadEvidenceRequest | None = None
        chunks: list[bytes] = []
        received = 0
        async for message in request_iterator:
            if first is None:
                first = message
                v = Violations()
                v.require(bool(message.request_id.strip()), "request_id", "required first")
                v.require(message.HasField("header"), "header", "required in the first message")
                declared = _declared(message.header, v)
                v.raise_if_any()
            limit = min(declared.size_bytes, MAX_BYTES[declared.kind])
            if len(message.chunk) > CHUNK_MAX or received + len(message.chunk) > limit:
                # Stop reading at once: the client said how much it would send.
                too_much = Violations()
                too_much.add("chunk", f"more than the {declared.size_bytes} bytes declared")
                too_much.raise_if_any()
            chunks.append(message.chunk)
            received += len(message.chunk)
        if first is None:
            none = Violations()
            none.add("header", "the stream was empty")
            none.raise_if_any()
        assert first is not None
        request = pb.UploadEvidenceRequest(request_id=first.request_id, header=first.header)

        def reply(r: Registered) -> pb.UploadEvidenceResponse:
            return pb.UploadEvidenceResponse(evidence=evidence_pb(r.evidence, r.flags))

        return await self.uc.upload_bytes(
            request,
            first.header.claim_id,
            declared,
            first.header.file_name.strip(),
            b"".join(chunks),
            budget_s=_budget(context),
            reply=reply,
            response_type=pb.UploadEvidenceResponse,
        )

    async def ListClaimEvidence(
        self, request: pb.ListClaimEvidenceRequest, context: Any
    ) -> pb.ListClaimEvidenceResponse:
        require_role(*READERS)

        async def work(store: EvidenceStore) -> pb.ListClaimEvidenceResponse:
            rows, flags = await self.uc.claim_evidence(store, request.claim_id)
            return pb.ListClaimEvidenceResponse(evidence=[evidence_pb(r, flags) for r in rows])

        return await self.uc.read(work)

    async def GetClaimFlags(
        self, request: pb.GetClaimFlagsRequest, context: Any
    ) -> pb.GetClaimFlagsResponse:
        require_role(*READERS)

        async def work(store: EvidenceStore) -> pb.GetClaimFlagsResponse:
            rows, flags, unverified = await self.uc.claim_flags(store, request.claim_id)
            return pb.GetClaimFlagsResponse(
                flags=[flag_pb(f) for f in flags],
                evidence_count=len(rows),
                unverified_count=unverified,
            )

        return await self.uc.read(work)

    async def GetDownloadUrl(
        self, request: pb.GetDownloadUrlRequest, context: Any
    ) -> pb.GetDownloadUrlResponse:
        require_role(*READERS)
        variant = request.variant or "display"
        v = Violations()
        v.require(variant in VARIANTS, "variant", f"one of {', '.join(VARIANTS)}")
        v.raise_if_any()

        async def work(store: EvidenceStore) -> pb.GetDownloadUrlResponse:
            url, expires_at = await self.uc.download_url(store, request.evidence_id, variant)
            return pb.GetDownloadUrlResponse(url=url, expires_at=to_timestamp(expires_at))

        return await self.uc.transaction(work)  # the audit row is written with it

    async def LockClaimEvidence(
        self, request: pb.LockClaimEvidenceRequest, context: Any
    ) -> pb.LockClaimEvidenceResponse:
        require_role(Role.SERVICE)
        v = Violations()
        v.require(bool(request.claim_id.strip()), "claim_id", "required")
        v.require(request.HasField("retain_until"), "retain_until", "required")
        until = from_timestamp(request.retain_until, "retain_until", v)
        v.raise_if_any()
        assert until is not None
        locked = await self.uc.lock(request.claim_id, until, _budget(context))
        return pb.LockClaimEvidenceResponse(locked=locked)
