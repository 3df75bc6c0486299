"""The reference evaluator: the same expression trees, walked row by row in plain Python.

Used only by tests (and the benchmark's baseline) to show the vectorised path is right. It is
written to be obviously correct rather than fast: ``None`` is unknown, numbers and dates are
Python floats (the doubles numpy computes with), ``and``/``or`` are Kleene logic spelt out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date
from functools import cache

from services.validation.core.batch import Batch
from services.validation.core.expr import (
    And,
    Arith,
    ArithOp,
    CmpOp,
    Compare,
    Const,
    DaysBetween,
    Field,
    In,
    IsNull,
    Len,
    Matches,
    Neg,
    Node,
    Not,
    Or,
)
from services.validation.core.fields import FieldType
from services.validation.core.rules import RuleSet

Value = float | str | bool | None
Row = Mapping[str, Value]


def rows_of(batch: Batch) -> list[dict[str, Value]]:
    """The batch as Python rows: None for null, ints and dates as floats."""
    rows: list[dict[str, Value]] = []
    numeric = {n for n, t in batch.schema.items() if t in (FieldType.INT, FieldType.DATE)}
    for row in range(batch.n):
        record: dict[str, Value] = {}
        for name in batch.schema:
            value = batch.value(name, row)
            if name in numeric and isinstance(value, int):
                value = float(value)
            assert value is None or isinstance(value, float | str | bool)
            record[name] = value
        rows.append(record)
    return rows


def evaluate_row(node: Node, row: Row) -> Value:
    """The value of ``node`` in ``row`` (``None`` = unknown)."""
    match node:
        case Field(name=name):
            return row[name]
        case Const(value=value):
            return value
        case Compare(op=op, left=left, right=right):
            lhs, rhs = evaluate_row(left, row), evaluate_row(right, row)
            if lhs is None or rhs is None:
                return None
            return _compare(op, lhs, rhs)
        case Arith(op=op, left=left, right=right):
            return _arith(op, evaluate_row(left, row), evaluate_row(right, row))
        case Neg(operand=operand):
            number = evaluate_row(operand, row)
            return None if number is None else -float(number)
        case DaysBetween(start=start, end=end):
            return _arith(ArithOp.SUB, evaluate_row(end, row), evaluate_row(start, row))
        case IsNull(operand=operand, negate=negate):
            return (evaluate_row(operand, row) is None) != negate
        case Len(operand=operand):
            text = evaluate_row(operand, row)
            return None if text is None else float(len(str(text)))
        case Matches(operand=operand, pattern=pattern):
            text = evaluate_row(operand, row)
            return None if text is None else _regex(pattern).fullmatch(str(text)) is not None
        case In(operand=operand, values=values, negate=negate):
            member = evaluate_row(operand, row)
            if member is None:
                return None
            return any(member == option.value for option in values) != negate
        case Not(operand=operand):
            truth = evaluate_row(operand, row)
            return None if truth is None else not truth
        case And(operands=operands):
            seen = [evaluate_row(o, row) for o in operands]
            if any(v is False for v in seen):
                return False
            return None if any(v is None for v in seen) else True
        case Or(operands=operands):
            seen = [evaluate_row(o, row) for o in operands]
            if any(v is True for v in seen):
                return True
            return None if any(v is None for v in seen) else False
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover


def _compare(op: CmpOp, a: float | str | bool, b: float | str | bool) -> bool:
    if op is CmpOp.EQ:
        return a == b
    if op is CmpOp.NE:
        return a != b
    if op is CmpOp.LT:
        return a < b  # type: ignore[operator]
    if op is CmpOp.LE:
        return a <= b  # type: ignore[operator]
    if op is CmpOp.GT:
        return a > b  # type: ignore[operator]
    return a >= b  # type: ignore[operator]


def _arith(op: ArithOp, a: Value, b: Value) -> float | None:
    if a is None or b is None:
        return None
    x, y = float(a), float(b)
    if op is ArithOp.ADD:
        out = x + y
    elif op is ArithOp.SUB:
        out = x - y
    elif op is ArithOp.MUL:
        out = x * y
    elif y == 0:
        return None
    else:
        out = x / y
    return None if out != out else out  # NaN (inf - inf, 0 * inf) is unknown


@cache
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def failed_codes(rule_set: RuleSet, rows: Sequence[Row], *, on: date) -> list[tuple[str, ...]]:
    """Per row, the codes of the rules effective on ``on`` whose expression is False."""
    rules = rule_set.effective(on)
    return [
        tuple(rule.code for rule in rules if evaluate_row(rule.expr.root, row) is False)
        for row in rows
    ]
