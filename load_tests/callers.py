"""Closed-loop gRPC callers in a process of their own, so their CPU is not the server's.

The benchmark process serves; a child process started with ``spawn`` (never ``fork``: gRPC's
threads do not survive it) calls. For each :class:`Round` it runs ``callers`` closed-loop
callers (no think time) against a :class:`Target` for ``seconds`` and answers with a
:class:`RoundResult`: completed calls, wall time, latency percentiles and its own CPU time.
One child, one way of opening channels and one measuring loop serve every target, so a
subject and its baseline are measured alike. Channels stay open across rounds (warm
connections, as a real client keeps them).

Two kinds of call:

* ``echo``: the bare echo method of :mod:`load_tests.echo`, with a fixed payload;
* ``report_loss``: ``ClaimsService.ReportLoss`` as an alarm platform sends it, one fresh
  ``source_event_id`` per call, elevator and fault chosen by an :class:`IntakeSchedule`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import multiprocessing
import random
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Literal

import grpc

from load_tests.harness import Metadata
from load_tests.stats import percentile

CALL_TIMEOUT_S = 10.0
ANSWER_GRACE_S = 60.0  # a round's answer later than seconds + this means the child is stuck

Kind = Literal["echo", "report_loss"]


@dataclass(frozen=True)
class IntakePlan:
    """Which elevators report which faults, and how much of the traffic is an alarm storm.

    Most reports are a *first* report of a fault: the next (elevator, category) pair in an
    order that visits every elevator before any elevator's second fault, and gives
    neighbouring elevators different faults. A ``storm_share`` of reports repeat a fault
    reported moments ago (one of the last ``storm_window`` first reports) with a new alarm id,
    as a stuck elevator's controller does: those fold into the open claim, and serialise on
    its advisory lock with whatever else reports that fault at the same time.
    """

    registration_codes: tuple[str, ...]
    categories: tuple[str, ...]
    storm_share: float = 0.25
    storm_window: int = 8
    seed: int = 0
    description: str = "主机异响，运行抖动，轿厢停在两层之间"

    def __post_init__(self) -> None:
        if not self.registration_codes or not self.categories:
            raise ValueError("an intake plan needs elevators and categories")
        if not 0 <= self.storm_share < 1:
            raise ValueError(f"storm_share must be within [0, 1), got {self.storm_share}")
        if self.storm_window < 1:
            raise ValueError(f"storm_window must be at least 1, got {self.storm_window}")

    @property
    def pairs(self) -> int:
        """How many first reports there are before every fault of every elevator is open."""
        return len(self.registration_codes) * len(self.categories)


class IntakeSchedule:
    """The plan as a stream of (registration code, category, is a storm repeat)."""

    def __init__(self, plan: IntakePlan) -> None:
        self.plan = plan
        self._rng = random.Random(plan.seed)
        self._next = 0
        self._recent: deque[tuple[str, str]] = deque(maxlen=plan.storm_window)

    def pair(self, index: int) -> tuple[str, str]:
        """The ``index``-th first report: elevator ``index mod E``, faults rotating.

        For a fixed elevator ``e``, passes ``r = 0 … C-1`` give categories ``(e + r) mod C``:
        each of its C faults once, so the first E×C reports are all different pairs.
        """
        codes, categories = self.plan.registration_codes, self.plan.categories
        index %= self.plan.pairs
        elevator, rotation = index % len(codes), index // len(codes)
        return codes[elevator], categories[(elevator + rotation) % len(categories)]

    def next(self) -> tuple[str, str, bool]:
        if self._recent and self._rng.random() < self.plan.storm_share:
            code, category = self._rng.choice(self._recent)
            return code, category, True
        code, category = self.pair(self._next)
        self._next += 1
        self._recent.append((code, category))
        return code, category, False

    @property
    def first_reports(self) -> int:
        return self._next


@dataclass(frozen=True)
class Target:
    """Where to call and what: ``payload`` for echo, ``plan`` for report_loss."""

    name: str
    addr: str
    kind: Kind
    metadata: Metadata = ()
    payload: bytes = b""
    plan: IntakePlan | None = None


@dataclass(frozen=True)
class Round:
    target: Target
    seconds: float
    callers: int


@dataclass(frozen=True)
class Forget:
    """Close the channel to ``addr`` (before its server stops, so no call sees it go)."""

    addr: str


@dataclass(frozen=True)
class RoundResult:
    completed: int
    seconds: float
    p50_ms: float
    p99_ms: float
    mean_ms: float
    cpu_s: float
    # report_loss only: answers with created=true (a new claim), and calls that were storms.
    created: int = 0
    storm: int = 0
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.completed / self.seconds


@dataclass
class _Child:
    """The child's state across rounds: open channels, the schedule's position."""

    channels: dict[str, grpc.aio.Channel] = field(default_factory=dict)
    schedules: dict[str, IntakeSchedule] = field(default_factory=dict)
    # Alarm ids count on across rounds: a repeated id would be an idempotent replay instead.
    alarm_ids: Iterator[int] = field(default_factory=itertools.count)
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def channel(self, target: Target) -> grpc.aio.Channel:
        if target.addr not in self.channels:
            self.channels[target.addr] = grpc.aio.insecure_channel(target.addr)
        return self.channels[target.addr]

    def caller(self, target: Target) -> Callable[[], Awaitable[tuple[bool, bool]]]:
        """One call to ``target``: returns (created a claim, was a storm repeat)."""
        channel = self.channel(target)
        md = target.metadata
        if target.kind == "echo":
            from load_tests.echo import echo_callable

            echo = echo_callable(channel)
            payload = target.payload

            async def call_echo() -> tuple[bool, bool]:
                answer = await echo(payload, metadata=md, timeout=CALL_TIMEOUT_S)
                if len(answer) != len(payload):
                    raise RuntimeError("the echo answered other bytes than it was sent")
                return False, False

            return call_echo

        from elevins.claims.v1 import claims_pb2 as pb
        from elevins.claims.v1 import claims_pb2_grpc

        if target.plan is None:
            raise ValueError(f"{target.name}: report_loss needs an intake plan")
        plan = target.plan
        schedule = self.schedules.setdefault(target.name, IntakeSchedule(plan))
        stub = claims_pb2_grpc.ClaimsServiceStub(channel)

        async def report_loss() -> tuple[bool, bool]:
            code, category, storm = schedule.next()
            answer = await stub.ReportLoss(
                pb.ReportLossRequest(
                    source=pb.SOURCE_IOT_ALARM,
                    source_event_id=f"bench-{self.run_id}-{next(self.alarm_ids)}",
                    registration_code=code,
                    fault_category=category,
                    description=plan.description,
                ),
                metadata=md,
                timeout=CALL_TIMEOUT_S,
            )
            return answer.created, storm

        return report_loss

    async def run(self, job: Round) -> RoundResult:
        call = self.caller(job.target)
        latencies: list[float] = []
        created = storm = 0
        cpu_start = time.process_time()
        start = time.perf_counter()
        end = start + job.seconds

        async def loop() -> None:
            nonlocal created, storm
            while (begun := time.perf_counter()) < end:
                was_created, was_storm = await call()
                latencies.append(time.perf_counter() - begun)
                created += was_created
                storm += was_storm

        await asyncio.gather(*(loop() for _ in range(job.callers)))
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu_start
        if not latencies:
            raise RuntimeError(f"{job.target.name}: no call completed in {job.seconds}s")
        latencies.sort()
        return RoundResult(
            completed=len(latencies),
            seconds=elapsed,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
            mean_ms=sum(latencies) / len(latencies) * 1000,
            cpu_s=cpu,
            created=created,
            storm=storm,
        )


def child_main(conn: Connection) -> None:
    """The child process: answer each Round sent down ``conn`` until None or a closed pipe."""
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    child = _Child()
    try:
        while True:
            try:
                job = await asyncio.to_thread(conn.recv)
            except EOFError:  # the parent is gone
                return
            if job is None:
                return
            if isinstance(job, Forget):
                channel = child.channels.pop(job.addr, None)
                if channel is not None:
                    await channel.close(grace=None)
                conn.send(True)
                continue
            try:
                result = await child.run(job)
            except Exception as error:  # reported to the parent, which fails the benchmark
                result = RoundResult(0, 0.0, 0.0, 0.0, 0.0, 0.0, error=repr(error))
            conn.send(result)
    finally:
        for channel in child.channels.values():
            await channel.close(grace=None)


class CallerProcess:
    """The parent's handle: ``async with CallerProcess() as callers: await callers.run(…)``."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._child_end = child_end
        self._process = context.Process(
            target=child_main, args=(child_end,), name="bench-callers", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    async def __aenter__(self) -> CallerProcess:
        self._process.start()
        self._child_end.close()  # the child holds its end; EOF reaches it if we die
        return self

    async def run(self, job: Round) -> RoundResult:
        """Run one round in the child; a failed call fails the round (and the benchmark)."""
        self._conn.send(job)
        result = await asyncio.to_thread(self._answer, job.seconds + ANSWER_GRACE_S)
        if not isinstance(result, RoundResult):
            raise TypeError(f"the caller process answered {result!r} to a round")
        if result.error is not None:
            raise RuntimeError(f"{job.target.name}: a call failed: {result.error}")
        return result

    async def forget(self, addr: str) -> None:
        """Have the child close its channel to ``addr``; returns once it has."""
        self._conn.send(Forget(addr))
        await asyncio.to_thread(self._answer, ANSWER_GRACE_S)

    def _answer(self, timeout: float) -> object:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the caller process did not answer within {timeout:.0f}s")
        return self._conn.recv()

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.terminate()
            await asyncio.to_thread(self._process.join, 5)
        self._conn.close()
