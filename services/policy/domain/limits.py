"""The limits ledger of one policy year: the pure rule behind ReserveLimit/ReleaseLimit/PayLimit.

Each claim holds at most one entry, keyed by claim id, that moves
``reserved → paid`` or ``reserved → released`` and then never changes. Calls are idempotent
by claim id: repeating a call with the same amount returns the ledger unchanged; the same
claim id with another amount is a ``ClaimConflict``. So a claim id reserves once — a claim
reopened after release reserves under a new id.

Invariant: reserved (open reservations) + paid ≤ sum insured, and no claim reserves more than
the per-claim limit. The database enforces the same with constraints; this module is the
readable statement of the rule and the heart of the in-memory fake store.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from services.policy.domain.errors import (
    ClaimConflict,
    InvalidValue,
    LimitExceeded,
    NoReservation,
    PaymentExceedsReservation,
    PerClaimLimitExceeded,
    ReservationClosed,
)
from services.policy.domain.policies import Policy


class EntryState(StrEnum):
    RESERVED = "reserved"
    RELEASED = "released"
    PAID = "paid"


@dataclass(frozen=True)
class LimitEntry:
    claim_id: str
    state: EntryState
    reserved_fen: int
    paid_fen: int = 0


@dataclass(frozen=True)
class LimitsLedger:
    policy_id: str
    sum_insured_fen: int
    per_claim_limit_fen: int
    entries: tuple[LimitEntry, ...] = ()

    @classmethod
    def for_policy(cls, policy: Policy) -> LimitsLedger:
        """An empty ledger for a policy year, with the product's limits."""
        return cls(
            policy_id=policy.policy_id,
            sum_insured_fen=policy.product.sum_insured_fen,
            per_claim_limit_fen=policy.product.per_claim_limit_fen,
        )

    def entry(self, claim_id: str) -> LimitEntry | None:
        return next((e for e in self.entries if e.claim_id == claim_id), None)

    @property
    def reserved_fen(self) -> int:
        """Open reservations only: a paid claim counts by what it paid, a released one not."""
        return sum(e.reserved_fen for e in self.entries if e.state is EntryState.RESERVED)

    @property
    def paid_fen(self) -> int:
        return sum(e.paid_fen for e in self.entries if e.state is EntryState.PAID)

    @property
    def used_fen(self) -> int:
        return self.reserved_fen + self.paid_fen

    @property
    def remaining_fen(self) -> int:
        return self.sum_insured_fen - self.used_fen

    def _with(self, entry: LimitEntry) -> LimitsLedger:
        """This ledger with ``entry`` added, or replacing the claim's entry in place."""
        if self.entry(entry.claim_id) is None:
            return replace(self, entries=(*self.entries, entry))
        return replace(
            self,
            entries=tuple(entry if e.claim_id == entry.claim_id else e for e in self.entries),
        )


def reserve(ledger: LimitsLedger, claim_id: str, amount_fen: int) -> LimitsLedger:
    """Reserve ``amount_fen`` of the sum insured for a claim."""
    if amount_fen <= 0:
        raise InvalidValue("amount_fen", f"reservation must be positive, got {amount_fen}")
    existing = ledger.entry(claim_id)
    if existing is not None:
        # A retry is answered from the entry, before any limit check: the first call
        # already passed them, and later claims must not turn a retry into a failure.
        if existing.reserved_fen != amount_fen:
            raise ClaimConflict(
                claim_id, f"already reserved {existing.reserved_fen} fen, not {amount_fen}"
            )
        return ledger
    if amount_fen > ledger.per_claim_limit_fen:
        raise PerClaimLimitExceeded(amount_fen, ledger.per_claim_limit_fen)
    if amount_fen > ledger.remaining_fen:
        raise LimitExceeded(amount_fen, ledger.remaining_fen)
    return ledger._with(LimitEntry(claim_id, EntryState.RESERVED, amount_fen))


def release(ledger: LimitsLedger, claim_id: str) -> LimitsLedger:
    """Give a claim's reservation back to the sum insured."""
    existing = ledger.entry(claim_id)
    if existing is None:
        raise NoReservation(claim_id)
    if existing.state is EntryState.RELEASED:
        return ledger
    if existing.state is EntryState.PAID:
        raise ReservationClosed(claim_id, "paid")
    return ledger._with(replace(existing, state=EntryState.RELEASED))


def pay(ledger: LimitsLedger, claim_id: str, amount_fen: int) -> LimitsLedger:
    """Turn a claim's reservation into a payment of at most the reserved amount.

    Paying less than reserved gives the difference back to the sum insured.
    """
    if amount_fen < 0:
        raise InvalidValue("amount_fen", f"payment must not be negative, got {amount_fen}")
    existing = ledger.entry(claim_id)
    if existing is None:
        raise NoReservation(claim_id)
    if existing.state is EntryState.PAID:
        if existing.paid_fen != amount_fen:
            raise ClaimConflict(claim_id, f"already paid {existing.paid_fen} fen, not {amount_fen}")
        return ledger
    if existing.state is EntryState.RELEASED:
        raise ReservationClosed(claim_id, "released")
    if amount_fen > existing.reserved_fen:
        raise PaymentExceedsReservation(claim_id, amount_fen, existing.reserved_fen)
    return ledger._with(replace(existing, state=EntryState.PAID, paid_fen=amount_fen))
