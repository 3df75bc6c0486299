"""Building a batch: every way a partner's upload can be wrong is a BatchError naming the field."""

from datetime import date, datetime

import numpy as np
import pytest

from services.validation.core.batch import MAX_ROWS, BatchError, TooManyRows, build_batch
from services.validation.core.fields import FieldType
from services.validation.core.rules import load_rule_set
from services.validation.core.vectorised import evaluate

SCHEMA = {
    "n": FieldType.INT,
    "x": FieldType.FLOAT,
    "d": FieldType.DATE,
    "s": FieldType.STR,
    "b": FieldType.BOOL,
}
GOOD = {
    "n": [1, None],
    "x": [1.5, 2],
    "d": [date(2024, 1, 1), None],
    "s": ["a", None],
    "b": [True, False],
}


def _with(**changes):
    return {**GOOD, **changes}


@pytest.mark.parametrize(
    ("columns", "field", "reason"),
    [
        (_with(z=[1, 2]), "z", "unknown field"),
        ({k: v for k, v in GOOD.items() if k != "s"}, "s", "missing field"),
        (_with(n=[1, 2, 3]), "n", "3 rows where other columns have"),
        (_with(n=[1, "2"]), "n", "expected int, got str"),
        (_with(n=[1, True]), "n", "expected int, got bool"),
        (_with(n=[1.0, 2]), "n", "expected int, got float"),
        (_with(n=[2**53 + 1, 0]), "n", "beyond ±2**53"),
        (_with(n=np.array([2**62, 0])), "n", "beyond ±2**53"),
        (_with(x=[1.0, "x"]), "x", "expected float"),
        (_with(x=[float("inf"), 1.0]), "x", "infinite"),
        (_with(d=["2024-01-01", None]), "d", "expected date"),
        (_with(d=[datetime(2024, 1, 1), None]), "d", "expected date"),
        (_with(d=[10**7, None]), "d", "outside the years 1 to 9999"),
        (_with(s=[1, "a"]), "s", "expected str"),
        (_with(s=["a\x00", "b"]), "s", "NUL"),
        (_with(s=["a" * 1001, "b"]), "s", "longer than 1000"),
        (_with(b=[1, 0]), "b", "expected bool"),
        (_with(b=np.array([1, 0])), "b", "expected bool, got an array of int64"),
        (_with(n=np.array([[1, 2]])), "n", "1-d column"),
    ],
)
def test_a_bad_batch_is_refused_naming_the_field(columns, field, reason):
    with pytest.raises(BatchError) as caught:
        build_batch(SCHEMA, columns)
    assert caught.value.field == field
    assert reason in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_a_bad_null_mask_is_refused():
    with pytest.raises(BatchError, match="null mask"):
        build_batch(SCHEMA, GOOD, {"n": np.array([True])})
    with pytest.raises(BatchError, match="unknown field"):
        build_batch(SCHEMA, GOOD, {"z": np.array([True, False])})


def test_too_many_rows_is_its_own_error_checked_before_any_value():
    assert MAX_ROWS == 1_000_000
    columns = {name: np.zeros(11, dtype=np.int64) for name in SCHEMA}  # wrong types too
    with pytest.raises(TooManyRows) as caught:
        build_batch(SCHEMA, columns, max_rows=10)
    assert "at most 10" in caught.value.reason


def test_lists_arrays_and_masks_read_alike():
    from_lists = build_batch(SCHEMA, GOOD)
    from_arrays = build_batch(
        SCHEMA,
        {
            "n": np.array([1, 7], dtype=np.int32),
            "x": np.array([1.5, 2.0]),
            "d": np.array(["2024-01-01", "1999-01-01"], dtype="datetime64[D]"),
            "s": np.array(["a", "zzz"]),
            "b": np.array([True, False]),
        },
        {"n": [False, True], "d": np.array([False, True]), "s": np.array([False, True])},
    )
    for name in SCHEMA:
        assert [from_lists.value(name, r) for r in range(2)] == [
            from_arrays.value(name, r) for r in range(2)
        ]
    assert from_lists.value("d", 0) == (date(2024, 1, 1) - date(1970, 1, 1)).days


def test_nan_is_null_and_the_columns_are_read_only():
    batch = build_batch(SCHEMA, _with(x=[float("nan"), 1.0]))
    assert batch.value("x", 0) is None
    with pytest.raises(ValueError, match="read-only"):
        batch.columns["n"].values[0] = 5


def test_an_empty_batch_is_fine():
    rule_set = load_rule_set("claims")
    batch = build_batch(rule_set.fields, {name: [] for name in rule_set.fields})
    result = evaluate(rule_set, batch, on=date(2025, 1, 1))
    assert result.n == 0 and result.failed_codes_per_row() == []


def test_a_batch_of_another_schema_is_refused():
    batch = build_batch(SCHEMA, GOOD)
    with pytest.raises(BatchError, match="not built for the fields of claims@1"):
        evaluate(load_rule_set("claims"), batch, on=date(2025, 1, 1))
