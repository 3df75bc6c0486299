"""Benchmarks of the claims service: first notice of loss (ReportLoss) under load.

``claims_fnol_intake`` answers the claims issue's acceptance criterion: intake throughput and
p50/p99 latency beside a bare gRPC echo server measured in the same run (target: intake at
least half the echo's throughput), and what limits intake, measured rather than guessed:

* rates and latencies come from closed-loop callers in a child process
  (:mod:`load_tests.callers`), so the client's CPU is not the server's; the echo and the
  claims service are called by the same code, with the same metadata, over the same kind of
  channel, in alternating rounds (``harness.interleaved``);
* both servers run in this process, on this event loop, as ``build_app`` serves claims in
  the tests (the policy service that intake calls runs here too); every round counts the CPU
  of this process and of its event-loop thread, of PostgreSQL's processes, of the callers;
* one caller alone then shows where an intake's time goes (the policy lookup, the write
  transaction, the read for the reply, the rest) and how many SQL statements it runs;
* a profiled round splits the event loop's time by package; the echo behind the standard
  interceptors shows what those cost on their own.
"""

from __future__ import annotations

import contextlib
import cProfile
import os
import threading
import time
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from unittest import mock

import grpc
import psutil  # type: ignore[import-untyped]

from elevins.claims.v1 import claims_pb2 as pb
from elevins.claims.v1 import claims_pb2_grpc
from load_tests.callers import CallerProcess, IntakePlan, Round, RoundResult, Target
from load_tests.cpu import cpu_between
from load_tests.echo import start_echo_server
from load_tests.harness import (
    ROOT,
    BenchContext,
    BenchResult,
    ClaimsTarget,
    Measure,
    Metadata,
    benchmark,
    interleaved,
    note,
)
from load_tests.harness import Round as RateRound
from load_tests.policy_world import PolicyWorldBuilder
from load_tests.stats import median
from services.claims.domain.intake import FaultCategory

CALLERS = 32
ROUNDS = 5
SLICE_S = 1.5  # per round and side; × time_scale
PROBE_S = 1.5  # one caller alone, for the breakdown; × time_scale
PROFILE_S = 1.0  # the profiled round; × time_scale
# A first report needs an (elevator, fault) pair with no open claim: ELEVATORS × 10 faults
# of them, enough for every measured round at a few hundred intakes per second.
ELEVATORS = 128
STORM_SHARE = 0.25
TARGET_RATIO = 0.5
# From this share of one core on the event-loop thread, the server is CPU-bound in Python.
CPU_BOUND_CORES = 0.85

T = TypeVar("T")


# ------------------------------------------------------------------ CPU, counted per round


@dataclass(frozen=True)
class CpuSnapshot:
    server_s: float  # this process, every thread
    loop_s: float  # this process's event-loop thread (the main one), on a CPU
    loop_waiting_s: float  # … ready to run but waiting for a CPU (0 where unknown)
    postgres: Mapping[int, float]  # pid → CPU seconds, for PostgreSQL's processes
    machine_s: float  # every process on the machine, every CPU


def machine_busy_s() -> float:
    """CPU seconds the machine's CPUs spent busy since boot (steal: taken by other guests).

    Guest time is part of user time already, so it is not added again.
    """
    times = psutil.cpu_times()
    fields = ("user", "nice", "system", "irq", "softirq", "steal")
    return sum(float(getattr(times, name, 0.0)) for name in fields)


class CpuMeter:
    """CPU seconds of this process, of its event-loop thread, and of the PostgreSQL
    processes it started (devstack's postmaster and backends; none when ``DATABASE_URL``
    points elsewhere).

    For the event-loop thread Linux also says how long it was runnable but not running
    (``/proc/self/task/<tid>/schedstat``): on a shared machine a thread can have work all the
    time and still get less than a core, and that is CPU-bound too.
    """

    def __init__(self) -> None:
        self._me = psutil.Process()
        self._loop_thread = threading.main_thread().native_id
        self._schedstat = Path(f"/proc/self/task/{self._loop_thread}/schedstat")

    def _loop_times(self) -> tuple[float, float]:
        with contextlib.suppress(OSError, ValueError):
            running_ns, waiting_ns, *_ = self._schedstat.read_text().split()
            return int(running_ns) / 1e9, int(waiting_ns) / 1e9
        running = next(
            (t.user_time + t.system_time for t in self._me.threads() if t.id == self._loop_thread),
            0.0,
        )
        return running, 0.0

    def snapshot(self) -> CpuSnapshot:
        mine = self._me.cpu_times()
        loop, waiting = self._loop_times()
        postgres: dict[int, float] = {}
        for process in self._me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                if process.name() == "postgres":
                    times = process.cpu_times()
                    postgres[process.pid] = times.user + times.system
        return CpuSnapshot(mine.user + mine.system, loop, waiting, postgres, machine_busy_s())


@dataclass(frozen=True)
class Sample:
    """One round as seen from here: the callers' answer, and what each process burnt."""

    result: RoundResult
    wall_s: float
    server_cpu_s: float
    loop_cpu_s: float
    loop_waiting_s: float
    postgres_cpu_s: float | None
    machine_cpu_s: float

    @property
    def rate(self) -> float:
        return self.result.rate

    @property
    def others_cpu_s(self) -> float:
        """Busy CPU that was not the server's, PostgreSQL's or the callers': other processes,
        and the kernel's work not charged to a process (loopback networking, in part)."""
        ours = self.server_cpu_s + (self.postgres_cpu_s or 0.0) + self.result.cpu_s
        return max(0.0, self.machine_cpu_s - ours)

    def per_call_ms(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None else cpu_s / self.result.completed * 1000

    def cores(self, cpu_s: float | None) -> float | None:
        return None if cpu_s is None else cpu_s / self.wall_s


async def measured(callers: CallerProcess, job: Round, meter: CpuMeter) -> Sample:
    before = meter.snapshot()
    begun = time.perf_counter()
    result = await callers.run(job)
    wall = time.perf_counter() - begun
    after = meter.snapshot()
    return Sample(
        result,
        wall,
        after.server_s - before.server_s,
        after.loop_s - before.loop_s,
        after.loop_waiting_s - before.loop_waiting_s,
        cpu_between(before.postgres, after.postgres),
        after.machine_s - before.machine_s,
    )


def sampled_round(
    callers: CallerProcess, job: Round, meter: CpuMeter, samples: list[Sample]
) -> RateRound:
    """A harness round that also keeps its sample (the first one kept is the warm-up)."""

    async def run() -> float:
        sample = await measured(callers, job, meter)
        samples.append(sample)
        return sample.rate

    return run


def summarise(samples: Sequence[Sample]) -> dict[str, Any]:
    """Medians over rounds of every per-round figure (the harness's rule for rates)."""
    if not samples:
        raise ValueError("no rounds to summarise")

    def med(pick: Callable[[Sample], float | None]) -> float | None:
        present = [v for v in (pick(s) for s in samples) if v is not None]
        return round(median(present), 3) if present else None

    return {
        "rate": median([s.rate for s in samples]),
        "p50_ms": round(median([s.result.p50_ms for s in samples]), 2),
        "p99_ms": round(median([s.result.p99_ms for s in samples]), 2),
        "cpu_ms_per_call": {
            "server_process": med(lambda s: s.per_call_ms(s.server_cpu_s)),
            "server_event_loop_thread": med(lambda s: s.per_call_ms(s.loop_cpu_s)),
            "postgres": med(lambda s: s.per_call_ms(s.postgres_cpu_s)),
            "load_generator": med(lambda s: s.per_call_ms(s.result.cpu_s)),
        },
        "cores_busy": {
            "server_process": med(lambda s: s.cores(s.server_cpu_s)),
            "server_event_loop_thread": med(lambda s: s.cores(s.loop_cpu_s)),
            "postgres": med(lambda s: s.cores(s.postgres_cpu_s)),
            "load_generator": med(lambda s: s.cores(s.result.cpu_s)),
            "rest_of_machine": med(lambda s: s.cores(s.others_cpu_s)),
        },
        # Share of the wall time the event loop had work: running, or runnable and waiting.
        "event_loop_ready": med(lambda s: s.cores(s.loop_cpu_s + s.loop_waiting_s)),
    }


# ------------------------------------------------------------------ one caller, instrumented


class Breakdown:
    """Wall time spent in named awaitables; SQL statements and pool checkouts by engine."""

    def __init__(self, claims_engine: Any) -> None:
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self.statements: Counter[str] = Counter()
        self.checkouts: Counter[str] = Counter()
        self._claims_engine = claims_engine

    def timed(self, name: str, inner: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
        async def wrapper(*args: Any, **kwargs: Any) -> T:
            begun = time.perf_counter()
            try:
                return await inner(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - begun
                self.calls[name] += 1

        return wrapper

    def mean_ms(self, name: str) -> float:
        return self.seconds[name] / self.calls[name] * 1000 if self.calls[name] else 0.0

    def _on_statement(self, conn: Any, *args: Any) -> None:
        self.statements["claims" if conn.engine is self._claims_engine else "policy"] += 1

    def _on_checkout(self, *args: Any) -> None:
        self.checkouts["all"] += 1

    def _on_claims_checkout(self, *args: Any) -> None:
        self.checkouts["claims"] += 1

    @contextlib.contextmanager
    def counting_sql(self) -> Iterator[None]:
        from sqlalchemy import event
        from sqlalchemy.engine import Engine
        from sqlalchemy.pool import Pool

        listeners: list[tuple[Any, str, Callable[..., None]]] = [
            (Engine, "before_cursor_execute", self._on_statement),
            (Pool, "checkout", self._on_checkout),
            (self._claims_engine.pool, "checkout", self._on_claims_checkout),
        ]
        for target, name, fn in listeners:
            event.listen(target, name, fn)
        try:
            yield
        finally:
            for target, name, fn in listeners:
                event.remove(target, name, fn)

    def per_intake(self, alone: RoundResult) -> dict[str, float]:
        calls = alone.completed
        parts = {
            "policy_get_elevator_ms": self.mean_ms("policy"),
            "write_tx_ms": self.mean_ms("write"),
            "read_tx_ms": self.mean_ms("read"),
        }
        return {
            "total_ms": round(alone.mean_ms, 3),
            **{k: round(v, 3) for k, v in parts.items()},
            "rest_ms": round(alone.mean_ms - sum(parts.values()), 3),
            "claims_sql_statements": round(self.statements["claims"] / calls, 2),
            "policy_sql_statements": round(self.statements["policy"] / calls, 2),
            "claims_checkouts": round(self.checkouts["claims"] / calls, 2),
            "policy_checkouts": round(
                (self.checkouts["all"] - self.checkouts["claims"]) / calls, 2
            ),
            "calls": calls,
        }


@contextlib.contextmanager
def instrumented(claims: ClaimsTarget) -> Iterator[Breakdown]:
    """Time the policy lookup, the write transaction and the reply's read of every intake.

    ``report_loss`` calls ``up.policy.elevator`` then ``transaction`` (the intake itself);
    the servicer then ``read``s the claim for the reply. Patched on the instances only, for
    the length of the block.
    """
    uc = claims.usecases
    breakdown = Breakdown(uc._engine.sync_engine)
    policy = uc.up.policy
    with (
        mock.patch.object(policy, "elevator", breakdown.timed("policy", policy.elevator)),
        mock.patch.object(uc, "transaction", breakdown.timed("write", uc.transaction)),
        mock.patch.object(uc, "read", breakdown.timed("read", uc.read)),
        breakdown.counting_sql(),
    ):
        yield breakdown


# ------------------------------------------------------------------ the event loop, profiled

# Who a profiled function belongs to: the first match of its path decides.
_LIBRARIES = (
    ("sqlalchemy/", "SQLAlchemy"),
    ("greenlet/", "SQLAlchemy"),  # its async bridge
    ("asyncpg/", "asyncpg"),
    ("grpc", "gRPC"),
    ("opentelemetry", "OpenTelemetry"),
    ("google/protobuf/", "protobuf"),
)
_OURS = (
    ("services/", "services (claims, policy)"),
    ("shared/interceptors.py", "interceptors"),
    ("shared/auth.py", "interceptors"),
    ("shared/", "shared"),
)

Label = tuple[str, int, str]


def owner(filename: str, root: str = str(ROOT)) -> str:
    path = filename.replace("\\", "/")
    if "/site-packages/" in path:
        inside = path.split("/site-packages/", 1)[1]
        return next((label for prefix, label in _LIBRARIES if inside.startswith(prefix)), "other")
    if path.startswith(root.rstrip("/") + "/"):
        inside = path[len(root.rstrip("/")) + 1 :]
        return next((label for prefix, label in _OURS if inside.startswith(prefix)), "other")
    return "asyncio, sockets, stdlib"


def profile_shares(
    stats: Mapping[Label, tuple[Any, ...]], root: str = str(ROOT)
) -> dict[str, float]:
    """Share of profiled time (own time, ``tottime``) by package, largest first.

    A built-in (``~`` as file: ``socket.send``, a greenlet switch) has no package, so its
    time goes to whoever called it, in the proportions the profile recorded per caller.
    """
    spent: defaultdict[str, float] = defaultdict(float)
    for (filename, _, _), entry in stats.items():
        own, callers = float(entry[2]), entry[4]
        if filename != "~":
            spent[owner(filename, root)] += own
            continue
        by_caller = {caller: float(edge[2]) for caller, edge in callers.items()}
        total = sum(by_caller.values())
        if total <= 0:
            spent["other"] += own
            continue
        for caller, part in by_caller.items():
            spent[owner(caller[0], root) if caller[0] != "~" else "other"] += own * part / total
    whole = sum(spent.values())
    if whole <= 0:
        return {}
    return {k: round(v / whole, 3) for k, v in sorted(spent.items(), key=lambda kv: -kv[1])}


async def profiled(callers: CallerProcess, job: Round) -> dict[str, float]:
    """Run a round with this thread (the event loop) under cProfile; shares by package.

    cProfile slows pure-Python code more than C, so the shares lean towards Python-heavy
    packages; the figures of this round are not used for anything else.
    """
    profile = cProfile.Profile()
    profile.enable()
    try:
        await callers.run(job)
    finally:
        profile.disable()
    profile.create_stats()
    return profile_shares(profile.stats)


# ------------------------------------------------------------------ the benchmark


async def _probe_sizes(addr: str, metadata: Metadata, registration_code: str) -> tuple[int, int]:
    """Bytes of one ReportLoss request and its answer, on an elevator kept out of the plan."""
    request = pb.ReportLossRequest(
        source=pb.SOURCE_IOT_ALARM,
        source_event_id=f"bench-probe-{os.urandom(6).hex()}",
        registration_code=registration_code,
        fault_category=FaultCategory.TRAPPED_PASSENGER.value,
        description=IntakePlan(("-",), ("-",)).description,
    )
    async with grpc.aio.insecure_channel(addr) as channel:
        answer = await claims_pb2_grpc.ClaimsServiceStub(channel).ReportLoss(
            request, metadata=metadata
        )
    if not answer.created:
        raise RuntimeError("the probe report should have opened a claim")
    return request.ByteSize(), answer.ByteSize()


@contextlib.asynccontextmanager
async def echo_server(
    callers: CallerProcess, interceptors: Sequence[grpc.aio.ServerInterceptor[Any, Any]] = ()
) -> AsyncIterator[str]:
    """An echo server on this loop; the callers drop their channel before it stops."""
    server, port = await start_echo_server(interceptors=interceptors)
    addr = f"127.0.0.1:{port}"
    try:
        yield addr
    finally:
        with contextlib.suppress(Exception):
            await callers.forget(addr)
        await server.stop(None)


def limiting_factor(intake: Mapping[str, Any], cpus: int) -> str:
    """What limits intake, in a sentence, from the cores each process kept busy."""
    cores = intake["cores_busy"]
    loop = cores["server_event_loop_thread"] or 0.0
    ready = intake["event_loop_ready"] or loop
    server = cores["server_process"] or 0.0
    total = sum(c for c in (server, cores["postgres"], cores["load_generator"]) if c is not None)
    if ready >= CPU_BOUND_CORES:
        others = cores.get("rest_of_machine")
        waited = (
            f" and waited for a CPU {ready - loop:.0%} of it"
            + (f" (everything else on the machine used {others:.2f} cores)" if others else "")
            if ready - loop >= 0.05
            else ""
        )
        return (
            f"the server is CPU-bound in Python: its event-loop thread had work {ready:.0%} of "
            f"the time, ran {loop:.2f} of one core{waited}; that one thread runs claims, the "
            "policy service it calls, SQLAlchemy, asyncpg and the interceptors"
        )
    if total >= 0.9 * cpus:
        return (
            f"the machine's {cpus} cores are saturated ({total:.2f} busy: server process "
            f"{server:.2f}, PostgreSQL {cores['postgres'] or 0:.2f}, callers "
            f"{cores['load_generator'] or 0:.2f})"
        )
    return (
        f"no CPU is saturated (event loop ready {ready:.0%} of the time, machine {total:.2f} of "
        f"{cpus} cores): waiting (locks, the pool, round trips) limits intake"
    )


def compose_note(
    *,
    intake: Mapping[str, Any],
    echo: Mapping[str, Any],
    ratio: float,
    breakdown: Mapping[str, Any],
    shares: Mapping[str, float],
    interceptors_ms: float | None,
    cpus: int,
) -> str:
    """The sentences printed under the table and kept in the JSON: figures, then the limit."""
    cpu, echo_cpu = intake["cpu_ms_per_call"], echo["cpu_ms_per_call"]
    b = breakdown
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    pg = cpu["postgres"]
    parts = [
        f"p50 {intake['p50_ms']:.1f} ms, p99 {intake['p99_ms']:.1f} ms at {CALLERS} callers "
        f"(echo: p50 {echo['p50_ms']:.2f} ms, p99 {echo['p99_ms']:.2f} ms); ratio {ratio:.3f} "
        f"{verdict} the {TARGET_RATIO:.0%} target.",
        f"Limit: {limiting_factor(intake, cpus)}.",
        f"CPU per intake: {cpu['server_process']:.2f} ms in the server process vs "
        f"{echo_cpu['server_process']:.2f} ms per echo"
        + (f"; {pg:.2f} ms in PostgreSQL" if pg is not None else "")
        + f"; {cpu['load_generator']:.2f} ms in the callers.",
    ]
    others = intake["cores_busy"].get("rest_of_machine"), echo["cores_busy"].get("rest_of_machine")
    if None not in others:
        parts.append(
            f"Everything else on this machine (other processes, the kernel) used {others[0]:.2f} "
            f"cores during intake rounds, {others[1]:.2f} during echo rounds."
        )
    if shares:
        top = ", ".join(f"{name} {share:.0%}" for name, share in list(shares.items())[:5])
        parts.append(f"Event-loop time by package (cProfile): {top}.")
    parts.append(
        f"One caller alone: {b['total_ms']:.2f} ms = policy GetElevator over gRPC "
        f"{b['policy_get_elevator_ms']:.2f} + write transaction {b['write_tx_ms']:.2f} + "
        f"read for the reply {b['read_tx_ms']:.2f} + gRPC, interceptors, servicer "
        f"{b['rest_ms']:.2f}; {b['claims_sql_statements']:.1f} SQL statements in claims on "
        f"{b['claims_checkouts']:.0f} pooled connection checkouts, "
        f"{b['policy_sql_statements']:.1f} in policy."
    )
    if interceptors_ms is not None:
        parts.append(
            f"The 5 standard interceptors cost {interceptors_ms:.2f} ms CPU per call (echo "
            "behind them vs bare)."
        )
    return " ".join(parts)


@benchmark("claims_fnol_intake")
async def fnol_intake(ctx: BenchContext) -> BenchResult:
    """ReportLoss by 32 concurrent alarm sources vs a bare gRPC echo, same run, same callers.

    Real gRPC, real PostgreSQL, the real policy service for the elevator lookup. The callers
    run in a child process, the servers here. The ratio is the share of a bare unary RPC's
    throughput that intake keeps on this machine.
    """
    scale = ctx.time_scale
    seconds = SLICE_S * scale
    elevators = max(16, round(ELEVATORS * min(scale, 1.0)))
    policy = await ctx.policy()
    claims = await ctx.claims()
    reporter: Metadata = (("authorization", f"Bearer {ctx.mint('partner')}"),)
    meter = CpuMeter()
    async with CallerProcess() as callers:  # its start-up overlaps the seeding
        note(f"seeding {elevators + 1} insured elevators through the policy API …")
        async with grpc.aio.insecure_channel(policy.addr) as channel:
            world = PolicyWorldBuilder(channel, policy.metadata)
            seeded = await world.insured_elevators(elevators + 1)
        spare, insured = seeded[0], seeded[1:]
        request_bytes, answer_bytes = await _probe_sizes(
            claims.addr, reporter, spare.registration_code
        )
        plan = IntakePlan(
            registration_codes=tuple(e.registration_code for e in insured),
            categories=tuple(c.value for c in FaultCategory),
            storm_share=STORM_SHARE,
            seed=len(insured),
        )
        intake_target = Target("claims", claims.addr, "report_loss", reporter, plan=plan)
        payload = os.urandom(answer_bytes)  # the larger of the two directions
        intake_samples: list[Sample] = []
        echo_samples: list[Sample] = []
        async with echo_server(callers) as echo_addr:
            echo_target = Target("echo", echo_addr, "echo", reporter, payload=payload)
            note(f"measuring ReportLoss vs echo, {CALLERS} callers, alternating rounds …")
            await interleaved(
                sampled_round(
                    callers, Round(intake_target, seconds, CALLERS), meter, intake_samples
                ),
                sampled_round(callers, Round(echo_target, seconds, CALLERS), meter, echo_samples),
                rounds=ROUNDS,
            )
        note("where the time goes: one caller instrumented, a profiled round, interceptors …")
        with instrumented(claims) as timing:
            alone = await measured(callers, Round(intake_target, PROBE_S * scale, 1), meter)
        shares = await profiled(callers, Round(intake_target, PROFILE_S * scale, CALLERS))
        interceptors_ms = await _interceptor_cost(ctx, callers, reporter, payload, seconds)

    intake, echo = summarise(intake_samples[1:]), summarise(echo_samples[1:])
    recorded = [s.result for s in intake_samples[1:]]
    completed = sum(r.completed for r in recorded)
    created = sum(r.created for r in recorded)
    ratio = intake["rate"] / echo["rate"]
    breakdown = timing.per_intake(alone.result)
    text = compose_note(
        intake=intake,
        echo=echo,
        ratio=ratio,
        breakdown=breakdown,
        shares=shares,
        interceptors_ms=interceptors_ms,
        cpus=os.cpu_count() or 1,
    )

    def figures(summary: Mapping[str, Any]) -> dict[str, Any]:
        keys = ("p50_ms", "p99_ms", "cpu_ms_per_call", "cores_busy", "event_loop_ready")
        return {k: summary[k] for k in keys}

    return BenchResult(
        Measure("claims_fnol_intake", "requests/s", intake["rate"], figures(intake)),
        Measure(
            "grpc_echo",
            "requests/s",
            echo["rate"],
            {**figures(echo), "payload_bytes": len(payload)},
        ),
        extra={
            "target_ratio": TARGET_RATIO,
            "meets_target": ratio >= TARGET_RATIO,
            "load": {
                "callers": CALLERS,
                "caller_process": "separate (multiprocessing, spawn); servers in this process",
                "rounds": ROUNDS,
                "seconds_per_round": round(seconds, 2),
                "elevators": len(insured),
                "fault_categories": len(plan.categories),
                "storm_share": STORM_SHARE,
                "report_loss_bytes": {"request": request_bytes, "response": answer_bytes},
            },
            "mix": {
                "reports": completed,
                "created": created,
                "folded": completed - created,
                "storm_repeats": sum(r.storm for r in recorded),
            },
            "one_caller_breakdown": breakdown,
            "event_loop_profile_shares": shares,
            "interceptors_cpu_ms_per_call": interceptors_ms,
        },
        note=text,
    )


async def _interceptor_cost(
    ctx: BenchContext,
    callers: CallerProcess,
    metadata: Metadata,
    payload: bytes,
    seconds: float,
) -> float | None:
    """Server CPU per call the standard interceptors add: echo behind them vs the bare echo,
    one round each after a short warm-up, same callers, same metadata (a valid token)."""
    from shared.auth import parse_keys
    from shared.interceptors import standard_interceptors

    chains: list[Sequence[grpc.aio.ServerInterceptor[Any, Any]]] = [
        (),
        standard_interceptors(
            keys=parse_keys(ctx.auth_key), default_deadline_s=30.0, map_error=None
        ),
    ]
    meter = CpuMeter()
    per_call: list[float] = []
    for index, chain in enumerate(chains):
        async with echo_server(callers, chain) as addr:
            target = Target(f"echo-{index}", addr, "echo", metadata, payload=payload)
            await callers.run(Round(target, min(0.3, seconds), CALLERS))  # warm-up
            sample = await measured(callers, Round(target, seconds, CALLERS), meter)
        cost = sample.per_call_ms(sample.server_cpu_s)
        if cost is None:
            return None
        per_call.append(cost)
    return round(per_call[1] - per_call[0], 3)
