"""`python -m load_tests.load` (`make load`): a small, bounded load run against `make run`.

Headless asyncio + grpc.aio, no load framework: a step profile of closed-loop users (1, 4, 16,
32 by default) each calling the policy service as fast as answers come back, in a weighted
mix of what claims and partners call most (CheckCoverage 70 %, GetElevator 20 %, GetPolicy
10 %). The report says, per step and per call, requests/s, p50/p95/p99 latency and errors by
status code, and the step where p95 "bends" (first exceeds ``--bend-factor`` × the one-user
p95): where queueing starts to dominate.

Bounded on purpose, because this machine is shared: ``--max-seconds`` caps the whole run
(every call's deadline ends by then too), and only loopback addresses are accepted, so a
mistyped variable cannot point a load test at someone else's server.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import json
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf.timestamp_pb2 import Timestamp

from elevins.policy.v1 import policy_pb2 as pb
from elevins.policy.v1 import policy_pb2_grpc
from load_tests.harness import ROOT, Metadata
from load_tests.stats import bend_index, percentile

if TYPE_CHECKING:
    from elevins.policy.v1.policy_pb2_grpc import PolicyServiceAsyncStub

DEFAULT_ADDR = "127.0.0.1:50051"
DEFAULT_OUT = ROOT / "build" / "load" / "report.json"
DEFAULT_USERS = (1, 4, 16, 32)
MIN_STEP_SECONDS = 1.0  # a shorter step is noise, not a measurement
CONNECT_TIMEOUT_S = 5.0
MAX_ELEVATORS = 1_000  # discovery stops here: enough variety, bounded time
POLICY_LOOKUPS = 64  # GetElevator calls at most, to find policies ListElevators does not name
PERILS = ("mechanical_failure", "door_system", "trapped_passenger", "electrical_failure")

CHECK_COVERAGE = "CheckCoverage"
GET_ELEVATOR = "GetElevator"
GET_POLICY = "GetPolicy"
MIX: dict[str, float] = {CHECK_COVERAGE: 0.7, GET_ELEVATOR: 0.2, GET_POLICY: 0.1}

EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 2

HELP_EPILOG = """\
environment:
  POLICY_ADDR    the policy service, host:port on loopback (default 127.0.0.1:50051)
  ELEVINS_TOKEN  a bearer token the stack accepts (required)

getting a token: `make run` prints one demo token per role when the stack is ready
("Demo credentials ..."); copy the one after "authorization: Bearer" for the partner role
(any role that may read the registry works: partner, adjuster, supervisor, or a "service"
token minted with the stack's key). For example:

  export ELEVINS_TOKEN=v1.eyJ...   # the partner token `make run` printed
  make load                        # or: python -m load_tests.load --step-seconds 5

The run never exceeds --max-seconds, talks only to 127.0.0.1/localhost/::1, and writes
build/load/report.json. Exit status: 0 done, 1 could not connect or discover elevators,
2 bad arguments (a non-loopback address, no token).

The driver is one Python process: at the highest steps on a small machine it may saturate
before the server does; compare its CPU with the server's before blaming the server.
"""


class RefusedTarget(ValueError):
    """The address is not a loopback host:port; load is only ever sent to this machine."""


def loopback_target(addr: str) -> str:
    """``addr`` if it is host:port on loopback (127.0.0.0/8, ::1, localhost), else refuse.

    Checked textually, before any name resolution: "localhost" is the only name accepted,
    since any other name could resolve anywhere.
    """
    text = addr.strip()
    if "://" in text or "/" in text:
        raise RefusedTarget(f"{addr!r}: give host:port, not a URL")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise RefusedTarget(f"{addr!r}: expected [ipv6]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise RefusedTarget(f"{addr!r}: expected host:port")
        if ":" in host:
            raise RefusedTarget(f"{addr!r}: write an IPv6 address as [addr]:port")
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise RefusedTarget(f"{addr!r}: the port must be a number in 1..65535")
    if host.lower() != "localhost":
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise RefusedTarget(
                f"{addr!r} is not this machine: load is only sent to 127.0.0.1, ::1 or localhost"
            )
    return text


def plan_steps(
    users: Sequence[int], step_seconds: float, budget_seconds: float
) -> tuple[list[tuple[int, float]], list[int]]:
    """(users, seconds) for each step that fits ``budget_seconds``, and the users skipped.

    The last step that fits may be shortened; one shorter than a second is skipped.
    """
    if step_seconds <= 0:
        raise ValueError("step seconds must be positive")
    planned: list[tuple[int, float]] = []
    skipped: list[int] = []
    left = budget_seconds
    for count in users:
        seconds = min(step_seconds, left)
        if seconds < MIN_STEP_SECONDS:
            skipped.append(count)
            continue
        planned.append((count, seconds))
        left -= seconds
    return planned, skipped


def call_mix(has_policies: bool) -> dict[str, float]:
    """The call weights, renormalised without GetPolicy when no elevator has a policy."""
    mix = dict(MIX) if has_policies else {k: v for k, v in MIX.items() if k != GET_POLICY}
    total = sum(mix.values())
    return {name: weight / total for name, weight in mix.items()}


@dataclass(frozen=True)
class Sample:
    call: str
    latency_s: float
    code: str  # grpc.StatusCode name; "OK" for success


def summarise(samples: Sequence[Sample], seconds: float) -> dict[str, Any]:
    """Requests, requests/s, p50/p95/p99 in ms and errors by status code, for ``samples``.

    Latency percentiles cover every completed call, failed ones too: a caller waits for an
    error as long as for an answer, and a timeout is exactly the tail a bend shows.
    """
    ordered = sorted(s.latency_s * 1000 for s in samples)

    def pct(q: float) -> float | None:
        return round(percentile(ordered, q), 3) if ordered else None

    errors = Counter(s.code for s in samples if s.code != "OK")
    return {
        "requests": len(samples),
        "rps": round(len(samples) / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "errors": dict(sorted(errors.items())),
    }


@dataclass
class StepResult:
    users: int
    seconds: float  # measured: from the first call to the last answer
    samples: list[Sample] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        calls = sorted({s.call for s in self.samples})
        return {
            "users": self.users,
            "seconds": round(self.seconds, 3),
            **summarise(self.samples, self.seconds),
            "calls": {
                name: summarise([s for s in self.samples if s.call == name], self.seconds)
                for name in calls
            },
        }


def build_report(
    *,
    target: str,
    started_at: datetime,
    duration_s: float,
    config: Mapping[str, Any],
    steps: Sequence[StepResult],
    skipped_users: Sequence[int],
    bend_factor: float,
) -> dict[str, Any]:
    """The report as written to build/load/report.json."""
    step_json = [step.as_json() for step in steps]
    bent = bend_index([s["p95_ms"] for s in step_json], bend_factor)
    bend = None
    if bent is not None:
        bend = {
            "step": bent,
            "users": step_json[bent]["users"],
            "p95_ms": step_json[bent]["p95_ms"],
            "first_p95_ms": step_json[0]["p95_ms"],
            "factor": bend_factor,
        }
    return {
        "target": {"policy_addr": target},
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "duration_s": round(duration_s, 3),
        "config": dict(config),
        "steps": step_json,
        "skipped_users": list(skipped_users),
        "bend": bend,
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_report(report: Mapping[str, Any]) -> str:
    """The stdout table: one line per step (all calls) and one per call within it."""
    header = ("users", "call", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "errors")
    rows: list[tuple[str, ...]] = []
    for step in report["steps"]:
        for name, summary in [("all", step), *step["calls"].items()]:
            errors = ", ".join(f"{code}×{n}" for code, n in summary["errors"].items())
            rows.append(
                (
                    str(step["users"]) if name == "all" else "",
                    name,
                    str(summary["requests"]),
                    f"{summary['rps']:.1f}",
                    _ms(summary["p50_ms"]),
                    _ms(summary["p95_ms"]),
                    _ms(summary["p99_ms"]),
                    errors or "-",
                )
            )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    left = {1, 7}

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.ljust(w) if i in left else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    lines = [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]
    bend = report["bend"]
    if bend is not None:
        lines.append(
            f"\np95 bends at {bend['users']} users: {_ms(bend['p95_ms'])} ms > "
            f"{bend['factor']:g} × {_ms(bend['first_p95_ms'])} ms (1st step)"
        )
    elif report["steps"]:
        last = report["steps"][-1]["users"]
        lines.append(
            f"\nno bend: p95 stayed within {report['config']['bend_factor']:g}× "
            f"the first step's up to {last} users"
        )
    if report["skipped_users"]:
        lines.append(f"skipped (over --max-seconds): {report['skipped_users']} users")
    return "\n".join(lines)


# ------------------------------------------------------------------ running against the stack


@dataclass(frozen=True)
class Fleet:
    """What discovery found: elevators to ask about, and the policies in force on them."""

    elevator_ids: list[str]
    registration_codes: list[str]
    policy_ids: list[str]


async def discover(stub: PolicyServiceAsyncStub, metadata: Metadata, call_timeout: float) -> Fleet:
    """Every elevator the caller may see, page by page, up to MAX_ELEVATORS.

    ListElevators leaves ``current_policy_id`` empty (it is filled by GetElevator only), so
    when the list names no policy, the policies are looked up with GetElevator on a bounded
    sample of elevators, a few at a time.
    """
    elevators: list[pb.Elevator] = []
    token = ""
    while len(elevators) < MAX_ELEVATORS:
        page = await stub.ListElevators(
            pb.ListElevatorsRequest(page_size=100, page_token=token),
            metadata=metadata,
            timeout=call_timeout,
        )
        elevators.extend(page.elevators)
        token = page.next_page_token
        if not token:
            break
    policy_ids = [e.current_policy_id for e in elevators if e.current_policy_id]
    if not policy_ids and elevators:
        gate = asyncio.Semaphore(8)

        async def current_policy(elevator_id: str) -> str:
            async with gate:
                answer = await stub.GetElevator(
                    pb.GetElevatorRequest(elevator_id=elevator_id),
                    metadata=metadata,
                    timeout=call_timeout,
                )
            return answer.elevator.current_policy_id

        sample = [e.elevator_id for e in elevators[:POLICY_LOOKUPS]]
        found = await asyncio.gather(*(current_policy(e) for e in sample))
        policy_ids = [p for p in found if p]
    return Fleet(
        elevator_ids=[e.elevator_id for e in elevators],
        registration_codes=[e.spec.registration_code for e in elevators],
        policy_ids=policy_ids,
    )


Call = Callable[[float], Awaitable[object]]


def _calls(
    stub: PolicyServiceAsyncStub,
    metadata: Metadata,
    fleet: Fleet,
    rng: random.Random,
) -> dict[str, Callable[[], Call]]:
    """For each call name, a factory of one randomly chosen request, ready to send."""

    def check_coverage() -> Call:
        stamp = Timestamp()
        stamp.FromDatetime(datetime.now(UTC))
        request = pb.CheckCoverageRequest(
            registration_code=rng.choice(fleet.registration_codes),
            loss_time=stamp,
            peril=rng.choice(PERILS),
        )
        return lambda timeout: stub.CheckCoverage(request, metadata=metadata, timeout=timeout)

    def get_elevator() -> Call:
        i = rng.randrange(len(fleet.elevator_ids))
        request = (
            pb.GetElevatorRequest(elevator_id=fleet.elevator_ids[i])
            if rng.random() < 0.5
            else pb.GetElevatorRequest(registration_code=fleet.registration_codes[i])
        )
        return lambda timeout: stub.GetElevator(request, metadata=metadata, timeout=timeout)

    def get_policy() -> Call:
        request = pb.GetPolicyRequest(policy_id=rng.choice(fleet.policy_ids))
        return lambda timeout: stub.GetPolicy(request, metadata=metadata, timeout=timeout)

    return {CHECK_COVERAGE: check_coverage, GET_ELEVATOR: get_elevator, GET_POLICY: get_policy}


async def run_step(
    stubs: Sequence[PolicyServiceAsyncStub],
    metadata: Metadata,
    fleet: Fleet,
    mix: Mapping[str, float],
    *,
    users: int,
    seconds: float,
    deadline: float,
    call_timeout: float,
    seed: int,
) -> StepResult:
    """``users`` closed-loop users, each on its own channel, for ``seconds``.

    A user starts no call after the step ends, and no call may run past ``deadline`` (the
    run's hard cap), so the step ends at most ``call_timeout`` after its time is up.
    """
    samples: list[Sample] = []
    names, weights = list(mix), list(mix.values())
    start = time.monotonic()
    stop_at = start + seconds

    async def user(index: int) -> None:
        rng = random.Random(seed * 1_000 + index)
        factories = _calls(stubs[index], metadata, fleet, rng)
        while (now := time.monotonic()) < stop_at:
            name = rng.choices(names, weights)[0]
            send = factories[name]()
            timeout = max(0.05, min(call_timeout, deadline - now))
            begun = time.perf_counter()
            try:
                await send(timeout)
                code = "OK"
            except grpc.aio.AioRpcError as error:
                code = error.code().name
            samples.append(Sample(name, time.perf_counter() - begun, code))

    await asyncio.gather(*(user(i) for i in range(users)))
    return StepResult(users=users, seconds=time.monotonic() - start, samples=samples)


async def drive(args: argparse.Namespace, target: str, token: str) -> int:
    began = time.monotonic()
    deadline = began + args.max_seconds
    started_at = datetime.now(UTC)
    metadata = (("authorization", f"Bearer {token}"),)
    max_users = max(args.users)
    # One channel per user: separate connections, as separate callers would have.
    channels = [
        grpc.aio.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(max_users)
    ]
    try:
        try:
            await asyncio.wait_for(channels[0].channel_ready(), CONNECT_TIMEOUT_S)
        except TimeoutError:
            print(
                f"could not connect to the policy service at {target} within "
                f"{CONNECT_TIMEOUT_S:.0f}s: is `make run` running?",
                file=sys.stderr,
            )
            return EXIT_UNREACHABLE
        stubs = [policy_pb2_grpc.PolicyServiceStub(c) for c in channels]
        try:
            # Discovery counts against the cap too.
            fleet = await asyncio.wait_for(
                discover(stubs[0], metadata, call_timeout=CONNECT_TIMEOUT_S),
                max(0.1, deadline - time.monotonic()),
            )
        except TimeoutError:
            print("discovering elevators took longer than --max-seconds", file=sys.stderr)
            return EXIT_UNREACHABLE
        except grpc.aio.AioRpcError as error:
            hint = (
                " (check ELEVINS_TOKEN)"
                if error.code()
                in {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}
                else ""
            )
            print(
                f"ListElevators failed: {error.code().name}: {error.details()}{hint}",
                file=sys.stderr,
            )
            return EXIT_UNREACHABLE
        if not fleet.elevator_ids:
            print("no elevators to call: seed some (`make run` seeds a demo city)", file=sys.stderr)
            return EXIT_UNREACHABLE
        mix = call_mix(bool(fleet.policy_ids))
        print(
            f"{target}: {len(fleet.elevator_ids)} elevators, {len(fleet.policy_ids)} policies; "
            f"mix {', '.join(f'{k} {v:.0%}' for k, v in mix.items())}",
            file=sys.stderr,
        )
        # Leave room for the last step's calls to finish within the cap.
        budget = deadline - time.monotonic() - min(args.call_timeout, 2.0)
        planned, skipped = plan_steps(args.users, args.step_seconds, budget)
        steps: list[StepResult] = []
        for index, (users, seconds) in enumerate(planned):
            print(
                f"step {index + 1}/{len(planned)}: {users} users for {seconds:.1f}s …",
                file=sys.stderr,
            )
            steps.append(
                await run_step(
                    stubs,
                    metadata,
                    fleet,
                    mix,
                    users=users,
                    seconds=seconds,
                    deadline=deadline,
                    call_timeout=args.call_timeout,
                    seed=args.seed + index,
                )
            )
        report = build_report(
            target=target,
            started_at=started_at,
            duration_s=time.monotonic() - began,
            config={
                "users": list(args.users),
                "step_seconds": args.step_seconds,
                "max_seconds": args.max_seconds,
                "call_timeout_s": args.call_timeout,
                "bend_factor": args.bend_factor,
                "seed": args.seed,
                "mix": {name: round(weight, 4) for name, weight in mix.items()},
                "elevators": len(fleet.elevator_ids),
                "policies": len(fleet.policy_ids),
            },
            steps=steps,
            skipped_users=skipped,
            bend_factor=args.bend_factor,
        )
    finally:
        await asyncio.gather(*(c.close(None) for c in channels))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(format_report(report))
    out = args.out.resolve()
    print(f"\nreport: {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    return EXIT_OK


def _users(text: str) -> tuple[int, ...]:
    try:
        users = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,4,16,32, got {text!r}") from None
    if not users or any(not 1 <= u <= 256 for u in users):
        raise argparse.ArgumentTypeError("each step needs 1 to 256 users")
    return users


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m load_tests.load",
        description="A bounded step-load run against the local policy service (`make run`).",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--users",
        type=_users,
        default=DEFAULT_USERS,
        help="concurrent users per step (default 1,4,16,32)",
    )
    p.add_argument("--step-seconds", type=float, default=10.0, help="length of a step (default 10)")
    p.add_argument(
        "--max-seconds",
        type=float,
        default=60.0,
        help="hard cap on the whole run; steps that do not fit are skipped (default 60)",
    )
    p.add_argument("--call-timeout", type=float, default=5.0, help="deadline per call (default 5)")
    p.add_argument(
        "--bend-factor",
        type=float,
        default=2.0,
        help="p95 over this × the first step's p95 counts as the bend (default 2)",
    )
    p.add_argument("--seed", type=int, default=2026, help="random seed of the call mix")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where report.json goes")
    return p


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    p = parser()
    args = p.parse_args(argv)
    if args.step_seconds <= 0 or args.max_seconds <= 0 or args.call_timeout <= 0:
        p.error("--step-seconds, --max-seconds and --call-timeout must be positive")
    if args.bend_factor <= 1:
        p.error("--bend-factor must be greater than 1")
    try:
        target = loopback_target(env.get("POLICY_ADDR") or DEFAULT_ADDR)
    except RefusedTarget as error:
        print(f"POLICY_ADDR refused: {error}", file=sys.stderr)
        return EXIT_USAGE
    token = (env.get("ELEVINS_TOKEN") or "").strip()
    if not token:
        print(
            "ELEVINS_TOKEN is not set: `make run` prints demo tokens when ready; export the "
            "partner one (see --help)",
            file=sys.stderr,
        )
        return EXIT_USAGE
    return asyncio.run(drive(args, target, token))


if __name__ == "__main__":
    sys.exit(main())
