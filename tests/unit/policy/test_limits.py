import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.policy.domain.errors import (
    ClaimConflict,
    DomainError,
    InvalidValue,
    LimitExceeded,
    NoReservation,
    PaymentExceedsReservation,
    PerClaimLimitExceeded,
    ReservationClosed,
)
from services.policy.domain.limits import (
    EntryState,
    LimitEntry,
    LimitsLedger,
    pay,
    release,
    reserve,
)

from .factories import policy


def ledger(sum_insured: int = 1_000, per_claim: int = 600) -> LimitsLedger:
    return LimitsLedger("P1", sum_insured, per_claim)


def test_for_policy_takes_the_products_limits():
    empty = LimitsLedger.for_policy(policy())
    assert (empty.policy_id, empty.sum_insured_fen, empty.per_claim_limit_fen) == (
        "P1",
        15_000_000,
        5_000_000,
    )
    assert empty.remaining_fen == 15_000_000


def test_reserve_then_pay_less_gives_the_rest_back():
    book = pay(reserve(ledger(), "c1", 500), "c1", 420)
    assert (book.reserved_fen, book.paid_fen, book.remaining_fen) == (0, 420, 580)
    assert book.entry("c1") == LimitEntry("c1", EntryState.PAID, reserved_fen=500, paid_fen=420)


def test_release_gives_everything_back():
    book = release(reserve(ledger(), "c1", 500), "c1")
    assert book.remaining_fen == 1_000
    assert book.entry("c1") == LimitEntry("c1", EntryState.RELEASED, reserved_fen=500)


def test_retries_are_idempotent():
    once = reserve(ledger(), "c1", 500)
    assert reserve(once, "c1", 500) == once
    paid = pay(once, "c1", 300)
    assert pay(paid, "c1", 300) == paid
    assert reserve(paid, "c1", 500) == paid  # a late retry of the reservation changes nothing
    released = release(reserve(ledger(), "c2", 100), "c2")
    assert release(released, "c2") == released


def test_a_retry_succeeds_even_when_the_limit_has_since_filled_up():
    full = reserve(reserve(ledger(), "c1", 500), "c2", 500)
    assert reserve(full, "c1", 500) == full


def test_same_claim_with_another_amount_is_a_conflict():
    once = reserve(ledger(), "c1", 500)
    with pytest.raises(ClaimConflict):
        reserve(once, "c1", 400)
    with pytest.raises(ClaimConflict):
        pay(pay(once, "c1", 300), "c1", 200)


def test_limits():
    with pytest.raises(PerClaimLimitExceeded):
        reserve(ledger(), "c1", 601)
    with pytest.raises(LimitExceeded) as caught:
        reserve(reserve(ledger(), "c1", 600), "c2", 401)
    assert caught.value.remaining_fen == 400
    assert reserve(reserve(ledger(), "c1", 600), "c2", 400).remaining_fen == 0


def test_wrong_states():
    with pytest.raises(NoReservation):
        pay(ledger(), "c9", 1)
    with pytest.raises(NoReservation):
        release(ledger(), "c9")
    with pytest.raises(PaymentExceedsReservation):
        pay(reserve(ledger(), "c1", 100), "c1", 101)
    with pytest.raises(ReservationClosed):
        pay(release(reserve(ledger(), "c1", 100), "c1"), "c1", 50)
    with pytest.raises(ReservationClosed):
        release(pay(reserve(ledger(), "c1", 100), "c1", 50), "c1")
    with pytest.raises(InvalidValue):
        reserve(ledger(), "c1", 0)
    with pytest.raises(InvalidValue):
        pay(reserve(ledger(), "c1", 10), "c1", -1)


operations = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "release", "pay"]),
        st.sampled_from(["c1", "c2", "c3", "c4", "c5"]),
        st.integers(0, 700),
    ),
    max_size=30,
)


@given(operations)
def test_reserved_plus_paid_never_exceeds_the_sum_insured(ops):
    book = ledger()
    for name, claim, amount in ops:
        try:
            if name == "reserve":
                book = reserve(book, claim, amount)
            elif name == "release":
                book = release(book, claim)
            else:
                book = pay(book, claim, amount)
        except DomainError:
            pass  # refused: the ledger is unchanged, and must still hold the invariant
        assert 0 <= book.used_fen <= book.sum_insured_fen
        assert all(e.reserved_fen <= book.per_claim_limit_fen for e in book.entries)
        assert all(0 <= e.paid_fen <= e.reserved_fen for e in book.entries)
