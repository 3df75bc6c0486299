"""Percentiles and bend detection: the two numbers a load report is read for."""

import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from load_tests.stats import bend_index, median, percentile

samples = st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=200)


def test_percentiles_interpolate_between_closest_ranks():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([1.0, 2.0, 3.0, 4.0], 0) == 1.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 100) == 4.0
    ordered = [float(i) for i in range(1, 101)]
    assert percentile(ordered, 95) == pytest.approx(95.05)
    assert percentile(ordered, 99) == pytest.approx(99.01)


def test_a_single_sample_is_every_percentile():
    assert percentile([7.5], 50) == percentile([7.5], 99) == 7.5


@given(samples)
def test_agrees_with_the_standard_library_inclusive_method(values):
    ordered = sorted(values)
    if len(ordered) >= 2:
        cuts = statistics.quantiles(ordered, n=100, method="inclusive")
        assert percentile(ordered, 95) == pytest.approx(cuts[94], rel=1e-9, abs=1e-9)
    assert median(values) == pytest.approx(statistics.median(values), rel=1e-9, abs=1e-9)


@given(samples, st.floats(0, 100), st.floats(0, 100))
def test_percentiles_stay_within_the_data_and_grow_with_q(values, q1, q2):
    ordered = sorted(values)
    low, high = sorted((q1, q2))
    assert ordered[0] <= percentile(ordered, low) <= percentile(ordered, high) <= ordered[-1]


@pytest.mark.parametrize("q", [-1, 100.5])
def test_a_percentile_outside_0_to_100_is_refused(q):
    with pytest.raises(ValueError):
        percentile([1.0], q)


def test_no_values_have_no_percentile():
    with pytest.raises(ValueError):
        percentile([], 50)


def test_the_bend_is_the_first_step_past_the_factor():
    assert bend_index([10.0, 15.0, 25.0, 80.0]) == 2
    assert bend_index([10.0, 15.0, 25.0], factor=3) is None


def test_exactly_the_factor_is_not_yet_a_bend():
    assert bend_index([10.0, 20.0]) is None


def test_steps_without_a_p95_are_skipped():
    assert bend_index([10.0, None, 30.0]) == 2
    assert bend_index([None, 50.0, 90.0]) is None  # nothing to compare with
    assert bend_index([]) is None


def test_a_bend_factor_of_one_or_less_is_meaningless():
    with pytest.raises(ValueError):
        bend_index([1.0, 2.0], factor=1.0)
