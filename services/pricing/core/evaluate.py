"""The evaluation command: judge a file of quotes against a file of price history.

    python -m services.pricing evaluate --history H.jsonl --quotes Q.jsonl --out OUT.jsonl
    python -m services.pricing.core.evaluate --history H.jsonl --quotes Q.jsonl --out OUT.jsonl

It is a stable interface (it measures the service on data it has never seen), so the formats
below are kept exactly. It runs the service's own core (catalogue, matcher, reference book,
rules); there is no second implementation, no server and no database.

Each line of H (price history)::

    {"description": str, "brand": str|null, "region": "430200", "observed_on": "YYYY-MM-DD",
     "unit_price_fen": int, "unit": str, "source": "supplier_list"|"settled_claim"}

Each line of Q (one quote)::

    {"quote_id": str, "region": str, "quoted_on": "YYYY-MM-DD",
     "elevator": {"registration_code": str, "brand": str, "rope_count": int,
                  "rope_length_m": number, "landings": int, "motor_kw": number},
     "fault": {"category": str, "description": str},
     "lines": [{"line_no": int, "kind": "part"|"labour", "description": str, "qty": number,
                "unit": str, "unit_price_fen": int}]}

Each line of OUT, one per quote line, quotes and lines in input order::

    {"quote_id", "line_no", "part_category": code or "unknown",
     "reference_unit_price_fen": int|null, "approved_qty": number,
     "approved_unit_price_fen": int, "reasons": [codes]}

History descriptions are mapped to categories by the same matcher as quote lines; an
observation that matches no part (or is ambiguous) is left out and counted. Odd input never
stops the run: a line that is not JSON, or lacks what it cannot do without (a history row
without a valid date, price or unit; a quote without ``quote_id`` or ``lines``), is reported
on stderr with its file and line number and skipped. A quote line that cannot be read
(quantity or price not a number, no description) is still written, as ``unknown`` with
``UNMATCHED_ITEM`` and as submitted, so every readable quote line has an answer. A quote
whose date cannot be read is judged without references (every price ``NO_REFERENCE_PRICE``);
elevator figures that are missing are not guessed (their rules are skipped). Numbers may be
JSON integers or floats (money is rounded half up to the fen).

Exit status: 0 when the output was written (skipped lines included), 1 when a file could
not be read or written, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Any, TextIO

from services.pricing.core.catalogue import LABOUR, Catalogue, load_catalogue
from services.pricing.core.labour_norms import LabourNorms, load_labour_norms
from services.pricing.core.matching import Matcher, MatchResult
from services.pricing.core.normalise import brand_of
from services.pricing.core.reasons import Reason
from services.pricing.core.references import Observation, ReferenceBook
from services.pricing.core.rules import (
    UNKNOWN,
    Elevator,
    Fault,
    LineVerdict,
    QuoteLine,
    judge_quote,
    labour_task_text,
    spec_key,
)

OUTPUT_KEYS = (
    "quote_id",
    "line_no",
    "part_category",
    "reference_unit_price_fen",
    "approved_qty",
    "approved_unit_price_fen",
    "reasons",
)


_LARGEST = Decimal(10) ** 12  # fen (¥10 billion) or units: anything bigger is a typo


class _Problem(ValueError):
    """One field of one input line cannot be used."""


class _Report:
    """Problems go to stderr as ``file:line: message``; counted for the summary."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.count = 0

    def __call__(self, where: str, message: str) -> None:
        self.count += 1
        print(f"{where}: {message}", file=self.stream)


class _MemoMatcher:
    """The matcher with every answer kept: descriptions are matched once, in big batches
    (``match_many``), before the quotes are judged one by one."""

    def __init__(self, matcher: Matcher) -> None:
        self._matcher = matcher
        self._known: dict[str, MatchResult] = {}

    def prime(self, descriptions: Sequence[str]) -> None:
        new = list(dict.fromkeys(d for d in descriptions if d not in self._known))
        if new:
            self._known.update(zip(new, self._matcher.match_many(new), strict=True))

    def match_many(self, descriptions: Sequence[str]) -> list[MatchResult]:
        self.prime(descriptions)
        return [self._known[d] for d in descriptions]


# ------------------------------------------------------------------ reading


def _json_lines(path: Path, report: _Report) -> Iterator[tuple[int, dict[str, Any]]]:
    with path.open(encoding="utf-8-sig", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                value = json.loads(raw)
            except (json.JSONDecodeError, RecursionError) as error:
                report(where, f"not JSON ({error}); skipped")
                continue
            if not isinstance(value, dict):
                report(where, "not a JSON object; skipped")
                continue
            yield number, value


def _text(value: Any, name: str, *, required: bool = True) -> str:
    if isinstance(value, str):
        if required and not value.strip():
            raise _Problem(f"{name} is empty")
        return value
    if isinstance(value, int | float) and not isinstance(value, bool) and not required:
        return str(value)
    if value is None and not required:
        return ""
    raise _Problem(f"{name} must be a string, got {value!r}")


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Problem(f"{name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Problem(f"{name} must be a number, got {value!r}") from None
    if not number.is_finite() or abs(number) > _LARGEST:
        raise _Problem(f"{name} must be a finite number below 10^12, got {value!r}")
    return number


def _fen(value: Any, name: str) -> int:
    return int(_decimal(value, name).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _date(value: Any, name: str) -> date:
    if not isinstance(value, str):
        raise _Problem(f"{name} must be a YYYY-MM-DD string, got {value!r}")
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise _Problem(f"{name} must be YYYY-MM-DD, got {value!r}") from None


def _region(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:06d}"
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class _HistoryRow:
    where: str
    description: str
    brand: str | None
    region: str
    observed_on: date
    unit_price_fen: int
    unit: str
    source: str


def read_history(path: Path, report: _Report) -> list[_HistoryRow]:
    rows: list[_HistoryRow] = []
    for number, value in _json_lines(path, report):
        where = f"{path.name}:{number}"
        try:
            price = _fen(value.get("unit_price_fen"), "unit_price_fen")
            if price <= 0:
                raise _Problem(f"unit_price_fen must be positive, got {price}")
            brand = value.get("brand")
            rows.append(
                _HistoryRow(
                    where=where,
                    description=_text(value.get("description"), "description"),
                    brand=brand.strip() or None if isinstance(brand, str) else None,
                    region=_region(value.get("region")),
                    observed_on=_date(value.get("observed_on"), "observed_on"),
                    unit_price_fen=price,
                    unit=_text(value.get("unit"), "unit"),
                    source=_text(value.get("source"), "source", required=False),
                )
            )
        except _Problem as problem:
            report(where, f"{problem}; skipped")
    return rows


def build_book(
    rows: Sequence[_HistoryRow], matcher: _MemoMatcher, catalogue: Catalogue, *, version: str
) -> tuple[ReferenceBook, int]:
    """The reference book of ``rows``, and how many rows matched no part with confidence."""
    matches = matcher.match_many([row.description for row in rows])
    observations: list[Observation] = []
    unmatched = 0
    for row, match in zip(rows, matches, strict=True):
        if match.category is None or match.ambiguous or match.category not in catalogue:
            unmatched += 1
            continue
        brand = (brand_of(row.brand) or row.brand) if row.brand else match.specs.brand
        observations.append(
            Observation(
                category=match.category,
                brand=brand,
                region=row.region,
                observed_on=row.observed_on,
                unit_price_fen=row.unit_price_fen,
                unit=row.unit,
                source=row.source,
                spec=spec_key(match.specs),
            )
        )
    units = {code: category.units for code, category in catalogue.categories.items()}
    return ReferenceBook.build(observations, version=version, units=units), unmatched


@dataclass(frozen=True)
class _Line:
    line_no: int
    line: QuoteLine | None  # None: unreadable, answered as unknown / UNMATCHED_ITEM
    qty: Decimal
    unit_price_fen: int


@dataclass(frozen=True)
class _Quote:
    quote_id: str
    region: str
    quoted_on: date | None
    elevator: Elevator
    fault: Fault
    lines: tuple[_Line, ...]


def _optional(value: Any, convert: Any, name: str, where: str, report: _Report) -> Any:
    if value is None:
        return None
    try:
        return convert(value, name)
    except _Problem as problem:
        report(where, f"{problem}; treated as unknown")
        return None


def _count(value: Any, name: str) -> int:
    number = _decimal(value, name)
    if number != number.to_integral_value() or number < 0:
        raise _Problem(f"{name} must be a whole number, got {value!r}")
    return int(number)


def _read_quote(value: dict[str, Any], where: str, report: _Report) -> _Quote:
    quote_id = value.get("quote_id")
    if isinstance(quote_id, int | float) and not isinstance(quote_id, bool):
        quote_id = str(quote_id)
    if not isinstance(quote_id, str):
        raise _Problem(f"quote_id must be a string, got {quote_id!r}")
    raw_lines = value.get("lines")
    if not isinstance(raw_lines, list):
        raise _Problem("lines must be a list")
    quoted_on = _optional(value.get("quoted_on"), _date, "quoted_on", where, report)
    if quoted_on is None:
        report(where, f"quote {quote_id}: no readable quoted_on; judged without references")
    region = _region(value.get("region"))
    raw_elevator = value.get("elevator")
    elevator_fields = raw_elevator if isinstance(raw_elevator, dict) else {}
    if not isinstance(raw_elevator, dict):
        report(where, f"quote {quote_id}: no elevator object; its figures are unknown")

    def figure(name: str, convert: Any) -> Any:
        return _optional(elevator_fields.get(name), convert, f"elevator.{name}", where, report)

    brand = elevator_fields.get("brand")
    elevator = Elevator(
        brand=brand if isinstance(brand, str) and brand.strip() else None,
        rope_count=figure("rope_count", _count),
        rope_length_m=figure("rope_length_m", _decimal),
        landings=figure("landings", _count),
        motor_kw=figure("motor_kw", _decimal),
    )
    raw_fault = value.get("fault")
    if isinstance(raw_fault, dict):
        category = raw_fault.get("category")
        text = raw_fault.get("description")
        fault = Fault(
            category=category.strip() if isinstance(category, str) else "",
            description=text if isinstance(text, str) else "",
        )
    else:
        fault = Fault(category=raw_fault.strip() if isinstance(raw_fault, str) else "")
    lines = tuple(
        _read_line(raw, position, f"{where} quote {quote_id} line {position}", report)
        for position, raw in enumerate(raw_lines, start=1)
    )
    return _Quote(quote_id, region, quoted_on, elevator, fault, lines)


def _read_line(raw: Any, position: int, where: str, report: _Report) -> _Line:
    if not isinstance(raw, dict):
        report(where, "not an object; answered as unknown")
        return _Line(position, None, Decimal(0), 0)
    line_no = position
    try:
        line_no = _count(raw.get("line_no"), "line_no")
    except _Problem as problem:
        report(where, f"{problem}; its position {position} is used")
    qty: Decimal | None = None
    price: int | None = None
    try:
        qty = _decimal(raw.get("qty"), "qty")
        price = _fen(raw.get("unit_price_fen"), "unit_price_fen")
        kind = raw.get("kind")
        line = QuoteLine(
            line_no=line_no,
            kind=kind.strip().lower() if isinstance(kind, str) else "part",
            description=_text(raw.get("description"), "description"),
            qty=qty,
            unit=_text(raw.get("unit"), "unit", required=False),
            unit_price_fen=price,
        )
    except _Problem as problem:
        report(where, f"{problem}; answered as unknown")
        return _Line(line_no, None, qty or Decimal(0), price or 0)
    return _Line(line_no, line, qty, price)


def read_quotes(path: Path, report: _Report) -> list[_Quote]:
    quotes: list[_Quote] = []
    for number, value in _json_lines(path, report):
        where = f"{path.name}:{number}"
        try:
            quotes.append(_read_quote(value, where, report))
        except _Problem as problem:
            report(where, f"{problem}; skipped")
    return quotes


# ------------------------------------------------------------------ judging


def _number(value: Decimal) -> int | float:
    """A JSON number: an integer when whole, else the shortest float of the decimal."""
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _row(quote_id: str, verdict: LineVerdict) -> dict[str, Any]:
    return {
        "quote_id": quote_id,
        "line_no": verdict.line_no,
        "part_category": verdict.part_category,
        "reference_unit_price_fen": verdict.reference_unit_price_fen,
        "approved_qty": _number(verdict.approved_qty),
        "approved_unit_price_fen": verdict.approved_unit_price_fen,
        "reasons": list(verdict.reasons),
    }


def _unreadable(line: _Line) -> LineVerdict:
    return LineVerdict(
        line_no=line.line_no,
        part_category=UNKNOWN,
        reference_unit_price_fen=None,
        approved_qty=line.qty,
        approved_unit_price_fen=line.unit_price_fen,
        reasons=(Reason.UNMATCHED_ITEM.value,),
        explanation="报价行无法读取，转人工复核。",
    )


def judge_all(
    quotes: Sequence[_Quote],
    *,
    book: ReferenceBook,
    matcher: _MemoMatcher,
    catalogue: Catalogue,
    norms: LabourNorms,
) -> Iterator[dict[str, Any]]:
    """One output row per quote line, in input order."""
    readable = [item.line for quote in quotes for item in quote.lines if item.line is not None]
    matcher.prime([line.description for line in readable])
    # Labour lines that name a part ("更换曳引机人工"): their task texts, in one batch too.
    tasks = []
    for line in readable:
        match = matcher.match_many([line.description])[0]
        if line.kind == "labour" or match.category == LABOUR:
            text = labour_task_text(line.description)
            if text:
                tasks.append(text)
    matcher.prime(tasks)
    empty = ReferenceBook.build([], version=book.version)
    for quote in quotes:
        lines = [item.line for item in quote.lines if item.line is not None]
        verdicts = iter(
            judge_quote(
                lines=lines,
                elevator=quote.elevator,
                fault=quote.fault,
                region=quote.region,
                quoted_on=quote.quoted_on or date.max,
                matcher=matcher,
                catalogue=catalogue,
                references=book if quote.quoted_on is not None else empty,
                labour_norms=norms,
            ).lines
        )
        for item in quote.lines:
            verdict = next(verdicts) if item.line is not None else _unreadable(item)
            yield _row(quote.quote_id, verdict)


# ------------------------------------------------------------------ command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.pricing evaluate",
        description="Judge every quote line of Q against the price history H; write OUT.",
    )
    parser.add_argument("--history", required=True, type=Path, help="H.jsonl: price history")
    parser.add_argument("--quotes", required=True, type=Path, help="Q.jsonl: quotes")
    parser.add_argument("--out", required=True, type=Path, help="OUT.jsonl: one line per line")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["evaluate"]:
        args_list = args_list[1:]
    try:
        args = _parser().parse_args(args_list)
    except SystemExit as exit_:  # argparse has printed the usage
        return exit_.code if isinstance(exit_.code, int) else 2
    report = _Report(sys.stderr)
    started = time.perf_counter()
    try:
        history_bytes = args.history.read_bytes()
        rows = read_history(args.history, report)
        quotes = read_quotes(args.quotes, report)
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    catalogue = load_catalogue()
    matcher = _MemoMatcher(Matcher(catalogue))
    version = f"history-{hashlib.sha256(history_bytes).hexdigest()[:12]}"
    book, unmatched = build_book(rows, matcher, catalogue, version=version)
    written = 0
    try:
        with args.out.open("w", encoding="utf-8") as out:
            for row in judge_all(
                quotes, book=book, matcher=matcher, catalogue=catalogue, norms=load_labour_norms()
            ):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                written += 1
    except OSError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(
        f"evaluate: {len(rows)} history rows ({unmatched} matched no part, {book.skipped} in "
        f"another unit), {len(quotes)} quotes, {written} lines written, {report.count} input "
        f"problems, {time.perf_counter() - started:.2f} s; references {book.version}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
