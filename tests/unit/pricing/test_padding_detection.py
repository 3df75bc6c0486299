"""Padding detection on the seeded corpus (``quote_corpus``), through the ``evaluate``
command end to end and through ``judge_quote`` directly; both must agree line for line.

Caught: a padded line whose reasons include one its kind expects. Wrongly trimmed: a fair
line approved for less than it was submitted. Money: of the fen a padded line adds over its
fair amount, the share removed; of the fen of fair lines, the share kept.
"""

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from services.pricing.core import evaluate
from services.pricing.core.catalogue import load_catalogue
from services.pricing.core.labour_norms import load_labour_norms
from services.pricing.core.matching import Matcher
from services.pricing.core.normalise import brand_of
from services.pricing.core.references import Observation, ReferenceBook
from services.pricing.core.rules import (
    Elevator,
    Fault,
    QuoteLine,
    judge_quote,
    line_amount,
    spec_key,
)

from .quote_corpus import FAULT_PARTS, PADDING_KINDS, Corpus, Label, generate, write_jsonl


@dataclass(frozen=True)
class Outcome:
    label: Label
    row: dict[str, Any]

    @property
    def approved_fen(self) -> int:
        return line_amount(
            Decimal(str(self.row["approved_qty"])), self.row["approved_unit_price_fen"]
        )

    @property
    def caught(self) -> bool:
        return bool(self.label.expect & set(self.row["reasons"]))

    @property
    def trimmed(self) -> bool:
        return self.approved_fen < self.label.submitted_fen


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate()


@pytest.fixture(scope="module")
def cli_rows(corpus: Corpus, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("padding")
    history, quotes, out = folder / "H.jsonl", folder / "Q.jsonl", folder / "OUT.jsonl"
    write_jsonl(history, corpus.history)
    write_jsonl(quotes, corpus.quotes)
    args = ["--history", str(history), "--quotes", str(quotes), "--out", str(out)]
    assert evaluate.main(args) == 0
    return [json.loads(line) for line in Path(out).read_text(encoding="utf-8").splitlines()]


def judge_directly(corpus: Corpus) -> list[dict[str, Any]]:
    """The same corpus through the core's public API, without the command's reader."""
    catalogue = load_catalogue()
    matcher = Matcher(catalogue)
    matches = matcher.match_many([row["description"] for row in corpus.history])
    observations = [
        Observation(
            category=match.category,
            brand=(brand_of(row["brand"]) or row["brand"]) if row["brand"] else match.specs.brand,
            region=row["region"],
            observed_on=date.fromisoformat(row["observed_on"]),
            unit_price_fen=row["unit_price_fen"],
            unit=row["unit"],
            source=row["source"],
            spec=spec_key(match.specs),
        )
        for row, match in zip(corpus.history, matches, strict=True)
        if match.confident and match.category is not None
    ]
    units = {code: category.units for code, category in catalogue.categories.items()}
    book = ReferenceBook.build(observations, version="direct", units=units)
    norms = load_labour_norms()
    rows = []
    for quote in corpus.quotes:
        e = quote["elevator"]
        verdict = judge_quote(
            lines=[
                QuoteLine(
                    line_no=line["line_no"],
                    kind=line["kind"],
                    description=line["description"],
                    qty=Decimal(str(line["qty"])),
                    unit=line["unit"],
                    unit_price_fen=line["unit_price_fen"],
                )
                for line in quote["lines"]
            ],
            elevator=Elevator(
                brand=e["brand"],
                rope_count=e["rope_count"],
                rope_length_m=Decimal(str(e["rope_length_m"])),
                landings=e["landings"],
                motor_kw=Decimal(str(e["motor_kw"])),
            ),
            fault=Fault(quote["fault"]["category"], quote["fault"]["description"]),
            region=quote["region"],
            quoted_on=date.fromisoformat(quote["quoted_on"]),
            matcher=matcher,
            catalogue=catalogue,
            references=book,
            labour_norms=norms,
        )
        for line in verdict.lines:
            qty = line.approved_qty
            rows.append(
                {
                    "quote_id": quote["quote_id"],
                    "line_no": line.line_no,
                    "part_category": line.part_category,
                    "reference_unit_price_fen": line.reference_unit_price_fen,
                    "approved_qty": int(qty) if qty == qty.to_integral_value() else float(qty),
                    "approved_unit_price_fen": line.approved_unit_price_fen,
                    "reasons": list(line.reasons),
                }
            )
    return rows


def outcomes(corpus: Corpus, rows: list[dict[str, Any]]) -> list[Outcome]:
    assert len(rows) == corpus.line_count == len(corpus.labels)
    return [Outcome(corpus.labels[(row["quote_id"], row["line_no"])], row) for row in rows]


def report(name: str, results: list[Outcome]) -> dict[str, float]:
    """Print the figures and return them (share caught per kind, wrongly trimmed, money)."""
    figures: dict[str, float] = {}
    lines = [f"\npadding detection ({name}): {len(results)} lines"]
    for kind in PADDING_KINDS:
        padded = [o for o in results if o.label.kind == kind]
        figures[kind] = sum(o.caught for o in padded) / len(padded)
        lines.append(f"  {kind:<12} caught {sum(o.caught for o in padded):>3}/{len(padded):<3}")
    fair = [o for o in results if o.label.kind == "fair"]
    figures["wrongly_trimmed"] = sum(o.trimmed for o in fair) / len(fair)
    figures["category"] = sum(o.row["part_category"] == o.label.category for o in results) / len(
        results
    )
    padded = [o for o in results if o.label.kind != "fair"]
    padding_fen = sum(o.label.submitted_fen - o.label.fair_fen for o in padded)
    removed_fen = sum(o.label.submitted_fen - o.approved_fen for o in padded)
    trimmable = [o for o in padded if o.label.kind != "unrelated"]  # flagged, never trimmed
    trimmable_fen = sum(o.label.submitted_fen - o.label.fair_fen for o in trimmable)
    trimmable_removed = sum(o.label.submitted_fen - o.approved_fen for o in trimmable)
    figures["padded_fen_removed"] = removed_fen / padding_fen
    figures["fair_fen_kept"] = sum(o.approved_fen for o in fair) / sum(
        o.label.submitted_fen for o in fair
    )
    lines += [
        f"  fair lines wrongly trimmed {sum(o.trimmed for o in fair)}/{len(fair)}"
        f" = {figures['wrongly_trimmed']:.2%}",
        f"  category accuracy {figures['category']:.2%}",
        f"  padded fen removed {figures['padded_fen_removed']:.1%} of ¥{padding_fen / 100:,.2f}"
        f" ({trimmable_removed / trimmable_fen:.1%} without the flag-only unrelated parts)",
        f"  fair fen kept {figures['fair_fen_kept']:.2%}",
    ]
    print("\n".join(lines))
    return figures


def test_the_corpus_is_labelled_and_its_fair_parts_fit_their_faults(corpus: Corpus):
    kinds = Counter(label.kind for label in corpus.labels.values())
    assert all(kinds[kind] >= 50 for kind in PADDING_KINDS), kinds
    assert kinds["fair"] > 1000
    catalogue = load_catalogue()
    for fault, codes in FAULT_PARTS.items():
        for code in codes:
            assert catalogue.categories[code].fixes(fault), (code, fault)
    assert generate() == corpus  # the seed fixes everything


def test_padding_is_caught_through_the_evaluate_command(corpus, cli_rows, capsys):
    with capsys.disabled():
        figures = report("evaluate", outcomes(corpus, cli_rows))
    for kind in PADDING_KINDS:
        assert figures[kind] >= 0.95, kind
    assert figures["wrongly_trimmed"] <= 0.02
    assert figures["category"] >= 0.97
    assert figures["fair_fen_kept"] >= 0.99
    assert figures["padded_fen_removed"] >= 0.6


def test_judging_directly_agrees_with_the_command(corpus, cli_rows, capsys):
    direct = judge_directly(corpus)
    assert direct == cli_rows
    with capsys.disabled():
        figures = report("judge_quote", outcomes(corpus, direct))
    for kind in PADDING_KINDS:
        assert figures[kind] >= 0.95, kind
    assert figures["wrongly_trimmed"] <= 0.02
