"""Files as bureaus export them: CSV from Excel, in UTF-8 (with or without a BOM) or GB18030,
comma or tab separated, read in batches of rows transposed to columns.

The encoding is decided from the first 64 KiB (a BOM, else strict UTF-8, else GB18030: a
superset of GBK and GB2312, which Excel uses on Chinese Windows). Rows are numbered as the
spreadsheet shows them: the header is row 1, so the first record is row 2.

Two readers, one meaning. A file without a single quote character (what Excel writes unless a
cell holds a delimiter, a quote or a line break) cannot have a quoted cell, so its rows are its
lines: a batch of lines is cut into cells with one ``str.split`` and transposed by slicing,
with no list per row (a million rows are otherwise fifteen million objects and most of an
import's time). Anything else, and any batch with a ragged row or a NUL, goes through the
``csv`` module row by row, which is what the fast reader must always agree with.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import repeat
from typing import BinaryIO

import numpy as np
import numpy.typing as npt

from shared.domain_errors import InvalidInput

SNIFF_BYTES = 64 * 1024
SCAN_BYTES = 1024 * 1024
MAX_FIELD_CHARS = 10_000
QUOTE = '"'
IntArray = npt.NDArray[np.int64]


@dataclass(frozen=True)
class RowBatch:
    """Spreadsheet row numbers and the columns (by position) of up to ``batch_rows`` rows."""

    rows: IntArray
    columns: list[Sequence[str]]


def detect_encoding(head: bytes) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")("strict").decode(head, final=False)
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"


def _delimiter(first_line: str) -> str:
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def _has_quote(raw: BinaryIO) -> bool:
    """Whether any byte of the file is a double quote. In UTF-8 and GB18030 that byte is never
    part of another character; in UTF-16 it may be, which only sends the file the slow way."""
    found = False
    while block := raw.read(SCAN_BYTES):
        if b'"' in block:
            found = True
            break
    raw.seek(0)
    return found


class CsvFile:
    """``CsvFile(binary)``: ``.header`` then ``.batches(n)``; InvalidInput for an unreadable
    file (wrong encoding, ragged quoting) naming the row."""

    def __init__(self, raw: BinaryIO) -> None:
        head = raw.read(SNIFF_BYTES)
        raw.seek(0)
        self.encoding = detect_encoding(head)
        self.unquoted = not _has_quote(raw)
        self._text = io.TextIOWrapper(raw, encoding=self.encoding, newline="", errors="strict")
        first = self._text.readline()
        if not first.strip():
            raise InvalidInput(
                "the file is empty: the first line must name the columns", field="file"
            )
        self.delimiter = _delimiter(first)
        csv.field_size_limit(MAX_FIELD_CHARS)
        self.header = next(csv.reader([first], delimiter=self.delimiter))
        self._reader = csv.reader(self._text, delimiter=self.delimiter, strict=True)
        self._row = 1

    def _unreadable(self, row: int, error: Exception) -> InvalidInput:
        return InvalidInput(f"row {row} cannot be read ({self.encoding}): {error}", field="file")

    def batches(self, batch_rows: int) -> Iterator[RowBatch]:
        while True:
            batch = self._lines(batch_rows) if self.unquoted else self._records(batch_rows)
            if batch is None:
                return
            if batch.rows.size:
                yield batch

    def _records(self, batch_rows: int) -> RowBatch | None:
        """The csv module's way: quoted cells may hold delimiters, quotes and line breaks."""
        records: list[list[str]] = []
        try:
            for record in self._reader:
                records.append(record)
                if len(records) >= batch_rows:
                    break
        except (csv.Error, UnicodeDecodeError) as error:
            raise self._unreadable(self._row + len(records) + 1, error) from None
        first, self._row = self._row + 1, self._row + len(records)
        return None if not records else self._by_record(first, records)

    def _by_record(self, first: int, records: list[list[str]]) -> RowBatch:
        width = len(self.header)
        rows: list[int] = []
        kept: list[list[str]] = []
        for at, record in enumerate(records):
            if not any(cell.strip() for cell in record):
                continue  # Excel leaves blank lines at the end: not a record
            if len(record) > width:
                raise InvalidInput(
                    f"row {first + at} has more cells than the header names ({width})",
                    field="file",
                )
            if len(record) < width:
                record = record + [""] * (width - len(record))
            rows.append(first + at)
            kept.append(record)
        columns: list[Sequence[str]] = [list(c) for c in zip(*kept, strict=True)]
        if not kept:
            columns = [[] for _ in range(width)]
        return RowBatch(np.asarray(rows, dtype=np.int64), columns)

    def _lines(self, batch_rows: int) -> RowBatch | None:
        """No quote in the file: one row per line, cut into cells all at once."""
        lines: list[str] = []
        try:
            for line in self._text:
                lines.append(line)
                if len(lines) >= batch_rows:
                    break
        except UnicodeDecodeError as error:
            raise self._unreadable(self._row + len(lines) + 1, error) from None
        if not lines:
            return None
        first, self._row = self._row + 1, self._row + len(lines)
        width, delimiter = len(self.header), self.delimiter
        text = "".join(lines)
        ragged = set(map(str.count, lines, repeat(delimiter))) != {width - 1}
        if ragged or "\x00" in text or max(map(len, lines)) > MAX_FIELD_CHARS:
            # Rare: ragged rows, NULs, long cells. The csv module reads these lines exactly as
            # it would have read them from the file (without quotes, a record is a line).
            try:
                records = list(csv.reader(lines, delimiter=delimiter, strict=True))
            except csv.Error as error:
                raise self._unreadable(first, error) from None
            return self._by_record(first, records)
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        cells = text.removesuffix("\n").replace("\n", delimiter).split(delimiter)
        columns: list[Sequence[str]] = [cells[j::width] for j in range(width)]
        rows = np.arange(first, first + len(lines), dtype=np.int64)
        blank = [i for i, cell in enumerate(columns[0]) if not cell or cell.isspace()]
        # A row whose first cell is blank may be a blank line (all cells blank): not a record.
        blank = [i for i in blank if not lines[i].replace(delimiter, "").strip()]
        if blank:
            keep = np.ones(len(lines), dtype=np.bool_)
            keep[blank] = False
            picked = np.flatnonzero(keep).tolist()
            columns = [[c[i] for i in picked] for c in columns]
            rows = rows[keep]
        return RowBatch(rows, columns)
