"""Columnar batches: what the evaluators run on, built and checked in one place.

A :class:`Batch` is ``n`` rows as one numpy array per field plus a null mask per field. Its
storage is fixed by field type, so the evaluators never guess: ``int`` and ``date`` →
``int64`` (dates in days since 1970-01-01), ``float`` → ``float64``, ``bool`` → ``bool``,
``str`` → numpy unicode (``<U…``). Under a null the stored value is a placeholder (0, 0.0,
False, "") that no evaluator reads.

Everything a partner can get wrong is a :class:`BatchError` naming the field and the reason,
raised before any rule runs (the service maps it to INVALID_ARGUMENT, or RESOURCE_EXHAUSTED
for :data:`MAX_ROWS`): a missing or unknown field, columns of different lengths, a value of
the wrong type, an int beyond ±2**53 (numbers are doubles when rules compute, see
``fields.py``), an infinite float, a string with a NUL character (numpy strings cannot hold
a trailing one). A NaN in a float column is read as null.
"""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from itertools import repeat
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt

from services.validation.core.fields import (
    MAX_DAY,
    MAX_EXACT_INT,
    MIN_DAY,
    FieldType,
    Schema,
    to_days,
)

MAX_ROWS = 1_000_000  # per batch: a bigger upload is split by the client
MAX_STR_CHARS = 1_000  # per value: codes and names, never documents


class BatchError(ValueError):
    """A batch that cannot be validated; ``field`` is "" when it is about the whole batch."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason


class TooManyRows(BatchError):
    """More rows than :data:`MAX_ROWS` in one batch (RESOURCE_EXHAUSTED, not a bad value)."""


@dataclass(frozen=True)
class Column:
    values: npt.NDArray[Any]
    nulls: npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Batch:
    schema: Schema
    columns: Mapping[str, Column]
    n: int

    def value(self, field: str, row: int) -> object:
        """One value as stored: ``None``, ``int`` (dates: days), ``float``, ``bool``, ``str``."""
        column = self.columns[field]
        if column.nulls[row]:
            return None
        item: object = column.values[row].item()
        return item


ColumnInput = npt.NDArray[Any] | Sequence[object]


def build_batch(
    schema: Schema,
    columns: Mapping[str, ColumnInput],
    nulls: Mapping[str, npt.NDArray[np.bool_] | Sequence[bool]] | None = None,
    *,
    max_rows: int = MAX_ROWS,
) -> Batch:
    """A checked batch from one array or list per field of ``schema``.

    A list may hold ``None`` for a null (and dates as :class:`datetime.date`); an array may
    come with a mask in ``nulls`` (``True`` = null). Date arrays are ``datetime64[D]`` or
    integer days since 1970-01-01.
    """
    unknown = sorted(set(columns) - set(schema))
    if unknown:
        raise BatchError(unknown[0], "unknown field")
    missing = [name for name in schema if name not in columns]
    if missing:
        raise BatchError(missing[0], "missing field")
    extra_masks = sorted(set(nulls or {}) - set(schema))
    if extra_masks:
        raise BatchError(extra_masks[0], "null mask for an unknown field")
    for name, values in columns.items():
        if isinstance(values, np.ndarray) and values.ndim != 1:
            raise BatchError(name, f"expected a 1-d column, got shape {values.shape}")
    lengths = {name: len(values) for name, values in columns.items()}
    for name, length in lengths.items():
        if length > max_rows:
            raise TooManyRows(name, f"{length} rows; at most {max_rows} per batch")
    # the length most columns have (the first such on a tie) is the batch's; name an odd one
    counts = Counter(lengths.values())
    n = max(lengths.values(), key=lambda length: counts[length]) if lengths else 0
    for name, length in lengths.items():
        if length != n:
            raise BatchError(name, f"{length} rows where other columns have {n}")
    built = {}
    for name, field_type in schema.items():
        mask_in = (nulls or {}).get(name)
        built[name] = _column(name, field_type, columns[name], mask_in, n)
    return Batch(schema=schema, columns=MappingProxyType(built), n=n)


def _mask(name: str, mask: npt.NDArray[np.bool_] | Sequence[bool] | None, n: int) -> Any:
    if mask is None:
        return np.zeros(n, dtype=bool)
    array = np.asarray(mask)
    if array.dtype != np.bool_ or array.shape != (n,):
        raise BatchError(name, f"null mask must be {n} bools")
    return array.copy()


def _column(
    name: str,
    field_type: FieldType,
    raw: ColumnInput,
    mask_in: npt.NDArray[np.bool_] | Sequence[bool] | None,
    n: int,
) -> Column:
    if isinstance(raw, np.ndarray):
        values, nulls = _from_array(name, field_type, raw), _mask(name, mask_in, n)
    else:
        values, nulls = _from_list(name, field_type, raw)
        if mask_in is not None:
            nulls |= _mask(name, mask_in, n)
    if field_type is FieldType.FLOAT:
        if np.isinf(values).any():
            raise BatchError(name, "infinite value")
        nulls |= np.isnan(values)
    elif field_type is FieldType.INT and values.size:
        if values.min() < -MAX_EXACT_INT or values.max() > MAX_EXACT_INT:
            raise BatchError(name, "integer beyond ±2**53")
    elif field_type is FieldType.DATE and values.size:
        if values.min() < MIN_DAY or values.max() > MAX_DAY:
            raise BatchError(name, "a date outside the years 1 to 9999")
    elif field_type is FieldType.STR and values.dtype.itemsize // 4 > MAX_STR_CHARS:
        raise BatchError(name, f"a value longer than {MAX_STR_CHARS} characters")
    values[nulls] = _PLACEHOLDER[field_type]
    values.flags.writeable = False
    nulls.flags.writeable = False
    return Column(values, nulls)


_PLACEHOLDER: dict[FieldType, object] = {
    FieldType.INT: 0,
    FieldType.DATE: 0,
    FieldType.FLOAT: 0.0,
    FieldType.BOOL: False,
    FieldType.STR: "",
}


def _from_array(name: str, field_type: FieldType, raw: npt.NDArray[Any]) -> Any:
    kind = raw.dtype.kind
    if field_type is FieldType.BOOL and kind == "b":
        return raw.copy()
    if field_type is FieldType.INT and kind in "iu":
        return _int64(name, raw)
    if field_type is FieldType.DATE:
        if kind == "M":
            return raw.astype("datetime64[D]").astype(np.int64)
        if kind in "iu":
            return _int64(name, raw)
    if field_type is FieldType.FLOAT and kind in "fiu":
        return raw.astype(np.float64)
    if field_type is FieldType.STR:
        if kind == "U":
            return raw.copy()
        if kind == "O":
            values, _ = _from_list(name, field_type, list(raw))
            return values
    raise BatchError(name, f"expected {field_type}, got an array of {raw.dtype}")


def _int64(name: str, raw: npt.NDArray[Any]) -> Any:
    if raw.dtype == np.uint64 and raw.size and int(raw.max()) > MAX_EXACT_INT:
        raise BatchError(name, "integer beyond ±2**53")
    return raw.astype(np.int64)


def _from_list(name: str, field_type: FieldType, raw: Sequence[object]) -> tuple[Any, Any]:
    n = len(raw)
    # Loops in C (map) where a column is clean, value by value only to name a bad value.
    nulls = np.fromiter(map(operator.is_, raw, repeat(None)), dtype=bool, count=n)
    present = [v for v in raw if v is not None] if nulls.any() else raw
    if not set(map(type, present)) <= _EXACT[field_type]:
        for value in present:
            if not _fits(field_type, value):
                raise BatchError(
                    name, f"expected {field_type}, got {type(value).__name__} {value!r:.40}"
                )
    if field_type is FieldType.STR and "\x00" in "".join(present):  # type: ignore[arg-type]
        raise BatchError(name, "a value with a NUL character")
    fill = _PLACEHOLDER[field_type]
    if field_type is FieldType.DATE:
        days = [fill if v is None else (to_days(v) if isinstance(v, date) else v) for v in raw]
        if any(isinstance(d, int) and not MIN_DAY <= d <= MAX_DAY for d in days):
            raise BatchError(name, "a date outside the years 1 to 9999")
        return np.array(days, dtype=np.int64), nulls
    filled = [fill if v is None else v for v in raw] if nulls.any() else raw
    if field_type is FieldType.INT:
        if any(abs(v) > MAX_EXACT_INT for v in filled if isinstance(v, int)):
            raise BatchError(name, "integer beyond ±2**53")
        return np.array(filled, dtype=np.int64), nulls
    if field_type is FieldType.FLOAT:
        return np.array(filled, dtype=np.float64), nulls
    if field_type is FieldType.BOOL:
        return np.array(filled, dtype=bool), nulls
    return np.array(filled, dtype=np.str_) if filled else np.array([], dtype="<U1"), nulls


# The types that fit each field type without a closer look (``_fits`` decides the rest).
_EXACT: dict[FieldType, set[type]] = {
    FieldType.INT: {int},
    FieldType.FLOAT: {int, float},
    FieldType.BOOL: {bool},
    FieldType.DATE: {date, int},
    FieldType.STR: {str},
}


def _fits(field_type: FieldType, value: object) -> bool:
    if field_type is FieldType.INT:
        return isinstance(value, int) and not isinstance(value, bool)
    if field_type is FieldType.FLOAT:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if field_type is FieldType.BOOL:
        return isinstance(value, bool)
    if field_type is FieldType.DATE:
        if isinstance(value, date):
            return not isinstance(value, datetime)  # a timestamp is not a day
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, str)
