"""The load driver's pure parts: where it may send load, how steps fit the cap, the report."""

import json
from datetime import UTC, datetime

import pytest

from load_tests.city import MIX, Fleet, check_mix
from load_tests.load import EXIT_USAGE, SERVICES, main
from load_tests.report import (
    RefusedTarget,
    Sample,
    StepResult,
    build_report,
    format_report,
    loopback_target,
    plan_steps,
    summarise,
)

ADDRS = {f"{name.upper()}_ADDR": f"127.0.0.1:{50051 + i}" for i, name in enumerate(SERVICES)}


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1:50051",
        "localhost:50051",
        "LOCALHOST:1",
        "[::1]:50051",
        "127.1.2.3:8080",
        " 127.0.0.1:50051 ",
    ],
)
def test_loopback_addresses_are_accepted(addr):
    assert loopback_target(addr) == addr.strip()


@pytest.mark.parametrize(
    "addr",
    [
        "10.0.0.5:50051",  # another machine
        "0.0.0.0:50051",  # every interface, not loopback
        "example.com:50051",  # any name but localhost could resolve anywhere
        "localhost.example.com:50051",
        "127.0.0.1.nip.io:50051",
        "[2001:db8::1]:50051",
        "::1:50051",  # ambiguous without brackets
        "127.0.0.1",  # no port
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:http",
        "http://127.0.0.1:50051",
        "dns:///127.0.0.1:50051",
        ":50051",
    ],
)
def test_anything_else_is_refused(addr):
    with pytest.raises(RefusedTarget):
        loopback_target(addr)


def test_a_refused_address_exits_before_any_network(capsys):
    environ = {**ADDRS, "CLAIMS_ADDR": "192.168.1.10:50052", "ELEVINS_AUTH_KEY": "ab" * 32}
    assert main([], environ=environ, stack={}) == EXIT_USAGE
    assert "not this machine" in capsys.readouterr().err


def test_without_a_running_stack_it_says_to_start_one(capsys):
    assert main([], environ={}, stack={}) == EXIT_USAGE
    assert "make run" in capsys.readouterr().err
    assert main([], environ=ADDRS, stack={}) == EXIT_USAGE  # addresses, but no key
    assert "ELEVINS_AUTH_KEY" in capsys.readouterr().err


def test_help_explains_how_to_run_it(capsys):
    with pytest.raises(SystemExit):
        main(["--help"], environ={}, stack={})
    text = capsys.readouterr().out
    assert "make run" in text and "WEB_ADDR" in text and "loopback" in text


def test_the_city_size_is_bounded(capsys):
    with pytest.raises(SystemExit):
        main(["--elevators", "1000001"], environ={}, stack={})
    assert "1,000,000" in capsys.readouterr().err


def test_steps_fit_the_budget_the_last_one_shortened_the_rest_skipped():
    assert plan_steps([1, 4, 16, 32], 10, 60) == ([(1, 10), (4, 10), (16, 10), (32, 10)], [])
    assert plan_steps([1, 4, 16, 32], 10, 25) == ([(1, 10), (4, 10), (16, 5)], [32])
    assert plan_steps([1, 4, 16], 10, 20.5) == ([(1, 10), (4, 10)], [16])  # 0.5 s is no step


def test_the_mix_is_shares_that_add_up_and_a_bad_one_is_refused():
    check_mix(MIX)
    assert MIX["coverage"] + MIX["review_queue"] + MIX["claim_page"] > MIX["alarm"]
    with pytest.raises(ValueError, match="adding up to 1"):
        check_mix({"alarm": 0.5, "coverage": 0.4})


def test_a_fleet_survives_its_json():
    fleet = Fleet(50, ["梯11湘B00001(18)"], ["clm_1"], ["load-1"], ["ctr-1"], {"x": "int"}, 3)
    assert Fleet.from_json(fleet.to_json()) == fleet


def samples(call, latencies_ms, code="OK"):
    return [Sample(call, ms / 1000, code) for ms in latencies_ms]


def test_a_summary_counts_requests_rates_latencies_and_errors_by_code():
    summary = summarise(
        samples("CheckCoverage", range(1, 99))
        + samples("CheckCoverage", [500], "DEADLINE_EXCEEDED")
        + samples("CheckCoverage", [2], "UNAVAILABLE"),
        seconds=2.0,
    )
    assert summary["requests"] == 100 and summary["rps"] == 50.0
    assert summary["errors"] == {"DEADLINE_EXCEEDED": 1, "UNAVAILABLE": 1}
    assert summary["p50_ms"] == pytest.approx(49.5)  # 1, 2, 2, 3 … 98, 500
    assert summary["p99_ms"] > 98  # the timeout is in the tail: failed calls count


def test_a_summary_of_nothing_has_no_percentiles():
    assert summarise([], 1.0) == {
        "requests": 0,
        "rps": 0.0,
        "p50_ms": None,
        "p95_ms": None,
        "p99_ms": None,
        "errors": {},
        "unexpected_errors": {},
    }


def make_report(p95s_ms):
    steps = [
        StepResult(
            users=users,
            seconds=10.0,
            samples=samples("CheckCoverage", [p95] * 7) + samples("GetElevator", [p95 / 2] * 3),
        )
        for users, p95 in zip([1, 4, 16, 32][: len(p95s_ms)], p95s_ms, strict=True)
    ]
    return build_report(
        target={"policy": "127.0.0.1:50051"},
        started_at=datetime(2026, 11, 24, 12, 0, tzinfo=UTC),
        duration_s=40.0,
        config={"users": [1, 4, 16, 32], "bend_factor": 2.0},
        steps=steps,
        skipped_users=[32] if len(p95s_ms) < 4 else [],
        bend_factor=2.0,
    )


def test_the_report_has_steps_per_call_summaries_and_the_bend():
    report = make_report([5.0, 8.0, 25.0, 90.0])
    assert json.loads(json.dumps(report)) == report  # plain JSON
    assert set(report) == {
        "target",
        "started_at",
        "duration_s",
        "config",
        "steps",
        "skipped_users",
        "bend",
    }
    assert report["started_at"] == "2026-11-24T12:00:00Z"
    step = report["steps"][0]
    assert {
        "users",
        "seconds",
        "requests",
        "rps",
        "p50_ms",
        "p95_ms",
        "p99_ms",
        "errors",
        "unexpected_errors",
        "cores",
        "calls",
    } <= set(step)
    assert set(step["calls"]) == {"CheckCoverage", "GetElevator"}
    assert step["calls"]["CheckCoverage"]["requests"] == 7 and step["requests"] == 10
    assert report["bend"] == {
        "step": 2,
        "users": 16,
        "p95_ms": 25.0,
        "first_p95_ms": 5.0,
        "factor": 2.0,
    }
    assert "p95 bends at 16 users" in format_report(report)


def test_no_bend_is_reported_as_such():
    report = make_report([5.0, 6.0, 7.0])
    assert report["bend"] is None
    text = format_report(report)
    assert "no bend" in text and "skipped" in text
