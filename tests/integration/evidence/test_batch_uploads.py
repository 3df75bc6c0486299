"""Uploads in batches: presigned PUTs bound to the declared bytes, received, then verified in the
background (docs/adr/0010); on the real S3 server and PostgreSQL of the test stack."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta

import grpc
import pytest
import urllib3
from minio import Minio

from elevins.evidence.v1 import evidence_pb2 as pb
from services.evidence.objects import ObjectStore, staging_key
from tests.integration.evidence.test_evidence_service import (
    contractor,
    declaration,
    failure,
    open_folder,
    photo,
    rid,
)
from tests.integration.policy.helpers import meta
from tests.unit.evidence import bad_files

pytestmark = pytest.mark.integration

HTTP = urllib3.PoolManager()
SETTLE_S = 20.0


def slot(claim_id: str, data: bytes, **declared) -> pb.UploadSlot:
    return pb.UploadSlot(claim_id=claim_id, **declaration(data, **declared))


def put(target: pb.PresignedPut, data: bytes, **headers: str) -> urllib3.BaseHTTPResponse:
    return HTTP.request(
        "PUT", target.url, body=data, headers={**target.headers, **headers}, retries=False
    )


async def complete(stub, md, *targets: pb.PresignedPut) -> list[pb.UploadStatus]:
    request = pb.CompleteUploadsRequest(request_id=rid(), upload_ids=[t.upload_id for t in targets])
    return list((await stub.CompleteUploads(request, metadata=md)).uploads)


async def settled(stub, md, *targets: pb.PresignedPut) -> list[pb.UploadStatus]:
    """The uploads' states once the verifier has finished with every one of them."""
    ids = [t.upload_id for t in targets]
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while True:
        states = (await stub.GetUploads(pb.GetUploadsRequest(upload_ids=ids), metadata=md)).uploads
        if all(s.state in ("verified", "rejected") for s in states):
            return list(states)
        assert asyncio.get_running_loop().time() < deadline, [s.state for s in states]
        await asyncio.sleep(0.05)


async def staged_gone(stack, upload_id: str) -> bool:
    """Whether nothing (no version, no delete marker) is left under the upload's staging key
    once the verifier has removed what it is done with (it does so in batches)."""
    deadline = asyncio.get_running_loop().time() + SETTLE_S
    while staged_versions(stack, upload_id):
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


def staged_versions(stack, upload_id: str) -> list[object]:
    client = Minio(
        stack.s3_endpoint,
        access_key=stack.s3_access_key,
        secret_key=stack.s3_secret_key,
        secure=False,
    )
    return list(
        client.list_objects(stack.s3_bucket, prefix=staging_key(upload_id), include_version=True)
    )


async def test_a_batch_is_received_at_once_and_verified_in_the_background(
    stub, mint, usecases, stack
) -> None:
    md = contractor(mint, "ctr-a")
    first = await open_folder(stub, mint, "ctr-a")
    second = await open_folder(stub, mint, "ctr-a")
    photos = [photo(seed=61), photo(seed=62), photo(seed=63)]
    claims = [first, first, second]
    await usecases.verifier.pause()  # so that "received" is seen before "verified"
    try:
        made = await stub.CreateUploads(
            pb.CreateUploadsRequest(
                request_id=rid(), slots=[slot(c, p) for c, p in zip(claims, photos, strict=True)]
            ),
            metadata=md,
        )
        targets = list(made.uploads)
        assert len(targets) == 3
        assert set(targets[0].headers) == {"content-type", "content-length"}
        for target, data in zip(targets, photos, strict=True):
            assert put(target, data).status == 200
        received = await complete(stub, md, *targets)
        assert [s.state for s in received] == ["received"] * 3
        assert [s.claim_id for s in received] == claims
        flags = await stub.GetClaimFlags(
            pb.GetClaimFlagsRequest(claim_id=first), metadata=meta(mint("service"))
        )
        # Received is not evidence yet: nothing counted, and the claim says it is incomplete.
        assert (flags.evidence_count, flags.unverified_count) == (0, 2)
        assert [f.code for f in flags.flags] == ["EVIDENCE_BEING_VERIFIED"]
    finally:
        usecases.verifier.resume()
    done = await settled(stub, md, *targets)
    assert [s.state for s in done] == ["verified"] * 3
    for status, data in zip(done, photos, strict=True):
        assert status.evidence.sha256 == hashlib.sha256(data).hexdigest()
        assert status.evidence.photo.device == "Xiaomi 14"
        assert status.evidence.uploaded_by == "ctr-a"
        # Nothing is left under the staging key: not even an old version in the versioned bucket.
        assert await staged_gone(stack, status.upload_id)
    flags = await stub.GetClaimFlags(
        pb.GetClaimFlagsRequest(claim_id=first), metadata=meta(mint("service"))
    )
    assert (flags.evidence_count, flags.unverified_count, list(flags.flags)) == (2, 0, [])
    original = await stub.GetDownloadUrl(
        pb.GetDownloadUrlRequest(evidence_id=done[2].evidence.evidence_id, variant="original"),
        metadata=md,
    )
    assert HTTP.request("GET", original.url).data == photos[2]
    # Completing again reports the states; the evidence is the same.
    again = await complete(stub, md, *targets)
    assert [s.evidence.evidence_id for s in again] == [s.evidence.evidence_id for s in done]


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
async def test_bad_objects_are_received_then_rejected_with_a_reason(
    stub, mint, stack, name, data, declared, reason
) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    made = await stub.CreateUploads(
        pb.CreateUploadsRequest(request_id=rid(), slots=[slot(claim_id, data, **declared)]),
        metadata=md,
    )
    [target] = made.uploads
    assert put(target, data).status == 200, name
    [status] = await complete(stub, md, target)
    assert status.state in ("received", "rejected"), name
    [status] = await settled(stub, md, target)
    assert (status.state, status.reason) == ("rejected", reason), (name, status)
    assert status.message and not status.HasField("evidence")
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert list(listed.evidence) == []
    flags = await stub.GetClaimFlags(
        pb.GetClaimFlagsRequest(claim_id=claim_id), metadata=meta(mint("service"))
    )
    assert (flags.evidence_count, flags.unverified_count) == (0, 0)
    assert await staged_gone(stack, target.upload_id)


async def test_s3_refuses_another_size_or_type_and_nothing_is_received(stub, mint) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = bad_files.plain_jpeg(seed=71)
    made = await stub.CreateUploads(
        pb.CreateUploadsRequest(request_id=rid(), slots=[slot(claim_id, data)]), metadata=md
    )
    [target] = made.uploads
    bigger = put(target, data + b"\0", **{"content-length": str(len(data) + 1)})
    assert bigger.status == 403  # the size is signed: an oversize body never lands
    assert put(target, data[:-1], **{"content-length": str(len(data) - 1)}).status == 403
    assert put(target, data, **{"content-type": "image/png"}).status == 403
    [status] = await complete(stub, md, target)
    assert (status.state, status.reason) == ("pending", "UPLOAD_NOT_RECEIVED")
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert list(listed.evidence) == []
    # The right bytes still go in.
    assert put(target, data).status == 200
    [status] = await complete(stub, md, target)
    assert status.state in ("received", "verified")
    [status] = await settled(stub, md, target)
    assert status.state == "verified"


async def test_a_reused_url_changes_no_evidence(stub, mint, stack) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = bad_files.plain_jpeg(seed=81)
    other = data[:1000] + bytes(len(data) - 1000)  # other bytes, the same length
    made = await stub.CreateUploads(
        pb.CreateUploadsRequest(request_id=rid(), slots=[slot(claim_id, data)]), metadata=md
    )
    [target] = made.uploads
    assert put(target, data).status == 200
    await complete(stub, md, target)
    [first] = await settled(stub, md, target)
    assert first.state == "verified"
    # The URL used again before it expires: S3 takes the bytes into staging, where nothing
    # reads them any more (the sweeper removes them); completing again reports the evidence.
    assert put(target, other).status == 200
    [again] = await complete(stub, md, target)
    assert (again.state, again.evidence.evidence_id) == ("verified", first.evidence.evidence_id)
    listed = await stub.ListClaimEvidence(
        pb.ListClaimEvidenceRequest(claim_id=claim_id), metadata=md
    )
    assert [e.sha256 for e in listed.evidence] == [hashlib.sha256(data).hexdigest()]
    original = await stub.GetDownloadUrl(
        pb.GetDownloadUrlRequest(evidence_id=first.evidence.evidence_id, variant="original"),
        metadata=md,
    )
    assert HTTP.request("GET", original.url).data == data


async def test_an_upload_completed_after_it_expired_is_rejected(stub, mint, usecases) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = bad_files.plain_jpeg(seed=73)
    made = await stub.CreateUploads(
        pb.CreateUploadsRequest(request_id=rid(), slots=[slot(claim_id, data)]), metadata=md
    )
    [target] = made.uploads
    assert put(target, data).status == 200
    usecases.clock.advance(timedelta(minutes=16))
    try:
        [status] = await complete(stub, md, target)
    finally:
        usecases.clock.advance(timedelta(minutes=-16))
    assert (status.state, status.reason) == ("rejected", "UPLOAD_EXPIRED")
    [status] = await complete(stub, md, target)
    assert status.state == "rejected"


async def test_bad_requests_name_every_bad_field(stub, mint) -> None:
    md = contractor(mint, "ctr-a")
    mine = await open_folder(stub, mint, "ctr-a")
    theirs = await open_folder(stub, mint, "ctr-b")
    data = bad_files.plain_jpeg(seed=74)
    empty = await failure(
        stub.CreateUploads(pb.CreateUploadsRequest(request_id=rid()), metadata=md)
    )
    assert [v.field for v in empty.violations] == ["slots"]
    bad = await failure(
        stub.CreateUploads(
            pb.CreateUploadsRequest(
                request_id=rid(),
                slots=[
                    slot(mine, data),
                    slot(mine, data, sha256="xyz", size_bytes=0),
                    slot(mine, data, kind="selfie"),
                ],
            ),
            metadata=md,
        )
    )
    assert bad.code == grpc.StatusCode.INVALID_ARGUMENT
    assert {v.field for v in bad.violations} == {
        "slots[1].sha256",
        "slots[1].size_bytes",
        "slots[2].kind",
    }
    too_many = await failure(
        stub.CreateUploads(
            pb.CreateUploadsRequest(request_id=rid(), slots=[slot(mine, data)] * 101), metadata=md
        )
    )
    assert [v.field for v in too_many.violations] == ["slots"]
    other_claim = await failure(
        stub.CreateUploads(
            pb.CreateUploadsRequest(request_id=rid(), slots=[slot(mine, data), slot(theirs, data)]),
            metadata=md,
        )
    )
    assert (other_claim.code, other_claim.reason) == (
        grpc.StatusCode.NOT_FOUND,
        "CLAIM_FOLDER_UNKNOWN",
    )
    assert [v.field for v in other_claim.violations] == ["slots[1].claim_id"]
    made = await stub.CreateUploads(
        pb.CreateUploadsRequest(request_id=rid(), slots=[slot(mine, data)]), metadata=md
    )
    someone_else = contractor(mint, "ctr-b")
    not_theirs = await failure(complete(stub, someone_else, *made.uploads))
    assert not_theirs.code == grpc.StatusCode.NOT_FOUND
    twice = await failure(complete(stub, md, made.uploads[0], made.uploads[0]))
    assert [v.field for v in twice.violations] == ["upload_ids"]


async def test_storage_down_leaves_the_upload_received_until_it_is_back(
    stub, mint, usecases
) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    data = photo(seed=75)
    await usecases.verifier.pause()
    working = usecases.objects
    try:
        made = await stub.CreateUploads(
            pb.CreateUploadsRequest(request_id=rid(), slots=[slot(claim_id, data)]), metadata=md
        )
        [target] = made.uploads
        assert put(target, data).status == 200
        [status] = await complete(stub, md, target)
        assert status.state == "received"
        usecases.objects = ObjectStore("127.0.0.1:9", "key", "secret", "down", timeout_s=0.3)
        [upload] = await usecases.lease_received(10)
        assert await usecases.verify_received(upload) == "received"
        [status] = (
            await stub.GetUploads(pb.GetUploadsRequest(upload_ids=[target.upload_id]), metadata=md)
        ).uploads
        assert status.state == "received"
    finally:
        usecases.objects = working
        usecases.clock.advance(timedelta(seconds=10))  # past the retry time
        usecases.verifier.resume()
    try:
        [status] = await settled(stub, md, target)
    finally:
        usecases.clock.advance(timedelta(seconds=-10))
    assert status.state == "verified"


async def test_the_sweeper_removes_staged_objects_nobody_will_read(
    stub, mint, usecases, stack
) -> None:
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    abandoned, waiting = bad_files.plain_jpeg(seed=76), bad_files.plain_jpeg(seed=77)
    await usecases.verifier.pause()
    try:
        made = await stub.CreateUploads(
            pb.CreateUploadsRequest(
                request_id=rid(), slots=[slot(claim_id, abandoned), slot(claim_id, waiting)]
            ),
            metadata=md,
        )
        left, received = made.uploads
        assert put(left, abandoned).status == 200  # never completed
        assert put(received, waiting).status == 200
        await complete(stub, md, received)
        await usecases.sweep_staging(older_than=timedelta(0))
        assert staged_versions(stack, left.upload_id) == []
        assert len(staged_versions(stack, received.upload_id)) == 1  # the verifier's to read
    finally:
        usecases.verifier.resume()
    [status] = await settled(stub, md, received)
    assert status.state == "verified"


async def test_the_metrics_show_uploads_by_state_and_the_verifier_lag(
    stub, mint, usecases, service_environ
) -> None:
    from services.evidence.server import build_app
    from services.evidence.settings import EvidenceSettings
    from tests.e2e.process import free_port
    from tests.integration.observability.test_metrics import delta, scrape

    port = free_port()
    # A second replica that only serves metrics (its verifier off): figures come from the
    # database, so it reports what the session's service does.
    settings = EvidenceSettings.from_env(
        {**service_environ, "METRICS_PORT": str(port), "EVIDENCE_VERIFIER": "false"}
    )
    app, _ = build_app(settings, port=0, clock=usecases.clock)
    server, _ = await app.start()
    md = contractor(mint, "ctr-a")
    claim_id = await open_folder(stub, mint, "ctr-a")
    photos = [bad_files.plain_jpeg(seed=78), bad_files.plain_jpeg(seed=79)]
    try:
        await usecases.verifier.pause()
        before = await asyncio.to_thread(scrape, port)
        try:
            made = await stub.CreateUploads(
                pb.CreateUploadsRequest(
                    request_id=rid(), slots=[slot(claim_id, p) for p in photos]
                ),
                metadata=md,
            )
            for target, data in zip(made.uploads, photos, strict=True):
                assert put(target, data).status == 200
            await complete(stub, md, *made.uploads)
            usecases.clock.advance(timedelta(seconds=30))
            waiting = await asyncio.to_thread(scrape, port)
        finally:
            usecases.clock.advance(timedelta(seconds=-30))
            usecases.verifier.resume()
        assert delta(before, waiting, "elevins_evidence_uploads", state="received") == 2
        assert waiting[("elevins_evidence_verification_lag_seconds", frozenset())] >= 30
        await settled(stub, md, *made.uploads)
        after = await asyncio.to_thread(scrape, port)
    finally:
        await app.stop(server)
    assert delta(before, after, "elevins_evidence_uploads", state="verified") == 2
    assert delta(before, after, "elevins_evidence_uploads", state="received") == 0
