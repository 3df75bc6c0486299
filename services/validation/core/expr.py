"""The rule expression language: a small, safe subset of Python expressions.

An expression is parsed with :mod:`ast` and rebuilt as a tree of the node types below, typed
against the record kind's schema; anything else is refused with an :class:`ExprError` that
names what was refused. Both evaluators walk *this* tree, never Python's, so what one
accepts the other evaluates the same way.

Allowed: field names; int, float, str, bool literals; ``None`` only as ``x == None`` /
``x != None`` (read as ``is_null(x)`` / ``not_null(x)``: comparing with an unknown is
otherwise always unknown, which is never what a rule author means); comparisons
``< <= > >= == !=`` (chained: ``a <= b <= c`` is ``a <= b and b <= c``); ``and`` ``or``
``not``; ``+ - * /`` and unary ``-`` on numbers; ``x in (…)`` / ``x not in (…)`` with a
tuple of literals; and the functions ``is_null(x)``, ``not_null(x)``,
``days_between(a, b)`` (``b - a`` in days, for two dates), ``len(s)`` (characters of a
string) and ``matches(s, "regex")`` (the whole string must match, :func:`re.fullmatch`).

Types: numbers (int and float fields, numeric literals) compare and compute together; dates
compare only with dates; strings compare with strings; bools only with ``==``/``!=``.
The whole expression must be a bool.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from enum import StrEnum

from services.validation.core.fields import FieldType, Schema

MAX_EXPR_CHARS = 2_000  # a rule is a line or two; a longer one is a mistake or an attack


class Kind(StrEnum):
    """What an expression node evaluates to."""

    NUM = "num"
    DATE = "date"
    STR = "str"
    BOOL = "bool"


_FIELD_KIND = {
    FieldType.INT: Kind.NUM,
    FieldType.FLOAT: Kind.NUM,
    FieldType.DATE: Kind.DATE,
    FieldType.STR: Kind.STR,
    FieldType.BOOL: Kind.BOOL,
}


class ExprError(ValueError):
    """An expression the language does not allow, or that does not type-check."""

    def __init__(self, expr: str, reason: str) -> None:
        super().__init__(f"{reason} in {expr!r}")
        self.expr = expr
        self.reason = reason


class CmpOp(StrEnum):
    LT = "<"
    LE = "<="
    GT = ">"
    GE = ">="
    EQ = "=="
    NE = "!="


class ArithOp(StrEnum):
    ADD = "+"
    SUB = "-"
    MUL = "*"
    DIV = "/"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind


@dataclass(frozen=True)
class Const:
    value: float | str | bool  # numbers are always float (see fields.py)
    kind: Kind


@dataclass(frozen=True)
class Compare:
    op: CmpOp
    left: Node
    right: Node


@dataclass(frozen=True)
class And:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Arith:
    op: ArithOp
    left: Node
    right: Node


@dataclass(frozen=True)
class Neg:
    operand: Node


@dataclass(frozen=True)
class IsNull:
    operand: Node
    negate: bool  # True: not_null


@dataclass(frozen=True)
class DaysBetween:
    start: Node
    end: Node


@dataclass(frozen=True)
class Len:
    operand: Node


@dataclass(frozen=True)
class Matches:
    operand: Node
    pattern: str


@dataclass(frozen=True)
class In:
    operand: Node
    values: tuple[Const, ...]
    negate: bool


Node = (
    Field
    | Const
    | Compare
    | And
    | Or
    | Not
    | Arith
    | Neg
    | IsNull
    | DaysBetween
    | Len
    | Matches
    | In
)


@dataclass(frozen=True)
class Expr:
    """A parsed, type-checked expression and the fields it reads (in first-use order)."""

    source: str
    root: Node
    fields: tuple[str, ...]


def kind_of(node: Node) -> Kind:
    match node:
        case Field(kind=kind) | Const(kind=kind):
            return kind
        case Arith() | Neg() | DaysBetween() | Len():
            return Kind.NUM
        case _:
            return Kind.BOOL


_CMP = {
    ast.Lt: CmpOp.LT,
    ast.LtE: CmpOp.LE,
    ast.Gt: CmpOp.GT,
    ast.GtE: CmpOp.GE,
    ast.Eq: CmpOp.EQ,
    ast.NotEq: CmpOp.NE,
}
_ARITH = {ast.Add: ArithOp.ADD, ast.Sub: ArithOp.SUB, ast.Mult: ArithOp.MUL, ast.Div: ArithOp.DIV}
FUNCTIONS = ("is_null", "not_null", "days_between", "len", "matches")


def parse(source: str, schema: Schema) -> Expr:
    """Parse and type-check ``source`` against ``schema``; :class:`ExprError` if refused."""
    if len(source) > MAX_EXPR_CHARS:
        raise ExprError(source[:40] + "…", f"longer than {MAX_EXPR_CHARS} characters")
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as error:
        raise ExprError(source, f"syntax error: {error.msg}") from None
    builder = _Builder(source, schema)
    root = builder.build(tree.body)
    if kind_of(root) is not Kind.BOOL:
        raise ExprError(source, f"the expression is a {kind_of(root)}, not a bool")
    return Expr(source=source, root=root, fields=tuple(dict.fromkeys(builder.used)))


class _Builder:
    def __init__(self, source: str, schema: Schema) -> None:
        self.source = source
        self.schema = schema
        self.used: list[str] = []

    def fail(self, reason: str) -> ExprError:
        return ExprError(self.source, reason)

    def build(self, node: ast.expr) -> Node:
        match node:
            case ast.Name(id=name):
                if name not in self.schema:
                    raise self.fail(f"unknown field {name!r}")
                self.used.append(name)
                return Field(name, _FIELD_KIND[self.schema[name]])
            case ast.Constant(value=value):
                return self.constant(value)
            case ast.BoolOp(op=op, values=values):
                operands = tuple(self.boolean(v) for v in values)
                return And(operands) if isinstance(op, ast.And) else Or(operands)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return Not(self.boolean(operand))
            case ast.UnaryOp(op=ast.USub(), operand=operand):
                inner = self.build(operand)
                if kind_of(inner) is not Kind.NUM:
                    raise self.fail(f"unary - needs a number, got a {kind_of(inner)}")
                if isinstance(inner, Const):
                    return Const(-float(inner.value), Kind.NUM)
                return Neg(inner)
            case ast.BinOp(op=op, left=left, right=right) if type(op) in _ARITH:
                lhs, rhs = self.build(left), self.build(right)
                for side in (lhs, rhs):
                    if kind_of(side) is not Kind.NUM:
                        raise self.fail(
                            f"arithmetic needs numbers, got a {kind_of(side)}"
                            + (
                                " (use days_between for dates)"
                                if kind_of(side) is Kind.DATE
                                else ""
                            )
                        )
                return Arith(_ARITH[type(op)], lhs, rhs)
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self.compare(left, ops, comparators)
            case ast.Call():
                return self.call(node)
            case ast.Attribute():
                raise self.fail("attribute access is not allowed")
            case ast.Subscript():
                raise self.fail("subscripts are not allowed")
            case (
                ast.Lambda() | ast.ListComp() | ast.SetComp() | ast.DictComp() | ast.GeneratorExp()
            ):
                raise self.fail(f"{type(node).__name__} is not allowed")
            case _:
                raise self.fail(f"{type(node).__name__} is not allowed")

    def constant(self, value: object) -> Const:
        if isinstance(value, bool):
            return Const(value, Kind.BOOL)
        if isinstance(value, int | float):
            number = float(value)
            if number != number or number in (float("inf"), float("-inf")):
                raise self.fail(f"the number {value!r} is not finite")
            if isinstance(value, int) and abs(value) > 2**53:
                raise self.fail(f"the integer {value} is beyond ±2**53")
            return Const(number, Kind.NUM)
        if isinstance(value, str):
            return Const(value, Kind.STR)
        if value is None:
            raise self.fail("None is allowed only as x == None or x != None (or use is_null)")
        raise self.fail(f"literal {value!r} is not allowed")

    def boolean(self, node: ast.expr) -> Node:
        built = self.build(node)
        if kind_of(built) is not Kind.BOOL:
            raise self.fail(f"and/or/not need bools, got a {kind_of(built)}")
        return built

    def compare(self, left: ast.expr, ops: list[ast.cmpop], comparators: list[ast.expr]) -> Node:
        if len(ops) == 1 and isinstance(ops[0], ast.Eq | ast.NotEq):
            for side, other in ((left, comparators[0]), (comparators[0], left)):
                if isinstance(side, ast.Constant) and side.value is None:
                    return IsNull(self.build(other), negate=isinstance(ops[0], ast.NotEq))
        if len(ops) == 1 and isinstance(ops[0], ast.In | ast.NotIn):
            return self.membership(left, comparators[0], negate=isinstance(ops[0], ast.NotIn))
        parts: list[Node] = []
        lhs = self.build(left)
        for op, comparator in zip(ops, comparators, strict=True):
            if type(op) not in _CMP:
                raise self.fail(f"the comparison {type(op).__name__} is not allowed here")
            rhs = self.build(comparator)
            parts.append(self.typed_compare(_CMP[type(op)], lhs, rhs))
            lhs = rhs
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def typed_compare(self, op: CmpOp, lhs: Node, rhs: Node) -> Compare:
        left, right = kind_of(lhs), kind_of(rhs)
        if left is not right:
            raise self.fail(f"cannot compare a {left} with a {right}")
        if left is Kind.BOOL and op not in (CmpOp.EQ, CmpOp.NE):
            raise self.fail(f"bools compare only with == and !=, not {op}")
        return Compare(op, lhs, rhs)

    def membership(self, left: ast.expr, right: ast.expr, *, negate: bool) -> In:
        operand = self.build(left)
        if not isinstance(right, ast.Tuple | ast.List | ast.Set) or not right.elts:
            raise self.fail('\'in\' needs a non-empty tuple of literals: x in ("a", "b")')
        values: list[Const] = []
        for element in right.elts:
            if not isinstance(element, ast.Constant):
                raise self.fail("'in' needs a tuple of literals")
            const = self.constant(element.value)
            if const.kind is not kind_of(operand) or const.kind is Kind.BOOL:
                raise self.fail(f"'in' on a {kind_of(operand)} with a {const.kind} literal")
            values.append(const)
        return In(operand, tuple(values), negate)

    def call(self, node: ast.Call) -> Node:
        if isinstance(node.func, ast.Attribute):
            raise self.fail("attribute access is not allowed")
        if not isinstance(node.func, ast.Name):
            raise self.fail("only the functions " + ", ".join(FUNCTIONS) + " may be called")
        name = node.func.id
        if name not in FUNCTIONS:
            raise self.fail(f"unknown function {name!r}; allowed: " + ", ".join(FUNCTIONS))
        if node.keywords:
            raise self.fail(f"{name}() takes no keyword arguments")
        args = node.args
        arity = {"is_null": 1, "not_null": 1, "len": 1, "days_between": 2, "matches": 2}[name]
        if len(args) != arity or any(isinstance(a, ast.Starred) for a in args):
            raise self.fail(f"{name}() takes {arity} argument(s), got {len(args)}")
        if name in ("is_null", "not_null"):
            return IsNull(self.build(args[0]), negate=name == "not_null")
        if name == "days_between":
            start, end = self.build(args[0]), self.build(args[1])
            if kind_of(start) is not Kind.DATE or kind_of(end) is not Kind.DATE:
                raise self.fail("days_between() takes two dates")
            return DaysBetween(start, end)
        operand = self.build(args[0])
        if kind_of(operand) is not Kind.STR:
            raise self.fail(f"{name}() takes a string, got a {kind_of(operand)}")
        if name == "len":
            return Len(operand)
        pattern = args[1]
        if not isinstance(pattern, ast.Constant) or not isinstance(pattern.value, str):
            raise self.fail("matches() takes a string literal as its pattern")
        try:
            re.compile(pattern.value)
        except re.error as error:
            raise self.fail(f"bad regex {pattern.value!r}: {error}") from None
        return Matches(operand, pattern.value)
