"""Benchmarks of the validation core: the claims rule set over a large columnar batch."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

import numpy as np

from load_tests.harness import BenchContext, BenchResult, Measure, Round, benchmark, interleaved
from services.validation.core.batch import Batch, build_batch
from services.validation.core.reference import failed_codes, rows_of
from services.validation.core.rules import RuleSet, load_rule_set
from services.validation.core.vectorised import compile_rule_set, evaluate

ROWS = 1_000_000  # one full batch (MAX_ROWS)
REFERENCE_ROWS = 5_000  # the row-by-row path is ~100× slower: fewer rows, same per-row rate
NULL_SHARE = 0.05
ON = date(2025, 6, 1)
SEED = 11


def claims_batch(rule_set: RuleSet, rows: int, seed: int = SEED) -> Batch:
    """Random claims drawn so that every rule fires (most rows fail at least one rule, which is
    the expensive case for the trace and per-row listing), with nulls in five columns."""
    rng = np.random.default_rng(seed)
    loss = rng.integers(19_000, 20_200, rows)

    def days(offset_low: int, offset_high: int) -> np.ndarray:
        return loss + rng.integers(offset_low, offset_high, rows)

    columns: dict[str, np.ndarray] = {
        "loss_date": loss,
        "policy_start": days(-400, 5),
        "policy_end": days(-5, 400),
        "inspection_passed": rng.random(rows) > 0.02,
        "inspection_valid_until": days(-10, 365),
        "last_maintenance_date": days(-18, 1),
        "days_since_previous_same_part_claim": rng.integers(1, 2_000, rows),
        "claimed_amount_fen": rng.integers(0, 5_000_000, rows),
        "remaining_sum_insured_fen": rng.integers(100_000, 15_000_000, rows),
        "quote_date": days(-2, 10),
        "photos_before": rng.integers(0, 6, rows),
        "photos_after": rng.integers(0, 6, rows),
        "contractor_list": rng.choice(
            np.array(["white", "normal", "black"]), rows, p=[0.5, 0.49, 0.01]
        ),
        "iot_alarm": rng.random(rows) > 0.4,
        "property_report": rng.random(rows) > 0.5,
        "claims_on_elevator_12m": rng.integers(0, 9, rows),
    }
    nulls = {
        name: rng.random(rows) < NULL_SHARE
        for name in ("inspection_valid_until", "last_maintenance_date", "photos_before",
                     "days_since_previous_same_part_claim", "quote_date")
    }  # fmt: skip
    return build_batch(rule_set.fields, columns, nulls)


def _rows_round(operation: Callable[[], object], rows: int, seconds: float) -> Round:
    """Rows per second of ``operation`` (which handles ``rows`` rows per call)."""

    async def run() -> float:
        calls = 0
        start = time.perf_counter()
        end = start + seconds
        while True:
            operation()
            calls += 1
            now = time.perf_counter()
            if now >= end:
                return calls * rows / (now - start)

    return run


@benchmark("validation_core_rows")
async def core_rows(ctx: BenchContext) -> BenchResult:
    """The vectorised claims rule set over a 1,000,000-row batch, against the row-by-row
    reference evaluator on a 5,000-row slice of the same data, in alternating rounds."""
    rule_set = load_rule_set("claims")
    compiled = compile_rule_set(rule_set)
    batch = claims_batch(rule_set, ROWS)
    sample = claims_batch(rule_set, REFERENCE_ROWS)
    rows = rows_of(sample)  # conversion to Python rows is not timed: the reference's best case
    vectorised = evaluate(compiled, sample, on=ON).failed_codes_per_row()
    if vectorised != failed_codes(rule_set, rows, on=ON):
        raise AssertionError("vectorised and reference verdicts differ on the benchmark sample")
    full = evaluate(compiled, batch, on=ON)
    seconds = 1.5 * ctx.time_scale
    core, reference = await interleaved(
        _rows_round(lambda: evaluate(compiled, batch, on=ON), ROWS, seconds),
        _rows_round(lambda: failed_codes(rule_set, rows, on=ON), REFERENCE_ROWS, seconds),
        rounds=3,
    )
    return BenchResult(
        Measure("validation_core_rows", "rows/s", core, {"rows_per_batch": ROWS}),
        Measure("validation_row_by_row", "rows/s", reference, {"rows_per_call": REFERENCE_ROWS}),
        extra={
            "rule_set": rule_set.key,
            "rules": len(full.rules),
            "rows_failing_any_rule": int(full.failed.any(axis=0).sum()),
            "rows_rejected": int(full.rejected().sum()),
        },
        note=(
            f"one core, {len(full.rules)} rules, {NULL_SHARE:.0%} nulls in five columns; the "
            "reference is the plain-Python tree walker the equivalence test checks against, "
            "timed on rows already converted to dicts, and agrees with the core on its sample."
        ),
    )
