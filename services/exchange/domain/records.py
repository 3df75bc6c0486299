"""What partners send us, kind by kind, and how a batch of text rows becomes typed columns.

A batch is columnar from the start (a file's rows transposed once), because a registry import
is a million rows: each column is converted by numpy in one call, and only a column that fails
as a whole is walked value by value to name its bad rows. Every problem becomes a
:class:`Rejection` (row, field, stable code, reason); nothing here raises for a bad row.

Every record carries the partner's ``record_id`` and ``version`` (its idempotency key: a higher
version replaces a lower one, the same version again changes nothing) and a ``region_code``
(GB/T 2260) that decides who may send it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
import numpy.typing as npt

from shared.domain_errors import InvalidInput

MAX_TEXT = 500
MAX_RECORD_ID = 100
_REGION = re.compile(r"[1-8][0-9]{5}")
_EPOCH_DAY = np.datetime64("1970-01-01", "D")
_DATE_PARTS = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_TRUE = frozenset({"true", "1", "yes", "y", "是", "有", "√"})
_FALSE = frozenset({"false", "0", "no", "n", "否", "无", "×"})
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


class FieldType(StrEnum):
    STR = "str"
    INT = "int"
    FLOAT = "float"
    DATE = "date"  # carried as days since 1970-01-01, as the validation service's columns
    BOOL = "bool"


class DateStyle(StrEnum):
    ISO = "iso"  # 2024-03-01
    SLASH = "slash"  # 2024/3/1 (Excel in a Chinese locale)
    COMPACT = "compact"  # 20240301
    CHINESE = "chinese"  # 2024年3月1日


class Code(StrEnum):
    """Stable reasons a row is refused before the rules see it."""

    FIELD_INVALID = "FIELD_INVALID"
    FIELD_REQUIRED = "FIELD_REQUIRED"
    REGION_FORBIDDEN = "REGION_FORBIDDEN"
    DUPLICATE_IN_FILE = "DUPLICATE_IN_FILE"
    VERSION_CONFLICT = "VERSION_CONFLICT"


@dataclass(frozen=True)
class Field:
    name: str
    type: FieldType
    required: bool = False
    # Owner names, phone and ID numbers: never echoed in a rejection, masked in logs.
    personal: bool = False


@dataclass(frozen=True)
class RecordKind:
    name: str
    fields: tuple[Field, ...]
    # The validation service's rule set for this kind (its fields are a subset of ours).
    rule_set: str
    # Who normally sends it (documentation and the demo partners' feeds).
    senders: tuple[str, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)


S, N, F, D, B = FieldType.STR, FieldType.INT, FieldType.FLOAT, FieldType.DATE, FieldType.BOOL

KINDS: Mapping[str, RecordKind] = {
    k.name: k
    for k in (
        RecordKind(
            "registry",
            (
                Field("equipment_code", S, required=True),
                Field("registration_no", S, required=True),
                Field("address", S),
                Field("manufacture_date", D),
                Field("install_date", D),
                Field("registration_date", D),
                Field("last_inspection_date", D),
                Field("next_inspection_due", D),
                Field("landings", N),
                Field("rope_count", N),
                Field("rated_speed_mps", F),
            ),
            rule_set="registry",
            senders=("market_supervision",),
        ),
        RecordKind(
            "inspection",
            (
                Field("equipment_code", S, required=True),
                Field("inspected_on", D, required=True),
                Field("result", S, required=True),
                Field("next_due", D),
                Field("report_no", S),
            ),
            rule_set="inspection",
            senders=("market_supervision",),
        ),
        RecordKind(
            "fund_account",
            (
                Field("community_code", S, required=True),
                Field("account_no", S, required=True),
                Field("account_type", S, required=True),
                Field("flat_no", S),
                Field("balance_fen", N, required=True),
                Field("appreciation_income_fen", N),
                Field("as_of", D, required=True),
            ),
            rule_set="fund_account",
            senders=("housing_bureau",),
        ),
        RecordKind(
            "roster",
            (
                Field("community_code", S, required=True),
                Field("flat_no", S, required=True),
                Field("floor_area_m2", F, required=True),
                Field("owner_name", S, personal=True),
                Field("owner_phone", S, personal=True),
                Field("owner_id_no", S, personal=True),
            ),
            rule_set="roster",
            senders=("property_manager",),
        ),
        RecordKind(
            "maintenance",
            (
                Field("equipment_code", S, required=True),
                Field("record_date", D, required=True),
                Field("previous_record_date", D),
                Field("maintenance_type", S, required=True),
                Field("worker_cert_no", S, personal=True),
                Field("worker_licensed", B),
                Field("signed", B),
                Field("duration_minutes", N),
            ),
            rule_set="maintenance",
            senders=("property_manager",),
        ),
    )
}
# The key every kind has besides its own fields.
KEY_FIELDS = ("record_id", "version", "region_code")


def record_kind(name: str) -> RecordKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidInput(f"must be one of {', '.join(KINDS)}, got {name!r}", field="kind")
    return kind


@dataclass(frozen=True)
class Rejection:
    row: int
    record_id: str
    field: str
    code: str
    reason: str


@dataclass
class Column:
    """Typed values (numpy for numbers and dates, a list for text) and the null mask."""

    type: FieldType
    values: Any
    nulls: BoolArray


@dataclass
class ParsedBatch:
    """One batch of a kind's rows as typed columns; ``bad`` marks rows already rejected."""

    kind: RecordKind
    rows: IntArray
    record_ids: list[str]
    versions: IntArray
    regions: list[str]
    columns: dict[str, Column]
    bad: BoolArray
    rejections: list[Rejection] = field(default_factory=list)
    # Exact repeats inside the batch (same id, version and values): dropped, counted unchanged.
    repeats: int = 0

    def __len__(self) -> int:
        return len(self.record_ids)

    def reject(self, index: int, field_name: str, code: str, reason: str) -> None:
        self.bad[index] = True
        self.rejections.append(
            Rejection(int(self.rows[index]), self.record_ids[index], field_name, code, reason)
        )

    def good(self) -> IntArray:
        found: IntArray = np.flatnonzero(~self.bad)
        return found


def _null_mask(texts: Sequence[str]) -> BoolArray:
    if "" not in texts:  # most columns: one C comparison per value, no array per value
        return np.zeros(len(texts), dtype=np.bool_)
    return np.fromiter(map(operator.not_, texts), dtype=np.bool_, count=len(texts))


def _filled(texts: Sequence[str], nulls: BoolArray, fill: str) -> Sequence[str]:
    """``texts`` with ``fill`` under the nulls (a copy only when there are any)."""
    if not nulls.any():
        return texts
    filled = list(texts)
    for at in np.flatnonzero(nulls).tolist():
        filled[at] = fill
    return filled


def _each(convert: Callable[[str], Any], texts: Sequence[str], nulls: BoolArray, dtype: Any) -> Any:
    """One C-level pass (``map``); raises as ``convert`` does for any value that fails."""
    return np.fromiter(map(convert, _filled(texts, nulls, "0")), dtype=dtype, count=len(texts))


def _walk(
    texts: Sequence[str], nulls: BoolArray, convert: Any, fill: Any
) -> tuple[list[Any], list[int]]:
    """The slow path: convert value by value; (values, indexes that failed)."""
    out: list[Any] = []
    failed: list[int] = []
    for i, text in enumerate(texts):
        if nulls[i]:
            out.append(fill)
            continue
        try:
            out.append(convert(text))
        except (ValueError, OverflowError):
            out.append(fill)
            failed.append(i)
    return out, failed


def _ints(texts: Sequence[str], nulls: BoolArray) -> tuple[IntArray, list[int]]:
    # int() reads what numpy's string cast reads (" 12", "+5", "1_000", full-width digits).
    try:
        return _each(int, texts, nulls, np.int64), []
    except (ValueError, OverflowError, TypeError):
        values, failed = _walk(texts, nulls, _strict_int, 0)
        return np.array(values, dtype=np.int64), failed


def _strict_int(text: str) -> int:
    value = int(text.strip())
    if not -(2**63) <= value < 2**63:
        raise OverflowError(text)
    return value


def _floats(texts: Sequence[str], nulls: BoolArray) -> tuple[npt.NDArray[np.float64], list[int]]:
    try:
        values = _each(float, texts, nulls, np.float64)
        failed: list[int] = []
    except (ValueError, TypeError):
        walked, failed = _walk(texts, nulls, float, 0.0)
        values = np.array(walked, dtype=np.float64)
    not_finite = np.flatnonzero(~np.isfinite(values))  # "nan" and "inf" parse, and are wrong
    return values, sorted(set(failed) | {int(i) for i in not_finite})


def _date_days(text: str, style: DateStyle) -> int:
    stripped = text.strip()
    match = (_COMPACT if style is DateStyle.COMPACT else _DATE_PARTS).fullmatch(stripped)
    if style is DateStyle.ISO and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", stripped):
        match = None
    if match is None:
        raise ValueError(text)
    y, m, d = (int(g) for g in match.groups())
    day = np.datetime64(f"{y:04d}-{m:02d}-{d:02d}", "D")  # raises for 2024-02-30
    if str(day) != f"{y:04d}-{m:02d}-{d:02d}":
        raise ValueError(text)
    return int((day - _EPOCH_DAY).astype(np.int64))


def _ten_ascii(texts: Sequence[str]) -> npt.NDArray[np.bytes_] | None:
    """The texts as one array of 10-byte strings, when every one is 10 ASCII characters (one
    join and one encode, viewed in place); else None (the slow path)."""
    if set(map(len, texts)) != {10}:
        return None
    try:
        return np.frombuffer("".join(texts).encode("ascii"), dtype="S10")
    except UnicodeEncodeError:
        return None


def _dates(texts: Sequence[str], nulls: BoolArray, style: DateStyle) -> tuple[IntArray, list[int]]:
    if style is DateStyle.ISO and texts:
        # numpy also reads "2024-03" and "today": only full YYYY-MM-DD may take the fast path.
        filled = _ten_ascii(_filled(texts, nulls, "1970-01-01"))
        if filled is not None:
            try:
                days = (filled.astype("datetime64[D]") - _EPOCH_DAY).astype(np.int64)
                if bool((np.strings.count(filled, b"-") == 2).all()):
                    return days, []
            except ValueError:
                pass
    values, failed = _walk(texts, nulls, lambda t: _date_days(t, style), 0)
    return np.array(values, dtype=np.int64), failed


def _bool(text: str) -> bool:
    folded = text.strip().casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise ValueError(text)


_EXPECTED = {
    FieldType.INT: "an integer",
    FieldType.FLOAT: "a number",
    FieldType.BOOL: "true/false (是/否, 1/0)",
    # NUL: no PostgreSQL text can hold it.
    FieldType.STR: f"text of at most {MAX_TEXT} characters, without NUL",
}


def _convert(
    f: Field, texts: Sequence[str], nulls: BoolArray, style: DateStyle
) -> tuple[Column, list[int]]:
    if f.type is FieldType.INT:
        ints, failed = _ints(texts, nulls)
        return Column(f.type, ints, nulls), failed
    if f.type is FieldType.FLOAT:
        floats, failed = _floats(texts, nulls)
        return Column(f.type, floats, nulls), failed
    if f.type is FieldType.DATE:
        days, failed = _dates(texts, nulls, style)
        return Column(f.type, days, nulls), failed
    if f.type is FieldType.BOOL:
        flags, failed = _walk(texts, nulls, _bool, False)
        return Column(f.type, np.array(flags, dtype=np.bool_), nulls), failed
    values: list[str | None] = list(map(str.strip, texts))
    for at in np.flatnonzero(nulls).tolist():
        values[at] = None
    unfit: list[int] = []
    if values and (max(map(len, texts)) > MAX_TEXT or "\x00" in "".join(texts)):
        unfit = [
            i for i, t in enumerate(values) if t is not None and (len(t) > MAX_TEXT or "\x00" in t)
        ]
    return Column(f.type, values, nulls), unfit


def _describe(f: Field, style: DateStyle) -> str:
    if f.type is FieldType.DATE:
        shape = {
            DateStyle.ISO: "YYYY-MM-DD",
            DateStyle.SLASH: "YYYY/M/D",
            DateStyle.COMPACT: "YYYYMMDD",
            DateStyle.CHINESE: "YYYY年M月D日",
        }[style]
        return f"must be a date {shape}"
    return f"must be {_EXPECTED[f.type]}"


def parse_batch(
    kind: RecordKind,
    rows: Sequence[int] | IntArray,
    columns: Mapping[str, Sequence[str]],
    *,
    allowed_regions: frozenset[str],
    date_style: DateStyle = DateStyle.ISO,
) -> ParsedBatch:
    """Text columns (our field names, already mapped; "" is a null, and so is every value of
    a missing column) → typed.

    ``allowed_regions`` are the caller's region prefixes (``"*"`` for all); a row outside
    them is ``REGION_FORBIDDEN``. A bad value is reported by field, never by echoing a
    personal value.
    """
    n = len(rows)
    nothing: list[str] = [""] * n

    def text(name: str) -> Sequence[str]:
        return columns.get(name, nothing)

    record_ids = list(map(str.strip, text("record_id")))
    version_texts = text("version")
    regions = list(map(str.strip, text("region_code")))
    batch = ParsedBatch(
        kind=kind,
        rows=np.asarray(rows, dtype=np.int64),
        record_ids=record_ids,
        versions=np.zeros(n, dtype=np.int64),
        regions=regions,
        columns={},
        bad=np.zeros(n, dtype=np.bool_),
    )

    id_lengths = np.fromiter(map(len, record_ids), dtype=np.int64, count=n)
    odd = (id_lengths == 0) | (id_lengths > MAX_RECORD_ID)
    if "\x00" in "".join(record_ids):
        odd |= np.fromiter((("\x00" in r) for r in record_ids), dtype=np.bool_, count=n)
    for i in np.flatnonzero(odd).tolist():
        if not record_ids[i]:
            batch.reject(i, "record_id", Code.FIELD_REQUIRED, "required: the partner's record id")
        else:
            batch.reject(
                i,
                "record_id",
                Code.FIELD_INVALID,
                f"at most {MAX_RECORD_ID} characters, without NUL",
            )
    version_nulls = _null_mask(version_texts)
    versions, failed = _ints(version_texts, version_nulls)
    batch.versions = versions
    for at in np.flatnonzero(version_nulls).tolist():
        batch.reject(at, "version", Code.FIELD_REQUIRED, "required: a positive integer")
    not_positive = np.flatnonzero((versions < 1) & ~version_nulls).tolist()
    for at in sorted(set(failed) | set(not_positive)):
        batch.reject(at, "version", Code.FIELD_INVALID, "must be a positive integer")

    verdicts: dict[str, str | None] = {}
    for region in set(regions):
        if not _REGION.fullmatch(region):
            verdicts[region] = "must be a 6-digit GB/T 2260 code"
        elif not ("*" in allowed_regions or any(region.startswith(p) for p in allowed_regions)):
            verdicts[region] = "outside your regions"
        else:
            verdicts[region] = None
    refused = {region for region, problem in verdicts.items() if problem is not None}
    for i in [i for i, region in enumerate(regions) if region in refused] if refused else []:
        region = regions[i]
        problem = verdicts[region]
        if problem is not None:
            code = (
                Code.REGION_FORBIDDEN if problem == "outside your regions" else Code.FIELD_INVALID
            )
            if not region:
                code, problem = Code.FIELD_REQUIRED, "required: the record's region"
            batch.reject(i, "region_code", code, problem)

    for f in kind.fields:
        texts = text(f.name)
        nulls = _null_mask(texts)
        column, failed = _convert(f, texts, nulls, date_style)
        batch.columns[f.name] = column
        for at in failed:
            batch.reject(at, f.name, Code.FIELD_INVALID, _describe(f, date_style))
        if f.required:
            for at in np.flatnonzero(nulls).tolist():
                batch.reject(at, f.name, Code.FIELD_REQUIRED, "required")
    _drop_repeats(batch)
    return batch


def _row_values(batch: ParsedBatch, i: int) -> tuple[object, ...]:
    values = [
        None if c.nulls[i] else (c.values[i] if isinstance(c.values, list) else c.values[i].item())
        for c in batch.columns.values()
    ]
    return (*values, batch.regions[i])


def _drop_repeats(batch: ParsedBatch) -> None:
    """The same record twice in one batch: the highest version stays; an exact repeat is
    dropped (counted unchanged); the same version with other values is refused."""
    if len(set(batch.record_ids)) == len(batch.record_ids):
        return
    kept: dict[str, int] = {}
    for i in batch.good():
        index = int(i)
        rid = batch.record_ids[index]
        first = kept.get(rid)
        if first is None:
            kept[rid] = index
            continue
        older, newer = sorted((first, index), key=lambda j: int(batch.versions[j]))
        if batch.versions[older] == batch.versions[newer]:
            if _row_values(batch, older) == _row_values(batch, newer):
                batch.bad[index] = True  # an exact repeat: nothing to say, nothing to do
                batch.repeats += 1
            else:
                batch.reject(
                    index,
                    "record_id",
                    Code.DUPLICATE_IN_FILE,
                    f"row {int(batch.rows[first])} has the same record id and version "
                    "with other values",
                )
            continue
        batch.bad[older] = True  # superseded inside the batch: counted stale
        batch.repeats += 1
        kept[rid] = newer
