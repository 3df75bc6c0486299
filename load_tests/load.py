"""`python -m load_tests.load` (`make load`): a bounded locust run against the `make run` stack.

Headless locust (``load_tests.locustfile``) with a step profile of closed-loop users (1, 4, 16,
32 by default) over every service, in the weighted mix of ``load_tests.city.MIX``. The report
(``build/load/report.json`` and a table on stdout) says, per step and per call, requests/s,
p50/p95/p99 latency and errors by status code (those the scenario provokes on purpose marked),
the CPU cores each part of the stack used, and the step where p95 "bends" (first exceeds
``--bend-factor`` × the one-user p95): where queueing starts to dominate.

It finds the stack by itself: addresses and the signing key from `make run`'s state
(``.devstack/run``, as ``python -m devstack env`` prints them), or from ``<NAME>_ADDR`` and
``ELEVINS_AUTH_KEY`` in the environment; it mints its own tokens, one per role, valid for the
run. Before the clock starts, ``load_tests.city`` prepares the data in a process of its own
(``--elevators``: the demo city's 50 by default, up to 1,000,000).

Bounded on purpose, because this machine is shared: ``--max-seconds`` caps the measured run
(preparation aside), and only loopback addresses are accepted, so a mistyped variable cannot
point a load test at someone else's server.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from load_tests.city import MAX_ELEVATORS, MIX
from load_tests.harness import ROOT
from load_tests.report import (
    RefusedTarget,
    loopback_target,
    plan_steps,
)

SERVICES = ("policy", "claims", "pricing", "evidence", "validation", "contractors")
DEFAULT_OUT = ROOT / "build" / "load" / "report.json"
DEFAULT_USERS = (1, 4, 16, 32)
TOKEN_TTL_S = 3600
EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE = 0, 1, 2
# The roles the users call as; people are scoped to the demo city (4302).
ROLES = {
    "partner": ("load-iot-platform", ("4302",)),
    "adjuster": ("load-adjuster", ("4302",)),
    "contractor": ("load-contractor-1", ("4302",)),
    "service": ("load-service", ("*",)),
}

HELP_EPILOG = """\
start the stack in another terminal first:

  make run          # wait for "ready"
  make load         # or: python -m load_tests.load --step-seconds 5 --users 1,8

environment (all optional when `make run` is running in this checkout):
  <NAME>_ADDR        policy, claims, pricing, evidence, validation, contractors (host:port,
                     loopback only); default: the running `make run` stack's
  ELEVINS_AUTH_KEY   the stack's token-signing key; default: the running stack's
  WEB_ADDR           the web UI (host:port); its page users run only when it is set

The measured run never exceeds --max-seconds and talks only to 127.0.0.1/localhost/::1.
Exit status: 0 done, 1 the stack could not be reached or prepared, 2 bad arguments.

The load generator is one Python process (gevent): on a small machine it may saturate before
the services do; the report's "cores" lines show its CPU beside theirs.
"""


def running_stack() -> dict[str, str]:
    """The running `make run` stack's addresses and key ({} when none runs here)."""
    from devstack.runner import SERVICES_STATE_FILE
    from devstack.services import RUN_DIR
    from devstack.stack import read_state

    return dict(read_state(RUN_DIR, SERVICES_STATE_FILE) or {})


def tokens(auth_key: str) -> dict[str, str]:
    from shared.auth import mint_token

    return {
        role: mint_token(
            auth_key, subject=subject, role=role, regions=regions, ttl_seconds=TOKEN_TTL_S
        )
        for role, (subject, regions) in ROLES.items()
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m load_tests.load",
        description="A bounded locust step-load run against the local stack (`make run`).",
        epilog=HELP_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--users", type=_users, default=DEFAULT_USERS, help="users per step")
    p.add_argument("--step-seconds", type=float, default=15.0, help="length of a step (15)")
    p.add_argument("--max-seconds", type=float, default=60.0, help="cap on the run (60)")
    p.add_argument("--bend-factor", type=float, default=2.0, help="p95 × this = the bend (2)")
    p.add_argument("--elevators", type=int, default=50, help="insured elevators (50)")
    p.add_argument(
        "--prepare-seconds", type=float, default=120.0, help="cap on building missing ones (120)"
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where report.json goes")
    return p


def _users(text: str) -> tuple[int, ...]:
    try:
        users = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected e.g. 1,4,16,32, got {text!r}") from None
    if not users or any(not 1 <= u <= 256 for u in users):
        raise argparse.ArgumentTypeError("each step needs 1 to 256 users")
    return users


def main(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    stack: Mapping[str, str] | None = None,
) -> int:
    p = parser()
    args = p.parse_args(argv)
    if args.step_seconds <= 0 or args.max_seconds <= 0 or args.prepare_seconds <= 0:
        p.error("--step-seconds, --max-seconds and --prepare-seconds must be positive")
    if args.bend_factor <= 1:
        p.error("--bend-factor must be greater than 1")
    if not 1 <= args.elevators <= MAX_ELEVATORS:
        p.error(f"--elevators must be within 1..{MAX_ELEVATORS:,}")
    given = os.environ if environ is None else environ
    env = {**(running_stack() if stack is None else stack), **{k: v for k, v in given.items() if v}}
    addrs: dict[str, str] = {}
    try:
        for name in SERVICES:
            addr = env.get(f"{name.upper()}_ADDR")
            if not addr:
                print(
                    f"{name.upper()}_ADDR is not set and no `make run` stack is running here: "
                    "start `make run` first (see --help)",
                    file=sys.stderr,
                )
                return EXIT_USAGE
            addrs[name] = loopback_target(addr)
        if env.get("WEB_ADDR"):
            addrs["web"] = loopback_target(env["WEB_ADDR"])
    except RefusedTarget as error:
        print(f"address refused: {error}", file=sys.stderr)
        return EXIT_USAGE
    key = env.get("ELEVINS_AUTH_KEY", "")
    if not key:
        print("ELEVINS_AUTH_KEY is not set and no `make run` stack is running", file=sys.stderr)
        return EXIT_USAGE
    minted = tokens(key)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fleet_file = args.out.parent / "fleet.json"
    print(f"preparing {args.elevators:,} insured elevators …", file=sys.stderr)
    prepared = subprocess.run(
        [
            sys.executable,
            "-m",
            "load_tests.city",
            "--out",
            str(fleet_file),
            "--elevators",
            str(args.elevators),
            "--prepare-seconds",
            str(args.prepare_seconds),
        ],
        input=json.dumps({"addrs": addrs, "tokens": minted}),
        text=True,
        check=False,
        timeout=args.prepare_seconds + 120,
    )
    if prepared.returncode != 0:
        print("preparing the data failed: is the stack up? (see above)", file=sys.stderr)
        return EXIT_UNREACHABLE
    fleet = json.loads(fleet_file.read_text(encoding="utf-8"))
    for line in fleet["notes"]:
        print(line, file=sys.stderr)
    if not fleet["registration_codes"]:
        print("no elevators to call: seed some (`make run` seeds a demo city)", file=sys.stderr)
        return EXIT_UNREACHABLE
    config_file = args.out.parent / "config.json"
    config_file.write_text(
        json.dumps({"addrs": addrs, "tokens": minted, "fleet": fleet}, ensure_ascii=False),
        encoding="utf-8",
    )
    config_file.chmod(0o600)  # tokens: readable by us only
    if "web" in addrs:
        os.environ["WEB_ADDR"] = addrs["web"]
    planned, skipped = plan_steps(args.users, args.step_seconds, args.max_seconds)
    plan = {
        "steps": planned,
        "skipped": skipped,
        "bend_factor": args.bend_factor,
        "target": addrs,
        "config": {
            "users": list(args.users),
            "step_seconds": args.step_seconds,
            "max_seconds": args.max_seconds,
            "bend_factor": args.bend_factor,
            "mix": MIX,
            "elevators": fleet["elevators"],
            "elevators_built": fleet["built"],
            "prepare_seconds": fleet["prepare_seconds"],
            "claims_read": len(fleet["claim_ids"]),
        },
    }
    print(f"running {len(planned)} step(s): {planned}", file=sys.stderr)
    # Locust in a process of its own: gevent patches the standard library before any import.
    ran = subprocess.run(
        [sys.executable, "-m", "load_tests.locust_run"],
        input=json.dumps(plan),
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "ELEVINS_LOAD_CONFIG": str(config_file)},
        timeout=args.max_seconds + 60,
    )
    if ran.returncode != 0:
        print(ran.stderr[-4000:], file=sys.stderr)
        return EXIT_UNREACHABLE
    report = json.loads(ran.stdout)
    _write(report, args.out)
    return EXIT_OK


def _write(report: dict[str, Any], out: Path) -> None:
    from load_tests.report import format_report

    out.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    text = format_report(report)
    out.with_suffix(".txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    shown = out.resolve()
    print(f"\nreport: {shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown}")


if __name__ == "__main__":
    sys.exit(main())
