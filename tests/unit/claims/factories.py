"""Small builders for claims-domain tests: a quote, coverage facts, prices."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from services.claims.domain.adjudication import (
    ContractorStanding,
    CoverageFacts,
    EvidenceFlag,
    LinePrice,
    Recommendation,
    RuleFinding,
    recommend,
)
from services.claims.domain.quotes import Quote, QuoteLine, RawLine, parse_quote_lines

# Zhuzhou's example: main machine abnormal noise, repaired within 24 hours for 12,000 CNY.
NOISE_REPAIR = (
    RawLine("曳引机轴承 6310", "2", "个", 150_000),  # 3,000 CNY
    RawLine("曳引钢丝绳 φ10", "60", "米", 8_000),  # 4,800 CNY
    RawLine("工时", "8", "工时", 30_000),  # 2,400 CNY
    RawLine("编码器 (进口)", "1", "个", 180_000),  # 1,800 CNY
)


def quote(raw: tuple[RawLine, ...] = NOISE_REPAIR, version: int = 1) -> Quote:
    return Quote(version=version, lines=parse_quote_lines(raw))


def line(line_no: int, quantity: str, unit_price_fen: int) -> QuoteLine:
    q = Decimal(quantity)
    return QuoteLine(line_no, f"item {line_no}", q, "个", unit_price_fen, int(q * unit_price_fen))


def covered(**overrides: Any) -> CoverageFacts:
    values: dict[str, Any] = {
        "covered": True,
        "reasons": (),
        "remaining_fen": 15_000_000,
        "per_claim_limit_fen": 5_000_000,
        "deductible_fen": 0,
        "policy_id": "P1",
    } | overrides
    return CoverageFacts(**values)


def fair_prices(q: Quote) -> list[LinePrice]:
    """Every line matched, at exactly its submitted unit price."""
    return [LinePrice(ln.line_no, "part", ln.unit_price_fen) for ln in q.lines]


def run(**overrides: Any) -> Recommendation:
    q = overrides.pop("quote", None) or quote()
    arguments: dict[str, Any] = {
        "quote": q,
        "coverage": covered(),
        "prices": fair_prices(q),
        "findings": [],
        "evidence": [],
        "standing": ContractorStanding("grey", "new contractor"),
        "straight_through_max_fen": 2_000_000,
    } | overrides
    return recommend(**arguments)


__all__ = [
    "NOISE_REPAIR",
    "ContractorStanding",
    "EvidenceFlag",
    "LinePrice",
    "RuleFinding",
    "covered",
    "fair_prices",
    "line",
    "quote",
    "run",
]
