"""The contractors benchmark's event generator: valid, deterministic, and both paths agree."""

import numpy as np

from load_tests.benchmarks.contractors import PERIOD, as_events, disagreement, head, job_events
from services.contractors.domain.events import to_columns
from services.contractors.domain.scorecards import (
    compute_scorecards,
    compute_scorecards_naive,
    load_scoring_weights,
)


def _small(seed=5):
    return job_events(3_000, contractors=60, regions=4, elevators=400, seed=seed)


def test_generated_events_are_valid_records_and_round_trip_to_the_same_columns():
    columns = _small()
    records = as_events(columns)  # JobEvent refuses an inconsistent record
    again = to_columns(records)
    assert len(again) == len(columns) == 3_000
    assert np.array_equal(again.kind, columns.kind) and np.array_equal(again.day, columns.day)
    assert np.array_equal(np.isnan(again.arrival_minutes), np.isnan(columns.arrival_minutes))
    assert columns.day.max() <= PERIOD.end.toordinal()


def test_the_generator_is_deterministic():
    a, b = _small(), _small()
    assert all(
        np.array_equal(getattr(a, n), getattr(b, n), equal_nan=n == "arrival_minutes")
        for n in ("contractor", "region", "elevator", "kind", "day", "arrival_minutes")
    )


def test_bulk_and_naive_agree_on_generated_events():
    weights = load_scoring_weights()
    sample = head(_small(), 2_000)
    bulk = compute_scorecards(sample, PERIOD, weights)
    assert (
        bulk
        and disagreement(bulk, compute_scorecards_naive(as_events(sample), PERIOD, weights)) is None
    )
