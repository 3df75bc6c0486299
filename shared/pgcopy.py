"""PostgreSQL's binary COPY format, written from whole columns with numpy.

A bulk import copies hundreds of thousands of rows per statement. The usual way (asyncpg's
``copy_records_to_table``) takes a Python tuple per row and encodes value by value; here every
column is encoded in a few array operations and scattered into one buffer, so no Python object
is made per row (text columns are joined and encoded once). The layout is PostgreSQL's
(``COPY … FROM STDIN WITH (FORMAT binary)``): a signature and two int32s, then per row an int16
field count and per field an int32 byte length (-1 for NULL) followed by the value in network
byte order; an int16 -1 ends the data.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # the signature, no flags, no header extension
TRAILER = b"\xff\xff"


class PgType(StrEnum):
    INT8 = "bigint"
    INT4 = "integer"
    DATE = "date"  # given as days since 1970-01-01 (numpy's, and the validation service's)
    FLOAT8 = "double precision"
    BOOL = "boolean"
    TEXT = "text"


_FIXED: dict[PgType, str] = {
    PgType.INT8: ">i8",
    PgType.INT4: ">i4",
    PgType.FLOAT8: ">f8",
    PgType.DATE: ">i4",
}
PG_EPOCH_DAY = 10_957  # PostgreSQL counts days from 2000-01-01


@dataclass(frozen=True)
class CopyColumn:
    """One column: an array for numbers and booleans (with ``nulls``, True = NULL), a sequence
    of ``str | None`` for text (``nulls`` optional: None entries are NULL either way)."""

    type: PgType
    values: Any
    nulls: npt.NDArray[np.bool_] | None = None


def _put(out: npt.NDArray[np.uint8], at: npt.NDArray[np.int64], data: npt.NDArray[Any]) -> None:
    """Writes row ``i`` of ``data`` (viewed as bytes) at ``out[at[i]:]``."""
    if len(at):
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(len(at), -1)
        out[at[:, None] + np.arange(raw.shape[1])] = raw


def _text(values: Sequence[str | None], nulls: npt.NDArray[np.bool_]) -> tuple[Any, Any]:
    """(UTF-8 bytes of the non-null values back to back, their byte lengths)."""
    present = [v for v in values if v is not None] if nulls.any() else values
    if not present:
        return np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64)
    # NUL is the one character PostgreSQL text cannot hold: it separates the values here.
    blob = np.frombuffer("\x00".join(present).encode("utf-8"), dtype=np.uint8)  # type: ignore[arg-type]
    ends = np.flatnonzero(blob == 0)
    if len(ends) != len(present) - 1:
        raise ValueError("a text value holds a NUL character, which PostgreSQL cannot store")
    bounds = np.concatenate(([-1], ends, [len(blob)]))
    return blob, np.diff(bounds) - 1


def encode(columns: Sequence[CopyColumn], n: int) -> memoryview:
    """The ``n`` rows of ``columns`` as one binary COPY payload (a memoryview: asyncpg takes
    any buffer, and would take plain bytes for a file name)."""
    if n == 0:
        return memoryview(SIGNATURE + TRAILER)
    widths = np.empty((len(columns), n), dtype=np.int64)  # the payload bytes of each field
    encoded: list[tuple[Any, Any]] = []
    masks: list[npt.NDArray[np.bool_]] = []
    for j, column in enumerate(columns):
        if column.type is PgType.TEXT:
            nulls = np.fromiter(
                map(operator.is_, column.values, repeat(None)), dtype=np.bool_, count=n
            )
            if column.nulls is not None:
                nulls |= column.nulls
                values = [None if null else v for v, null in zip(column.values, nulls, strict=True)]
            else:
                values = column.values
            blob, lengths = _text(values, nulls)
            widths[j] = 0
            widths[j][~nulls] = lengths
            encoded.append((blob, lengths))
        else:
            nulls = np.zeros(n, dtype=np.bool_) if column.nulls is None else column.nulls
            if column.type is PgType.BOOL:
                data = np.asarray(column.values, dtype=np.bool_).astype(np.uint8)
            elif column.type is PgType.DATE:
                data = (np.asarray(column.values, dtype=np.int64) - PG_EPOCH_DAY).astype(">i4")
            else:
                data = np.asarray(column.values).astype(_FIXED[column.type])
            widths[j] = np.where(nulls, 0, data.itemsize)
            encoded.append((data, None))
        masks.append(nulls)
    row_sizes = 2 + (4 * len(columns)) + widths.sum(axis=0)
    starts = len(SIGNATURE) + np.cumsum(row_sizes) - row_sizes
    total = len(SIGNATURE) + int(row_sizes.sum()) + len(TRAILER)
    out = np.empty(total, dtype=np.uint8)
    out[: len(SIGNATURE)] = np.frombuffer(SIGNATURE, dtype=np.uint8)
    out[total - len(TRAILER) :] = np.frombuffer(TRAILER, dtype=np.uint8)
    _put(out, starts, np.full(n, len(columns), dtype=">i2"))
    # Text first: each value's bytes go to their place with the NUL separator after them
    # landing on the next field's length, which the second loop then writes over.
    at = starts + 2
    for j, ((data, lengths), nulls) in enumerate(zip(encoded, masks, strict=True)):
        if lengths is not None and len(lengths):
            body = (at + 4)[~nulls]
            steps = lengths + 1  # a value and its separator (the last has none)
            shift = np.repeat(body - (np.cumsum(steps) - steps), steps)[: len(data)]
            out[np.arange(len(data)) + shift] = data
        at = at + 4 + widths[j]
    _put(out, starts, np.full(n, len(columns), dtype=">i2"))
    at = starts + 2
    for j, ((data, lengths), nulls) in enumerate(zip(encoded, masks, strict=True)):
        _put(out, at, np.where(nulls, -1, widths[j]).astype(">i4"))
        if lengths is None:
            present = ~nulls
            _put(out, (at + 4)[present], data[present])
        at = at + 4 + widths[j]
    return out.data
