"""The recommendation: trim, unmatched, limits, coverage, contractor standing, routing."""

import pytest

from services.claims.domain.adjudication import (
    CoverageFacts,
    LinePrice,
    Provenance,
    ReasonCode,
    RuleFinding,
)
from services.claims.domain.errors import InvalidValue
from services.claims.domain.quotes import RawLine

from .factories import ContractorStanding, EvidenceFlag, covered, fair_prices, quote, run

R = ReasonCode


def test_reason_codes_are_frozen():
    """Partners and reports match on these strings: never rename or reuse one, only append."""
    assert [c.value for c in ReasonCode] == [
        "NOT_COVERED",
        "PRICE_ABOVE_REFERENCE",
        "UNMATCHED_ITEM",
        "VALIDATION_ERROR",
        "VALIDATION_WARNING",
        "EVIDENCE_FLAGGED",
        "CONTRACTOR_BLACKLISTED",
        "CONTRACTOR_GREYLISTED",
        "DEDUCTIBLE_APPLIED",
        "LIMIT_CAPPED",
        "NOTHING_PAYABLE",
        "ABOVE_STRAIGHT_THROUGH_LIMIT",
        "STRAIGHT_THROUGH",
    ]
    for code in ReasonCode:
        assert code.name == code.value
        assert code.en and code.en.isascii()
        assert code.zh and not code.zh.isascii()


def test_a_clean_cheap_claim_goes_straight_through():
    rec = run()
    assert rec.approved_total_fen == 1_200_000
    assert [ln.approved_fen for ln in rec.lines] == [ln.submitted_fen for ln in rec.lines]
    assert rec.straight_through and not rec.needs_person
    assert rec.reason_codes == (R.CONTRACTOR_GREYLISTED, R.STRAIGHT_THROUGH)
    assert [t.step for t in rec.trace] == [
        "coverage",
        "pricing",
        "validation",
        "evidence",
        "contractor",
        "limits",
        "routing",
    ]
    assert rec.max_payable_fen == 5_000_000


def test_a_padded_line_is_trimmed_to_the_reference():
    q = quote()
    prices = fair_prices(q)
    prices[1] = LinePrice(2, "steel_wire_rope", 5_000, ("ABOVE_P90",))  # 80 → 50 CNY a metre
    rec = run(quote=q, prices=prices)
    trimmed = rec.by_line_no[2]
    assert (trimmed.submitted_fen, trimmed.approved_fen) == (480_000, 300_000)
    assert trimmed.reason_codes == (R.PRICE_ABOVE_REFERENCE, "ABOVE_P90")
    assert rec.approved_total_fen == 1_020_000
    assert R.PRICE_ABOVE_REFERENCE in rec.reason_codes
    assert rec.straight_through  # trimming is the insurer's own job, nobody need approve it
    assert "line 2: ¥80.00 > ¥50.00 per 米" in rec.trace[1].detail


def test_a_price_below_the_reference_stays_as_submitted():
    q = quote()
    rec = run(quote=q, prices=[LinePrice(ln.line_no, "p", 10**9) for ln in q.lines])
    assert rec.approved_total_fen == q.total_fen


def test_an_unmatched_line_is_kept_but_needs_a_person():
    q = quote()
    prices = fair_prices(q)
    prices[3] = LinePrice(4, None, None)
    del prices[0]  # no answer at all for line 1: unmatched too
    rec = run(quote=q, prices=prices)
    assert rec.by_line_no[4].approved_fen == 180_000
    assert rec.by_line_no[4].reason_codes == (R.UNMATCHED_ITEM,)
    assert rec.by_line_no[1].reason_codes == (R.UNMATCHED_ITEM,)
    assert rec.approved_total_fen == 1_200_000
    assert rec.needs_person and not rec.straight_through
    assert R.UNMATCHED_ITEM in rec.reason_codes
    assert R.ABOVE_STRAIGHT_THROUGH_LIMIT not in rec.reason_codes


def test_the_per_claim_limit_caps_and_lines_still_add_up():
    rec = run(coverage=covered(per_claim_limit_fen=1_000_001))
    assert rec.approved_total_fen == 1_000_001
    assert sum(ln.approved_fen for ln in rec.lines) == 1_000_001
    assert all(R.LIMIT_CAPPED in ln.reason_codes for ln in rec.lines)
    assert R.LIMIT_CAPPED in rec.reason_codes
    assert rec.max_payable_fen == 1_000_001


def test_the_remaining_sum_insured_caps_after_the_deductible():
    rec = run(coverage=covered(remaining_fen=700_000, deductible_fen=100_000))
    assert rec.approved_total_fen == 700_000
    assert rec.reason_codes[:3] == (
        R.CONTRACTOR_GREYLISTED,
        R.DEDUCTIBLE_APPLIED,
        R.LIMIT_CAPPED,
    )
    rec = run(coverage=covered(deductible_fen=100_000))
    assert rec.approved_total_fen == 1_100_000
    assert R.LIMIT_CAPPED not in rec.reason_codes
    assert sum(ln.approved_fen for ln in rec.lines) == 1_100_000


def test_a_deductible_above_the_total_leaves_nothing_to_pay():
    rec = run(coverage=covered(deductible_fen=2_000_000))
    assert rec.approved_total_fen == 0
    assert R.NOTHING_PAYABLE in rec.reason_codes
    assert rec.needs_person and not rec.straight_through


def test_not_covered_approves_nothing_with_the_policy_reasons():
    coverage = CoverageFacts(
        covered=False,
        reasons=("LAPSED", "INSPECTION_EXPIRED"),
        remaining_fen=0,
        per_claim_limit_fen=5_000_000,
        deductible_fen=0,
        policy_id="P1",
    )
    rec = run(coverage=coverage)
    assert rec.approved_total_fen == 0
    assert all(ln.approved_fen == 0 for ln in rec.lines)
    assert all(
        ln.reason_codes == (R.NOT_COVERED, "LAPSED", "INSPECTION_EXPIRED") for ln in rec.lines
    )
    assert rec.reason_codes[:3] == (R.NOT_COVERED, "LAPSED", "INSPECTION_EXPIRED")
    assert rec.needs_person and not rec.straight_through
    assert rec.max_payable_fen == 0
    assert rec.trace[0].verdict == "not covered"


def test_a_black_contractor_needs_a_person_but_keeps_the_priced_amounts():
    rec = run(standing=ContractorStanding("black", "falsified photos, 2025-03"))
    assert rec.approved_total_fen == 1_200_000
    assert rec.needs_person and not rec.straight_through
    assert R.CONTRACTOR_BLACKLISTED in rec.reason_codes
    # even with the highest threshold there is
    rec = run(
        standing=ContractorStanding("black"),
        straight_through_max_fen=10**12,
        white_list_straight_through_max_fen=10**12,
    )
    assert not rec.straight_through


@pytest.mark.parametrize(
    ("status", "threshold", "white_threshold", "straight"),
    [
        ("grey", 1_200_000, None, True),  # at the threshold: through
        ("grey", 1_199_999, None, False),  # one fen above: to a person
        ("grey", 1_199_999, 5_000_000, False),  # the white-list threshold is for white only
        ("white", 1_199_999, 5_000_000, True),  # fast track for good contractors
        ("white", 1_199_999, None, False),  # no white-list threshold: the normal one
        ("white", 5_000_000, 1_000_000, False),  # a lower white threshold is taken as given
    ],
)
def test_straight_through_threshold(status, threshold, white_threshold, straight):
    rec = run(
        standing=ContractorStanding(status),
        straight_through_max_fen=threshold,
        white_list_straight_through_max_fen=white_threshold,
    )
    assert rec.straight_through is straight
    assert not rec.needs_person
    expected = R.STRAIGHT_THROUGH if straight else R.ABOVE_STRAIGHT_THROUGH_LIMIT
    assert rec.reason_codes[-1] == expected


def test_error_findings_and_evidence_flags_need_a_person_warnings_do_not():
    warning = RuleFinding("LABOUR_HOURS_HIGH", "warning", "8 h for a bearing", "rules@3", 3)
    rec = run(findings=[warning])
    assert rec.straight_through
    assert rec.by_line_no[3].reason_codes == (R.VALIDATION_WARNING, "LABOUR_HOURS_HIGH")
    assert rec.trace[2].version == "rules@3"

    error = RuleFinding("ROPES_BEYOND_COUNT", "error", "60 m for a 6-rope car", "rules@3", 2)
    rec = run(findings=[warning, error])
    assert rec.needs_person and not rec.straight_through
    assert R.VALIDATION_ERROR in rec.reason_codes
    assert "error ROPES_BEYOND_COUNT (line 2)" in rec.trace[2].detail

    rec = run(evidence=[EvidenceFlag("PHOTO_REUSED", "same photo as claim C-17")])
    assert rec.needs_person and R.EVIDENCE_FLAGGED in rec.reason_codes
    assert rec.trace[3].detail == "PHOTO_REUSED: same photo as claim C-17"


def test_the_trace_names_sources_and_versions():
    rec = run(
        provenance={
            "pricing": Provenance("pricing@fake", "prices-2025-06"),
            "coverage": Provenance("policy", "products@2"),
        }
    )
    by_step = {t.step: t for t in rec.trace}
    assert (by_step["pricing"].source, by_step["pricing"].version) == (
        "pricing@fake",
        "prices-2025-06",
    )
    assert by_step["coverage"].version == "products@2"
    assert by_step["evidence"].source == "evidence"
    assert by_step["routing"].source == "claims"


def test_answers_that_do_not_fit_the_quote_are_refused():
    q = quote()
    with pytest.raises(InvalidValue):
        run(quote=q, prices=[*fair_prices(q), LinePrice(9, "x", 1)])
    with pytest.raises(InvalidValue):
        run(quote=q, prices=[*fair_prices(q), LinePrice(1, "x", 1)])
    with pytest.raises(InvalidValue):
        run(findings=[RuleFinding("X", "error", "m", "v", 9)])
    with pytest.raises(InvalidValue):
        run(straight_through_max_fen=-1)
    with pytest.raises(InvalidValue):
        RuleFinding("X", "fatal", "m", "v")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        ContractorStanding("pink")  # type: ignore[arg-type]
    with pytest.raises(InvalidValue):
        covered(covered=False)  # not covered without a reason


def test_the_513000_cny_batch():
    """37 elevators' ropes and inverters: one big claim, within limits, for a person."""
    q = quote(
        (
            RawLine("曳引钢丝绳 8mm", "3700", "米", 6_000),  # 222,000
            RawLine("变频器 7.5kW", "37", "台", 700_000),  # 259,000
            RawLine("工时", "128", "工时", 25_000),  # 32,000
        )
    )
    assert q.total_fen == 51_300_000
    rec = run(quote=q, coverage=covered(per_claim_limit_fen=60_000_000, remaining_fen=10**9))
    assert rec.approved_total_fen == 51_300_000
    assert not rec.straight_through
    assert rec.reason_codes[-1] == R.ABOVE_STRAIGHT_THROUGH_LIMIT
