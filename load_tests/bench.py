"""`python -m load_tests.bench` (`make bench`): run every benchmark, write JSON, print a table.

Each benchmark writes ``build/bench/<name>.json`` in the format ARCHITECTURE.md documents,
with its baseline measured in the same run (see ``load_tests.harness`` for why and how).
A new benchmark is a ``@benchmark("<service>_<what>")`` function and one line in
``BENCHMARKS``. The real stack is started only if a selected benchmark needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
import traceback
from collections.abc import Sequence
from pathlib import Path

from load_tests.benchmarks import (
    claims,
    claims_queue,
    contractors,
    evidence,
    evidence_upload,
    exchange,
    policy,
    pricing,
    validation,
    web_queue,
)
from load_tests.harness import (
    DEFAULT_OUT,
    ROOT,
    BenchContext,
    Benchmark,
    BenchResult,
    format_table,
    machine,
    note,
    write_result,
)

BENCHMARKS: tuple[Benchmark, ...] = (
    policy.check_coverage_concurrent,
    policy.vote_decide,
    policy.funding_plan,
    claims.fnol_intake,
    claims_queue.queue_100k,
    pricing.match_lines,
    validation.core_rows,
    validation.grpc_rows,
    contractors.scorecards_recompute,
    evidence.photo_matching,
    evidence.hash_lookup,
    evidence_upload.upload_throughput,
    exchange.registry_import,
    web_queue.web_queue_100k,
)


def select(benchmarks: Sequence[Benchmark], names: Sequence[str]) -> list[Benchmark]:
    """The benchmarks named (all when none are), in registry order; unknown names refused."""
    if not names:
        return list(benchmarks)
    known = {b.name for b in benchmarks}
    unknown = sorted(set(names) - known)
    if unknown:
        raise ValueError(f"unknown benchmark(s) {unknown}; known: {sorted(known)}")
    return [b for b in benchmarks if b.name in names]


async def run_all(
    benchmarks: Sequence[Benchmark], *, out_dir: Path, time_scale: float
) -> tuple[list[BenchResult], list[str]]:
    """Run each benchmark once, writing its file as soon as it is done; (results, failures).

    A failing benchmark is reported and the others still run: one broken service should not
    hide the figures of the rest.
    """
    results: list[BenchResult] = []
    failures: list[str] = []
    info = machine()
    async with contextlib.AsyncExitStack() as exits:
        ctx = BenchContext(exits=exits, time_scale=time_scale)
        for bench in benchmarks:
            note(f"[{bench.name}]")
            begun = time.monotonic()
            try:
                result = await bench.run(ctx)
            except Exception:
                note(traceback.format_exc())
                failures.append(bench.name)
                continue
            write_result(result, out_dir, info)
            results.append(result)
            note(f"[{bench.name}] done in {time.monotonic() - begun:.1f}s")
        note("stopping …")
    return results, failures


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m load_tests.bench",
        description="Run the benchmarks; write build/bench/<name>.json and print a table.",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="run only this benchmark (repeatable); known: "
        + ", ".join(b.name for b in BENCHMARKS),
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where the JSON files go")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every measuring slice (0.25 for a quick look; default 1)",
    )
    args = parser.parse_args(argv)
    if args.time_scale <= 0:
        parser.error("--time-scale must be positive")
    try:
        chosen = select(BENCHMARKS, args.only)
    except ValueError as error:
        parser.error(str(error))
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")

    begun = time.monotonic()
    results, failures = asyncio.run(run_all(chosen, out_dir=args.out, time_scale=args.time_scale))
    if results:
        print(format_table(results))
        out = args.out.resolve()
        shown = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
        print(f"\nwrote {len(results)} file(s) to {shown}/ in {time.monotonic() - begun:.0f}s")
    if failures:
        print(f"FAILED: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
