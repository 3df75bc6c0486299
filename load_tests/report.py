"""The load report: samples per step, summaries per call, the bend; and the loopback guard.

Pure (no locust, no gRPC), so the report's arithmetic is unit-tested and the locust process
only collects samples. A :class:`Sample` is one completed call: its name (``claims.ReportLoss``),
its latency, its status code (``OK``, a gRPC code name, or ``HTTP_<status>`` for the web pages)
and whether the scenario provoked that error on purpose (an alarm for an elevator the registry
does not know: NOT_FOUND is the right answer). Latency percentiles cover every completed call,
failed ones too.
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from load_tests.stats import bend_index, percentile

MIN_STEP_SECONDS = 1.0  # a shorter step is noise, not a measurement


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


@dataclass(frozen=True)
class Sample:
    call: str
    latency_s: float
    code: str  # grpc.StatusCode name, HTTP_<status>; "OK" for success
    expected: bool = False  # an error the scenario provokes on purpose


def summarise(samples: Sequence[Sample], seconds: float) -> dict[str, Any]:
    """Requests, requests/s, p50/p95/p99 in ms and errors by status code, for ``samples``.

    Latency percentiles cover every completed call, failed ones too: a caller waits for an
    error as long as for an answer, and a timeout is exactly the tail a bend shows.
    """
    ordered = sorted(s.latency_s * 1000 for s in samples)

    def pct(q: float) -> float | None:
        return round(percentile(ordered, q), 3) if ordered else None

    errors = Counter(s.code for s in samples if s.code != "OK")
    unexpected = Counter(s.code for s in samples if s.code != "OK" and not s.expected)
    return {
        "requests": len(samples),
        "rps": round(len(samples) / seconds, 2) if seconds > 0 else 0.0,
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "errors": dict(sorted(errors.items())),
        "unexpected_errors": dict(sorted(unexpected.items())),
    }


@dataclass
class StepResult:
    users: int
    seconds: float  # measured: from the first call to the last answer
    samples: list[Sample] = field(default_factory=list)
    # CPU cores each process group used during the step (cpu seconds / wall seconds).
    cores: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        calls = sorted({s.call for s in self.samples})
        return {
            "users": self.users,
            "seconds": round(self.seconds, 3),
            **summarise(self.samples, self.seconds),
            "cores": {name: round(c, 3) for name, c in sorted(self.cores.items())},
            "calls": {
                name: summarise([s for s in self.samples if s.call == name], self.seconds)
                for name in calls
            },
        }


def build_report(
    *,
    target: Mapping[str, str],
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
        "target": dict(target),
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
            unexpected = summary.get("unexpected_errors", summary["errors"])
            errors = ", ".join(
                f"{code}×{n}" + ("" if unexpected.get(code) else " (on purpose)")
                for code, n in summary["errors"].items()
            )
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
    for step in report["steps"]:
        if step.get("cores"):
            used = ", ".join(f"{name} {c:.2f}" for name, c in step["cores"].items())
            lines.append(f"cores at {step['users']} users: {used}")
    if report["skipped_users"]:
        lines.append(f"skipped (over --max-seconds): {report['skipped_users']} users")
    return "\n".join(lines)
