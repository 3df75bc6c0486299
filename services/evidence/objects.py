"""The evidence bucket in S3 (SeaweedFS here, MinIO in production): the only module that
speaks S3.

Every call is bounded: the SDK's default retries take seconds, longer than an RPC may wait, so
the HTTP client has short timeouts and one retry, and each call also runs under
``asyncio.wait_for`` within the time the RPC has left. Any S3 failure is
``StorageUnavailable`` (gRPC UNAVAILABLE, which clients retry); a missing object is None.

Keys: ``sha256/<hex>`` for the evidence itself (content-addressed: the same bytes are one
object, nothing can be swapped under a key), ``derived/<hex>/{thumbnail,display}.jpg`` for
the copies shown to people, ``staging/<upload id>`` for presigned uploads not yet verified.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar
from urllib.parse import quote

import urllib3
from minio import Minio
from minio.commonconfig import COMPLIANCE
from minio.datatypes import PostPolicy
from minio.deleteobjects import DeleteObject
from minio.error import S3Error
from minio.retention import Retention
from opentelemetry.trace import SpanKind

from services.evidence.sigv4 import presign
from shared.telemetry import tracer

T = TypeVar("T")
_MISSING = ("NoSuchKey", "NoSuchObject", "NoSuchVersion")
_REGION = "us-east-1"  # MinIO's and SeaweedFS's default; given, it skips a location lookup
_tracer = tracer(__name__)


class StorageUnavailable(Exception):
    """S3 did not answer in time, or answered with an error that is not "no such object"."""


def evidence_key(sha256: str) -> str:
    return f"sha256/{sha256}"


def derived_key(sha256: str, variant: str) -> str:
    return f"derived/{sha256}/{variant}.jpg"


STAGING = "staging/"


def staging_key(upload_id: str) -> str:
    return f"{STAGING}{upload_id}"


@dataclass(frozen=True)
class Staged:
    """An object read back: its bytes and the version that was read (the bucket is versioned,
    object lock needs it), so that exactly that version can be removed afterwards."""

    data: bytes
    version_id: str | None


class ObjectStore:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        bucket: str,
        *,
        secure: bool = False,
        timeout_s: float = 3.0,
    ) -> None:
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=min(1.0, timeout_s), read=timeout_s),
            retries=urllib3.Retry(total=1, backoff_factor=0.05),
            maxsize=16,
        )
        self._client = Minio(
            endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=_REGION,
            http_client=http,
        )
        self.bucket = bucket
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self._scheme = "https" if secure else "http"
        self._keys = (access_key, secret_key)

    async def _call(self, fn: Callable[[], T], *, budget_s: float | None = None) -> T:
        limit = self.timeout_s * 2 + 0.5 if budget_s is None else max(0.05, budget_s)
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), timeout=limit)
        except S3Error:
            raise
        except (TimeoutError, urllib3.exceptions.HTTPError, OSError) as error:
            raise StorageUnavailable(f"S3 {type(error).__name__}: {error}") from error

    async def _s3(
        self, op: str, key: str, fn: Callable[[], T], *, budget_s: float | None = None
    ) -> T:
        """``fn`` (S3 operation ``op`` on ``key``) in a client span, bounded, errors mapped.

        The span is ours, not an HTTP library's: it names the S3 operation and the object
        (OpenTelemetry's AWS conventions), which is what a slow upload's trace must show.
        """
        with _tracer.start_as_current_span(
            f"S3 {op}",
            kind=SpanKind.CLIENT,
            attributes={
                "rpc.system": "aws-api",
                "rpc.service": "S3",
                "rpc.method": op,
                "aws.s3.bucket": self.bucket,
                "aws.s3.key": key,
                "server.address": self.endpoint,
            },
        ):
            try:
                return await self._call(fn, budget_s=budget_s)
            except S3Error as error:
                raise StorageUnavailable(f"S3 {error.code}: {error.message}") from error

    # ------------------------------------------------------------------ setup

    def ensure_bucket(self) -> None:
        """Creates the bucket with object lock; refuses one without it (retention would be a
        promise the storage does not keep)."""
        if not self._client.bucket_exists(self.bucket):
            self._client.make_bucket(self.bucket, object_lock=True)
            return
        try:
            self._client.get_object_lock_config(self.bucket)
        except S3Error as error:
            raise RuntimeError(
                f"bucket {self.bucket} has no object lock: create it with object lock enabled "
                "(write-once retention of decided claims' evidence depends on it)"
            ) from error

    # ------------------------------------------------------------------ objects

    async def read(
        self, key: str, *, max_bytes: int, budget_s: float | None = None
    ) -> bytes | None:
        """The object's bytes (at most ``max_bytes`` + 1 read, so an oversize one shows), or
        None if there is no such object."""
        staged = await self.read_version(key, max_bytes=max_bytes, budget_s=budget_s)
        return None if staged is None else staged.data

    async def read_version(
        self, key: str, *, max_bytes: int, budget_s: float | None = None
    ) -> Staged | None:
        """``read``, with the version id of what was read."""

        def get() -> Staged | None:
            try:
                response = self._client.get_object(self.bucket, key, length=max_bytes + 1)
            except S3Error as error:
                if error.code in _MISSING:
                    return None
                raise
            try:
                return Staged(response.read(), response.headers.get("x-amz-version-id"))
            finally:
                response.close()
                response.release_conn()

        return await self._s3("GetObject", key, get, budget_s=budget_s)

    async def sizes(self, prefix: str, *, budget_s: float | None = None) -> dict[str, int]:
        """Every current object under ``prefix``, key → size: one listing answers for a whole
        batch of uploads (their keys share a prefix), where a HEAD per object would cost S3
        and us as much CPU again as the upload itself (docs/adr/0010)."""

        def listing() -> dict[str, int]:
            found = self._client.list_objects(self.bucket, prefix=prefix, recursive=True)
            return {o.object_name: o.size for o in found if o.object_name and o.size is not None}

        return await self._s3("ListObjectsV2", prefix, listing, budget_s=budget_s)

    async def exists(self, key: str, *, budget_s: float | None = None) -> bool:
        def stat() -> bool:
            try:
                self._client.stat_object(self.bucket, key)
                return True
            except S3Error as error:
                if error.code in _MISSING:
                    return False
                raise

        return await self._s3("HeadObject", key, stat, budget_s=budget_s)

    async def write(
        self, key: str, data: bytes, content_type: str, *, budget_s: float | None = None
    ) -> None:
        await self._s3(
            "PutObject",
            key,
            lambda: self._client.put_object(
                self.bucket, key, io.BytesIO(data), len(data), content_type=content_type
            ),
            budget_s=budget_s,
        )

    async def remove(
        self, key: str, *, version_id: str | None = None, budget_s: float | None = None
    ) -> None:
        """With ``version_id``, that version is gone for good; without, the versioned bucket
        only hides the object behind a delete marker and keeps its bytes."""
        await self._s3(
            "DeleteObject",
            key,
            lambda: self._client.remove_object(self.bucket, key, version_id=version_id),
            budget_s=budget_s,
        )

    async def old_versions(
        self, prefix: str, *, older_than: timedelta, budget_s: float | None = None
    ) -> list[tuple[str, str | None]]:
        """Every version (and delete marker) under ``prefix`` written more than ``older_than``
        ago, by S3's clock: (key, version id)."""

        def listing() -> list[tuple[str, str | None]]:
            before = datetime.now(UTC) - older_than
            return [
                (o.object_name, o.version_id)
                for o in self._client.list_objects(
                    self.bucket, prefix=prefix, recursive=True, include_version=True
                )
                if o.object_name and o.last_modified is not None and o.last_modified < before
            ]

        return await self._s3("ListObjectVersions", prefix, listing, budget_s=budget_s)

    async def remove_versions(
        self, versions: Sequence[tuple[str, str | None]], *, budget_s: float | None = None
    ) -> None:
        """These versions gone for good (DeleteObjects, 1,000 a request)."""

        def remove() -> None:
            doomed = [DeleteObject(key, version) for key, version in versions]
            for start in range(0, len(doomed), 1000):
                errors = list(
                    self._client.remove_objects(self.bucket, iter(doomed[start : start + 1000]))
                )
                if errors:
                    raise StorageUnavailable(f"S3 kept {len(errors)} objects: {errors[0]}")

        if versions:
            await self._s3("DeleteObjects", versions[0][0], remove, budget_s=budget_s)

    async def retain(self, key: str, until: datetime, *, budget_s: float | None = None) -> None:
        """Write-once until ``until`` (COMPLIANCE: nobody, not even an admin, shortens it)."""
        await self._s3(
            "PutObjectRetention",
            key,
            lambda: self._client.set_object_retention(
                self.bucket, key, Retention(COMPLIANCE, until.replace(microsecond=0))
            ),
            budget_s=budget_s,
        )

    # ------------------------------------------------------------------ presigned URLs

    def put_url(
        self, key: str, *, content_type: str, size_bytes: int, ttl: timedelta
    ) -> tuple[str, dict[str, str]]:
        """A presigned PUT to ``key`` of a body of this type and exactly this length (both
        signed, ``sigv4``: S3 refuses any other); (url, headers the client must send). Signed
        with the real time: it is S3's clock that checks it.

        The SHA-256 is not bound (``x-amz-checksum-sha256`` would make S3 refuse other bytes
        at the door): it cost S3 ~0.2 ms of CPU a photo, 5–8% of a PUT, and the verifier
        checks the hash of what it reads anyway (docs/adr/0010)."""
        headers = {"content-type": content_type, "content-length": str(size_bytes)}
        url = presign(
            method="PUT",
            scheme=self._scheme,
            host=self.endpoint,
            path=f"/{self.bucket}/{key}",
            access_key=self._keys[0],
            secret_key=self._keys[1],
            region=_REGION,
            at=datetime.now(UTC),
            expires_s=max(1, int(ttl.total_seconds())),
            headers=headers,
        )
        return url, headers

    def upload_form(
        self, key: str, *, content_type: str, max_bytes: int, expires_at: datetime
    ) -> tuple[str, dict[str, str]]:
        """A POST policy for exactly this key, this content type and at most ``max_bytes``:
        S3 itself refuses anything else, and the policy expires at ``expires_at``."""
        policy = PostPolicy(self.bucket, expires_at)
        policy.add_equals_condition("key", key)
        policy.add_equals_condition("Content-Type", content_type)
        policy.add_content_length_range_condition(1, max_bytes)
        fields = self._client.presigned_post_policy(policy)
        scheme = "https" if self._client._base_url.is_https else "http"
        url = f"{scheme}://{self._client._base_url.host}/{self.bucket}"
        return url, {**fields, "key": key, "Content-Type": content_type}

    def download_url(self, key: str, *, expires: timedelta, file_name: str = "") -> str:
        headers: dict[str, str | list[str] | tuple[str]] | None = (
            # RFC 6266/5987: a phone's file name may be Chinese, or hold quotes.
            {"response-content-disposition": f"inline; filename*=UTF-8''{quote(file_name)}"}
            if file_name
            else None
        )
        return self._client.presigned_get_object(
            self.bucket, key, expires=expires, response_headers=headers
        )
