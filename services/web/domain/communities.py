"""What the community pages compute from the policy service's answers, kept pure for tests.

- Owner identities are shown in part only (the UI is for adjusters, who need to tell owners
  apart, not to know them): the last 4 characters of an id; names arrive masked already.
- A vote's fractions come as "p/q (0.xxxx)": the exact share and a rendering for people.
- A vote's explanation lines come in the policy service's fixed English grammar
  (``services/policy/domain/voting.py``); they are parsed here so the page can say them in the
  reader's language, and a line that does not parse is shown as it came.
- A premium allocation must add up: appreciation income plus the owners' shares is the premium.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

__all__ = [
    "Allocation",
    "Check",
    "Ratio",
    "Verdict",
    "allocation",
    "inspection_state",
    "mask_id",
    "natural_key",
    "parse_explanation",
    "parse_ratio",
]

KEEP = 4


def mask_id(value: str) -> str:
    """``owner-8f2a91c3d4`` → ``****c3d4``; an id of 4 characters or fewer is hidden whole."""
    if len(value) <= KEEP:
        return "*" * len(value)
    return "****" + value[-KEEP:]


@dataclass(frozen=True)
class Ratio:
    exact: str  # "2/3", "1", "0"
    decimal: str  # "0.6667"; empty when the text did not carry one


_RATIO = re.compile(r"\s*(\d+(?:/\d+)?)\s*\((\d+\.\d+)\)\s*")


def parse_ratio(text: str) -> Ratio:
    """``"2/3 (0.6667)"`` → ``Ratio("2/3", "0.6667")``; any other text is kept whole as exact."""
    match = _RATIO.fullmatch(text)
    if match is None:
        return Ratio(text.strip(), "")
    return Ratio(match.group(1), match.group(2))


@dataclass(frozen=True)
class Check:
    """``turnout 0.7012 of area ≥ 2/3 ✓``: one threshold test of a vote."""

    measure: str  # turnout.area, turnout.headcount, agree.participating.area, agree.all.headcount…
    value: str  # the 4-place rendering the service chose (rounded away from the threshold)
    symbol: str  # ≥ < > ≤
    threshold: str  # "2/3"
    met: bool


@dataclass(frozen=True)
class Verdict:
    """``passed under civil_code_2021_art278@1: all 4 conditions met`` (or failed, k of n)."""

    passed: bool
    rule_set: str
    conditions: int
    unmet: int


_CHECK = re.compile(
    r"(turnout|agree) (\d+\.\d+) of (?:(participating|all) )?(area|headcount) "
    r"(≥|>|<|≤) (\d+(?:/\d+)?) ([✓✗])"
)
_PASSED = re.compile(r"passed under (\S+): all (\d+) conditions met")
_FAILED = re.compile(r"failed under (\S+): (\d+) of (\d+) conditions not met")


def parse_explanation(line: str) -> Check | Verdict | None:
    """One line of a vote's explanation, understood; None for a line in another form."""
    if match := _CHECK.fullmatch(line.strip()):
        stage, value, basis, measure, symbol, threshold, mark = match.groups()
        if (stage == "agree") != (basis is not None):
            return None  # turnout has no basis; agree always names one
        name = f"{stage}.{basis}.{measure}" if basis else f"{stage}.{measure}"
        return Check(name, value, symbol, threshold, mark == "✓")
    if match := _PASSED.fullmatch(line.strip()):
        return Verdict(True, match.group(1), int(match.group(2)), 0)
    if match := _FAILED.fullmatch(line.strip()):
        return Verdict(False, match.group(1), int(match.group(3)), int(match.group(2)))
    return None


@dataclass(frozen=True)
class Allocation:
    """The sums of a premium's funding plan and whether they account for every fen."""

    premium_fen: int
    from_appreciation_fen: int
    shares_fen: int
    from_accounts_fen: int
    billed_cash_fen: int

    @property
    def adds_up(self) -> bool:
        return (
            self.from_appreciation_fen + self.shares_fen == self.premium_fen
            and self.from_accounts_fen + self.billed_cash_fen == self.shares_fen
        )


def allocation(
    premium_fen: int, from_appreciation_fen: int, lines: Iterable[tuple[int, int, int]]
) -> Allocation:
    """``lines`` are (share, from personal account, billed in cash) per flat, in fen."""
    shares = accounts = cash = 0
    for share, account, billed in lines:
        shares += share
        accounts += account
        cash += billed
    return Allocation(premium_fen, from_appreciation_fen, shares, accounts, cash)


def inspection_state(next_due_on: str, result: str, today: date) -> str:
    """``valid``, ``failed`` (the last inspection failed), ``lapsed`` (past its due date) or
    ``unknown`` (none on record): an elevator must not run unless it is ``valid``."""
    if not next_due_on:
        return "unknown"
    try:
        due = date.fromisoformat(next_due_on)
    except ValueError:
        return "unknown"
    if result == "failed":
        return "failed"
    return "valid" if due >= today else "lapsed"


def natural_key(*parts: str) -> tuple[tuple[int, int, str], ...]:
    """Sort "2" before "10" (buildings, units, flat numbers), text after numbers."""
    return tuple((0, int(p), "") if p.isascii() and p.isdigit() else (1, 0, p) for p in parts)
