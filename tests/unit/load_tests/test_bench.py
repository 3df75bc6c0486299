"""The benchmark harness: file format, interleaving, the registry, the baselines' honesty."""

import io
import json
from decimal import Decimal

import pytest

from load_tests.bench import BENCHMARKS, run_all, select
from load_tests.benchmarks.policy import ballots_for, electorate, naive_float_tally
from load_tests.harness import (
    Benchmark,
    BenchResult,
    Measure,
    format_table,
    interleaved,
    machine,
    sync_round,
    write_result,
)
from services.policy.domain.flats import Flat
from services.policy.domain.voting import (
    Ballot,
    decide_vote,
    load_default_rule_sets,
    select_rule_set,
)

RESULT = BenchResult(
    Measure("policy_thing_fast", "calls/s", 1234.56),
    Measure("policy_thing_slow", "calls/s", 400.0),
)


def test_the_json_file_has_exactly_the_documented_shape(tmp_path):
    path = write_result(RESULT, tmp_path / "bench", {"cpus": 2, "python": "3.11.7"})
    assert path == tmp_path / "bench" / "policy_thing_fast.json"
    assert json.loads(path.read_text()) == {
        "name": "policy_thing_fast",
        "unit": "calls/s",
        "value": 1234.6,
        "baseline": {"name": "policy_thing_slow", "unit": "calls/s", "value": 400.0},
        "ratio": 3.0864,
        "machine": {"cpus": 2, "python": "3.11.7"},
    }


def test_extras_and_a_note_come_after_the_documented_keys(tmp_path):
    result = BenchResult(
        Measure("claims_x", "requests/s", 90.04, {"p50_ms": 300.0, "p99_ms": 500.0}),
        Measure("grpc_echo", "requests/s", 3000.0, {"p50_ms": 9.0, "p99_ms": 19.0}),
        extra={"mix": {"created": 3}},
        note="CPU-bound in Python",
    )
    written = json.loads(
        write_result(result, tmp_path, {"cpus": 2, "python": "3.11.7"}).read_text()
    )
    assert list(written) == [
        "name",
        "unit",
        "value",
        "p50_ms",
        "p99_ms",
        "baseline",
        "ratio",
        "machine",
        "mix",
        "note",
    ]
    assert written["value"] == 90.0 and written["ratio"] == 0.03
    assert written["baseline"] == {
        "name": "grpc_echo",
        "unit": "requests/s",
        "value": 3000.0,
        "p50_ms": 9.0,
        "p99_ms": 19.0,
    }


@pytest.mark.parametrize(
    "result",
    [
        BenchResult(Measure("a", "x/s", 1.0, {"value": 2.0}), Measure("b", "x/s", 1.0)),
        BenchResult(Measure("a", "x/s", 1.0), Measure("b", "x/s", 1.0, {"name": "c"})),
        BenchResult(Measure("a", "x/s", 1.0), Measure("b", "x/s", 1.0), extra={"ratio": 9}),
    ],
)
def test_an_extra_never_replaces_a_documented_key(result):
    with pytest.raises(ValueError, match="documented"):
        result.as_json({"cpus": 2, "python": "3.11.7"})


def test_a_note_is_printed_under_the_table_wrapped():
    noted = BenchResult(RESULT.measured, RESULT.baseline, note="limited by " + "word " * 40)
    lines = format_table([noted, RESULT]).splitlines()
    assert len(lines) > 6 and lines[4] == ""  # header, rule, two rows, blank, the note
    assert lines[5].startswith("policy_thing_fast: limited by")
    assert all(len(line) <= 100 for line in lines[5:])
    assert all(line.startswith("  ") for line in lines[6:])


def test_machine_names_cpus_python_and_the_system():
    info = machine()
    assert {"cpus", "python", "system"} <= set(info)
    assert isinstance(info["cpus"], int) and info["python"].count(".") == 2


def test_a_zero_baseline_has_no_ratio():
    with pytest.raises(ValueError):
        _ = BenchResult(Measure("a", "x/s", 1.0), Measure("b", "x/s", 0.0)).ratio


def test_the_table_has_a_row_per_result_with_every_column():
    table = format_table([RESULT])
    header, _, row = table.splitlines()
    for column in ("benchmark", "value", "unit", "baseline", "baseline value", "ratio"):
        assert column in header
    assert row.split() == [
        "policy_thing_fast",
        "1,235",
        "calls/s",
        "policy_thing_slow",
        "400",
        "3.086",
    ]


async def test_rounds_alternate_and_flip_order_after_a_warm_up():
    calls: list[str] = []
    rates = {"A": iter([0, 10, 30, 20]), "B": iter([0, 1, 3, 2])}

    def fake(name):
        async def run():
            calls.append(name)
            return float(next(rates[name]))

        return run

    subject, baseline = await interleaved(fake("A"), fake("B"), rounds=3)
    assert calls == ["A", "B", "A", "B", "B", "A", "A", "B"]  # warm-up, then ABBA…
    assert (subject, baseline) == (20.0, 2.0)  # medians, warm-up (0) discarded


async def test_a_sync_round_counts_calls_per_second():
    count = 0

    def operation():
        nonlocal count
        count += 1

    rate = await sync_round(operation, 0.01)()
    assert rate > 0 and count % 16 == 0


def test_select_keeps_registry_order_and_refuses_unknown_names():
    names = [b.name for b in BENCHMARKS]
    assert select(BENCHMARKS, [names[-1], names[0]]) == [BENCHMARKS[0], BENCHMARKS[-1]]
    assert select(BENCHMARKS, []) == list(BENCHMARKS)
    with pytest.raises(ValueError, match="unknown"):
        select(BENCHMARKS, ["policy_nope"])


def test_registered_names_are_unique_and_start_with_a_service():
    names = [b.name for b in BENCHMARKS]
    assert len(set(names)) == len(names)
    services = {
        "policy",
        "claims",
        "pricing",
        "validation",
        "contractors",
        "evidence",
        "exchange",
        "web",
    }
    assert all(name.split("_")[0] in services for name in names)
    assert "claims_fnol_intake" in names
    assert "claims_queue_100k" in names
    # The web benchmark reads the claims the queue benchmark loads: it must come after it.
    assert names.index("web_queue_100k") > names.index("claims_queue_100k")


async def test_a_failing_benchmark_does_not_stop_the_others(tmp_path):
    async def good(ctx):
        return RESULT

    async def broken(ctx):
        raise RuntimeError("boom")

    results, failures = await run_all(
        [Benchmark("broken", broken), Benchmark("good", good)], out_dir=tmp_path, time_scale=1
    )
    assert results == [RESULT] and failures == ["broken"]
    assert [p.name for p in tmp_path.iterdir()] == ["policy_thing_fast.json"]


# ------------------------------------------------------------------ the vote baseline is fair

CIVIL_CODE = select_rule_set(load_default_rule_sets(), "civil_code_2021_art278")


def _both(flats, ballots):
    exact = decide_vote(CIVIL_CODE, flats, ballots).passed
    naive = naive_float_tally([(f.owner_id, float(f.area)) for f in flats], ballots)
    return exact, naive


def test_the_benchmark_electorate_is_36_flats_with_a_passing_vote():
    flats = electorate()
    assert len(flats) == 36 and len({f.owner_id for f in flats}) == 34
    assert _both(flats, ballots_for(flats)) == (True, True)


@pytest.mark.parametrize(
    ("choices", "passes"),
    [
        ({"a": Ballot.AGREE, "b": Ballot.AGREE, "c": Ballot.DISAGREE}, True),
        ({"a": Ballot.AGREE, "b": Ballot.DISAGREE}, False),  # turnout 2 of 4 owners < 2/3
        ({"a": Ballot.AGREE, "b": Ballot.ABSTAIN, "c": Ballot.ABSTAIN}, False),  # 1 of 3 agree
        ({}, False),  # nobody voted
    ],
)
def test_the_naive_tally_decides_like_decide_vote(choices, passes):
    areas = ["90.00", "80.00", "70.00", "60.00"]
    flats = [Flat(f"f{o}", o, Decimal(area)) for o, area in zip("abcd", areas, strict=True)]
    assert _both(flats, choices) == (passes, passes)


# ------------------------------------------------------------------ evidence upload throughput


def test_the_upload_benchmark_is_registered():
    assert "evidence_upload_throughput" in [b.name for b in BENCHMARKS]


def test_upload_rounds_go_abc_then_cba():
    from load_tests.benchmarks.evidence_upload import WAYS, rotated_order

    assert [rotated_order(i) for i in range(3)] == [WAYS, WAYS[::-1], WAYS]


def test_an_upload_round_is_rated_per_uploader_and_summed():
    from load_tests.benchmarks.evidence_upload import Outcome

    # Uploader 0 got 8 photos of 100 bytes in by 1.0 s, uploader 1 got 2 in by 2.0 s (its
    # second late, after a slow one): 8/s + 1/s, whatever the round's tail.
    done = [(0.125 * (i + 1), 100, 0) for i in range(8)] + [(0.5, 100, 1), (2.0, 100, 1)]
    outcome = Outcome("raw", photos=10, bytes=1000, wall_s=2.5, completions=done)
    assert outcome.rate == pytest.approx(9.0) and outcome.bytes_per_s == pytest.approx(900.0)
    verifying = Outcome("verification", photos=20, bytes=0, wall_s=4.0)
    assert verifying.rate == pytest.approx(5.0)  # no uploaders: the whole round


def test_upload_photos_are_distinct_and_near_200_kb():
    import hashlib

    from PIL import Image

    from load_tests.benchmarks.evidence_upload import (
        FRAME,
        SIZE_TOLERANCE,
        TARGET_BYTES,
        scene_photos,
    )

    photos = scene_photos(3, 3)
    assert len({hashlib.sha256(p).digest() for p in photos}) == 3
    assert all(abs(len(p) / TARGET_BYTES - 1) <= SIZE_TOLERANCE for p in photos)
    assert Image.open(io.BytesIO(photos[0])).size in (FRAME, FRAME[::-1])
