"""The benchmark harness: what a benchmark is, how it is measured, how results are written.

Every benchmark compares a measured figure with a baseline *measured in the same run*: this
machine is shared and noisy, so an absolute number from last week says little, while two
numbers taken in alternating rounds a second apart share the same noise. Rounds alternate
subject/baseline and flip the order every round (ABBA), so a slow drift in machine load
affects both sides alike; the medians of the per-round rates are reported, so one spoiled
round does not move the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import platform
import secrets
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from load_tests.stats import median

if TYPE_CHECKING:
    from services.claims.usecases import ClaimsUseCases
    from services.evidence.usecases import EvidenceUseCases
    from services.web.usecases import WebUseCases

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "build" / "bench"

# gRPC call metadata, as the generated async stubs accept it.
Metadata = tuple[tuple[str, str], ...]

# One round of a measurement: run for a while, return a rate (operations per second).
Round = Callable[[], Awaitable[float]]


@dataclass(frozen=True)
class Measure:
    """A named figure; ``extra`` holds what else was measured beside it (latencies, say),
    written after the documented keys, which it can never replace."""

    name: str
    unit: str
    value: float
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        required = {"name": self.name, "unit": self.unit, "value": round(self.value, 1)}
        return _after(required, self.extra)


@dataclass(frozen=True)
class BenchResult:
    """A measured figure and the baseline it is judged against.

    ``extra`` (how it was measured, a breakdown) and ``note`` (what limits the figure, in a
    sentence or three) are optional: a result without them is written exactly as documented.
    """

    measured: Measure
    baseline: Measure
    extra: Mapping[str, Any] = field(default_factory=dict)
    note: str = ""

    @property
    def ratio(self) -> float:
        if self.baseline.value <= 0:
            raise ValueError(f"{self.baseline.name}: a baseline of {self.baseline.value} is void")
        return self.measured.value / self.baseline.value

    def as_json(self, machine: dict[str, Any]) -> dict[str, Any]:
        """The documented file format (ARCHITECTURE.md, "Benchmarks"); then extras, if any."""
        documented = {
            **self.measured.as_json(),
            "baseline": self.baseline.as_json(),
            "ratio": round(self.ratio, 4),
            "machine": machine,
        }
        extra = {**self.extra, **({"note": self.note} if self.note else {})}
        return _after(documented, extra)


def _after(required: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``required`` then ``extra``; an extra key that would replace a required one is refused."""
    clash = sorted(set(required) & set(extra))
    if clash:
        raise ValueError(f"extra keys {clash} would replace documented ones")
    return {**required, **extra}


def machine() -> dict[str, Any]:
    """The facts a figure depends on: cores, their model, the system and how busy it was
    (the load average when the run began: this machine is shared)."""
    facts: dict[str, Any] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    facts["system"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                facts["cpu_model"] = line.split(":", 1)[1].strip()
                break
    with contextlib.suppress(OSError, AttributeError):
        facts["load_average_1m"] = round(os.getloadavg()[0], 2)
    return facts


def sync_round(operation: Callable[[], object], seconds: float, *, batch: int = 16) -> Round:
    """A round that calls ``operation`` for ``seconds`` and returns calls per second.

    Calls run in batches between clock reads, so reading the clock does not weigh on
    operations that take only microseconds.
    """

    async def run() -> float:
        calls = 0
        start = time.perf_counter()
        end = start + seconds
        while True:
            for _ in range(batch):
                operation()
            calls += batch
            now = time.perf_counter()
            if now >= end:
                return calls / (now - start)

    return run


async def interleaved(subject: Round, baseline: Round, *, rounds: int) -> tuple[float, float]:
    """Median rates of ``subject`` and ``baseline`` over ``rounds`` alternating rounds each.

    One unrecorded round of each comes first, to warm caches, connections and pools.
    """
    if rounds < 1:
        raise ValueError(f"need at least one round, got {rounds}")
    await subject()
    await baseline()
    subject_rates: list[float] = []
    baseline_rates: list[float] = []
    for index in range(rounds):
        order = [(subject, subject_rates), (baseline, baseline_rates)]
        if index % 2:
            order.reverse()
        for run, rates in order:
            rates.append(await run())
    return median(subject_rates), median(baseline_rates)


@dataclass(frozen=True)
class PolicyTarget:
    """A policy service to call, and a "service"-role token it accepts."""

    addr: str
    token: str

    @property
    def metadata(self) -> Metadata:
        return (("authorization", f"Bearer {self.token}"),)


@dataclass(frozen=True)
class ClaimsTarget:
    """A claims service to call, and its use cases (for a benchmark to instrument)."""

    addr: str
    usecases: ClaimsUseCases


@dataclass(frozen=True)
class EvidenceTarget:
    """An evidence service to call, its use cases, and the S3 its bucket is on (for a
    benchmark to talk to the same server beside the service)."""

    addr: str
    usecases: EvidenceUseCases
    s3_endpoint: str
    s3_access_key: str
    s3_secret_key: str
    bucket: str


@dataclass(frozen=True)
class WebTarget:
    """The web UI served in-process, and its use cases (to add people and sign them in)."""

    base_url: str
    usecases: WebUseCases


@dataclass
class BenchContext:
    """What benchmarks share, started on first use and stopped once at the end.

    The real stack (PostgreSQL, S3) and the services take seconds to start, so a benchmark of
    pure domain code never pays for them, and several service benchmarks pay once.
    """

    exits: contextlib.AsyncExitStack
    stack_dir: Path = ROOT / ".devstack" / "bench"
    auth_key: str = field(default_factory=lambda: secrets.token_hex(32))
    # Multiplies every measuring slice: < 1 for a quick look, > 1 for steadier figures.
    time_scale: float = 1.0
    _environ: dict[str, str] | None = None
    _policy: PolicyTarget | None = None
    _claims: ClaimsTarget | None = None
    _evidence: EvidenceTarget | None = None
    _web: WebTarget | None = None
    # Data a benchmark loaded that a later one may read too (loaded once per run).
    datasets: dict[str, Any] = field(default_factory=dict)

    def mint(self, role: str = "service") -> str:
        from shared.auth import mint_token

        return mint_token(
            self.auth_key, subject=f"bench-{role}", role=role, regions=("*",), ttl_seconds=3600
        )

    def service_environ(self) -> dict[str, str]:
        """The environment a service gets, on a real PostgreSQL and S3 started for the run."""
        if self._environ is None:
            from devstack.stack import running_stack

            note("starting PostgreSQL and S3 (ephemeral) …")
            env = self.exits.enter_context(running_stack(self.stack_dir, ephemeral=True))
            self._environ = {
                **os.environ,
                **env.as_environ(),
                "ELEVINS_AUTH_KEY": self.auth_key,
                "BIND_HOST": "127.0.0.1",
                "LOG_LEVEL": "WARNING",
            }
        return self._environ

    async def policy(self) -> PolicyTarget:
        """The policy service, migrated and served in-process on a free loopback port."""
        if self._policy is None:
            from services.policy.__main__ import MIGRATIONS
            from services.policy.server import SCHEMA, build_app
            from services.policy.settings import PolicySettings
            from shared.migrations import upgrade

            settings = PolicySettings.from_env(self.service_environ())
            note("migrating and starting the policy service …")
            # Alembic runs an event loop of its own, so it gets a thread of its own.
            await asyncio.to_thread(
                upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url
            )
            app = build_app(settings, port=0)
            server, port = await app.start()
            self.exits.push_async_callback(app.stop, server)
            self._policy = PolicyTarget(addr=f"127.0.0.1:{port}", token=self.mint("service"))
        return self._policy

    async def claims(self) -> ClaimsTarget:
        """The claims service in-process (as ``tests/conftest.py`` serves it), calling the
        policy service above over gRPC."""
        if self._claims is None:
            from services.claims.__main__ import MIGRATIONS
            from services.claims.server import SCHEMA, build_app
            from services.claims.settings import ClaimsSettings
            from shared.migrations import upgrade

            policy = await self.policy()
            settings = ClaimsSettings.from_env(
                {**self.service_environ(), "POLICY_ADDR": policy.addr}
            )
            note("migrating and starting the claims service …")
            await asyncio.to_thread(
                upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url
            )
            app, usecases = build_app(settings, port=0)
            server, port = await app.start()
            self.exits.push_async_callback(app.stop, server)
            self._claims = ClaimsTarget(addr=f"127.0.0.1:{port}", usecases=usecases)
        return self._claims

    async def evidence(self) -> EvidenceTarget:
        """The evidence service in-process (as ``tests/conftest.py`` serves it) on the run's
        PostgreSQL and S3; its start ensures the bucket (object lock on) and loads the index."""
        if self._evidence is None:
            from services.evidence.__main__ import MIGRATIONS
            from services.evidence.server import SCHEMA, build_app
            from services.evidence.settings import EvidenceSettings
            from shared.migrations import upgrade

            settings = EvidenceSettings.from_env(self.service_environ())
            note("migrating and starting the evidence service …")
            await asyncio.to_thread(
                upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url
            )
            app, usecases = build_app(settings, port=0)
            server, port = await app.start()
            self.exits.push_async_callback(app.stop, server)
            secret = settings.s3_secret_key
            self._evidence = EvidenceTarget(
                addr=f"127.0.0.1:{port}",
                usecases=usecases,
                s3_endpoint=settings.s3_endpoint,
                s3_access_key=settings.s3_access_key,
                s3_secret_key=secret.reveal() if secret is not None else "",
                bucket=settings.s3_bucket,
            )
        return self._evidence

    async def web(self) -> WebTarget:
        """The web UI in-process on a free loopback port, calling the claims and policy
        services above (the pages that need another service are not benchmarked)."""
        if self._web is None:
            from aiohttp import web

            from services.web.__main__ import MIGRATIONS
            from services.web.middleware import USECASES
            from services.web.server import SCHEMA, build_app
            from services.web.settings import WebSettings
            from shared.migrations import upgrade

            claims, policy = await self.claims(), await self.policy()
            settings = WebSettings.from_env(
                {**self.service_environ(), "CLAIMS_ADDR": claims.addr, "POLICY_ADDR": policy.addr}
            )
            note("migrating and starting the web UI …")
            await asyncio.to_thread(
                upgrade, MIGRATIONS, schema=SCHEMA, database_url=settings.database_url
            )
            app = build_app(settings)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            self.exits.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            port = runner.addresses[0][1]
            self._web = WebTarget(f"http://127.0.0.1:{port}", app[USECASES])
        return self._web


@dataclass(frozen=True)
class Benchmark:
    name: str
    run: Callable[[BenchContext], Awaitable[BenchResult]]


def benchmark(
    name: str,
) -> Callable[[Callable[[BenchContext], Awaitable[BenchResult]]], Benchmark]:
    """Name a benchmark function, so ``--only`` can pick it without running it."""

    def wrap(run: Callable[[BenchContext], Awaitable[BenchResult]]) -> Benchmark:
        return Benchmark(name=name, run=run)

    return wrap


def write_result(result: BenchResult, out_dir: Path, machine_info: dict[str, Any]) -> Path:
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{result.measured.name}.json"
    path.write_text(json.dumps(result.as_json(machine_info), indent=2) + "\n", encoding="utf-8")
    return path


def _figure(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def format_table(results: Sequence[BenchResult]) -> str:
    """A plain-text table: name, value, unit, baseline name, baseline value, ratio."""
    header = ("benchmark", "value", "unit", "baseline", "baseline value", "ratio")
    rows = [
        (
            r.measured.name,
            _figure(r.measured.value),
            r.measured.unit,
            r.baseline.name,
            _figure(r.baseline.value),
            f"{r.ratio:.3f}",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {1, 4, 5}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "  ".join("-" * width for width in widths)
    notes = [
        textwrap.fill(
            f"{r.measured.name}: {r.note}",
            width=100,
            subsequent_indent="  ",
            break_on_hyphens=False,
        )
        for r in results
        if r.note
    ]
    table = [line(header), rule, *(line(row) for row in rows)]
    return "\n".join(table + ([""] if notes else []) + notes)


def note(message: str) -> None:
    """Progress goes to stderr, so stdout carries only the table."""
    print(message, file=sys.stderr, flush=True)
