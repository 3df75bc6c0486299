"""Small, dependency-free statistics for the benchmarks and the load driver.

Written out rather than taken from ``statistics.quantiles`` because the load report needs a
percentile of a single sample and of already-sorted data many times over, and because the
exact definition (linear interpolation between closest ranks, as numpy's default) should be
visible where the numbers are produced.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(ordered: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) of ``ordered`` (sorted ascending), interpolated linearly.

    Linear interpolation between the two closest ranks gives p50 of [1, 2, 3, 4] = 2.5, the
    median everyone expects, and does not jump by a whole sample when one more call arrives.
    """
    if not ordered:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile must be within 0..100, got {q}")
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    fraction = position - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


def median(values: Sequence[float]) -> float:
    """The median, robust against the one round a noisy neighbour spoiled."""
    return percentile(sorted(values), 50)


def bend_index(p95s: Sequence[float | None], factor: float = 2.0) -> int | None:
    """Index of the first step whose p95 exceeds ``factor`` × the first step's p95, or None.

    The first step (one user) is the unloaded latency; where the tail first grows past a
    multiple of it is where queueing starts to dominate, the "knee" of the latency curve.
    Steps without a p95 (no successful calls) are skipped; so is everything when the first
    step has none, since there is nothing to compare with.
    """
    if factor <= 1:
        raise ValueError(f"bend factor must be greater than 1, got {factor}")
    if not p95s or p95s[0] is None or p95s[0] <= 0:
        return None
    limit = p95s[0] * factor
    for index, value in enumerate(p95s[1:], start=1):
        if value is not None and value > limit:
            return index
    return None
