"""The work queue's pure part: which codes flag a claim, page tokens, the dashboard window."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from services.claims.domain.dashboard import MAX_MONTHS, buckets, window
from services.claims.domain.errors import InvalidValue
from services.claims.domain.queue import (
    QueueFilter,
    QueueKey,
    decode_page_token,
    encode_page_token,
    flags_of,
    is_reason_code,
    is_region_prefix,
)
from shared.clock import SHANGHAI
from tests.unit.claims.factories import (
    ContractorStanding,
    EvidenceFlag,
    LinePrice,
    covered,
    quote,
    run,
)


def test_a_clean_claim_has_no_flags_even_when_routed_deducted_and_grey() -> None:
    clean = run(coverage=covered(deductible_fen=10_000))
    assert {"STRAIGHT_THROUGH", "DEDUCTIBLE_APPLIED"} <= set(clean.reason_codes)
    assert flags_of(clean) == ()
    big = run(straight_through_max_fen=0)
    assert "ABOVE_STRAIGHT_THROUGH_LIMIT" in big.reason_codes and flags_of(big) == ()


def test_flags_gather_the_claims_and_the_lines_codes_sorted_once() -> None:
    q = quote()
    prices = [
        LinePrice(ln.line_no, "part", ln.unit_price_fen // 2, reason_codes=("QTY_ABOVE_SPEC",))
        for ln in q.lines
    ]
    flagged = run(
        quote=q,
        prices=prices,
        evidence=[EvidenceFlag("PHOTO_REUSED", "seen on another claim")],
        standing=ContractorStanding("black", "fraud"),
    )
    assert flags_of(flagged) == (
        "CONTRACTOR_BLACKLISTED",
        "EVIDENCE_FLAGGED",
        "PRICE_ABOVE_REFERENCE",
        "QTY_ABOVE_SPEC",
    )


def test_not_covered_carries_the_policys_reason() -> None:
    refused = run(coverage=covered(covered=False, reasons=("LAPSED",), policy_id=None))
    assert {"NOT_COVERED", "LAPSED"} <= set(flags_of(refused))


KEY = QueueKey(datetime(2025, 7, 1, 8, 30, tzinfo=UTC), True, 1_234_500, "clm_1")


@pytest.mark.parametrize("key", [KEY, QueueKey(None, False, 0, "clm_2")])
def test_a_page_token_gives_back_the_key_it_was_made_from(key: QueueKey) -> None:
    filters = QueueFilter(state="under_review", flag="EVIDENCE_FLAGGED")
    assert decode_page_token(encode_page_token(key, filters), filters) == key


def _token(body: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(body).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "e30",  # {}
        _token({"v": 2, "f": QueueFilter().fingerprint(), "k": ["inf", True, 1, "c"]}),
        _token({"v": 1, "f": QueueFilter().fingerprint(), "k": ["inf", "yes", 1, "c"]}),
        _token({"v": 1, "f": QueueFilter().fingerprint(), "k": ["2025-07-01T08:30", True, 1, "c"]}),
        _token({"v": 1, "f": QueueFilter().fingerprint(), "k": ["inf", True, True, "c"]}),
    ],
)
def test_a_forged_or_foreign_token_is_a_bad_page_token(token: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        decode_page_token(token, QueueFilter())
    assert caught.value.field == "page_token"


def test_a_token_does_not_continue_a_listing_with_other_filters() -> None:
    token = encode_page_token(KEY, QueueFilter(region_code="4302"))
    with pytest.raises(InvalidValue, match="other filters"):
        decode_page_token(token, QueueFilter(region_code="430202"))


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("43", True),
        ("4302", True),
        ("430202", True),
        ("4", False),
        ("4302021", False),
        ("43a2", False),
    ],
)
def test_region_prefixes_are_two_to_six_digits(value: str, ok: bool) -> None:
    assert is_region_prefix(value) is ok


def test_reason_codes_are_upper_snake() -> None:
    assert is_reason_code("PRICE_ABOVE_REFERENCE") and not is_reason_code("price_above")


def test_the_window_is_whole_shanghai_months_ending_with_the_current_one() -> None:
    # 31 Dec 2025 17:00 UTC is already 1 January 2026 in Shanghai.
    span = window(datetime(2025, 12, 31, 17, 0, tzinfo=UTC), 12)
    assert span.months[0] == "2025-02" and span.months[-1] == "2026-01" and len(span.months) == 12
    assert span.start == datetime(2025, 2, 1, tzinfo=SHANGHAI)
    assert span.end == datetime(2026, 2, 1, tzinfo=SHANGHAI)
    assert window(datetime(2025, 3, 15, tzinfo=UTC), 1).months == ("2025-03",)
    with pytest.raises(InvalidValue):
        window(datetime(2025, 3, 15, tzinfo=UTC), MAX_MONTHS + 1)


def test_buckets_follow_width_bucket_numbering_and_keep_empty_ones() -> None:
    assert buckets((300, 600), {0: 2, 2: 1}) == [(0, 300, 2), (300, 600, 0), (600, 0, 1)]
