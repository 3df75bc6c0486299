"""Reading bureau CSV files: the fast reader for files without quotes reads exactly what the
csv module reads, row numbers, blank lines, ragged rows and errors included."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.exchange.domain.files import CsvFile
from shared.domain_errors import InvalidInput

# Cells as Excel writes them unquoted: anything but the delimiter, quotes and line breaks,
# including blanks, spaces, tabs in comma files and Chinese text.
CELL = st.text(
    st.sampled_from(
        ["a", "1", " ", "\t", "梯", "湘", "-", "\u3000", "é", "\x1c", "\x85", "\u2028"]
    ),
    max_size=4,
)
ENDINGS = st.sampled_from(["\n", "\r\n", "\r"])


@st.composite
def files(draw: st.DrawFn) -> tuple[bytes, int]:
    width = draw(st.integers(1, 4))
    header = ",".join(f"c{i}" for i in range(width))
    lines = [header]
    for _ in range(draw(st.integers(0, 12))):
        # Mostly full rows; now and then a short or long one, or a blank line.
        cells = draw(st.integers(0, width + 1) if draw(st.booleans()) else st.just(width))
        lines.append(",".join(draw(CELL) for _ in range(cells)))
    ending = draw(ENDINGS)
    text = ending.join(lines) + (ending if draw(st.booleans()) else "")
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "gb18030"]))
    return text.encode(encoding), draw(st.integers(1, 5))


def read(data: bytes, batch_rows: int, *, fast: bool) -> list[tuple[list[int], list[list[str]]]]:
    f = CsvFile(io.BytesIO(data))  # type: ignore[arg-type]
    assert f.unquoted
    f.unquoted = fast
    return [(b.rows.tolist(), [list(c) for c in b.columns]) for b in f.batches(batch_rows)]


def outcome(data: bytes, batch_rows: int, *, fast: bool) -> object:
    try:
        batches = read(data, batch_rows, fast=fast)
    except InvalidInput as error:
        return ("refused", error.message)
    # Batches may be cut differently around blank lines; the rows and cells may not differ.
    rows = [r for rs, _ in batches for r in rs]
    width = len(batches[0][1]) if batches else 0
    cells = [[v for _, cs in batches for v in cs[j]] for j in range(width)]
    return rows, cells


@given(files())
def test_the_fast_reader_reads_what_the_csv_module_reads(case: tuple[bytes, int]) -> None:
    data, batch_rows = case
    assert outcome(data, batch_rows, fast=True) == outcome(data, batch_rows, fast=False)


def test_rows_are_numbered_as_the_spreadsheet_shows_them() -> None:
    data = b"id,n\r\na,1\r\n,\r\n\r\nb, 2 \r\n"
    f = CsvFile(io.BytesIO(data))  # type: ignore[arg-type]
    (batch,) = f.batches(10)
    assert batch.rows.tolist() == [2, 5] and [list(c) for c in batch.columns] == [
        ["a", "b"],
        ["1", " 2 "],
    ]


def test_a_quoted_file_goes_through_the_csv_module() -> None:
    data = 'id,address\na,"荷塘区, 1号\n2栋"\nb,x\n'.encode()
    f = CsvFile(io.BytesIO(data))  # type: ignore[arg-type]
    assert not f.unquoted
    (batch,) = f.batches(10)
    assert batch.rows.tolist() == [2, 3]
    assert list(batch.columns[1]) == ["荷塘区, 1号\n2栋", "x"]


@pytest.mark.parametrize("fast", [True, False])
def test_a_row_wider_than_the_header_refuses_the_file(fast: bool) -> None:
    data = b"id,n\na,1\nb,2,3\n"
    with pytest.raises(InvalidInput, match="row 3 has more cells than the header names"):
        read(data, 10, fast=fast)
