"""Single-elevator enrolment vote (单梯表决).

The electorate is the owners of the flats one elevator serves. Following the Supreme People's
Court interpretation on building ownership (arts. 8–9), headcount counts owners — one per
flat, but an owner holding several flats counts once — and area is the registered floor area
of their flats. Abstaining counts as taking part but not as agreeing; an owner with no ballot
did not vote.

Which thresholds apply is data: a named, versioned ``RuleSet`` (see ``vote_rules.toml``).
"""

from __future__ import annotations

import math
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction
from typing import Any

from services.policy.domain.catalogue import read_packaged_text
from services.policy.domain.errors import (
    EmptyElectorate,
    InvalidRuleSet,
    NotInElectorate,
    UnknownRuleSet,
)
from services.policy.domain.flats import Flat, require_distinct


class Ballot(StrEnum):
    AGREE = "agree"
    DISAGREE = "disagree"
    ABSTAIN = "abstain"
    NOT_VOTED = "not_voted"


class Basis(StrEnum):
    """What the agree share is a share of."""

    PARTICIPATING = "participating"
    ALL = "all"


class Comparison(StrEnum):
    AT_LEAST = ">="
    MORE_THAN = ">"


@dataclass(frozen=True)
class Threshold:
    ratio: Fraction
    comparison: Comparison

    def __post_init__(self) -> None:
        if not 0 < self.ratio <= 1:
            raise InvalidRuleSet(f"threshold ratio must be in (0, 1], got {self.ratio}")

    def met(self, value: Fraction) -> bool:
        if self.comparison is Comparison.AT_LEAST:
            return value >= self.ratio
        return value > self.ratio

    def symbol(self, met: bool) -> str:
        """The relation that holds between a value and the ratio: ≥ or > when met, else < or ≤."""
        if self.comparison is Comparison.AT_LEAST:
            return "≥" if met else "<"
        return ">" if met else "≤"


_VERSION = re.compile(r"\d+(\.\d+)*")


def version_key(version: str) -> tuple[int, ...]:
    """Order versions "1" < "1.1" < "2" < "10" numerically, part by part."""
    return tuple(int(part) for part in version.split("."))


@dataclass(frozen=True)
class RuleSet:
    name: str
    version: str
    description: str
    agree_basis: Basis
    agree_area: Threshold
    agree_headcount: Threshold
    turnout_area: Threshold | None = None
    turnout_headcount: Threshold | None = None

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z][a-z0-9_]*", self.name):
            raise InvalidRuleSet(
                f"rule set name must be lower_snake_case, got {self.name!r}", field="name"
            )
        if not _VERSION.fullmatch(self.version):
            raise InvalidRuleSet(
                f"rule set version must be numbers separated by dots, got {self.version!r}",
                field="version",
            )

    @property
    def key(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class VoteTally:
    """Exact sums over the electorate."""

    electorate_headcount: int
    electorate_area: Decimal
    participating_headcount: int
    participating_area: Decimal
    agree_headcount: int
    agree_area: Decimal


@dataclass(frozen=True)
class Check:
    """One threshold test, e.g. turnout of area ≥ 2/3."""

    stage: str  # "turnout" or "agree"
    measure: str  # "area" or "headcount"
    basis: Basis | None  # for agree checks: of participating or of all owners
    value: Fraction
    threshold: Threshold
    met: bool

    def describe(self) -> str:
        """Plain words, e.g. "agree 0.4988 of participating headcount ≤ 1/2 ✗"."""
        of = self.measure if self.basis is None else f"{self.basis.value} {self.measure}"
        mark = "✓" if self.met else "✗"
        return (
            f"{self.stage} {four_places(self.value, self.threshold.ratio)} of {of} "
            f"{self.threshold.symbol(self.met)} {self.threshold.ratio} {mark}"
        )


@dataclass(frozen=True)
class VoteOutcome:
    rule_set: str  # "name@version"
    passed: bool
    tally: VoteTally
    turnout_area: Fraction
    turnout_headcount: Fraction
    # Shares of the rule set's agree basis (participating or all owners).
    agree_area: Fraction
    agree_headcount: Fraction
    checks: tuple[Check, ...]

    @property
    def explanation(self) -> tuple[str, ...]:
        failed = sum(not c.met for c in self.checks)
        verdict = (
            f"passed under {self.rule_set}: all {len(self.checks)} conditions met"
            if self.passed
            else f"failed under {self.rule_set}: {failed} of {len(self.checks)} conditions not met"
        )
        return (*(c.describe() for c in self.checks), verdict)


def four_places(value: Fraction, threshold: Fraction | None = None) -> str:
    """A ratio as 0.xxxx for people; the exact Fraction stays in the outcome.

    Rounded half to even, or, given the ``threshold`` it is compared with, away from it (down
    below it, up above it, to nearest when equal), so the figure never seems to contradict
    the verdict: 19999/29999 shows as "0.6666 < 2/3", not as a puzzling "0.6667 < 2/3".
    """
    scaled = value * 10_000
    if threshold is None:
        rounded = round(scaled)
    elif value < threshold:
        rounded = math.floor(scaled)
    elif value > threshold:
        rounded = math.ceil(scaled)
    else:
        rounded = round(scaled)
    return f"{rounded // 10_000}.{rounded % 10_000:04d}"


def _share(part: Decimal | int, whole: Decimal | int) -> Fraction:
    # Nobody participated: nobody agreed either, so the share is 0, not undefined.
    return Fraction(part) / Fraction(whole) if whole else Fraction(0)


def decide_vote(
    rule_set: RuleSet, flats: Sequence[Flat], ballots: Mapping[str, Ballot]
) -> VoteOutcome:
    """Decide a vote: tally the electorate, test every threshold, explain each test.

    ``flats`` are the flats the elevator serves; ``ballots`` map owner id to ballot (an owner
    without one did not vote). All thresholds are tested and reported, even after one fails,
    so the explanation shows how far the vote is from passing.
    """
    if not flats:
        raise EmptyElectorate()
    require_distinct(flats)
    owner_area: dict[str, Decimal] = {}
    for flat in flats:
        owner_area[flat.owner_id] = owner_area.get(flat.owner_id, Decimal(0)) + flat.area
    for owner_id in sorted(ballots):
        if owner_id not in owner_area:
            raise NotInElectorate(owner_id)

    def owners_voting(choices: set[Ballot]) -> list[str]:
        return [o for o in owner_area if ballots.get(o, Ballot.NOT_VOTED) in choices]

    participating = owners_voting({Ballot.AGREE, Ballot.DISAGREE, Ballot.ABSTAIN})
    agreeing = owners_voting({Ballot.AGREE})
    tally = VoteTally(
        electorate_headcount=len(owner_area),
        electorate_area=sum(owner_area.values(), Decimal(0)),
        participating_headcount=len(participating),
        participating_area=sum((owner_area[o] for o in participating), Decimal(0)),
        agree_headcount=len(agreeing),
        agree_area=sum((owner_area[o] for o in agreeing), Decimal(0)),
    )
    turnout_area = _share(tally.participating_area, tally.electorate_area)
    turnout_headcount = _share(tally.participating_headcount, tally.electorate_headcount)
    if rule_set.agree_basis is Basis.PARTICIPATING:
        agree_area = _share(tally.agree_area, tally.participating_area)
        agree_headcount = _share(tally.agree_headcount, tally.participating_headcount)
    else:
        agree_area = _share(tally.agree_area, tally.electorate_area)
        agree_headcount = _share(tally.agree_headcount, tally.electorate_headcount)

    tests: list[tuple[str, str, Basis | None, Fraction, Threshold | None]] = [
        ("turnout", "area", None, turnout_area, rule_set.turnout_area),
        ("turnout", "headcount", None, turnout_headcount, rule_set.turnout_headcount),
        ("agree", "area", rule_set.agree_basis, agree_area, rule_set.agree_area),
        ("agree", "headcount", rule_set.agree_basis, agree_headcount, rule_set.agree_headcount),
    ]
    checks = tuple(
        Check(stage, measure, basis, value, threshold, threshold.met(value))
        for stage, measure, basis, value, threshold in tests
        if threshold is not None
    )
    return VoteOutcome(
        rule_set=rule_set.key,
        passed=all(c.met for c in checks),
        tally=tally,
        turnout_area=turnout_area,
        turnout_headcount=turnout_headcount,
        agree_area=agree_area,
        agree_headcount=agree_headcount,
        checks=checks,
    )


# ------------------------------------------------------------------ rule sets as data

_THRESHOLD = re.compile(r"(>=|≥|>)\s*(\d+)\s*(?:/\s*(\d+))?")
_RULE_SET_KEYS = {"name", "version", "description", "agree_basis", "turnout", "agree"}
_MEASURES = {"area", "headcount"}


def parse_threshold(text: str, *, field: str = "threshold") -> Threshold:
    """``">= 2/3"`` (at least) or ``"> 1/2"`` (more than)."""
    match = _THRESHOLD.fullmatch(text.strip()) if isinstance(text, str) else None
    if match is None:
        raise InvalidRuleSet(
            f'threshold must look like ">= 2/3" or "> 1/2", got {text!r}', field=field
        )
    symbol, numerator, denominator = match.groups()
    if denominator is not None and int(denominator) == 0:
        raise InvalidRuleSet(f"threshold {text!r} divides by zero", field=field)
    comparison = Comparison.MORE_THAN if symbol == ">" else Comparison.AT_LEAST
    try:
        return Threshold(Fraction(int(numerator), int(denominator or 1)), comparison)
    except InvalidRuleSet as error:
        raise InvalidRuleSet(error.message, field=field) from None


def parse_rule_sets(text: str) -> dict[str, RuleSet]:
    """Rule sets from TOML text (``[[rule_set]]`` tables), keyed by ``"name@version"``."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise InvalidRuleSet(f"rule sets are not valid TOML: {error}") from None
    entries = document.get("rule_set")
    if not isinstance(entries, list) or not entries:
        raise InvalidRuleSet("rule sets must be a non-empty array of [[rule_set]] tables")
    rule_sets: dict[str, RuleSet] = {}
    for index, entry in enumerate(entries):
        rule_set = _rule_set_from_table(entry, f"rule_set[{index}]")
        if rule_set.key in rule_sets:
            raise InvalidRuleSet(f"rule set {rule_set.key} is defined twice")
        rule_sets[rule_set.key] = rule_set
    return rule_sets


def _rule_set_from_table(entry: Any, where: str) -> RuleSet:
    if not isinstance(entry, dict):
        raise InvalidRuleSet(f"{where} must be a table", field=where)
    unknown = set(entry) - _RULE_SET_KEYS
    if unknown:
        raise InvalidRuleSet(f"{where} has unknown keys {sorted(unknown)}", field=where)
    for key in ("name", "version", "description", "agree_basis"):
        if not isinstance(entry.get(key), str):
            raise InvalidRuleSet(f"{where}.{key} must be a string", field=f"{where}.{key}")
    try:
        basis = Basis(entry["agree_basis"])
    except ValueError:
        raise InvalidRuleSet(
            f"{where}.agree_basis must be 'participating' or 'all', got {entry['agree_basis']!r}",
            field=f"{where}.agree_basis",
        ) from None
    agree = _thresholds(entry.get("agree"), f"{where}.agree", required=True)
    turnout = _thresholds(entry.get("turnout", {}), f"{where}.turnout", required=False)
    agree_area, agree_headcount = agree["area"], agree["headcount"]
    assert agree_area is not None and agree_headcount is not None  # required=True
    try:
        return RuleSet(
            name=entry["name"],
            version=entry["version"],
            description=" ".join(entry["description"].split()),
            agree_basis=basis,
            agree_area=agree_area,
            agree_headcount=agree_headcount,
            turnout_area=turnout["area"],
            turnout_headcount=turnout["headcount"],
        )
    except InvalidRuleSet as error:
        field = where if error.field is None else f"{where}.{error.field}"
        raise InvalidRuleSet(error.message, field=field) from None


def _thresholds(table: Any, where: str, *, required: bool) -> dict[str, Threshold | None]:
    if not isinstance(table, dict):
        raise InvalidRuleSet(f"{where} must be a table of area and headcount", field=where)
    unknown = set(table) - _MEASURES
    if unknown:
        raise InvalidRuleSet(f"{where} has unknown keys {sorted(unknown)}", field=where)
    if required and set(table) != _MEASURES:
        raise InvalidRuleSet(f"{where} needs both area and headcount", field=where)
    return {
        measure: (
            parse_threshold(table[measure], field=f"{where}.{measure}")
            if measure in table
            else None
        )
        for measure in sorted(_MEASURES)
    }


def load_default_rule_sets() -> dict[str, RuleSet]:
    """The rule sets shipped with the service (``vote_rules.toml``)."""
    return parse_rule_sets(read_packaged_text("vote_rules.toml"))


def select_rule_set(
    rule_sets: Mapping[str, RuleSet], name: str, version: str | None = None
) -> RuleSet:
    """The rule set ``name@version``, or the latest version of ``name`` when none is given."""
    if version is not None:
        found = rule_sets.get(f"{name}@{version}")
        if found is None:
            raise UnknownRuleSet(name, version)
        return found
    candidates = [r for r in rule_sets.values() if r.name == name]
    if not candidates:
        raise UnknownRuleSet(name)
    return max(candidates, key=lambda r: version_key(r.version))
