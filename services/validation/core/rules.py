"""Rule sets: versioned data files, one per record kind (``claims.toml``, ``maintenance.toml``,
``registry.toml``, and the exchange's imports: ``inspection.toml``, ``fund_account.toml``,
``roster.toml``).

A rule set names its record kind's fields and types (``[fields]``) and lists rules. A rule
has a stable ``code`` (UPPER_SNAKE, stored with every validation result, so never renamed or
reused: retired codes stay listed under ``retired``), a description in English and Chinese,
a ``severity`` and an ``expr`` that holds for a good row: the rule *fails* a row when its
expression is definitely false (see the package docstring for nulls).

A rule applies on dates in ``[effective_from, effective_to)``; ``effective_to`` is optional.
A code may appear more than once when its windows do not overlap: that is how a threshold
changes on a date without rewriting history (a claim judged on its loss date gets the rule
of that day).
"""

from __future__ import annotations

import itertools
import re
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from importlib import resources
from types import MappingProxyType
from typing import Any

from services.validation.core.expr import Expr, ExprError, parse
from services.validation.core.fields import FieldType, Schema

_PACKAGE = "services.validation.core"
# One packaged file each: <kind>.toml.
KINDS = ("claims", "maintenance", "registry", "inspection", "fund_account", "roster")

_CODE = re.compile(r"[A-Z][A-Z0-9]*(_[A-Z0-9]+)*")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_VERSION = re.compile(r"\d+(\.\d+)*")
_RULE_KEYS = {"code", "description", "severity", "expr", "effective_from", "effective_to"}
_TOP_KEYS = {"name", "version", "description", "fields", "rules", "retired"}


class InvalidRuleSet(ValueError):
    """A rule-set file is malformed; the message says where."""

    code = "INVALID_RULE_SET"


class UnknownRuleSet(LookupError):
    code = "UNKNOWN_RULE_SET"


class Severity(StrEnum):
    ERROR = "error"  # the row is refused
    WARNING = "warning"  # a person looks at it


@dataclass(frozen=True)
class Rule:
    code: str
    description_en: str
    description_zh: str
    severity: Severity
    expr: Expr
    effective_from: date
    effective_to: date | None = None  # exclusive

    def effective_on(self, day: date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    description: str
    fields: Schema
    rules: tuple[Rule, ...]
    retired: frozenset[str] = frozenset()

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"

    @property
    def codes(self) -> tuple[str, ...]:
        """Every code of the set, once each, in file order."""
        return tuple(dict.fromkeys(rule.code for rule in self.rules))

    def effective(self, day: date) -> tuple[Rule, ...]:
        """The rules that apply on ``day``, in file order (at most one per code)."""
        return tuple(rule for rule in self.rules if rule.effective_on(day))


def parse_rule_set(text: str, *, source: str = "<text>") -> RuleSet:
    """A rule set from TOML text; :class:`InvalidRuleSet` naming the file and the rule."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidRuleSet(f"{source}: {error}") from None
    return _rule_set(data, source)


def load_rule_set(kind: str) -> RuleSet:
    """The packaged rule set of a record kind (one of :data:`KINDS`)."""
    if kind not in KINDS:
        raise UnknownRuleSet(f"no rule set for {kind!r}; known: {', '.join(KINDS)}")
    name = f"{kind}.toml"
    text = resources.files(_PACKAGE).joinpath(name).read_text(encoding="utf-8")
    return parse_rule_set(text, source=name)


def load_rule_sets() -> Mapping[str, RuleSet]:
    """Every packaged rule set by name, loaded and checked once per call."""
    return MappingProxyType({kind: load_rule_set(kind) for kind in KINDS})


def _require(data: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    if key not in data:
        raise InvalidRuleSet(f"{where}: missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        raise InvalidRuleSet(f"{where}: {key!r} must be a {kind.__name__}")
    return value


def _rule_set(data: Mapping[str, Any], source: str) -> RuleSet:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise InvalidRuleSet(f"{source}: unknown keys {sorted(unknown)}")
    name = _require(data, "name", str, source)
    version = _require(data, "version", str, source)
    if not _NAME.fullmatch(name):
        raise InvalidRuleSet(f"{source}: name must be lower_snake_case, got {name!r}")
    if not _VERSION.fullmatch(version):
        raise InvalidRuleSet(f"{source}: version must be dotted numbers, got {version!r}")
    fields: dict[str, FieldType] = {}
    for field_name, type_name in _require(data, "fields", dict, source).items():
        if not _NAME.fullmatch(field_name):
            raise InvalidRuleSet(f"{source}: field name {field_name!r} is not lower_snake_case")
        try:
            fields[field_name] = FieldType(type_name)
        except ValueError:
            raise InvalidRuleSet(
                f"{source}: field {field_name!r} has unknown type {type_name!r}; "
                f"known: {', '.join(t.value for t in FieldType)}"
            ) from None
    schema = MappingProxyType(fields)
    rules = tuple(
        _rule(entry, schema, f"{source} rule #{index + 1}")
        for index, entry in enumerate(_require(data, "rules", list, source))
    )
    retired = frozenset(data.get("retired", []))
    for code in retired:
        if not isinstance(code, str) or not _CODE.fullmatch(code):
            raise InvalidRuleSet(f"{source}: retired code {code!r} is not UPPER_SNAKE")
    _check_windows(rules, retired, source)
    return RuleSet(
        name=name,
        version=version,
        description=str(data.get("description", "")),
        fields=schema,
        rules=rules,
        retired=retired,
    )


def _rule(entry: Any, schema: Schema, where: str) -> Rule:
    if not isinstance(entry, dict):
        raise InvalidRuleSet(f"{where}: a rule must be a table")
    unknown = set(entry) - _RULE_KEYS
    if unknown:
        raise InvalidRuleSet(f"{where}: unknown keys {sorted(unknown)}")
    code = _require(entry, "code", str, where)
    where = f"{where} ({code})"
    if not _CODE.fullmatch(code):
        raise InvalidRuleSet(f"{where}: code must be UPPER_SNAKE")
    description = _require(entry, "description", dict, where)
    texts = {lang: description.get(lang) for lang in ("en", "zh")}
    if set(description) != {"en", "zh"} or not all(
        isinstance(t, str) and t for t in texts.values()
    ):
        raise InvalidRuleSet(f"{where}: description needs exactly en and zh texts")
    try:
        severity = Severity(_require(entry, "severity", str, where))
    except ValueError:
        raise InvalidRuleSet(f"{where}: severity must be error or warning") from None
    try:
        expr = parse(_require(entry, "expr", str, where), schema)
    except ExprError as error:
        raise InvalidRuleSet(f"{where}: {error}") from None
    start = _require(entry, "effective_from", date, where)
    end = entry.get("effective_to")
    if end is not None and (not isinstance(end, date) or end <= start):
        raise InvalidRuleSet(f"{where}: effective_to must be a date after effective_from")
    return Rule(
        code=code,
        description_en=str(texts["en"]),
        description_zh=str(texts["zh"]),
        severity=severity,
        expr=expr,
        effective_from=start,
        effective_to=end,
    )


def _check_windows(rules: tuple[Rule, ...], retired: frozenset[str], source: str) -> None:
    by_code: dict[str, list[Rule]] = {}
    for rule in rules:
        if rule.code in retired:
            raise InvalidRuleSet(f"{source}: {rule.code} is retired and may not be reused")
        by_code.setdefault(rule.code, []).append(rule)
    for code, versions in by_code.items():
        ordered = sorted(versions, key=lambda r: r.effective_from)
        for earlier, later in itertools.pairwise(ordered):
            if earlier.effective_to is None or earlier.effective_to > later.effective_from:
                raise InvalidRuleSet(f"{source}: {code} has overlapping effective windows")


def iter_codes(rule_sets: Mapping[str, RuleSet]) -> Iterator[tuple[str, str]]:
    """(rule set name, code) for every code of every set, retired ones included."""
    for name, rule_set in rule_sets.items():
        for code in (*rule_set.codes, *sorted(rule_set.retired)):
            yield name, code
