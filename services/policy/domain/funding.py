"""Premium funding: who pays an elevator's premium, to the fen.

1. The community fund's appreciation income (增值收益) pays first, as far as its balance goes.
2. Any shortfall is shared among the flats the elevator serves, in proportion to floor area,
   by the largest-remainder method, so the shares add up to the shortfall exactly.
3. Each share is deducted from the flat's personal fund account (分户账) as far as its
   balance goes; the rest — all of it for a flat without an account — is billed in cash.

Flats are processed in ``flat_id`` order, so the same inputs in any order give the same plan
(largest-remainder ties go to the earlier flat).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from services.policy.domain.errors import InvalidValue, NoFlatsToCharge
from services.policy.domain.flats import Flat, require_distinct
from shared.money import allocate


@dataclass(frozen=True)
class FundingLine:
    flat_id: str
    owner_id: str
    share_fen: int
    from_account_fen: int
    billed_cash_fen: int


@dataclass(frozen=True)
class FundingPlan:
    premium_fen: int
    from_appreciation_fen: int
    lines: tuple[FundingLine, ...]

    @property
    def shortfall_fen(self) -> int:
        return self.premium_fen - self.from_appreciation_fen

    @property
    def from_accounts_fen(self) -> int:
        return sum(line.from_account_fen for line in self.lines)

    @property
    def billed_cash_fen(self) -> int:
        return sum(line.billed_cash_fen for line in self.lines)


def plan_funding(
    *,
    premium_fen: int,
    appreciation_balance_fen: int,
    flats: Sequence[Flat],
    account_balances: Mapping[str, int],
) -> FundingPlan:
    """Split ``premium_fen`` between appreciation income, fund accounts and cash bills.

    ``account_balances`` maps flat id to its personal fund balance; a flat missing from it has
    no account. Every served flat gets a line, with zeros when appreciation income suffices.
    """
    if premium_fen <= 0:
        raise InvalidValue("premium_fen", f"premium must be positive, got {premium_fen}")
    if appreciation_balance_fen < 0:
        raise InvalidValue(
            "appreciation_balance_fen",
            f"appreciation balance must not be negative, got {appreciation_balance_fen}",
        )
    require_distinct(flats)
    ordered = sorted(flats, key=lambda f: f.flat_id)
    for flat_id, balance in account_balances.items():
        if balance < 0:
            raise InvalidValue(
                "account_balances", f"fund balance of flat {flat_id!r} is negative: {balance}"
            )

    from_appreciation = min(premium_fen, appreciation_balance_fen)
    shortfall = premium_fen - from_appreciation
    if shortfall and not ordered:
        raise NoFlatsToCharge(shortfall)
    shares = allocate(shortfall, [flat.area for flat in ordered])
    lines = []
    for flat, share in zip(ordered, shares, strict=True):
        from_account = min(share, account_balances.get(flat.flat_id, 0))
        lines.append(
            FundingLine(
                flat_id=flat.flat_id,
                owner_id=flat.owner_id,
                share_fen=share,
                from_account_fen=from_account,
                billed_cash_fen=share - from_account,
            )
        )
    return FundingPlan(
        premium_fen=premium_fen, from_appreciation_fen=from_appreciation, lines=tuple(lines)
    )
