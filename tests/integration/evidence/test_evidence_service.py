"""The evidence service against the real S3 server and PostgreSQL of the test stack."""

from __future__ import annotations

import asyncio
import hashlib
import io
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import urllib3
from PIL import Image

from elevins.evidence.v1 import evidence_pb2 as pb
from elevins.evidence.v1 import evidence_pb2_grpc
from load_tests import photo_corpus
from services.evidence.objects import ObjectStore
from shared.errors import details_of
from shared.timestamps import to_timestamp
from tests.integration.policy.helpers import meta
from tests.unit.evidence import bad_files

pytestmark = pytest.mark.integration

FAULT_AT = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)  # 09:00 in Zhuzhou
HTTP = urllib3.PoolManager()


def rid() -> str:
    return uuid.uuid4().hex


async def open_folder(stub, mint, contractor: str, claim_id: str | None = None) -> str:
    claim_id = claim_id or f"clm-{uuid.uuid4().hex[:10]}"
    await stub.PutClaimFolder(
        pb.PutClaimFolderRequest(
            request_id=rid(),
            claim_id=claim_id,
            region="430202",
            contractor_id=contractor,
            fault_at=to_timestamp(FAULT_AT),
        ),
        metadata=meta(mint("service", subject="svc-claims")),
    )
    return claim_id


def contractor(mint, name: str):
    return meta(mint("contractor", subject=name, regions=("4302",)))


def photo(seed: int, *, taken: datetime | None = None) -> bytes:
    """A phone photo of machine room ``seed`` (the forensics corpus's scenes), with EXIF."""
    taken = taken or FAULT_AT + timedelta(minutes=30)
    scene = Image.open(
        io.BytesIO(photo_corpus.original(photo_corpus.render_world(seed, 3), seed, 3))
    )
    return bad_files.jpeg_with_exif(
        taken_at=taken, device=("Xiaomi", "14"), gps=(27.83, 113.15), picture=scene
    )


def declaration(data: bytes, **declared) -> dict[str, object]:
    """What an uploader declares of ``data`` (a before photo), with ``declared`` overriding."""
    return {
        "kind": "before_photo",
        "content_type": "image/jpeg",
        "size_bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "file_name": "IMG_0001.jpg",
    } | declared


async def presigned_upload(stub, md, claim_id: str, data: bytes, **declared):
    fields = declaration(data, **declared)
    form = await stub.CreateUpload(
        pb.CreateUploadRequest(request_id=rid(), claim_id=claim_id, **fields), metadata=md
    )
    posted = HTTP.request(
        "POST",
        form.url,
        fields={**form.form_fields, "file": ("IMG_0001.jpg", data, fields["content_type"])},
    )
    return form, posted


async def failure(call):
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return details_of(caught.value)


async def test_a_photo_uploaded_straight_to_s3_is_verified_and_registered(stub, mint) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = photo(seed=11)
    form, posted = await presigned_upload(stub, md, claim_id, data)
    assert posted.status == 204, posted.data
    evidence = (
        await stub.CompleteUpload(
            pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id), metadata=md
        )
    ).evidence
    assert (evidence.kind, evidence.content_type, evidence.size_bytes) == (
        "before_photo",
        "image/jpeg",
        len(data),
    )
    assert evidence.sha256 == hashlib.sha256(data).hexdigest()
    assert evidence.photo.device == "Xiaomi 14" and evidence.photo.has_gps
    assert [f.code for f in evidence.flags] == []

    display = await stub.GetDownloadUrl(
        pb.GetDownloadUrlRequest(evidence_id=evidence.evidence_id, variant="display"),
        metadata=md,
    )
    copy = HTTP.request("GET", display.url)
    assert copy.status == 200
    shown = Image.open(io.BytesIO(copy.data))
    assert not shown.getexif(), "the copy shown to people carries no EXIF (and no GPS)"
    original = HTTP.request(
        "GET",
        (
            await stub.GetDownloadUrl(
                pb.GetDownloadUrlRequest(evidence_id=evidence.evidence_id, variant="original"),
                metadata=md,
            )
        ).url,
    )
    assert original.data == data


@pytest.mark.parametrize(
    ("name", "data", "declared", "reason"),
    [
        ("truncated JPEG", bad_files.truncated_jpeg(), {}, "TRUNCATED_IMAGE"),
        ("PNG bomb", bad_files.png_bomb(), {"content_type": "image/png"}, "DECOMPRESSION_BOMB"),
        ("executable named .jpg", bad_files.executable(), {}, "UNSUPPORTED_TYPE"),
        ("PNG declared as JPEG", bad_files.png(), {}, "TYPE_MISMATCH"),
        ("wrong declared hash", bad_files.plain_jpeg(), {"sha256": "0" * 64}, "HASH_MISMATCH"),
    ],
)
async def test_bad_objects_are_refused_with_a_reason_and_nothing_registered(
    stub, mint, name, data, declared, reason
) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    form, posted = await presigned_upload(stub, md, claim_id, data, **declared)
    assert posted.status == 204, (name, posted.data)
    refused = await failure(
        stub.CompleteUpload(
            pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id), metadata=md
        )
    )
    assert refused.code == grpc.StatusCode.INVALID_ARGUMENT, name
    assert refused.reason == reason, (name, refused)
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert list(listed.evidence) == []
    again = await failure(
        stub.CompleteUpload(
            pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id), metadata=md
        )
    )
    assert again.reason == "UPLOAD_ALREADY_USED"


async def test_an_object_larger_than_allowed_never_reaches_storage(stub, mint) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    too_big = await failure(
        stub.CreateUpload(
            pb.CreateUploadRequest(
                request_id=rid(),
                claim_id=claim_id,
                kind="before_photo",
                content_type="image/jpeg",
                size_bytes=200 * 1024 * 1024,
                sha256="a" * 64,
            ),
            metadata=md,
        )
    )
    assert too_big.code == grpc.StatusCode.INVALID_ARGUMENT
    assert [v.field for v in too_big.violations] == ["size_bytes"]
    # Declared small, sent big: S3 itself refuses it under the form's size condition.
    small = bad_files.plain_jpeg()
    form = await stub.CreateUpload(
        pb.CreateUploadRequest(
            request_id=rid(),
            claim_id=claim_id,
            kind="invoice",
            content_type="application/pdf",
            size_bytes=len(small),
            sha256=hashlib.sha256(small).hexdigest(),
        ),
        metadata=md,
    )
    assert form.max_bytes == 20 * 1024 * 1024
    huge = b"%PDF-1.4\n" + b"0" * (form.max_bytes + 10)
    posted = HTTP.request(
        "POST", form.url, fields={**form.form_fields, "file": ("x.pdf", huge, "application/pdf")}
    )
    assert posted.status == 400 and b"EntityTooLarge" in posted.data


async def test_expired_and_reused_uploads_are_refused(stub, mint, usecases) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = photo(seed=12)
    form, _ = await presigned_upload(stub, md, claim_id, data)
    usecases.clock.advance(timedelta(minutes=16))
    try:
        expired = await failure(
            stub.CompleteUpload(
                pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id), metadata=md
            )
        )
    finally:
        usecases.clock.advance(timedelta(minutes=-16))
    assert (expired.code, expired.reason) == (grpc.StatusCode.FAILED_PRECONDITION, "UPLOAD_EXPIRED")

    form, _ = await presigned_upload(stub, md, claim_id, data)
    request = pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id)
    first = await stub.CompleteUpload(request, metadata=md)
    replay = await stub.CompleteUpload(request, metadata=md)  # a retry: the same answer
    assert replay == first
    # The form used again, then completed again: refused, the registered evidence unchanged.
    other = photo(seed=13)
    HTTP.request(
        "POST", form.url, fields={**form.form_fields, "file": ("x.jpg", other, "image/jpeg")}
    )
    reused = await failure(
        stub.CompleteUpload(
            pb.CompleteUploadRequest(request_id=rid(), upload_id=form.upload_id), metadata=md
        )
    )
    assert reused.reason == "UPLOAD_ALREADY_USED"
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert [e.sha256 for e in listed.evidence] == [hashlib.sha256(data).hexdigest()]


async def stream_upload(stub, md, claim_id: str, data: bytes, kind: str = "before_photo"):
    header = pb.UploadHeader(
        claim_id=claim_id,
        kind=kind,
        content_type="image/jpeg",
        size_bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        file_name="p.jpg",
    )

    async def messages():
        yield pb.UploadEvidenceRequest(request_id=rid(), header=header)
        for i in range(0, len(data), 64 * 1024):
            yield pb.UploadEvidenceRequest(chunk=data[i : i + 64 * 1024])

    return (await stub.UploadEvidence(messages(), metadata=md)).evidence


def recompressed(data: bytes) -> bytes:
    """The same photo cropped, resized and saved again (EXIF kept): what a reuse looks like."""
    image = Image.open(io.BytesIO(data))
    w, h = image.size
    cropped = image.crop((w // 12, h // 20, w - w // 40, h - h // 12))
    smaller = cropped.resize((cropped.width * 3 // 4, cropped.height * 3 // 4))
    out = io.BytesIO()
    smaller.save(out, "JPEG", quality=70, exif=image.getexif())
    return out.getvalue()


async def test_a_photo_reused_in_another_claim_is_flagged_on_both(stub, mint) -> None:
    a, b = contractor(mint, "ctr-a"), contractor(mint, "ctr-b")
    first_claim = await open_folder(stub, mint, "ctr-a")
    second_claim = await open_folder(stub, mint, "ctr-b")
    original = photo(seed=21)
    await stream_upload(stub, a, first_claim, original)
    fresh = await stream_upload(stub, a, first_claim, photo(seed=22), kind="after_photo")
    assert [f.code for f in fresh.flags] == []
    reused = await stream_upload(stub, b, second_claim, recompressed(original))
    codes = {(f.code, f.other_claim_id) for f in reused.flags}
    assert ("PHOTO_REUSED_ACROSS_CLAIMS", first_claim) in codes
    flags = await stub.GetClaimFlags(
        pb.GetClaimFlagsRequest(claim_id=first_claim), metadata=meta(mint("service"))
    )
    assert {(f.code, f.other_claim_id) for f in flags.flags} == {
        ("PHOTO_REUSED_ACROSS_CLAIMS", second_claim)
    }
    assert flags.evidence_count == 2
    # The same machine photographed again from a step aside is not a reuse.
    third_claim = await open_folder(stub, mint, "ctr-b")
    world = photo_corpus.render_world(21, 3)
    second_shot = photo_corpus.second_shot(world, 21, 3, take=0)
    again = await stream_upload(stub, b, third_claim, second_shot)
    assert [f.code for f in again.flags if f.code.startswith("PHOTO_REUSED")] == []
    # Each contractor sees only its own claim: the other claim is not there for them.
    hidden = await failure(
        stub.ListClaimEvidence(pb.ListClaimEvidenceRequest(claim_id=first_claim), metadata=b)
    )
    assert hidden.code == grpc.StatusCode.NOT_FOUND
    theirs = await failure(
        stub.GetDownloadUrl(
            pb.GetDownloadUrlRequest(evidence_id=fresh.evidence_id, variant="original"),
            metadata=b,
        )
    )
    assert theirs.code == grpc.StatusCode.NOT_FOUND


async def test_photo_times_are_checked_against_the_claim(stub, mint) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    last_year = await stream_upload(
        stub, md, claim_id, photo(seed=31, taken=FAULT_AT - timedelta(days=300))
    )
    assert [f.code for f in last_year.flags] == ["PHOTO_TAKEN_BEFORE_FAULT"]
    bare = await stream_upload(stub, md, claim_id, bad_files.plain_jpeg(seed=32))
    assert [f.code for f in bare.flags] == ["PHOTO_METADATA_MISSING"]


async def test_decided_claims_evidence_is_write_once(stub, mint, stack) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    evidence = await stream_upload(stub, md, claim_id, photo(seed=41))
    until = datetime(2033, 12, 31, tzinfo=UTC)
    locked = await stub.LockClaimEvidence(
        pb.LockClaimEvidenceRequest(
            request_id=rid(), claim_id=claim_id, retain_until=to_timestamp(until)
        ),
        metadata=meta(mint("service", subject="svc-claims")),
    )
    assert locked.locked == 1
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert listed.evidence[0].retained_until.ToDatetime(tzinfo=UTC) == until
    from minio import Minio

    client = Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=stack.s3_secret_key,
        secure=False,
    )
    key = f"sha256/{evidence.sha256}"
    assert client.get_object_retention(stack.s3_bucket, key).mode == "COMPLIANCE"
    version = client.stat_object(stack.s3_bucket, key).version_id
    with pytest.raises(Exception, match=r"AccessDenied|Access Denied"):
        client.remove_object(stack.s3_bucket, key, version_id=version)


async def test_storage_down_is_unavailable_and_registers_nothing(
    stub, mint, service_environ
) -> None:
    from services.evidence.server import build_app
    from services.evidence.settings import EvidenceSettings

    app, uc = build_app(EvidenceSettings.from_env(service_environ), port=0)
    server, port = await app.start()
    # S3 "goes down": nothing listens on port 9 of loopback.
    uc.objects = ObjectStore("127.0.0.1:9", "key", "secret", "evidence-down", timeout_s=0.5)
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            down = evidence_pb2_grpc.EvidenceServiceStub(channel)
            error = await failure(stream_upload(down, md, claim_id, photo(seed=51)))
    finally:
        await app.stop(server)
    assert (error.code, error.reason) == (grpc.StatusCode.UNAVAILABLE, "STORAGE_UNAVAILABLE")
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert list(listed.evidence) == []


async def test_photos_hashed_by_an_older_hash_are_rehashed_and_found_again(
    stub, mint, usecases
) -> None:
    """A new HASH_VERSION: stored photos of older versions leave the index until the verifier,
    when idle, hashes them again from their stored bytes (docs/adr/0011)."""
    import sqlalchemy as sa

    from services.evidence.core.phash import HASH_VERSION
    from services.evidence.domain.verification import rehashed
    from services.evidence.store import evidence

    a, b = contractor(mint, "ctr-a"), contractor(mint, "ctr-b")
    first_claim = await open_folder(stub, mint, "ctr-a")
    original = photo(seed=51)
    await usecases.verifier.pause()  # its idle rounds would re-hash under the test's feet
    try:
        stored = await stream_upload(stub, a, first_claim, original)
        row = evidence.c.id == stored.evidence_id
        await usecases.transaction(
            lambda store: store.conn.execute(
                evidence.update()
                .where(row)
                .values(hash_version=1, photo_hash=bytes(32), index_hashes=bytes(224))
            )
        )
        await usecases.load_index()
        # (Not the same bytes: those are found by their SHA-256, without the index.)
        second_claim = await open_folder(stub, mint, "ctr-b")
        unseen = await stream_upload(stub, b, second_claim, recompressed(original))
        assert [f.code for f in unseen.flags if f.code.startswith("PHOTO_REUSED")] == []

        assert await usecases.rehash_stale() == 1
        assert await usecases.rehash_stale() == 0  # nothing left, and no query to find that
        version, index_hashes = (
            await usecases.read(
                lambda store: store.conn.execute(
                    sa.select(evidence.c.hash_version, evidence.c.index_hashes).where(row)
                )
            )
        ).one()
        assert version == HASH_VERSION
        assert index_hashes == rehashed(original)[1]
        third_claim = await open_folder(stub, mint, "ctr-b")
        resaved = io.BytesIO()
        Image.open(io.BytesIO(original)).save(resaved, "JPEG", quality=80)
        again = await stream_upload(stub, b, third_claim, resaved.getvalue())
        reused = {f.other_claim_id for f in again.flags if f.code == "PHOTO_REUSED_ACROSS_CLAIMS"}
        assert first_claim in reused
    finally:
        usecases.verifier.resume()
    # And with no one calling it: the verifier's idle round does it.
    await usecases.transaction(
        lambda store: store.conn.execute(evidence.update().where(row).values(hash_version=1))
    )
    await usecases.load_index()
    for _ in range(100):
        versions = await usecases.read(
            lambda store: store.conn.scalar(sa.select(evidence.c.hash_version).where(row))
        )
        if versions == HASH_VERSION:
            break
        await asyncio.sleep(0.1)
    assert versions == HASH_VERSION
