"""The contractor's repair quote (维修报价): lines, amounts, versions.

**The amount of a line is computed, not trusted**: ``amount = quantity × unit price``, rounded
half up to the fen. A raw line may carry the contractor's own amount; if it does, it must
equal the computed one, or the line is refused — a quote whose arithmetic does not add up is a
known form of padding, and the contractor hears of it at once rather than being trimmed
silently. A raw line without an amount gets the computed one.

Bounds stop absurd input before it reaches the pipeline: a quantity with more than three
decimals (a metre of rope to the millimetre is the finest unit in use), a single line over
2,000,000 CNY, a quote over 5,000,000 CNY (a whole-elevator replacement is far below that),
more than 200 lines.

Each revision is a new :class:`Quote` with the next ``version``; all versions are kept.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from types import MappingProxyType

from services.claims.domain.errors import InvalidFields, InvalidInput, InvalidValue, raise_problems

LINE_MAX_FEN = 2_000_000 * 100
QUOTE_MAX_FEN = 5_000_000 * 100
MAX_LINES = 200
QUANTITY_MAX = Decimal(100_000)
QUANTITY_DECIMALS = 3
DESCRIPTION_MAX_CHARS = 500
UNIT_MAX_CHARS = 16


def line_amount(quantity: Decimal, unit_price_fen: int) -> int:
    """``quantity × unit price`` rounded half up to the fen (0.5 fen → 1 fen)."""
    return int((quantity * unit_price_fen).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@dataclass(frozen=True)
class QuoteLine:
    line_no: int  # 1, 2, 3 … in the order the contractor listed them
    description: str  # free text: "曳引钢丝绳 8mm", with specs, brands and typos
    quantity: Decimal
    unit: str  # 米, 根, 台, 个, 工时 …
    unit_price_fen: int
    amount_fen: int

    def __post_init__(self) -> None:
        raise_problems(_line_problems(self))


@dataclass(frozen=True)
class RawLine:
    """A line as it arrives. ``quantity`` as a decimal string ("12.5") or Decimal, never a
    float; ``amount_fen`` is optional (None: computed)."""

    description: str
    quantity: str | Decimal | int
    unit: str
    unit_price_fen: int
    amount_fen: int | None = None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _line_problems(line: QuoteLine) -> list[InvalidInput]:
    problems: list[InvalidInput] = []
    if not _is_int(line.line_no) or line.line_no < 1:
        problems.append(InvalidValue("line_no", "line_no must be a positive integer"))
    problems += _text_problems(line.description, line.unit)
    quantity_ok = _quantity_problem(line.quantity)
    if quantity_ok is not None:
        problems.append(quantity_ok)
    price_problem = _price_problem(line.unit_price_fen)
    if price_problem is not None:
        problems.append(price_problem)
    if not _is_int(line.amount_fen):
        problems.append(InvalidValue("amount_fen", "amount_fen must be an integer number of fen"))
    elif quantity_ok is None and price_problem is None:
        expected = line_amount(line.quantity, line.unit_price_fen)
        if line.amount_fen != expected:
            problems.append(
                InvalidValue(
                    "amount_fen",
                    f"amount {line.amount_fen} fen is not quantity × unit price = {expected} fen",
                )
            )
        elif expected > LINE_MAX_FEN:
            problems.append(
                InvalidValue(
                    "amount_fen", f"a line over {LINE_MAX_FEN // 100:,} CNY is not plausible"
                )
            )
    return problems


def _text_problems(description: str, unit: str) -> list[InvalidInput]:
    problems: list[InvalidInput] = []
    if not isinstance(description, str) or not description.strip():
        problems.append(InvalidValue("description", "description must not be empty"))
    elif len(description) > DESCRIPTION_MAX_CHARS:
        problems.append(
            InvalidValue(
                "description", f"description is longer than {DESCRIPTION_MAX_CHARS} characters"
            )
        )
    if not isinstance(unit, str) or not unit.strip():
        problems.append(InvalidValue("unit", "unit must not be empty"))
    elif len(unit) > UNIT_MAX_CHARS:
        problems.append(InvalidValue("unit", f"unit is longer than {UNIT_MAX_CHARS} characters"))
    return problems


def _quantity_problem(quantity: object) -> InvalidInput | None:
    if not isinstance(quantity, Decimal) or not quantity.is_finite():
        return InvalidValue("quantity", "quantity must be a finite decimal number")
    if quantity <= 0:
        return InvalidValue("quantity", "quantity must be greater than 0")
    if quantity > QUANTITY_MAX:
        return InvalidValue("quantity", f"quantity above {QUANTITY_MAX} is not plausible")
    exponent = quantity.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > QUANTITY_DECIMALS:
        return InvalidValue(
            "quantity", f"quantity has more than {QUANTITY_DECIMALS} decimal places"
        )
    return None


def _price_problem(unit_price_fen: object) -> InvalidInput | None:
    if not _is_int(unit_price_fen):
        return InvalidValue("unit_price_fen", "unit_price_fen must be an integer number of fen")
    assert isinstance(unit_price_fen, int)
    if unit_price_fen < 0:
        return InvalidValue("unit_price_fen", "unit_price_fen must not be negative")
    if unit_price_fen > LINE_MAX_FEN:
        return InvalidValue(
            "unit_price_fen", f"a unit price over {LINE_MAX_FEN // 100:,} CNY is not plausible"
        )
    return None


def _parse_quantity(raw: object) -> Decimal | None:
    # A float is refused: 0.1 + 0.2 is how padding hides, and "12.5" is what people type.
    if isinstance(raw, bool | float):
        return None
    if isinstance(raw, int | Decimal):
        return Decimal(raw)
    if isinstance(raw, str):
        try:
            return Decimal(raw.strip())
        except InvalidOperation:
            return None
    return None


def parse_quote_lines(raw: Sequence[RawLine]) -> tuple[QuoteLine, ...]:
    """Validated lines numbered 1…n, or InvalidFields naming ``lines[i].field`` (0-based i)."""
    if not raw:
        raise_problems([InvalidValue("lines", "a quote needs at least one line")])
    if len(raw) > MAX_LINES:
        raise_problems([InvalidValue("lines", f"a quote has at most {MAX_LINES} lines")])
    problems: list[InvalidInput] = []
    lines: list[QuoteLine] = []
    for i, item in enumerate(raw):
        try:
            lines.append(_parse_line(i + 1, item))
        except InvalidFields as e:
            problems += [InvalidValue(f"lines[{i}].{p.field}", p.message) for p in e.problems]
    raise_problems(problems)
    if sum(line.amount_fen for line in lines) > QUOTE_MAX_FEN:
        raise_problems(
            [InvalidValue("lines", f"a quote over {QUOTE_MAX_FEN // 100:,} CNY is not plausible")]
        )
    return tuple(lines)


def _parse_line(line_no: int, item: RawLine) -> QuoteLine:
    quantity = _parse_quantity(item.quantity)
    if quantity is None:
        problems: list[InvalidInput] = [
            InvalidValue(
                "quantity", f"quantity {item.quantity!r} must be a decimal string such as '12.5'"
            )
        ]
        problems += _text_problems(item.description, item.unit)
        price_problem = _price_problem(item.unit_price_fen)
        if price_problem is not None:
            problems.append(price_problem)
        raise InvalidFields(problems)
    amount = item.amount_fen
    if amount is None:
        # Computed only when its inputs are sound; otherwise QuoteLine reports them.
        sound = _quantity_problem(quantity) is None and _price_problem(item.unit_price_fen) is None
        amount = line_amount(quantity, item.unit_price_fen) if sound else 0
    return QuoteLine(
        line_no=line_no,
        description=item.description.strip() if isinstance(item.description, str) else "",
        quantity=quantity,
        unit=item.unit.strip() if isinstance(item.unit, str) else "",
        unit_price_fen=item.unit_price_fen,
        amount_fen=amount,
    )


@dataclass(frozen=True)
class Quote:
    version: int  # 1 for the first quote, +1 for each revision
    lines: tuple[QuoteLine, ...]

    def __post_init__(self) -> None:
        problems: list[InvalidInput] = []
        if not _is_int(self.version) or self.version < 1:
            problems.append(InvalidValue("version", "version must be a positive integer"))
        if not self.lines:
            problems.append(InvalidValue("lines", "a quote needs at least one line"))
        elif len(self.lines) > MAX_LINES:
            problems.append(InvalidValue("lines", f"a quote has at most {MAX_LINES} lines"))
        numbers = [line.line_no for line in self.lines]
        if len(set(numbers)) != len(numbers):
            problems.append(InvalidValue("lines", "line numbers must be unique"))
        if sum(line.amount_fen for line in self.lines) > QUOTE_MAX_FEN:
            problems.append(
                InvalidValue("lines", f"a quote over {QUOTE_MAX_FEN // 100:,} CNY is not plausible")
            )
        raise_problems(problems)

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.lines)

    @property
    def by_line_no(self) -> Mapping[int, QuoteLine]:
        return MappingProxyType({line.line_no: line for line in self.lines})
