"""Files as bureaus export them: CSV from Excel, in UTF-8 (with or without a BOM) or GB18030,
comma or tab separated, read in batches of rows transposed to columns.

The encoding is decided from the first 64 KiB (a BOM, else strict UTF-8, else GB18030: a
superset of GBK and GB2312, which Excel uses on Chinese Windows). Rows are numbered as the
spreadsheet shows them: the header is row 1, so the first record is row 2.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from shared.domain_errors import InvalidInput

SNIFF_BYTES = 64 * 1024
MAX_FIELD_CHARS = 10_000


@dataclass(frozen=True)
class RowBatch:
    """Spreadsheet row numbers and the columns (by position) of up to ``batch_rows`` rows."""

    rows: list[int]
    columns: list[list[str | None]]


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


class CsvFile:
    """``CsvFile(binary)``: ``.header`` then ``.batches(n)``; InvalidInput for an unreadable
    file (wrong encoding, ragged quoting) naming the row."""

    def __init__(self, raw: BinaryIO) -> None:
        head = raw.read(SNIFF_BYTES)
        raw.seek(0)
        self.encoding = detect_encoding(head)
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

    def batches(self, batch_rows: int) -> Iterator[RowBatch]:
        width = len(self.header)
        while True:
            rows: list[int] = []
            records: list[list[str]] = []
            try:
                for record in self._reader:
                    self._row += 1
                    if not any(cell.strip() for cell in record):
                        continue  # Excel leaves blank lines at the end: not a record
                    if len(record) != width:
                        record = (record + [""] * width)[:width] if len(record) < width else record
                    rows.append(self._row)
                    records.append(record)
                    if len(rows) >= batch_rows:
                        break
            except (csv.Error, UnicodeDecodeError) as error:
                raise InvalidInput(
                    f"row {self._row + 1} cannot be read ({self.encoding}): {error}", field="file"
                ) from None
            if not rows:
                return
            over = [r for r, rec in zip(rows, records, strict=True) if len(rec) > width]
            if over:
                raise InvalidInput(
                    f"row {over[0]} has more cells than the header names ({width})", field="file"
                )
            columns: list[list[str | None]] = [list(c) for c in zip(*records, strict=True)]
            yield RowBatch(rows, columns)
