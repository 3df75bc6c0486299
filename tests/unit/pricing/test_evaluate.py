import json
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from services.pricing.core import evaluate

from .quote_corpus import generate, write_jsonl

ROOT = Path(__file__).resolve().parents[3]
KEYS = [
    "quote_id",
    "line_no",
    "part_category",
    "reference_unit_price_fen",
    "approved_qty",
    "approved_unit_price_fen",
    "reasons",
]


def history_rows() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(12):
        day = (date(2025, 1, 5) + timedelta(days=25 * i)).isoformat()
        spread = (2, -3, 0, 4, -4, -1, 3, 0, -2, 1, 1, -1)[i]
        rows.append(
            {
                "description": "变频器 （原装）",
                "brand": None,
                "region": "430200",
                "observed_on": day,
                "unit_price_fen": 1_200_000 * (100 + spread) // 100,
                "unit": "台",
                "source": "supplier_list",
            }
        )
        rows.append(
            {
                "description": "曳引钢丝绳 φ10",
                "brand": "法尔胜",
                "region": "430200",
                "observed_on": day,
                "unit_price_fen": float(4_000 * (100 + spread) // 100),  # a float is fine
                "unit": "米",
                "source": "settled_claim",
            }
        )
    return rows


def quote(quote_id: str | int = "Q1", **changes: object) -> dict[str, Any]:
    row: dict[str, Any] = {
        "quote_id": quote_id,
        "region": "430200",
        "quoted_on": "2026-01-15",
        "elevator": {
            "registration_code": "31104302002010010001",
            "brand": "三菱",
            "rope_count": 4,
            "rope_length_m": 40.0,
            "landings": 10,
            "motor_kw": 7.5,
        },
        "fault": {"category": "overspeed_or_slip", "description": "溜车"},
        "lines": [
            {
                "line_no": 1,
                "kind": "part",
                "description": "变频器 7.5KW",
                "qty": 1,
                "unit": "台",
                "unit_price_fen": 3_000_000,
            },
            {
                "line_no": 2,
                "kind": "part",
                "description": "曳引钢丝绳φ10 （含安装）",
                "qty": 250.5,
                "unit": "米",
                "unit_price_fen": 4_000,
            },
            {
                "line_no": 3,
                "kind": "part",
                "description": "办公椅",
                "qty": 1,
                "unit": "把",
                "unit_price_fen": 50_000,
            },
        ],
    }
    row.update(changes)
    return row


def run(
    tmp_path: Path, history: list[Any], quotes: list[Any], capsys: Any
) -> tuple[int, list[dict[str, Any]], str]:
    h, q, out = tmp_path / "H.jsonl", tmp_path / "Q.jsonl", tmp_path / "OUT.jsonl"
    for path, rows in ((h, history), (q, quotes)):
        with path.open("w", encoding="utf-8") as handle:
            for row in rows:
                handle.write((row if isinstance(row, str) else json.dumps(row)) + "\n")
    code = evaluate.main(["--history", str(h), "--quotes", str(q), "--out", str(out)])
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return code, lines, err


def test_output_format_is_exactly_the_issues(tmp_path, capsys):
    code, lines, err = run(tmp_path, history_rows(), [quote()], capsys)
    assert code == 0
    assert [list(row) for row in lines] == [KEYS] * 3
    inverter, rope, chair = lines
    assert inverter["quote_id"] == "Q1" and inverter["line_no"] == 1
    assert inverter["part_category"] == "inverter"
    assert isinstance(inverter["reference_unit_price_fen"], int)
    assert inverter["approved_qty"] == 1 and isinstance(inverter["approved_qty"], int)
    assert inverter["reasons"] == ["PRICE_ABOVE_REFERENCE"]
    assert inverter["approved_unit_price_fen"] < 3_000_000
    # 4 ropes × 40 m × 1.10 = 176 m.
    assert rope["part_category"] == "wire_rope"
    assert rope["reasons"] == ["QTY_ABOVE_SPEC"] and rope["approved_qty"] == 176
    assert rope["approved_unit_price_fen"] == 4_000
    assert chair == {
        "quote_id": "Q1",
        "line_no": 3,
        "part_category": "unknown",
        "reference_unit_price_fen": None,
        "approved_qty": 1,
        "approved_unit_price_fen": 50_000,
        "reasons": ["UNMATCHED_ITEM"],
    }
    assert "24 history rows" in err and "3 lines written" in err


def test_fractional_quantities_stay_numbers(tmp_path, capsys):
    row = quote()
    row["lines"][1]["qty"] = 100.25
    _, lines, _ = run(tmp_path, history_rows(), [row], capsys)
    assert lines[1]["approved_qty"] == 100.25 and lines[1]["reasons"] == []


def test_odd_history_lines_are_reported_and_skipped(tmp_path, capsys):
    good = history_rows()
    bad = [
        "{not json",
        "[1, 2]",
        json.dumps({**good[0], "observed_on": "2025-13-01"}),
        json.dumps({**good[0], "unit_price_fen": -5}),
        json.dumps({**good[0], "unit_price_fen": True}),
        json.dumps({**good[0], "unit_price_fen": "abc"}),
        json.dumps({**good[0], "description": ""}),
        json.dumps({**good[0], "unit": None}),
        json.dumps({**good[0], "unit_price_fen": 1e300}),
        json.dumps({**good[0], "description": "办公椅"}),  # matches no part: counted, not an error
        "",
    ]
    code, lines, err = run(tmp_path, bad + good, [quote()], capsys)
    assert code == 0 and len(lines) == 3
    for number in range(1, 10):
        assert f"H.jsonl:{number}: " in err
    assert "H.jsonl:10" not in err and "1 matched no part" in err
    assert lines[0]["reasons"] == ["PRICE_ABOVE_REFERENCE"]


def test_odd_quotes_never_stop_the_run(tmp_path, capsys):
    broken_line = quote("Q3")
    broken_line["lines"][0]["qty"] = "many"
    broken_line["lines"][1]["unit_price_fen"] = None
    broken_line["lines"].append("not an object")
    no_date = quote("Q4", quoted_on="soon")
    no_elevator = quote("Q5", elevator=None, fault="door_fault", region=430200)
    strange_numbers = quote("Q6")
    strange_numbers["elevator"]["rope_count"] = "four"
    strange_numbers["lines"][0]["line_no"] = "one"
    strange_numbers["lines"][1]["qty"] = 1e300  # a typo, not a quantity
    quotes = [
        "{oops",
        quote("Q2", lines="none"),
        {"region": "430200"},
        broken_line,
        no_date,
        no_elevator,
        strange_numbers,
        quote(7),  # a numeric id is written as a string
    ]
    code, lines, err = run(tmp_path, history_rows(), quotes, capsys)
    assert code == 0
    for number in (1, 2, 3, 4):
        assert f"Q.jsonl:{number}" in err
    by_quote: dict[str, list[dict[str, Any]]] = {}
    for row in lines:
        by_quote.setdefault(row["quote_id"], []).append(row)
    assert list(by_quote) == ["Q3", "Q4", "Q5", "Q6", "7"]
    q3 = by_quote["Q3"]
    assert [r["line_no"] for r in q3] == [1, 2, 3, 4]
    assert q3[0]["reasons"] == q3[1]["reasons"] == q3[3]["reasons"] == ["UNMATCHED_ITEM"]
    assert q3[0]["part_category"] == "unknown" and q3[0]["approved_qty"] == 0
    assert q3[1]["approved_qty"] == 250.5 and q3[1]["approved_unit_price_fen"] == 0
    # No readable date: no reference is in force, nothing is trimmed on price.
    assert [r["reasons"] for r in by_quote["Q4"][:2]] == [
        ["NO_REFERENCE_PRICE"],
        ["QTY_ABOVE_SPEC", "NO_REFERENCE_PRICE"],
    ]
    # No elevator: its rope allowance is unknown, so it is not guessed.
    assert "QTY_ABOVE_SPEC" not in by_quote["Q5"][1]["reasons"]
    assert "PART_UNRELATED_TO_FAULT" in by_quote["Q5"][0]["reasons"]
    assert by_quote["Q6"][0]["line_no"] == 1  # its position
    assert by_quote["Q6"][1]["reasons"] == ["UNMATCHED_ITEM"]
    assert "elevator.rope_count" in err and "line_no" in err


def test_command_line(tmp_path):
    h, q, out = tmp_path / "H.jsonl", tmp_path / "Q.jsonl", tmp_path / "OUT.jsonl"
    write_jsonl(h, history_rows())
    write_jsonl(q, [quote()])
    done = subprocess.run(
        [
            sys.executable,
            *("-m", "services.pricing.core.evaluate"),
            *("--history", str(h), "--quotes", str(q), "--out", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(out.read_text(encoding="utf-8").splitlines()) == 3


def test_arguments(tmp_path, capsys):
    h, q = tmp_path / "H.jsonl", tmp_path / "Q.jsonl"
    write_jsonl(h, history_rows())
    write_jsonl(q, [quote()])
    out = tmp_path / "OUT.jsonl"
    # The subcommand's own name may come first (python -m services.pricing evaluate …).
    assert (
        evaluate.main(["evaluate", "--history", str(h), "--quotes", str(q), "--out", str(out)]) == 0
    )
    assert evaluate.main(["--history", str(h)]) == 2
    missing = tmp_path / "missing.jsonl"
    assert evaluate.main(["--history", str(missing), "--quotes", str(q), "--out", str(out)]) == 1
    unwritable = tmp_path / "no" / "such" / "dir" / "OUT.jsonl"
    assert evaluate.main(["--history", str(h), "--quotes", str(q), "--out", str(unwritable)]) == 1
    capsys.readouterr()


@pytest.mark.timeout(120)
def test_3000_observations_and_2000_quote_lines_take_well_under_a_minute(tmp_path, capsys):
    corpus = generate(seed=99, observations=3000, quotes=760)
    assert corpus.line_count >= 2000
    h, q, out = tmp_path / "H.jsonl", tmp_path / "Q.jsonl", tmp_path / "OUT.jsonl"
    write_jsonl(h, corpus.history)
    write_jsonl(q, corpus.quotes)
    started = time.perf_counter()
    assert evaluate.main(["--history", str(h), "--quotes", str(q), "--out", str(out)]) == 0
    elapsed = time.perf_counter() - started
    capsys.readouterr()
    assert len(out.read_text(encoding="utf-8").splitlines()) == corpus.line_count
    with capsys.disabled():
        print(f"\nevaluate: 3000 observations + {corpus.line_count} quote lines in {elapsed:.2f} s")
    assert elapsed < 20
