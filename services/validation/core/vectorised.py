"""The vectorised evaluator: each rule's expression compiled once into numpy operations over a
whole :class:`~services.validation.core.batch.Batch`.

Every node becomes a function of the batch returning ``(values, nulls)``: an array (or a
scalar, for literals) and a null mask (``None`` when nothing can be null, which skips the
mask arithmetic on clean columns). Numbers and dates are read as ``float64`` once per batch
(exact to ±2**53, the same doubles the reference evaluator computes with). ``and``/``or``/
``not`` are Kleene logic on (values, nulls); a rule fails where its value is ``False`` and not
null. ``matches`` runs the regex once per *distinct* string of the column, since codes
repeat across rows; ``len`` is ``np.strings.str_len``.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import reduce
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from services.validation.core.batch import Batch, BatchError
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
    Kind,
    Len,
    Matches,
    Neg,
    Node,
    Not,
    Or,
)
from services.validation.core.fields import EPOCH, FieldType
from services.validation.core.rules import Rule, RuleSet, Severity

Mask = npt.NDArray[np.bool_]
Vec = tuple[Any, Any]  # (values: array or scalar, nulls: bool array, bool scalar or None)


class _Frame:
    """One batch as the compiled functions read it; columns converted once, on first use."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self._cache: dict[str, Vec] = {}

    def column(self, name: str) -> Vec:
        cached = self._cache.get(name)
        if cached is None:
            column = self.batch.columns[name]
            values: Any = column.values
            if self.batch.schema[name] in (FieldType.INT, FieldType.DATE):
                values = values.astype(np.float64)
            nulls = column.nulls if column.nulls.any() else None
            cached = self._cache[name] = (values, nulls)
        return cached


Compiled = Callable[[_Frame], Vec]


def _either(a: Any, b: Any) -> Any:
    if a is None:
        return b
    if b is None:
        return a
    return a | b


_COMPARE: dict[CmpOp, Callable[[Any, Any], Any]] = {
    CmpOp.LT: np.less,
    CmpOp.LE: np.less_equal,
    CmpOp.GT: np.greater,
    CmpOp.GE: np.greater_equal,
    CmpOp.EQ: np.equal,
    CmpOp.NE: np.not_equal,
}
_ARITH: dict[ArithOp, Callable[[Any, Any], Any]] = {
    ArithOp.ADD: np.add,
    ArithOp.SUB: np.subtract,
    ArithOp.MUL: np.multiply,
    ArithOp.DIV: np.divide,
}


def compile_node(node: Node) -> Compiled:
    """``node`` as a function of a batch frame returning (values, nulls)."""
    match node:
        case Field(name=name):
            return lambda frame: frame.column(name)
        case Const(value=value, kind=kind):
            scalar: Any = (
                np.float64(value)
                if kind is Kind.NUM
                else np.bool_(value)
                if kind is Kind.BOOL
                else np.str_(value)
            )
            return lambda frame: (scalar, None)
        case Compare(op=op, left=left, right=right):
            return _compare(_COMPARE[op], compile_node(left), compile_node(right))
        case Arith(op=op, left=left, right=right):
            return _arith(op, compile_node(left), compile_node(right))
        case Neg(operand=operand):
            inner = compile_node(operand)
            return lambda frame: _neg(inner(frame))
        case DaysBetween(start=start, end=end):
            return _arith(ArithOp.SUB, compile_node(end), compile_node(start))
        case IsNull(operand=operand, negate=negate):
            return _is_null(compile_node(operand), negate)
        case Len(operand=operand):
            inner = compile_node(operand)
            return lambda frame: _len(inner(frame))
        case Matches(operand=operand, pattern=pattern):
            return _matches(compile_node(operand), re.compile(pattern))
        case In(operand=operand, values=values, negate=negate):
            return _in(compile_node(operand), [compile_node(v) for v in values], negate)
        case Not(operand=operand):
            inner = compile_node(operand)
            return lambda frame: _not(inner(frame))
        case And(operands=operands):
            return _kleene([compile_node(o) for o in operands], conjunction=True)
        case Or(operands=operands):
            return _kleene([compile_node(o) for o in operands], conjunction=False)
    raise TypeError(f"unknown node {node!r}")  # pragma: no cover - the parser builds no other


def _compare(ufunc: Callable[[Any, Any], Any], left: Compiled, right: Compiled) -> Compiled:
    def run(frame: _Frame) -> Vec:
        lv, ln = left(frame)
        rv, rn = right(frame)
        return ufunc(lv, rv), _either(ln, rn)

    return run


def _arith(op: ArithOp, left: Compiled, right: Compiled) -> Compiled:
    ufunc = _ARITH[op]

    def run(frame: _Frame) -> Vec:
        lv, ln = left(frame)
        rv, rn = right(frame)
        with np.errstate(all="ignore"):
            out = ufunc(lv, rv)
        nulls = _either(ln, rn)
        if op is ArithOp.DIV:
            nulls = _either(nulls, rv == 0)
        return out, _either(nulls, np.isnan(out))

    return run


def _neg(vec: Vec) -> Vec:
    return -vec[0], vec[1]


def _is_null(inner: Compiled, negate: bool) -> Compiled:
    def run(frame: _Frame) -> Vec:
        _, nulls = inner(frame)
        if nulls is None:
            return np.bool_(negate), None
        return (~nulls if negate else nulls), None

    return run


def _len(vec: Vec) -> Vec:
    values, nulls = vec
    return np.strings.str_len(values).astype(np.float64), nulls


def _matches(inner: Compiled, pattern: re.Pattern[str]) -> Compiled:
    def run(frame: _Frame) -> Vec:
        values, nulls = inner(frame)
        if np.ndim(values) == 0:
            return np.bool_(pattern.fullmatch(str(values)) is not None), nulls
        texts = values.tolist()
        # Each distinct string once (a dict keeps them without sorting, which cost more than
        # the regex), and every loop in C: ``map`` over the pattern, not a Python generator.
        distinct = dict.fromkeys(texts)
        verdict = dict(
            zip(
                distinct,
                map(operator.is_not, map(pattern.fullmatch, distinct), repeat(None)),
                strict=True,
            )
        )
        ok = np.fromiter(map(verdict.__getitem__, texts), dtype=bool, count=len(texts))
        return ok, nulls

    return run


def _in(inner: Compiled, options: list[Compiled], negate: bool) -> Compiled:
    def run(frame: _Frame) -> Vec:
        values, nulls = inner(frame)
        hit = reduce(np.logical_or, (values == option(frame)[0] for option in options))
        return (~hit if negate else hit), nulls

    return run


def _not(vec: Vec) -> Vec:
    return ~vec[0], vec[1]


def _kleene(operands: list[Compiled], *, conjunction: bool) -> Compiled:
    """``and``: False wins over unknown; ``or``: True wins over unknown."""

    def run(frame: _Frame) -> Vec:
        decided: Any = None  # rows where some operand is definitely False (and) / True (or)
        unknown: Any = None
        for operand in operands:
            values, nulls = operand(frame)
            hit = ~values if conjunction else values
            if nulls is not None:
                hit = hit & ~nulls
            decided = hit if decided is None else decided | hit
            unknown = _either(unknown, nulls)
        result = ~decided if conjunction else decided
        return result, (None if unknown is None else unknown & ~decided)

    return run


@dataclass(frozen=True)
class CompiledRule:
    rule: Rule
    run: Compiled

    def fails(self, frame: _Frame, n: int) -> Mask:
        values, nulls = self.run(frame)
        failed = ~np.broadcast_to(values, (n,))
        if nulls is not None:
            failed = failed & ~np.broadcast_to(nulls, (n,))
        return np.asarray(failed, dtype=bool)


@dataclass(frozen=True)
class CompiledRuleSet:
    rule_set: RuleSet
    rules: tuple[CompiledRule, ...]


def compile_rule_set(rule_set: RuleSet) -> CompiledRuleSet:
    """Every rule of the set compiled once (all windows; :func:`evaluate` picks by date)."""
    return CompiledRuleSet(
        rule_set, tuple(CompiledRule(rule, compile_node(rule.expr.root)) for rule in rule_set.rules)
    )


@dataclass(frozen=True)
class RuleTrace:
    """What one rule saw in the rows it failed: per field it reads, one value per failed row
    (``None`` for null, a :class:`datetime.date` for a date)."""

    code: str
    rows: tuple[int, ...]
    values: Mapping[str, tuple[object, ...]]


@dataclass(frozen=True)
class Result:
    """Failed rules per row: ``failed[i, row]`` is True when ``rules[i]`` failed ``row``."""

    rule_set: str  # name@version
    on: date
    rules: tuple[Rule, ...]  # the rules effective on ``on``, in file order
    failed: Mask  # shape (len(rules), n)
    traces: Mapping[str, RuleTrace] | None = field(default=None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(rule.code for rule in self.rules)

    @property
    def n(self) -> int:
        return int(self.failed.shape[1])

    def failed_codes(self, row: int) -> tuple[str, ...]:
        """The codes ``row`` failed, in rule order."""
        return tuple(
            rule.code for rule, bad in zip(self.rules, self.failed[:, row], strict=True) if bad
        )

    def failed_codes_per_row(self) -> list[tuple[str, ...]]:
        rows: list[list[str]] = [[] for _ in range(self.n)]
        for rule, mask in zip(self.rules, self.failed, strict=True):
            for row in np.flatnonzero(mask).tolist():
                rows[row].append(rule.code)
        return [tuple(codes) for codes in rows]

    def rejected(self) -> Mask:
        """Rows failing at least one ``error`` rule (warnings go to a person, not a refusal)."""
        errors = [i for i, rule in enumerate(self.rules) if rule.severity is Severity.ERROR]
        return np.asarray(self.failed[errors].any(axis=0), dtype=bool)

    def counts(self) -> dict[str, int]:
        return {
            code: int(count)
            for code, count in zip(self.codes, self.failed.sum(axis=1), strict=True)
        }


_COMPILED: dict[int, CompiledRuleSet] = {}


def _compiled(rule_set: RuleSet | CompiledRuleSet) -> CompiledRuleSet:
    if isinstance(rule_set, CompiledRuleSet):
        return rule_set
    cached = _COMPILED.get(id(rule_set))
    if cached is None or cached.rule_set is not rule_set:
        if len(_COMPILED) > 64:
            _COMPILED.clear()
        cached = _COMPILED[id(rule_set)] = compile_rule_set(rule_set)
    return cached


def evaluate(
    rule_set: RuleSet | CompiledRuleSet, batch: Batch, *, on: date, trace: bool = False
) -> Result:
    """Apply the rules effective on ``on`` to every row of ``batch``.

    A :class:`RuleSet` is compiled on first use and the compiled form kept (by identity);
    pass :func:`compile_rule_set`'s result to manage that yourself.
    """
    compiled = _compiled(rule_set)
    rules = compiled.rule_set
    if dict(batch.schema) != dict(rules.fields):
        raise BatchError("", f"the batch was not built for the fields of {rules.key}")
    frame = _Frame(batch)
    active = [c for c in compiled.rules if c.rule.effective_on(on)]
    failed = np.zeros((len(active), batch.n), dtype=bool)
    for index, rule in enumerate(active):
        failed[index] = rule.fails(frame, batch.n)
    traces = None
    if trace:
        traces = {
            c.rule.code: _trace(c.rule, batch, np.flatnonzero(failed[i]))
            for i, c in enumerate(active)
        }
    return Result(rules.key, on, tuple(c.rule for c in active), failed, traces)


def _trace(rule: Rule, batch: Batch, rows: npt.NDArray[np.intp]) -> RuleTrace:
    values: dict[str, tuple[object, ...]] = {}
    for name in rule.expr.fields:
        column = batch.columns[name]
        picked = column.values[rows].tolist()
        nulls = column.nulls[rows].tolist()
        is_date = batch.schema[name] is FieldType.DATE
        values[name] = tuple(
            None if null else (EPOCH + timedelta(days=v) if is_date else v)
            for v, null in zip(picked, nulls, strict=True)
        )
    return RuleTrace(rule.code, tuple(rows.tolist()), values)
