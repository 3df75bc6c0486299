"""Upload throughput of the evidence service beside raw S3 PUTs to the same server, and the
throughput of verifying what was uploaded, in one run.

``evidence_upload_throughput`` answers the evidence issue's acceptance point: upload
throughput of ~200 KB photos through the service beside raw SDK PUTs to the same SeaweedFS
and bucket, in one run (target: at least 80% of raw). What counts as uploaded, and why
verification is its own figure, is docs/adr/0010. Each way by ``UPLOADERS`` concurrent
uploaders (a child process), in alternating rounds (AB then BA) so machine noise hits both
alike:

* **raw PUT** (the baseline): the minio SDK's ``put_object`` of the same bytes, distinct keys,
  one thread per uploader;
* **through the service** (the headline): what an app does to get its photos in, in calls of
  ``SLOTS_PER_CALL`` photos: ``CreateUploads`` (one presigned PUT per photo, bound to its
  type and size), a PUT of each photo straight to S3 (one at a time per uploader, on
  the raw PUTs' threads and HTTP client, urllib3), ``CompleteUploads``; an uploader asks for
  its next batch and completes its last one while it PUTs, as an app that pipelines would.
  A photo counts when ``CompleteUploads`` has answered ``received``: its bytes are in S3, the
  service has seen them there and recorded the upload for its claim in PostgreSQL (retrievable
  with ``GetUploads``, idempotent on retry), and it is queued for verification. The service's
  background verifier is paused during these rounds;
* **verification** (its own figure): after each round, the service's verifier drains what the
  round received (``Verifier.drain``, the code its background loop runs): reads each object
  back, verifies size, SHA-256 and type, decodes it, makes the display and thumbnail copies,
  hashes it, aligns candidate photos for reuse, registers it in PostgreSQL. Photos verified
  per second, with nothing else running.

The service runs in this process (as ``build_app`` serves it in the tests); the uploaders run
in a child process (``spawn``), so the CPU counted for this process is the service's alone.
Every photo is distinct bytes (the service deduplicates by content hash) and is uploaded at
most once per way; the photos of one scene go to one claim folder, as a contractor's photos of
one machine room do. Every photo must end verified (none rejected), or the run fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import multiprocessing
import os
import secrets
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.connection import Connection
from typing import Any, Literal, TypeVar
from unittest import mock

import grpc
import numpy as np
import numpy.typing as npt
import psutil  # type: ignore[import-untyped]
from PIL import ExifTags, Image

from elevins.evidence.v1 import evidence_pb2 as pb
from elevins.evidence.v1 import evidence_pb2_grpc
from load_tests.cpu import cpu_between
from load_tests.harness import (
    BenchContext,
    BenchResult,
    EvidenceTarget,
    Measure,
    Metadata,
    benchmark,
    note,
)
from load_tests.photo_corpus import WORLD_MARGIN, render_world
from load_tests.stats import median, percentile
from shared.timestamps import to_timestamp

Way = Literal["raw", "service", "verification"]
WAYS: tuple[Way, ...] = ("raw", "service")  # the uploading ways, alternated
T = TypeVar("T")

UPLOADERS = 8
# Photos per CreateUploads/CompleteUploads: what an app has queued (a day's jobs: before, after
# and replaced-part photos), here eight claims' worth of four. A pair of calls costs the
# service and PostgreSQL about what three PUTs cost S3, whatever its size, so fewer photos a
# call cost more per photo: at 16 the ratio was lower (docs/adr/0010 has both).
SLOTS_PER_CALL = 32
FRAME = (1280, 960)  # a phone photo sent at "large" size; portrait scenes swap it
TARGET_BYTES = 200_000
SIZE_TOLERANCE = 0.10  # every photo within ±10% of TARGET_BYTES
NOISE = 3.5  # sensor noise, grey levels (σ)
NOISE_PAD = 256  # the noise field is this much larger than a photo: offsets to take it at
PHOTOS_PER_SCENE = 4  # one claim folder per scene: a contractor's photos of one machine room
SEED = 41
REGION = "430202"
FAULT_AT = datetime(2026, 12, 14, 1, 0, tzinfo=UTC)  # 09:00 in Zhuzhou, every claim's fault
ZHUZHOU = timezone(timedelta(hours=8))
TARGET_RATIO = 0.8
# Photos per round and way, × time_scale (each photo goes in once per way, so photos rather
# than seconds bound a round): ~1 s raw, ~1.5 s through the service (a call or two for each
# uploader), then ~20 s verifying.
BATCH: Mapping[Way, int] = {"raw": 384, "service": 384}
ROUNDS = 4  # measured, after one warm-up round of each way
WARM_UP = UPLOADERS * SLOTS_PER_CALL  # photos of each way's warm-up round
CALL_TIMEOUT_S = 10.0
PUT_TIMEOUT_S = 10.0
ANSWER_TIMEOUT_S = 120.0  # a round's answer later than this means the child is stuck
STATES_PER_CALL = 100  # GetUploads' limit

# ------------------------------------------------------------------ the photos


def _exif(taken_at: datetime) -> Image.Exif:
    """A phone's EXIF: make, model, when the photo was taken (local time, with its offset)."""
    exif = Image.Exif()
    exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = ("Xiaomi", "14")
    local = taken_at.astimezone(ZHUZHOU)
    exif[ExifTags.IFD.Exif] = {
        ExifTags.Base.DateTimeOriginal: local.strftime("%Y:%m:%d %H:%M:%S"),
        ExifTags.Base.OffsetTimeOriginal: "+08:00",
    }
    return exif


def _jpeg_near(image: Image.Image, exif: Image.Exif, quality: int) -> tuple[bytes, int]:
    """``image`` as JPEG at the quality that lands nearest TARGET_BYTES (bisection from
    ``quality``, within ±4% as soon as one does): (bytes, quality)."""
    low, high = 40, 97
    best: tuple[float, bytes, int] | None = None
    for _ in range(7):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=quality, exif=exif)
        data = buffer.getvalue()
        miss = len(data) / TARGET_BYTES - 1
        if best is None or abs(miss) < best[0]:
            best = (abs(miss), data, quality)
        if abs(miss) <= 0.04:
            break
        if miss > 0:
            high = quality - 1
        else:
            low = quality + 1
        if low > high:
            break
        quality = (low + high) // 2
    assert best is not None
    return best[1], best[2]


def scene_photos(scene: int, count: int, *, seed: int = SEED) -> list[bytes]:
    """``count`` photos of machine room ``scene`` (``photo_corpus``'s scenes) at FRAME: the
    camera moved a little between shots (shift up to 6%, zoom 0.92–1.08, a slight
    perspective), upscaled from the scene's world as a phone's softness would, sensor noise
    (``_noise_field`` at a fresh offset per shot), EXIF of a phone, JPEG quality tuned so each
    lands near TARGET_BYTES."""
    import cv2

    world = np.asarray(render_world(scene, seed))
    rng = np.random.default_rng([seed, scene, 9])
    wh, ww = world.shape[:2]
    fw, fh = ww / WORLD_MARGIN, wh / WORLD_MARGIN
    out_w, out_h = (FRAME[1], FRAME[0]) if wh > ww else FRAME
    frame = np.array([[0, 0], [out_w, 0], [out_w, out_h], [0, out_h]], np.float32)
    noise_field = _noise_field(out_h + NOISE_PAD, out_w + NOISE_PAD)
    taken_at = FAULT_AT + timedelta(minutes=30 + scene % 60)  # on site after the fault
    quality = 85
    photos = []
    for take in range(count):
        zoom = rng.uniform(0.92, 1.08)
        cw, ch = fw / zoom, fh / zoom
        cx = ww / 2 + rng.uniform(-0.06, 0.06) * fw
        cy = wh / 2 + rng.uniform(-0.06, 0.06) * fh
        corners = np.array(
            [
                [cx - cw / 2, cy - ch / 2],
                [cx + cw / 2, cy - ch / 2],
                [cx + cw / 2, cy + ch / 2],
                [cx - cw / 2, cy + ch / 2],
            ]
        )
        corners += rng.uniform(-0.01, 0.01, (4, 2)) * np.array([fw, fh])
        # Output pixel → world pixel (WARP_INVERSE_MAP), bilinear: the lens's softness.
        to_world = cv2.getPerspectiveTransform(frame, corners.astype(np.float32))
        shot = cv2.warpPerspective(
            world, to_world, (out_w, out_h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
        )
        dy, dx = (int(v) for v in rng.integers(0, NOISE_PAD, 2))
        grain = noise_field[dy : dy + out_h, dx : dx + out_w]
        pixels = np.clip(shot.astype(np.int16) + grain, 0, 255).astype(np.uint8)
        data, quality = _jpeg_near(
            Image.fromarray(pixels), _exif(taken_at + timedelta(seconds=17 * take)), quality
        )
        photos.append(data)
    return photos


_NOISE: dict[tuple[int, int], npt.NDArray[np.int16]] = {}


def _noise_field(height: int, width: int) -> npt.NDArray[np.int16]:
    """Grey sensor noise (σ = NOISE), drawn once per process and shape: each shot takes it at
    its own offset, so no two shots share their noise."""
    field = _NOISE.get((height, width))
    if field is None:
        drawn = np.random.default_rng([SEED, height, width]).standard_normal(
            (height, width, 1), np.float32
        )
        field = _NOISE[(height, width)] = np.rint(drawn * NOISE).astype(np.int16)
    return field


def _single_threaded_cv2() -> None:
    """In a generating process: one thread for OpenCV, the processes share the cores."""
    import cv2

    cv2.setNumThreads(1)


def generate(
    count: int, *, first_scene: int = 0, processes: int = 2, seed: int = SEED
) -> list[bytes]:
    """``count`` distinct photos, PHOTOS_PER_SCENE per scene from ``first_scene`` on, in
    scene order, over ``processes`` processes; refused unless every one is within
    SIZE_TOLERANCE of the target and all are distinct bytes."""
    scenes = range(first_scene, first_scene - (-count // PHOTOS_PER_SCENE))
    jobs = [(scene, PHOTOS_PER_SCENE, seed) for scene in scenes]
    if processes > 1:
        with multiprocessing.get_context("spawn").Pool(
            processes, initializer=_single_threaded_cv2
        ) as pool:
            parts = pool.starmap(_scene_job, jobs, chunksize=4)
    else:
        parts = [_scene_job(*job) for job in jobs]
    photos = [photo for part in parts for photo in part][:count]
    off = [len(p) for p in photos if abs(len(p) / TARGET_BYTES - 1) > SIZE_TOLERANCE]
    if off:
        raise RuntimeError(f"{len(off)} photos off the {TARGET_BYTES:,}-byte target: {off[:5]}")
    if len({hashlib.sha256(p).digest() for p in photos}) != len(photos):
        raise RuntimeError("two generated photos have the same bytes")
    return photos


def _scene_job(scene: int, count: int, seed: int) -> list[bytes]:
    return scene_photos(scene, count, seed=seed)


def claim_of(index: int, run: str) -> str:
    """The claim folder photo ``index`` of run ``run`` goes to: one per scene."""
    return f"clm-upl-{run}-{index // PHOTOS_PER_SCENE:04d}"


# ------------------------------------------------------------------ the uploaders (child)


@dataclass(frozen=True)
class ClientSetup:
    """What the child needs: the service, a token it accepts for the claims, the S3 server."""

    addr: str
    metadata: Metadata
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    bucket: str
    photos: list[bytes]
    claims: list[str]  # the claim each photo goes to
    uploaders: int = UPLOADERS
    slots_per_call: int = SLOTS_PER_CALL


@dataclass(frozen=True)
class Job:
    """Upload photos ``start`` … ``start + count - 1`` the given way."""

    way: Way
    start: int
    count: int


@dataclass
class Outcome:
    """One round as the uploaders saw it.

    The rate is each uploader's own, summed: the photos it got in over the time from the start
    to its last one. The uploaders run side by side from the start, so the sum is what they
    achieved together; and the tail of a round (uploaders finishing one by one, some idle)
    weighs on none of them, which matters more for a way that works in batches of photos
    than for one that works photo by photo. An uploader's first and last calls (a batch's
    CreateUploads before its first PUT, CompleteUploads after its last) are in its time.
    """

    way: Way
    photos: int = 0
    bytes: int = 0
    wall_s: float = 0.0
    cpu_s: float = 0.0  # the child process's CPU (every thread) during the round
    # (s from start, bytes, uploader) of every photo, when it counted as uploaded
    completions: list[tuple[float, int, int]] = field(default_factory=list)
    latencies_ms: list[float] = field(default_factory=list)  # per photo, every step
    steps_ms: dict[str, list[float]] = field(default_factory=dict)  # create, put, complete
    upload_ids: list[str] = field(default_factory=list)  # received by the service
    error: str | None = None

    def _sum(self, pick: Callable[[int, int], float]) -> float:
        """Σ over uploaders of pick(photos, bytes) / (its last completion's time)."""
        last: dict[int, float] = defaultdict(float)
        photos: dict[int, int] = defaultdict(int)
        size: dict[int, int] = defaultdict(int)
        for at, n, uploader in self.completions:
            last[uploader] = max(last[uploader], at)
            photos[uploader] += 1
            size[uploader] += n
        if not last:  # nothing per uploader (the verifier's rounds): the whole round
            return pick(self.photos, self.bytes) / self.wall_s
        return sum(pick(photos[u], size[u]) / last[u] for u in last if last[u] > 0)

    @property
    def rate(self) -> float:
        return self._sum(lambda photos, _: photos)

    @property
    def bytes_per_s(self) -> float:
        return self._sum(lambda _, size: size)


class Uploaders:
    """The child's side: ``uploaders`` concurrent uploaders, one way per round."""

    def __init__(self, setup: ClientSetup) -> None:
        import urllib3
        from minio import Minio

        self.setup = setup
        http = urllib3.PoolManager(maxsize=setup.uploaders, retries=False)
        self.minio = Minio(
            setup.s3_endpoint,
            access_key=setup.s3_access_key,
            secret_key=setup.s3_secret_key,
            secure=False,
            region="us-east-1",
            http_client=http,
        )
        self.threads = ThreadPoolExecutor(setup.uploaders, thread_name_prefix="put")
        self.channel = grpc.aio.insecure_channel(setup.addr)
        self.stub = evidence_pb2_grpc.EvidenceServiceStub(self.channel)
        # The presigned PUTs go through the same HTTP client as the SDK's raw PUTs.
        self.http = urllib3.PoolManager(
            maxsize=setup.uploaders,
            retries=False,
            timeout=urllib3.Timeout(total=PUT_TIMEOUT_S),
        )
        self.run_id = uuid.uuid4().hex[:8]

    async def close(self) -> None:
        await self.channel.close(None)
        self.threads.shutdown(wait=True)

    def _raw_put(self, index: int) -> None:
        data = self.setup.photos[index]
        self.minio.put_object(
            self.setup.bucket,
            f"bench-raw/{self.run_id}/{index:06d}.jpg",
            io.BytesIO(data),
            len(data),
            content_type="image/jpeg",
        )

    def _put(self, target: pb.PresignedPut, index: int) -> None:
        """The bytes to their presigned URL, on the raw PUTs' threads and HTTP client (urllib3)."""
        answer = self.http.request(
            "PUT", target.url, body=self.setup.photos[index], headers=dict(target.headers)
        )
        if answer.status != 200:
            raise RuntimeError(f"PUT: {answer.status} {answer.data[:300]!r}")

    async def _create(self, indexes: Sequence[int], steps: dict[str, list[float]]) -> Any:
        """CreateUploads for these photos, hashed first as an app must (to declare them): the
        SDK's raw PUT hashes each photo too, to sign it."""
        begun = time.perf_counter()
        hashes = [hashlib.sha256(self.setup.photos[i]).hexdigest() for i in indexes]
        made = await self.stub.CreateUploads(
            pb.CreateUploadsRequest(
                request_id=uuid.uuid4().hex,
                slots=[
                    pb.UploadSlot(
                        claim_id=self.setup.claims[i],
                        kind="before_photo",
                        content_type="image/jpeg",
                        size_bytes=len(self.setup.photos[i]),
                        sha256=sha256,
                        file_name=f"IMG_{i:04d}.jpg",
                    )
                    for i, sha256 in zip(indexes, hashes, strict=True)
                ],
            ),
            metadata=self.setup.metadata,
            timeout=CALL_TIMEOUT_S,
        )
        steps["create"].append((time.perf_counter() - begun) * 1000)
        return made

    async def _complete(self, ids: list[str], steps: dict[str, list[float]]) -> None:
        begun = time.perf_counter()
        completed = await self.stub.CompleteUploads(
            pb.CompleteUploadsRequest(request_id=uuid.uuid4().hex, upload_ids=ids),
            metadata=self.setup.metadata,
            timeout=CALL_TIMEOUT_S,
        )
        steps["complete"].append((time.perf_counter() - begun) * 1000)
        states = {s.state for s in completed.uploads}
        if states != {"received"}:
            raise RuntimeError(f"CompleteUploads answered {sorted(states)}, not received")

    async def run(self, job: Job) -> Outcome:
        loop = asyncio.get_running_loop()
        per_call = 1 if job.way == "raw" else self.setup.slots_per_call
        starts = range(job.start, job.start + job.count, per_call)
        pending = iter([range(s, min(s + per_call, job.start + job.count)) for s in starts])
        outcome = Outcome(job.way)
        steps: dict[str, list[float]] = defaultdict(list)

        def take() -> range | None:
            """The next photos for an uploader (shared: each is taken by one uploader)."""
            return next(pending, None)

        def done(uploader: int, indexes: range, begun: float) -> None:
            now = time.perf_counter()
            for index in indexes:
                size = len(self.setup.photos[index])
                outcome.latencies_ms.append((now - begun) * 1000)
                outcome.completions.append((now - start, size, uploader))
                outcome.photos += 1
                outcome.bytes += size

        async def raw_uploader(uploader: int) -> None:
            while (indexes := take()) is not None:
                begun = time.perf_counter()
                await loop.run_in_executor(self.threads, self._raw_put, indexes[0])
                done(uploader, indexes, begun)

        async def service_uploader(uploader: int) -> None:
            """As an app would: one PUT at a time (the concurrency of a raw uploader), and the
            calls around them overlapped with the PUTs (the next batch's CreateUploads and the
            last batch's CompleteUploads are in flight while this batch's bytes go)."""
            indexes = take()
            creating = asyncio.ensure_future(self._create(indexes, steps)) if indexes else None
            completing: asyncio.Future[None] | None = None
            while indexes is not None and creating is not None:
                begun = time.perf_counter()
                made = await creating
                following = take()
                creating = (
                    asyncio.ensure_future(self._create(following, steps)) if following else None
                )
                for target, index in zip(made.uploads, indexes, strict=True):
                    put_begun = time.perf_counter()
                    await loop.run_in_executor(self.threads, self._put, target, index)
                    steps["put"].append((time.perf_counter() - put_begun) * 1000)
                if completing is not None:
                    await completing
                ids = [t.upload_id for t in made.uploads]
                outcome.upload_ids += ids
                completing = asyncio.ensure_future(
                    self._finish(ids, steps, functools.partial(done, uploader, indexes, begun))
                )
                indexes = following
            if completing is not None:
                await completing

        cpu, start = time.process_time(), time.perf_counter()
        uploader = raw_uploader if job.way == "raw" else service_uploader
        try:
            await asyncio.gather(*(uploader(u) for u in range(self.setup.uploaders)))
        except Exception as error:
            outcome.error = f"{type(error).__name__}: {error}"
        outcome.wall_s = time.perf_counter() - start
        outcome.cpu_s = time.process_time() - cpu
        outcome.steps_ms = dict(steps)
        return outcome

    async def _finish(
        self, ids: list[str], steps: dict[str, list[float]], done: Callable[[], None]
    ) -> None:
        """CompleteUploads; the photos count once it has answered ``received``."""
        await self._complete(ids, steps)
        done()


def client_main(conn: Connection) -> None:
    """The child process: a setup, then jobs until None (or EOF), one answer per job."""
    asyncio.run(_client_loop(conn))


async def _client_loop(conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    receiver = ThreadPoolExecutor(1, thread_name_prefix="jobs")
    setup = await loop.run_in_executor(receiver, conn.recv)
    uploaders = Uploaders(setup)
    try:
        conn.send("ready")
        while True:
            try:
                job = await loop.run_in_executor(receiver, conn.recv)
            except EOFError:
                return
            if job is None:
                return
            conn.send(await uploaders.run(job))
    finally:
        await uploaders.close()
        receiver.shutdown(wait=False)


class UploaderProcess:
    """The parent's handle on the child. Answers are awaited on a thread of its own, so the
    service's default executor (its S3 calls, its decoding) keeps every thread it has."""

    def __init__(self, setup: ClientSetup) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, self._child_end = context.Pipe()
        self._process = context.Process(
            target=client_main, args=(self._child_end,), name="bench-uploaders", daemon=True
        )
        self._setup = setup
        self._waiter = ThreadPoolExecutor(1, thread_name_prefix="uploader-answers")

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def _call(self, fn: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._waiter, fn)

    def _answer(self) -> object:
        if not self._conn.poll(ANSWER_TIMEOUT_S):
            raise TimeoutError(f"the uploaders did not answer within {ANSWER_TIMEOUT_S:.0f}s")
        return self._conn.recv()

    async def __aenter__(self) -> UploaderProcess:
        self._process.start()
        self._child_end.close()  # the child holds its end; EOF reaches it if we die
        await self._call(lambda: self._conn.send(self._setup))
        ready = await self._call(self._answer)
        if ready != "ready":
            raise RuntimeError(f"the uploaders answered {ready!r} to their setup")
        return self

    async def run(self, job: Job) -> Outcome:
        self._conn.send(job)
        outcome = await self._call(self._answer)
        if not isinstance(outcome, Outcome):
            raise TypeError(f"the uploaders answered {outcome!r} to a round")
        if outcome.error is not None:
            raise RuntimeError(f"{job.way}: an upload failed: {outcome.error}")
        return outcome

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        await self._call(lambda: self._process.join(20))
        if self._process.is_alive():
            self._process.terminate()
            await self._call(lambda: self._process.join(5))
        self._conn.close()
        self._waiter.shutdown(wait=False)


# ------------------------------------------------------------------ CPU, counted per round


def machine_busy_s() -> float:
    """CPU seconds every CPU of the machine spent busy since boot."""
    times = psutil.cpu_times()
    fields = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(float(getattr(times, name, 0.0)) for name in fields)


@dataclass(frozen=True)
class CpuSnapshot:
    service_s: float  # this process: the evidence service (event loop and its threads)
    by_name: Mapping[str, Mapping[int, float]]  # "postgres", "weed": pid → CPU seconds
    machine_s: float


class CpuMeter:
    """CPU of this process and of the PostgreSQL and SeaweedFS processes it started (none
    when DATABASE_URL or S3_ENDPOINT point elsewhere)."""

    NAMES = ("postgres", "weed")

    def __init__(self) -> None:
        self._me = psutil.Process()

    def snapshot(self) -> CpuSnapshot:
        mine = self._me.cpu_times()
        found: dict[str, dict[int, float]] = {name: {} for name in self.NAMES}
        for process in self._me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                name = process.name()
                if name in found:
                    times = process.cpu_times()
                    found[name][process.pid] = times.user + times.system
        return CpuSnapshot(mine.user + mine.system, found, machine_busy_s())


@dataclass(frozen=True)
class Sample:
    """One round: what the uploaders saw, and what each process burnt meanwhile."""

    outcome: Outcome
    service_cpu_s: float
    postgres_cpu_s: float | None
    s3_cpu_s: float | None
    machine_cpu_s: float

    @property
    def rate(self) -> float:
        return self.outcome.rate

    @property
    def mb_per_s(self) -> float:
        return self.outcome.bytes_per_s / 1e6

    def per_photo_ms(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None else cpu_s / self.outcome.photos * 1000

    def cores(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None else cpu_s / self.outcome.wall_s

    @property
    def rest_cpu_s(self) -> float:
        """Busy CPU that was none of ours: other processes, the kernel's unattributed work."""
        ours = (
            self.service_cpu_s
            + (self.postgres_cpu_s or 0.0)
            + (self.s3_cpu_s or 0.0)
            + self.outcome.cpu_s
        )
        return max(0.0, self.machine_cpu_s - ours)


async def measured(meter: CpuMeter, run: Callable[[], Awaitable[Outcome]]) -> Sample:
    before = meter.snapshot()
    outcome = await run()
    after = meter.snapshot()
    return Sample(
        outcome,
        after.service_s - before.service_s,
        cpu_between(before.by_name["postgres"], after.by_name["postgres"]),
        cpu_between(before.by_name["weed"], after.by_name["weed"]),
        after.machine_s - before.machine_s,
    )


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    """Medians over rounds of every per-round figure (the harness's rule for rates)."""
    if not samples:
        raise ValueError("no rounds to summarise")

    def med(pick: Callable[[Sample], float | None], digits: int = 2) -> float | None:
        present = [v for v in (pick(s) for s in samples) if v is not None]
        return round(median(present), digits) if present else None

    latencies = sorted(ms for s in samples for ms in s.outcome.latencies_ms)
    steps: dict[str, list[float]] = defaultdict(list)
    for s in samples:
        for name, values in s.outcome.steps_ms.items():
            steps[name] += values
    return {
        "rate": median([s.rate for s in samples]),
        "mb_per_s": round(median([s.mb_per_s for s in samples]), 2),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "steps_p50_ms": {k: round(median(v), 1) for k, v in sorted(steps.items())},
        "cpu_ms_per_photo": {
            "service_process": med(lambda s: s.per_photo_ms(s.service_cpu_s)),
            "postgres": med(lambda s: s.per_photo_ms(s.postgres_cpu_s)),
            "s3_server": med(lambda s: s.per_photo_ms(s.s3_cpu_s)),
            "uploaders": med(lambda s: s.per_photo_ms(s.outcome.cpu_s)),
        },
        "cores_busy": {
            "service_process": med(lambda s: s.cores(s.service_cpu_s)),
            "postgres": med(lambda s: s.cores(s.postgres_cpu_s)),
            "s3_server": med(lambda s: s.cores(s.s3_cpu_s)),
            "uploaders": med(lambda s: s.cores(s.outcome.cpu_s)),
            "rest_of_machine": med(lambda s: s.cores(s.rest_cpu_s)),
            "machine": med(lambda s: s.cores(s.machine_cpu_s)),
        },
        "photos": sum(s.outcome.photos for s in samples),
        "rounds": len(samples),
    }


# ------------------------------------------------------------------ inside verification


class Steps:
    """Where a photo's verification spends its time inside the service: wall time of each
    step under the drain's concurrency (reading the staged object back, writing the object and
    its copies to S3, the reuse check, the registering transaction), CPU time of ``verify`` on
    its thread (decode, copies, hashes), bytes of the copies written."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.copy_bytes: defaultdict[str, int] = defaultdict(int)
        self.latencies_ms: list[float] = []  # whole verifications, since the last take
        self._lock = threading.Lock()

    def _add(self, name: str, seconds: float) -> None:
        with self._lock:
            self.seconds[name] += seconds
            self.calls[name] += 1

    def timed(self, name: str, inner: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            begun = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                elapsed = time.perf_counter() - begun
                self._add(name, elapsed)
                if name == "verify_received":
                    self.latencies_ms.append(elapsed * 1000)

        return wrapper

    def cpu_timed(self, name: str, inner: Callable[..., T]) -> Callable[..., T]:
        def wrapper(*args: Any, **kwargs: Any) -> T:
            begun = time.thread_time()
            try:
                return inner(*args, **kwargs)
            finally:
                self._add(name, time.thread_time() - begun)

        return wrapper

    def counted_copies(self, inner: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(data: bytes, verified: Any, *args: Any, **kwargs: Any) -> T:
            with self._lock:
                self.copy_bytes["original"] += len(data)
                self.copy_bytes["display"] += len(verified.display or b"")
                self.copy_bytes["thumbnail"] += len(verified.thumbnail or b"")
                self.copy_bytes["photos"] += 1
            return await inner(data, verified, *args, **kwargs)

        return wrapper

    def take_latencies(self) -> list[float]:
        with self._lock:
            taken, self.latencies_ms = self.latencies_ms, []
        return taken

    def mean_ms(self, name: str) -> float:
        return self.seconds[name] / self.calls[name] * 1000 if self.calls[name] else 0.0

    def figures(self) -> dict[str, Any]:
        photos = max(1, self.copy_bytes["photos"])
        return {
            "verification_ms": round(self.mean_ms("verify_received"), 1),
            "read_back_ms": round(self.mean_ms("read_version"), 1),
            "verify_cpu_ms": round(self.mean_ms("verify"), 1),
            "s3_writes_ms": round(self.mean_ms("store_objects"), 1),
            "reuse_check_ms": round(self.mean_ms("reuses"), 1),
            "register_transaction_ms": round(self.mean_ms("transaction"), 1),
            "mean_copy_bytes": {
                k: round(self.copy_bytes[k] / photos) for k in ("original", "display", "thumbnail")
            },
        }


@contextlib.contextmanager
def instrumented(target: EvidenceTarget) -> Iterator[Steps]:
    """Time the verifier's steps; patched on the use cases instance (and on ``verify`` as
    the use cases module calls it) for the length of the block."""
    import services.evidence.usecases as module
    from services.evidence.domain.verification import verify

    uc = target.usecases
    steps = Steps()
    with (
        mock.patch.object(
            uc, "verify_received", steps.timed("verify_received", uc.verify_received)
        ),
        mock.patch.object(
            uc.objects, "read_version", steps.timed("read_version", uc.objects.read_version)
        ),
        mock.patch.object(
            uc,
            "store_objects",
            steps.counted_copies(steps.timed("store_objects", uc.store_objects)),
        ),
        mock.patch.object(uc, "reuses", steps.timed("reuses", uc.reuses)),
        mock.patch.object(uc, "transaction", steps.timed("transaction", uc.transaction)),
        mock.patch.object(module, "verify", steps.cpu_timed("verify", verify)),
    ):
        yield steps


async def drained(target: EvidenceTarget, steps: Steps) -> Outcome:
    """The service's verifier run until nothing received is left: one verification round."""
    verifier = target.usecases.verifier
    assert verifier is not None, "the evidence service runs no verifier"
    start = time.perf_counter()
    photos = await verifier.drain()
    # The uploaders' CPU stays 0: they wait; the service's is counted apart (``measured``).
    outcome = Outcome("verification", photos=photos, wall_s=time.perf_counter() - start)
    outcome.latencies_ms = steps.take_latencies()
    return outcome


async def upload_states(setup: ClientSetup, upload_ids: Sequence[str]) -> dict[str, int]:
    """How the uploads ended (verified, rejected …) and the flags on them: code → count."""
    counts: dict[str, int] = defaultdict(int)
    async with grpc.aio.insecure_channel(setup.addr) as channel:
        stub = evidence_pb2_grpc.EvidenceServiceStub(channel)
        for start in range(0, len(upload_ids), STATES_PER_CALL):
            answer = await stub.GetUploads(
                pb.GetUploadsRequest(upload_ids=upload_ids[start : start + STATES_PER_CALL]),
                metadata=setup.metadata,
            )
            for status in answer.uploads:
                counts[
                    status.state if not status.reason else f"{status.state} {status.reason}"
                ] += 1
                for flag in status.evidence.flags:
                    counts[f"flag {flag.code}"] += 1
    return dict(sorted(counts.items()))


# ------------------------------------------------------------------ the benchmark


def rotated_order(index: int) -> tuple[Way, ...]:
    """AB, then BA, then AB…: a slow drift in machine load weighs on both ways alike."""
    return WAYS if index % 2 == 0 else WAYS[::-1]


async def open_folders(
    target: EvidenceTarget, token: str, claims: Sequence[str], contractor: str
) -> None:
    """Each claim's folder, as the claims service opens it: region, dispatched contractor,
    fault time (the photos were taken half an hour or more after it), no repair yet."""
    metadata: Metadata = (("authorization", f"Bearer {token}"),)
    async with grpc.aio.insecure_channel(target.addr) as channel:
        stub = evidence_pb2_grpc.EvidenceServiceStub(channel)
        for claim_id in claims:
            await stub.PutClaimFolder(
                pb.PutClaimFolderRequest(
                    request_id=uuid.uuid4().hex,
                    claim_id=claim_id,
                    region=REGION,
                    contractor_id=contractor,
                    fault_at=to_timestamp(FAULT_AT),
                ),
                metadata=metadata,
            )


def cpu_total(summary: Mapping[str, Any]) -> float:
    """CPU per photo of every process the path runs in: service, PostgreSQL, S3, uploaders."""
    return float(sum(v for v in summary["cpu_ms_per_photo"].values() if v is not None))


def cores_text(summary: Mapping[str, Any], cpus: int) -> str:
    """How busy the machine was, and who kept it busy, in a clause."""
    cores = summary["cores_busy"]
    busy = min(1.0, (cores["machine"] or 0.0) / cpus)
    parts = ", ".join(
        f"{label} {cores[key]:.2f}"
        for key, label in (
            ("service_process", "service"),
            ("s3_server", "SeaweedFS"),
            ("postgres", "PostgreSQL"),
            ("uploaders", "uploaders"),
            ("rest_of_machine", "everything else on the machine"),
        )
        if cores[key] is not None and cores[key] >= 0.005
    )
    return f"the {cpus} cores were {busy:.0%} busy ({parts})"


def both_on_one_machine(upload_rate: float, verify_rate: float) -> float:
    """Photos per second fully verified if uploads and verification share the machine: each
    photo costs the machine 1/upload + 1/verify seconds of its full capacity (an estimate:
    it assumes both ways were limited by the same CPUs, as the notes show they were)."""
    return 1 / (1 / upload_rate + 1 / verify_rate)


def compose_note(
    *,
    service: Mapping[str, Any],
    raw: Mapping[str, Any],
    verification: Mapping[str, Any],
    steps: Mapping[str, Any],
    states: Mapping[str, int],
    mean_kb: float,
    cpus: int,
) -> str:
    """The sentences printed under the table and kept in the JSON: figures, then the limits."""
    ratio = service["rate"] / raw["rate"]
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    cpu, raw_cpu, v_cpu = (
        service["cpu_ms_per_photo"],
        raw["cpu_ms_per_photo"],
        verification["cpu_ms_per_photo"],
    )
    copies = steps["mean_copy_bytes"]
    at = service["steps_p50_ms"]

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    return " ".join(
        [
            f"{UPLOADERS} uploaders (a child process), photos of {mean_kb:.0f} KB mean "
            f"({FRAME[0]}×{FRAME[1]} JPEG, each distinct bytes, each uploaded once per way).",
            f"Through the service (CreateUploads of {SLOTS_PER_CALL} photos, a presigned PUT "
            f"each, CompleteUploads: stored in S3 and recorded as received) "
            f"{service['rate']:.0f} photos/s, {service['mb_per_s']:.1f} MB/s vs raw PUT "
            f"{raw['rate']:.0f} photos/s, {raw['mb_per_s']:.1f} MB/s: ratio {ratio:.3f} "
            f"{verdict} the {TARGET_RATIO:.0%} target; per call of {SLOTS_PER_CALL} p50 "
            f"CreateUploads {at.get('create', 0):.0f} ms, CompleteUploads "
            f"{at.get('complete', 0):.0f} ms; PUT p50 {at.get('put', 0):.0f} ms vs raw PUT "
            f"{raw['p50_ms']:.0f} ms.",
            f"CPU per photo, every process: through the service {cpu_total(service):.1f} ms "
            f"(service {ms(cpu['service_process'])}, PostgreSQL {ms(cpu['postgres'])}, SeaweedFS "
            f"{ms(cpu['s3_server'])}, uploaders {ms(cpu['uploaders'])}) vs raw PUT "
            f"{cpu_total(raw):.1f} ms (SeaweedFS {ms(raw_cpu['s3_server'])}, uploaders "
            f"{ms(raw_cpu['uploaders'])}); in the service's rounds "
            f"{cores_text(service, cpus)}.",
            f"Verification (the background verifier draining each round's uploads, paused "
            f"while they came in) {verification['rate']:.1f} photos/s, "
            f"{verification['rate'] / raw['rate']:.3f} of raw PUT; p50 "
            f"{verification['p50_ms']:.0f} ms a photo at the verifier's concurrency; "
            f"{cpu_total(verification):.1f} ms CPU per photo (service "
            f"{ms(v_cpu['service_process'])}, {steps['verify_cpu_ms']:.0f} of it in verify: "
            f"decode, copies, hashes; SeaweedFS {ms(v_cpu['s3_server'])}; PostgreSQL "
            f"{ms(v_cpu['postgres'])}); it reads the {mean_kb:.0f} KB back, writes the original "
            f"under its hash, a {copies['display'] / 1000:.0f} KB display copy and a "
            f"{copies['thumbnail'] / 1000:.0f} KB thumbnail, removes the staged object; "
            f"{cores_text(verification, cpus)}.",
            f"Wall time per photo: read back {steps['read_back_ms']:.0f} ms, S3 writes "
            f"{steps['s3_writes_ms']:.0f} ms, reuse check {steps['reuse_check_ms']:.0f} ms, "
            f"transactions {steps['register_transaction_ms']:.0f} ms.",
            f"Both on this machine at once, uploads and verification would fully verify about "
            f"{both_on_one_machine(service['rate'], verification['rate']):.0f} photos/s "
            "(1 / (1/upload + 1/verification)); a burst is accepted at the upload rate and "
            "verified behind it.",
            "How the uploads ended: "
            + ", ".join(f"{what} {n}" for what, n in states.items())
            + " (every claim a different machine room, photos taken after the fault).",
        ]
    )


@benchmark("evidence_upload_throughput")
async def upload_throughput(ctx: BenchContext) -> BenchResult:
    """~200 KB photos in through the service (presigned PUTs in batched calls) beside raw SDK
    PUTs to the same SeaweedFS and bucket, by UPLOADERS concurrent uploaders, alternating
    rounds; then the verification of each round's photos by the service's verifier."""
    scale = ctx.time_scale
    batch = {way: max(2 * WARM_UP, round(n * scale)) for way, n in BATCH.items()}
    needed = WARM_UP + max(batch.values()) * ROUNDS
    # Scenes (machine rooms) and claims of their own in every run: on a stack that outlives
    # the run (DATABASE_URL, S3_ENDPOINT set), a second run's photos are new photos too.
    run, first_scene = uuid.uuid4().hex[:8], secrets.randbelow(1_000_000)
    note(f"generating {needed} distinct ~{TARGET_BYTES // 1000} KB photos (2 processes) …")
    begun = time.perf_counter()
    # Generating overlaps the stack's start (PostgreSQL, S3, the evidence service).
    generating = asyncio.get_running_loop().run_in_executor(
        None, functools.partial(generate, needed, first_scene=first_scene)
    )
    target = await ctx.evidence()
    photos = await generating
    generated_s = time.perf_counter() - begun
    sizes = [len(p) for p in photos]
    mean_kb = sum(sizes) / len(sizes) / 1000
    note(
        f"photos: {len(photos)}, mean {mean_kb:.1f} KB (min {min(sizes) / 1000:.1f}, max "
        f"{max(sizes) / 1000:.1f}), ready after {generated_s:.1f}s"
    )
    claims = [claim_of(i, run) for i in range(len(photos))]
    uploader_token = ctx.mint("contractor")  # subject bench-contractor, all regions
    await open_folders(
        target, ctx.mint("service"), sorted(set(claims)), contractor="bench-contractor"
    )
    setup = ClientSetup(
        addr=target.addr,
        metadata=(("authorization", f"Bearer {uploader_token}"),),
        s3_endpoint=target.s3_endpoint,
        s3_access_key=target.s3_access_key,
        s3_secret_key=target.s3_secret_key,
        bucket=target.bucket,
        photos=photos,
        claims=claims,
    )
    verifier = target.usecases.verifier
    assert verifier is not None, "the evidence service runs no verifier"
    meter = CpuMeter()
    samples: dict[Way, list[Sample]] = {way: [] for way in (*WAYS, "verification")}
    cursor: dict[Way, int] = dict.fromkeys(WAYS, 0)
    received: list[str] = []
    await verifier.pause()  # uploads and verification are measured apart (docs/adr/0010)
    try:
        async with UploaderProcess(setup) as uploaders:
            note(
                f"measuring raw PUT and uploads through the service ({UPLOADERS} uploaders, "
                "AB/BA rounds), then verification of each round's uploads …"
            )
            with instrumented(target) as steps:
                for index in range(ROUNDS + 1):  # round 0 warms connections, pools, caches
                    for way in rotated_order(index):
                        job = Job(way, cursor[way], batch[way] if index else WARM_UP)
                        cursor[way] += job.count
                        sample = await measured(meter, functools.partial(uploaders.run, job))
                        samples[way].append(sample)
                        received += sample.outcome.upload_ids
                    samples["verification"].append(
                        await measured(meter, functools.partial(drained, target, steps))
                    )
    finally:
        verifier.resume()
    states = await upload_states(setup, received)
    if set(states) - {"verified"} - {s for s in states if s.startswith("flag ")}:
        raise RuntimeError(f"not every upload was verified: {states}")

    raw, service, verification = (summarise(samples[way][1:]) for way in (*WAYS, "verification"))
    ratio = service["rate"] / raw["rate"]
    figures = steps.figures()
    cpus = os.cpu_count() or 1

    def measure_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("mb_per_s", "p50_ms", "p99_ms", "steps_p50_ms", "cpu_ms_per_photo", "cores_busy")
        return {k: summary[k] for k in keys}

    verifying = Measure(
        "evidence_verification_throughput",
        "photos/s",
        verification["rate"],
        measure_extra(verification),
    )
    return BenchResult(
        Measure("evidence_upload_throughput", "photos/s", service["rate"], measure_extra(service)),
        Measure("s3_raw_put", "photos/s", raw["rate"], measure_extra(raw)),
        extra={
            "target_ratio": TARGET_RATIO,
            # Each round's service rate over the raw rate of the same round (adjacent, AB/BA):
            # how much of the spread of the figure is the machine's.
            "ratio_by_round": [
                round(service.rate / raw.rate, 3)
                for raw, service in zip(samples["raw"][1:], samples["service"][1:], strict=True)
            ],
            "meets_target": ratio >= TARGET_RATIO,
            "verification": {
                **verifying.as_json(),
                "ratio_to_raw_put": round(verification["rate"] / raw["rate"], 4),
                "concurrency": verifier.concurrency,
            },
            "both_on_one_machine_photos_per_s": round(
                both_on_one_machine(service["rate"], verification["rate"]), 1
            ),
            "verification_steps": figures,
            "upload_states": states,
            "photos": {
                "count": len(photos),
                "mean_bytes": round(sum(sizes) / len(sizes)),
                "min_bytes": min(sizes),
                "max_bytes": max(sizes),
                "frame": list(FRAME),
                "per_claim_folder": PHOTOS_PER_SCENE,
                "scenes": f"{first_scene}…{first_scene + len(set(claims)) - 1} (seed {SEED})",
                "generate_seconds": round(generated_s, 1),
            },
            "load": {
                "uploaders": UPLOADERS,
                "slots_per_call": SLOTS_PER_CALL,
                "uploader_process": "separate (multiprocessing, spawn); service in this process",
                "rounds": ROUNDS,
                "photos_per_round": dict(batch),
                "measured_photos": {
                    way: s["photos"]
                    for way, s in zip(
                        ("raw", "service", "verification"),
                        (raw, service, verification),
                        strict=True,
                    )
                },
            },
        },
        note=compose_note(
            service=service,
            raw=raw,
            verification=verification,
            steps=figures,
            states=states,
            mean_kb=mean_kb,
            cpus=cpus,
        ),
    )
