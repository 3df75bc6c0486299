"""Hypothesis strategies for batches of a schema: nulls, boundaries and dates near each other.

Values are drawn near the numbers and strings the rules mention (every literal and every
regex of the expressions), so comparisons hit their boundaries and regexes both match and
fail, rather than being decided by wide random draws.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import strategies as st

from services.validation.core.expr import (
    And,
    Arith,
    Compare,
    Const,
    DaysBetween,
    In,
    IsNull,
    Kind,
    Len,
    Matches,
    Neg,
    Node,
    Not,
    Or,
)
from services.validation.core.fields import MAX_DAY, MAX_EXACT_INT, MIN_DAY, FieldType, Schema

BASE_DAY = 19_700  # 2023-12-08: dates cluster around it so date comparisons tie often


def walk(node: Node) -> Iterable[Node]:
    yield node
    match node:
        case Compare(left=a, right=b) | Arith(left=a, right=b) | DaysBetween(start=a, end=b):
            yield from walk(a)
            yield from walk(b)
        case Neg(operand=a) | Not(operand=a) | IsNull(operand=a) | Len(operand=a):
            yield from walk(a)
        case Matches(operand=a):
            yield from walk(a)
        case In(operand=a, values=values):
            yield from walk(a)
            yield from values
        case And(operands=ops) | Or(operands=ops):
            for op in ops:
                yield from walk(op)


def literals(roots: Iterable[Node]) -> tuple[list[float], list[str], list[str]]:
    numbers: set[float] = set()
    strings: set[str] = set()
    patterns: set[str] = set()
    for root in roots:
        for node in walk(root):
            if isinstance(node, Const) and node.kind is Kind.NUM:
                numbers.add(float(node.value))
            elif isinstance(node, Const) and node.kind is Kind.STR:
                strings.add(str(node.value))
            elif isinstance(node, Matches):
                patterns.add(node.pattern)
    return sorted(numbers), sorted(strings), sorted(patterns)


_TEXT = st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=24)


def value_strategy(
    field_type: FieldType, numbers: list[float], strings: list[str], patterns: list[str]
) -> st.SearchStrategy[object]:
    if field_type is FieldType.BOOL:
        value: st.SearchStrategy[object] = st.booleans()
    elif field_type is FieldType.INT:
        near = [
            int(x) + d
            for x in numbers
            if x == int(x) and abs(x) < MAX_EXACT_INT
            for d in (-1, 0, 1)
        ]
        value = st.one_of(
            st.sampled_from([*near, 0, -1, 1]),
            st.integers(-1000, 1000),
            st.integers(-MAX_EXACT_INT, MAX_EXACT_INT),
        )
    elif field_type is FieldType.FLOAT:
        value = st.one_of(
            st.sampled_from([*numbers, 0.0, -0.0, 0.1, 1e308]),
            st.floats(allow_nan=True, allow_infinity=False),
        )
    elif field_type is FieldType.DATE:
        value = st.one_of(
            st.integers(BASE_DAY - 40, BASE_DAY + 40),
            st.integers(MIN_DAY, MAX_DAY),
        )
    else:
        options: list[st.SearchStrategy[str]] = [_TEXT]
        if strings:
            options.append(st.sampled_from(strings))
        options.extend(st.from_regex(p, fullmatch=True) for p in patterns)
        value = st.one_of(options).filter(lambda s: "\x00" not in s)
    return st.one_of(st.none(), value)


@st.composite
def columns(
    draw: st.DrawFn, schema: Schema, roots: Iterable[Node], *, max_rows: int = 16
) -> dict[str, list[object]]:
    """One list per field (``None`` = null), of one drawn length."""
    numbers, strings, patterns = literals(roots)
    n = draw(st.integers(0, max_rows))
    return {
        name: draw(
            st.lists(value_strategy(field_type, numbers, strings, patterns), min_size=n, max_size=n)
        )
        for name, field_type in schema.items()
    }
