"""A funding line names the flat and its owner for people, and never the wrong owner."""

from __future__ import annotations

from services.policy.domain.funding import FundingLine, FundingPlan
from services.policy.servicer import funding_line_pb
from services.policy.store import FundedFlat, PolicyRecord
from tests.unit.policy.factories import policy


def _record(flat: FundedFlat) -> PolicyRecord:
    line = FundingLine("F1", "owner-1", 10_000, 4_000, 6_000)
    return PolicyRecord(
        policy=policy(),
        vote_id="V1",
        from_appreciation_fen=120_000,
        reserved_fen=0,
        paid_fen=0,
        funding=FundingPlan(130_000, 120_000, (line,)),
        flats={"F1": flat},
    )


def test_the_line_shows_where_the_flat_is_and_the_owners_masked_name() -> None:
    record = _record(FundedFlat("3", "2", "1201", "owner-1", "欧阳娜娜"))
    line = funding_line_pb(record, record.funding.lines[0])
    assert (line.building, line.unit, line.number) == ("3", "2", "1201")
    assert line.owner_name_masked == "欧阳**"
    assert (line.share_fen, line.from_account_fen, line.billed_cash_fen) == (10_000, 4_000, 6_000)


def test_a_flat_sold_since_the_allocation_does_not_lend_its_new_owners_name() -> None:
    record = _record(FundedFlat("3", "2", "1201", "owner-2", "李四"))
    line = funding_line_pb(record, record.funding.lines[0])
    assert line.owner_id == "owner-1"
    assert line.owner_name_masked == ""
    assert line.number == "1201"
