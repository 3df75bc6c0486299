"""Upload throughput of the evidence service beside raw S3 PUTs to the same server.

``evidence_upload_throughput`` answers the evidence issue's acceptance point: upload
throughput of ~200 KB photos through the service beside raw SDK PUTs to the same SeaweedFS
and bucket, in one run (target: at least 80% of raw). Three ways of getting a photo in, each
by ``UPLOADERS`` concurrent uploaders, in alternating rounds (ABC then CBA, the harness's
ABBA idea for three sides) so machine noise hits all of them alike:

* **raw PUT** (the baseline): the minio SDK's ``put_object`` of the same bytes, distinct keys,
  one thread per uploader;
* **presigned upload** (the headline): what a client does to get the bytes in, the design's
  point being that the bytes go straight to S3: ``CreateUpload`` (grpc.aio) and a POST of the
  bytes to the presigned form (aiohttp);
* **end to end**: the presigned upload plus ``CompleteUpload``, where the service reads the
  object back, verifies size, SHA-256 and type, decodes it, makes the thumbnail and display
  copies, hashes it, aligns candidate photos for reuse and registers it in PostgreSQL.

The service runs in this process (as ``build_app`` serves it in the tests); the uploaders run
in a child process (``spawn``), so the CPU counted for this process is the service's alone.
Every photo is distinct bytes (the service deduplicates by content hash) and is uploaded at
most once per way; the photos of one scene go to one claim folder, as a contractor's photos of
one machine room do.
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

Way = Literal["raw", "presigned", "end_to_end"]
WAYS: tuple[Way, ...] = ("raw", "presigned", "end_to_end")
T = TypeVar("T")

UPLOADERS = 8
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
# than seconds bound a round): ~0.2 s raw, ~0.5 s presigned, ~1.5 s end to end here.
BATCH: Mapping[Way, int] = {"raw": 96, "presigned": 96, "end_to_end": 32}
ROUNDS = 4  # measured, after one warm-up round of each way
WARM_UP = 2 * UPLOADERS  # photos of each way's warm-up round
CREATE_TIMEOUT_S = 10.0
COMPLETE_TIMEOUT_S = 30.0
ANSWER_TIMEOUT_S = 120.0  # a round's answer later than this means the child is stuck


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


@dataclass(frozen=True)
class Job:
    """Upload photos ``start`` … ``start + count - 1`` the given way."""

    way: Way
    start: int
    count: int


@dataclass
class Outcome:
    """One round as the uploaders saw it.

    The rate is taken while every uploader was busy: from the start to the moment the last
    photo was taken (``drained_s``), the photos completed in that window. The tail, uploaders
    finishing their last photo one by one, would otherwise weigh on a short round, and more
    on a slow way (fewer photos per uploader) than on a fast one.
    """

    way: Way
    photos: int = 0
    bytes: int = 0
    wall_s: float = 0.0
    drained_s: float = 0.0
    cpu_s: float = 0.0  # the child process's CPU (every thread) during the round
    completions: list[tuple[float, int]] = field(default_factory=list)  # (s from start, bytes)
    latencies_ms: list[float] = field(default_factory=list)  # per photo, every step
    steps_ms: dict[str, list[float]] = field(default_factory=dict)  # create, post, complete
    flags: dict[str, int] = field(default_factory=dict)  # codes CompleteUpload answered with
    error: str | None = None

    def _window(self) -> tuple[int, int, float]:
        done = [size for at, size in self.completions if at <= self.drained_s]
        if not done or self.drained_s <= 0:  # a round too short to have a busy window
            return self.photos, self.bytes, self.wall_s
        return len(done), sum(done), self.drained_s

    @property
    def rate(self) -> float:
        photos, _, seconds = self._window()
        return photos / seconds

    @property
    def bytes_per_s(self) -> float:
        _, size, seconds = self._window()
        return size / seconds


class Uploaders:
    """The child's side: ``uploaders`` concurrent uploaders, one way per round."""

    def __init__(self, setup: ClientSetup) -> None:
        import aiohttp
        import urllib3
        from minio import Minio

        self.setup = setup
        self.hashes = [hashlib.sha256(p).hexdigest() for p in setup.photos]
        http = urllib3.PoolManager(maxsize=setup.uploaders, retries=False)
        self.minio = Minio(
            setup.s3_endpoint,
            access_key=setup.s3_access_key,
            secret_key=setup.s3_secret_key,
            secure=False,
            region="us-east-1",
            http_client=http,
        )
        self.threads = ThreadPoolExecutor(setup.uploaders, thread_name_prefix="raw-put")
        self.channel = grpc.aio.insecure_channel(setup.addr)
        self.stub = evidence_pb2_grpc.EvidenceServiceStub(self.channel)
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=setup.uploaders * 2),
            timeout=aiohttp.ClientTimeout(total=CREATE_TIMEOUT_S),
        )
        self.run_id = uuid.uuid4().hex[:8]

    async def close(self) -> None:
        await self.http.close()
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

    async def _presigned(self, index: int, steps: dict[str, list[float]]) -> str:
        """CreateUpload, then the POST of the bytes to the form; the upload id."""
        data = self.setup.photos[index]
        begun = time.perf_counter()
        form = await self.stub.CreateUpload(
            pb.CreateUploadRequest(
                request_id=uuid.uuid4().hex,
                claim_id=self.setup.claims[index],
                kind="before_photo",
                content_type="image/jpeg",
                size_bytes=len(data),
                sha256=self.hashes[index],
                file_name=f"IMG_{index:04d}.jpg",
            ),
            metadata=self.setup.metadata,
            timeout=CREATE_TIMEOUT_S,
        )
        created = time.perf_counter()
        await self._post(form, index)
        steps["create"].append((created - begun) * 1000)
        steps["post"].append((time.perf_counter() - created) * 1000)
        return form.upload_id

    async def _post(self, form: pb.CreateUploadResponse, index: int) -> None:
        import aiohttp

        body = aiohttp.FormData()
        for name, value in form.form_fields.items():
            body.add_field(name, value)
        body.add_field(
            "file",
            self.setup.photos[index],
            filename=f"IMG_{index:04d}.jpg",
            content_type="image/jpeg",
        )
        async with self.http.post(form.url, data=body) as answer:
            if answer.status != 204:
                raise RuntimeError(f"POST to the form: {answer.status} {await answer.text()}")

    async def _complete(
        self, upload_id: str, steps: dict[str, list[float]], flags: dict[str, int]
    ) -> None:
        begun = time.perf_counter()
        answer = await self.stub.CompleteUpload(
            pb.CompleteUploadRequest(request_id=uuid.uuid4().hex, upload_id=upload_id),
            metadata=self.setup.metadata,
            timeout=COMPLETE_TIMEOUT_S,
        )
        steps["complete"].append((time.perf_counter() - begun) * 1000)
        for flag in answer.evidence.flags:
            flags[flag.code] = flags.get(flag.code, 0) + 1

    async def run(self, job: Job) -> Outcome:
        loop = asyncio.get_running_loop()
        pending = iter(range(job.start, job.start + job.count))
        outcome = Outcome(job.way)
        steps: dict[str, list[float]] = defaultdict(list)

        async def one(index: int) -> None:
            if job.way == "raw":
                await loop.run_in_executor(self.threads, self._raw_put, index)
                return
            upload_id = await self._presigned(index, steps)
            if job.way == "end_to_end":
                await self._complete(upload_id, steps, outcome.flags)

        async def uploader() -> None:
            for index in pending:  # shared: each photo is taken by one uploader
                begun = time.perf_counter()
                if index == last:
                    outcome.drained_s = begun - start
                await one(index)
                done = time.perf_counter()
                size = len(self.setup.photos[index])
                outcome.latencies_ms.append((done - begun) * 1000)
                outcome.completions.append((done - start, size))
                outcome.photos += 1
                outcome.bytes += size

        last = job.start + job.count - 1
        cpu, start = time.process_time(), time.perf_counter()
        try:
            await asyncio.gather(*(uploader() for _ in range(self.setup.uploaders)))
        except Exception as error:
            outcome.error = f"{type(error).__name__}: {error}"
        outcome.wall_s = time.perf_counter() - start
        outcome.cpu_s = time.process_time() - cpu
        outcome.steps_ms = dict(steps)
        return outcome


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


def _between(before: Mapping[int, float], after: Mapping[int, float]) -> float | None:
    """CPU used between two snapshots; a process born in between counts from 0."""
    if not after:
        return None
    return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())


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


async def measured(uploaders: UploaderProcess, job: Job, meter: CpuMeter) -> Sample:
    before = meter.snapshot()
    outcome = await uploaders.run(job)
    after = meter.snapshot()
    return Sample(
        outcome,
        after.service_s - before.service_s,
        _between(before.by_name["postgres"], after.by_name["postgres"]),
        _between(before.by_name["weed"], after.by_name["weed"]),
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
        "p50_ms": round(percentile(latencies, 50), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
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


# ------------------------------------------------------------------ inside CompleteUpload


class Steps:
    """Wall time of CompleteUpload's steps inside the service, under the benchmark's load:
    reading the staged object back and verifying it (decode, copies, hashes), writing the
    object and its copies to S3, the reuse check (index, candidates' thumbnails, alignment),
    the registering transaction; CPU time of ``verify`` on its thread; bytes of the copies."""

    def __init__(self) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: defaultdict[str, int] = defaultdict(int)
        self.copy_bytes: defaultdict[str, int] = defaultdict(int)
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
                self._add(name, time.perf_counter() - begun)

        return wrapper

    def timed_write(self, inner: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(method: str, *args: Any, **kwargs: Any) -> T:
            begun = time.perf_counter()
            try:
                return await inner(method, *args, **kwargs)
            finally:
                self._add(f"{method}_transaction", time.perf_counter() - begun)

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

    def mean_ms(self, name: str) -> float:
        return self.seconds[name] / self.calls[name] * 1000 if self.calls[name] else 0.0

    def figures(self) -> dict[str, Any]:
        photos = max(1, self.copy_bytes["photos"])
        return {
            "read_back_and_verify_ms": round(self.mean_ms("receive"), 1),
            "verify_cpu_ms": round(self.mean_ms("verify"), 1),
            "s3_writes_ms": round(self.mean_ms("store_objects"), 1),
            "reuse_check_ms": round(self.mean_ms("reuses"), 1),
            "register_transaction_ms": round(self.mean_ms("CompleteUpload_transaction"), 1),
            "create_upload_transaction_ms": round(self.mean_ms("CreateUpload_transaction"), 1),
            "mean_copy_bytes": {
                k: round(self.copy_bytes[k] / photos) for k in ("original", "display", "thumbnail")
            },
        }


@contextlib.contextmanager
def instrumented(target: EvidenceTarget) -> Iterator[Steps]:
    """Time CompleteUpload's steps; patched on the use cases instance (and on ``verify`` as
    the use cases module calls it) for the length of the block."""
    import services.evidence.usecases as module
    from services.evidence.domain.verification import verify

    uc = target.usecases
    steps = Steps()
    with (
        mock.patch.object(uc, "receive", steps.timed("receive", uc.receive)),
        mock.patch.object(
            uc,
            "store_objects",
            steps.counted_copies(steps.timed("store_objects", uc.store_objects)),
        ),
        mock.patch.object(uc, "reuses", steps.timed("reuses", uc.reuses)),
        mock.patch.object(uc, "write", steps.timed_write(uc.write)),
        mock.patch.object(module, "verify", steps.cpu_timed("verify", verify)),
    ):
        yield steps


# ------------------------------------------------------------------ the benchmark


def rotated_order(index: int) -> tuple[Way, ...]:
    """ABC, then CBA, then ABC…: a slow drift in machine load weighs on every way alike."""
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
        if cores[key] is not None
    )
    return f"the {cpus} cores were {busy:.0%} busy ({parts})"


def compose_note(
    *,
    presigned: Mapping[str, Any],
    raw: Mapping[str, Any],
    e2e: Mapping[str, Any],
    steps: Mapping[str, Any],
    flags: Mapping[str, int],
    registered: int,
    mean_kb: float,
    cpus: int,
) -> str:
    """The sentences printed under the table and kept in the JSON: figures, then the limits."""
    ratio, e2e_ratio = presigned["rate"] / raw["rate"], e2e["rate"] / raw["rate"]
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    cpu, e2e_cpu, raw_cpu = (
        presigned["cpu_ms_per_photo"],
        e2e["cpu_ms_per_photo"],
        raw["cpu_ms_per_photo"],
    )
    copies = steps["mean_copy_bytes"]
    at = presigned["steps_p50_ms"]

    def ms(value: float | None) -> str:
        return "n/a" if value is None else f"{value:.1f}"

    return " ".join(
        [
            f"{UPLOADERS} uploaders (a child process), photos of {mean_kb:.0f} KB mean "
            f"({FRAME[0]}×{FRAME[1]} JPEG, each distinct bytes, each uploaded once per way).",
            f"Presigned upload (CreateUpload + POST to the form) {presigned['rate']:.0f} photos/s, "
            f"{presigned['mb_per_s']:.1f} MB/s vs raw PUT {raw['rate']:.0f} photos/s, "
            f"{raw['mb_per_s']:.1f} MB/s: ratio {ratio:.3f} {verdict} the {TARGET_RATIO:.0%} "
            f"target; p50 {presigned['p50_ms']:.0f} ms (CreateUpload {at.get('create', 0):.0f} + "
            f"POST {at.get('post', 0):.0f}) vs raw PUT {raw['p50_ms']:.0f} ms.",
            f"CPU per photo, every process: presigned {cpu_total(presigned):.1f} ms (service "
            f"{ms(cpu['service_process'])} for the CreateUpload RPC, PostgreSQL "
            f"{ms(cpu['postgres'])}, SeaweedFS {ms(cpu['s3_server'])} for the POST form, "
            f"uploaders {ms(cpu['uploaders'])}) vs raw PUT {cpu_total(raw):.1f} ms (SeaweedFS "
            f"{ms(raw_cpu['s3_server'])}, uploaders {ms(raw_cpu['uploaders'])}); in presigned "
            f"rounds {cores_text(presigned, cpus)}, so on this machine the ratio follows the CPU "
            "each way costs.",
            f"End to end (+ CompleteUpload) {e2e['rate']:.1f} photos/s, {e2e['mb_per_s']:.1f} "
            f"MB/s: ratio {e2e_ratio:.3f} of raw; p50 {e2e['p50_ms']:.0f} ms, of which "
            f"CompleteUpload {e2e['steps_p50_ms'].get('complete', 0):.0f} ms.",
            f"It costs {ms(e2e_cpu['service_process'])} ms of service CPU per photo, "
            f"{steps['verify_cpu_ms']:.0f} ms of it in verify (decode, display and thumbnail "
            f"copies, hashes); the service reads the {mean_kb:.0f} KB back from S3, writes the "
            f"original again, a {copies['display'] / 1000:.0f} KB display copy and a "
            f"{copies['thumbnail'] / 1000:.0f} KB thumbnail, and removes the staged object: "
            f"SeaweedFS {ms(e2e_cpu['s3_server'])} ms CPU per photo, PostgreSQL "
            f"{ms(e2e_cpu['postgres'])} ms.",
            f"Wall time per photo under this load: read back + verify "
            f"{steps['read_back_and_verify_ms']:.0f} ms, S3 writes {steps['s3_writes_ms']:.0f} "
            f"ms, reuse check (index, candidates' thumbnails, alignment) "
            f"{steps['reuse_check_ms']:.0f} ms, registering transaction "
            f"{steps['register_transaction_ms']:.0f} ms.",
            f"End-to-end limit: CPU; {cores_text(e2e, cpus)}.",
            f"Flags on the {registered} photos registered (every claim a different machine room, "
            "photos taken after the fault): "
            + (", ".join(f"{code} {n}" for code, n in sorted(flags.items())) or "none")
            + ".",
        ]
    )


@benchmark("evidence_upload_throughput")
async def upload_throughput(ctx: BenchContext) -> BenchResult:
    """~200 KB photos in through the service (presigned; and end to end) beside raw SDK PUTs
    to the same SeaweedFS and bucket, by UPLOADERS concurrent uploaders, alternating rounds."""
    scale = ctx.time_scale
    batch = {way: max(2 * UPLOADERS, round(n * scale)) for way, n in BATCH.items()}
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
    meter = CpuMeter()
    samples: dict[Way, list[Sample]] = {way: [] for way in WAYS}
    cursor: dict[Way, int] = dict.fromkeys(WAYS, 0)
    async with UploaderProcess(setup) as uploaders:
        note(f"measuring raw PUT, presigned, end to end: {UPLOADERS} uploaders, ABC/CBA rounds …")
        with instrumented(target) as steps:
            for index in range(ROUNDS + 1):  # round 0 warms connections, pools and caches
                for way in rotated_order(index):
                    job = Job(way, cursor[way], batch[way] if index else WARM_UP)
                    cursor[way] += job.count
                    samples[way].append(await measured(uploaders, job, meter))

    raw, presigned, e2e = (summarise(samples[way][1:]) for way in WAYS)
    ratio, e2e_ratio = presigned["rate"] / raw["rate"], e2e["rate"] / raw["rate"]
    figures = steps.figures()
    flags: dict[str, int] = defaultdict(int)
    for sample in samples["end_to_end"]:  # the warm-up's photos are registered too
        for code, n in sample.outcome.flags.items():
            flags[code] += n
    registered = sum(s.outcome.photos for s in samples["end_to_end"])
    cpus = os.cpu_count() or 1

    def measure_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("mb_per_s", "p50_ms", "p99_ms", "steps_p50_ms", "cpu_ms_per_photo", "cores_busy")
        return {k: summary[k] for k in keys}

    end_to_end = Measure("evidence_upload_end_to_end", "photos/s", e2e["rate"], measure_extra(e2e))
    return BenchResult(
        Measure(
            "evidence_upload_throughput", "photos/s", presigned["rate"], measure_extra(presigned)
        ),
        Measure("s3_raw_put", "photos/s", raw["rate"], measure_extra(raw)),
        extra={
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "end_to_end": {**end_to_end.as_json(), "ratio": round(e2e_ratio, 4)},
            "complete_upload_steps": figures,
            "end_to_end_flags": {"photos_registered": registered, **dict(sorted(flags.items()))},
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
                "uploader_process": "separate (multiprocessing, spawn); service in this process",
                "rounds": ROUNDS,
                "photos_per_round": dict(batch),
                "measured_photos": {
                    way: s["photos"] for way, s in zip(WAYS, (raw, presigned, e2e), strict=True)
                },
            },
        },
        note=compose_note(
            presigned=presigned,
            raw=raw,
            e2e=e2e,
            steps=figures,
            flags=flags,
            registered=registered,
            mean_kb=mean_kb,
            cpus=cpus,
        ),
    )
