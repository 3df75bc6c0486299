from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain.errors import InvalidFields
from services.claims.domain.quotes import (
    LINE_MAX_FEN,
    MAX_LINES,
    Quote,
    QuoteLine,
    RawLine,
    line_amount,
    parse_quote_lines,
)

from .factories import quote


def test_zhuzhou_noise_repair_is_12000_cny():
    q = quote()
    assert q.total_fen == 1_200_000
    assert [ln.line_no for ln in q.lines] == [1, 2, 3, 4]
    assert q.by_line_no[2].description == "曳引钢丝绳 φ10"


def test_amount_is_computed_half_up_to_the_fen():
    assert line_amount(Decimal("12.5"), 4567) == 57088  # 57087.5 → up
    assert line_amount(Decimal("0.001"), 499) == 0  # 0.499
    assert line_amount(Decimal("0.001"), 500) == 1  # 0.5 → up
    (only,) = parse_quote_lines([RawLine(" 钢丝绳 ", "12.5", " 米 ", 4567)])
    assert (only.amount_fen, only.description, only.unit) == (57088, "钢丝绳", "米")


def test_a_given_amount_must_match():
    parse_quote_lines([RawLine("x", "2", "个", 100, 200)])
    with pytest.raises(InvalidFields) as caught:
        parse_quote_lines([RawLine("x", "2", "个", 100, 250)])
    assert caught.value.problems[0].field == "lines[0].amount_fen"


def test_every_bad_field_is_named_with_its_line():
    with pytest.raises(InvalidFields) as caught:
        parse_quote_lines(
            [
                RawLine("ok", "1", "个", 100),
                RawLine("", "1.2345", "米", -1),
                RawLine("float", 0.5, "m", 1),  # type: ignore[arg-type]
                RawLine("zero", "0", "m", 1),
                RawLine("nan", "NaN", "", 1),
                RawLine("huge", "1", "台", LINE_MAX_FEN + 1),
                RawLine("big line", "2", "台", LINE_MAX_FEN),
            ]
        )
    assert [p.field for p in caught.value.problems] == [
        "lines[1].description",
        "lines[1].quantity",
        "lines[1].unit_price_fen",
        "lines[2].quantity",
        "lines[3].quantity",
        "lines[4].unit",
        "lines[4].quantity",
        "lines[5].unit_price_fen",
        "lines[6].amount_fen",
    ]


def test_absurd_quotes():
    with pytest.raises(InvalidFields, match="at least one line"):
        parse_quote_lines([])
    with pytest.raises(InvalidFields, match="at most 200 lines"):
        parse_quote_lines([RawLine("x", "1", "个", 1)] * (MAX_LINES + 1))
    with pytest.raises(InvalidFields, match="5,000,000 CNY"):
        parse_quote_lines([RawLine("x", "1", "台", 150_000_000)] * 4)  # 6,000,000 CNY
    assert len(parse_quote_lines([RawLine("x", "1", "个", 1)] * MAX_LINES)) == MAX_LINES


def test_quote_invariants():
    lines = quote().lines
    with pytest.raises(InvalidFields):
        Quote(version=0, lines=lines)
    with pytest.raises(InvalidFields):
        Quote(version=1, lines=())
    with pytest.raises(InvalidFields):
        Quote(version=1, lines=(lines[0], lines[0]))
    with pytest.raises(InvalidFields):
        QuoteLine(1, "x", Decimal(2), "个", 100, 201)


@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3),
    st.integers(min_value=0, max_value=100_000),
)
def test_parsed_amount_is_within_half_a_fen(quantity, unit_price):
    (only,) = parse_quote_lines([RawLine("x", str(quantity), "个", unit_price)])
    assert abs(only.amount_fen - quantity * unit_price) <= Decimal("0.5")
