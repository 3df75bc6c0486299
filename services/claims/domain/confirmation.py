"""Confirmation of a repair on site: two parties, and the zero-cost-sharing promise.

A repair counts as confirmed only when **both** the property manager (the repair is done and
the elevator runs) and an owner representative (no money was asked of the owners: 零分摊)
have confirmed. Until then ``confirm`` leaves the claim ``repaired``. A party confirming again
(a retry, a second owner representative) changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from services.claims.domain.errors import InvalidValue, OwnersCharged
from services.claims.domain.states import ClaimState
from services.claims.domain.times import require_aware


class ConfirmingParty(StrEnum):
    PROPERTY_MANAGER = "property_manager"  # 物业
    OWNER_REPRESENTATIVE = "owner_representative"  # 业主代表 (often of the owners' committee)


REQUIRED_PARTIES: frozenset[ConfirmingParty] = frozenset(ConfirmingParty)


@dataclass(frozen=True)
class Confirmation:
    party: ConfirmingParty
    by: str  # the person, as the partner identifies them
    at: datetime
    # The owner representative's statement that owners paid nothing. The property manager's
    # confirmation is about the repair only, so it is True there by definition.
    no_charge_to_owners: bool = True
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "party", ConfirmingParty(self.party))
        object.__setattr__(self, "at", require_aware(self.at, "at"))
        if not self.by.strip():
            raise InvalidValue("by", "a confirmation must say who confirmed")
        if not self.no_charge_to_owners:
            # Not a validation error: the statement is well formed, the claim cannot go on.
            raise OwnersCharged()


def state_after_confirm(parties: Iterable[ConfirmingParty]) -> ClaimState:
    """``confirmed`` once every required party has confirmed, else still ``repaired``."""
    return (
        ClaimState.CONFIRMED
        if {ConfirmingParty(p) for p in parties} >= REQUIRED_PARTIES
        else ClaimState.REPAIRED
    )
