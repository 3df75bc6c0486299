"""The column-wise binary COPY encoder writes exactly what a row-by-row encoder writes."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.pgcopy import SIGNATURE, TRAILER, CopyColumn, PgType, encode

_PACK = {
    PgType.INT8: ">q",
    PgType.INT4: ">i",
    PgType.FLOAT8: ">d",
    PgType.BOOL: ">?",
    PgType.DATE: ">i",
}


def by_row(types: list[PgType], rows: list[tuple[object, ...]]) -> bytes:
    """The format as the PostgreSQL manual spells it, one value at a time."""
    out = bytearray(SIGNATURE)
    for row in rows:
        out += struct.pack(">h", len(types))
        for kind, value in zip(types, row, strict=True):
            if value is None:
                out += struct.pack(">i", -1)
                continue
            if kind is PgType.DATE:
                value = value - 10_957  # type: ignore[operator]  # PostgreSQL's epoch: 2000-01-01
            data = str(value).encode() if kind is PgType.TEXT else struct.pack(_PACK[kind], value)
            out += struct.pack(">i", len(data)) + data
    return bytes(out + TRAILER)


_VALUES = {
    PgType.INT8: st.integers(-(2**63), 2**63 - 1),
    PgType.INT4: st.integers(-(2**31), 2**31 - 1),
    PgType.FLOAT8: st.floats(allow_nan=False),
    PgType.BOOL: st.booleans(),
    PgType.DATE: st.integers(-719_162, 2_932_896),  # days since 1970-01-01, years 1 to 9999
    # Any text PostgreSQL can hold: no NUL, and surrogates cannot be UTF-8.
    PgType.TEXT: st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[PgType], list[tuple[object, ...]]]:
    types = draw(st.lists(st.sampled_from(list(PgType)), min_size=1, max_size=6))
    n = draw(st.integers(0, 12))
    rows = [
        tuple(draw(st.none() | _VALUES[kind]) for kind in types)  # type: ignore[operator]
        for _ in range(n)
    ]
    return types, rows


def columns(types: list[PgType], rows: list[tuple[object, ...]]) -> list[CopyColumn]:
    out = []
    for j, kind in enumerate(types):
        values = [row[j] for row in rows]
        if kind is PgType.TEXT:
            out.append(CopyColumn(kind, values))
            continue
        nulls = np.array([v is None for v in values], dtype=np.bool_)
        dtype = {PgType.FLOAT8: np.float64, PgType.BOOL: np.bool_}.get(kind, np.int64)
        filled = np.array([0 if v is None else v for v in values], dtype=dtype)
        out.append(CopyColumn(kind, filled, nulls))
    return out


@given(tables())
def test_columns_encode_as_rows_do(table: tuple[list[PgType], list[tuple[object, ...]]]) -> None:
    types, rows = table
    assert bytes(encode(columns(types, rows), len(rows))) == by_row(types, rows)


def test_a_text_mask_nulls_what_it_marks() -> None:
    masked = CopyColumn(PgType.TEXT, ["a", "b", None], np.array([False, True, False]))
    assert bytes(encode([masked], 3)) == by_row([PgType.TEXT], [("a",), (None,), (None,)])


def test_a_nul_in_text_is_refused_not_written() -> None:
    with pytest.raises(ValueError, match="NUL"):
        encode([CopyColumn(PgType.TEXT, ["a\x00b", "c"])], 2)
