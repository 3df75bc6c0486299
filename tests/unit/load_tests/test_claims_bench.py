"""The FNOL intake benchmark's arithmetic: CPU per round, profile shares, the verdict."""

import asyncio

import pytest

from load_tests.benchmarks.claims import (
    Breakdown,
    CpuMeter,
    Sample,
    compose_note,
    limiting_factor,
    machine_busy_s,
    owner,
    profile_shares,
    summarise,
)
from load_tests.callers import RoundResult
from load_tests.cpu import cpu_between

ROOT = "/repo"
SITE = "/venv/lib/python3.11/site-packages"


def _result(
    completed: int = 100,
    seconds: float = 1.0,
    cpu_s: float = 0.05,
    p50: float = 300.0,
    p99: float = 600.0,
) -> RoundResult:
    return RoundResult(completed, seconds, p50, p99, p50, cpu_s)


def _sample(
    completed: int = 100,
    server: float = 1.0,
    loop: float = 0.9,
    waiting: float = 0.1,
    pg: float | None = 0.1,
    machine: float = 1.4,
    p50: float = 300.0,
) -> Sample:
    return Sample(_result(completed, p50=p50), 1.0, server, loop, waiting, pg, machine)


def test_a_sample_turns_cpu_seconds_into_ms_per_call_and_cores():
    sample = _sample()
    assert sample.rate == 100
    assert sample.per_call_ms(sample.server_cpu_s) == pytest.approx(10.0)
    assert sample.cores(sample.loop_cpu_s) == pytest.approx(0.9)
    assert sample.per_call_ms(None) is None and sample.cores(None) is None
    # 1.4 busy on the machine, of which 1.0 + 0.1 + 0.05 was ours
    assert sample.others_cpu_s == pytest.approx(0.25)


def test_postgres_cpu_counts_backends_born_during_the_round_from_zero():
    assert cpu_between({1: 2.0, 2: 1.0}, {1: 2.5, 2: 1.0, 3: 0.25}) == pytest.approx(0.75)
    assert cpu_between({}, {}) is None  # an external PostgreSQL: not measured


def test_the_meter_reads_this_process_and_the_machine():
    before = CpuMeter().snapshot()
    sum(i * i for i in range(200_000))
    after = CpuMeter().snapshot()
    assert after.server_s >= before.server_s and after.loop_s >= before.loop_s
    assert after.machine_s >= before.machine_s > 0 and machine_busy_s() > 0


def test_summarise_takes_medians_over_rounds():
    summary = summarise([_sample(p50=p) for p in (100.0, 300.0, 200.0)])
    assert summary["rate"] == 100 and summary["p50_ms"] == 200.0
    assert summary["cpu_ms_per_call"]["server_process"] == 10.0
    assert summary["cores_busy"]["server_event_loop_thread"] == 0.9
    assert summary["event_loop_ready"] == 1.0
    assert summarise([_sample(pg=None)])["cpu_ms_per_call"]["postgres"] is None
    with pytest.raises(ValueError):
        summarise([])


def test_an_event_loop_with_work_all_the_time_is_cpu_bound_even_when_it_waited():
    verdict = limiting_factor(summarise([_sample(loop=0.7, waiting=0.28)]), cpus=2)
    assert verdict.startswith("the server is CPU-bound in Python")
    assert "waited for a CPU 28%" in verdict


def test_a_busy_machine_or_waiting_is_named_instead():
    saturated = summarise([_sample(server=0.7, loop=0.6, waiting=0.0, pg=1.2)])
    assert "2 cores are saturated" in limiting_factor(saturated, cpus=2)
    idle = summarise([_sample(server=0.3, loop=0.3, waiting=0.0, pg=0.1)])
    assert "waiting" in limiting_factor(idle, cpus=2)


def test_owner_groups_by_package_and_by_our_own_folders():
    assert owner(f"{SITE}/sqlalchemy/engine/base.py", ROOT) == "SQLAlchemy"
    assert owner(f"{SITE}/greenlet/__init__.py", ROOT) == "SQLAlchemy"
    assert owner(f"{SITE}/asyncpg/connection.py", ROOT) == "asyncpg"
    assert owner(f"{SITE}/grpc/aio/_call.py", ROOT) == "gRPC"
    assert owner(f"{SITE}/opentelemetry/trace/__init__.py", ROOT) == "OpenTelemetry"
    assert owner(f"{SITE}/hypothesis/core.py", ROOT) == "other"
    assert owner(f"{ROOT}/services/claims/usecases.py", ROOT) == "services (claims, policy)"
    assert owner(f"{ROOT}/shared/interceptors.py", ROOT) == "interceptors"
    assert owner(f"{ROOT}/shared/db.py", ROOT) == "shared"
    assert owner("/usr/lib/python3.11/asyncio/events.py", ROOT) == "asyncio, sockets, stdlib"


def test_profile_shares_give_a_builtins_time_to_its_callers():
    execute = (f"{SITE}/sqlalchemy/engine/base.py", 1, "execute")
    write = ("/usr/lib/python3.11/asyncio/selector_events.py", 2, "write")
    usecase = (f"{ROOT}/services/claims/usecases.py", 3, "report_loss")
    stats = {
        execute: (1, 1, 3.0, 3.0, {}),
        write: (1, 1, 1.0, 1.0, {}),
        usecase: (1, 1, 1.0, 1.0, {}),
        # socket.send: 4 s of its own, 3 of them when called from SQLAlchemy, 1 from asyncio
        ("~", 0, "<method 'send'>"): (
            2,
            2,
            4.0,
            4.0,
            {execute: (1, 1, 3.0, 3.0), write: (1, 1, 1.0, 1.0)},
        ),
        ("~", 0, "<orphan>"): (1, 1, 1.0, 1.0, {}),
    }
    shares = profile_shares(stats, ROOT)
    assert shares == {
        "SQLAlchemy": 0.6,
        "asyncio, sockets, stdlib": 0.2,
        "services (claims, policy)": 0.1,
        "other": 0.1,
    }
    assert list(shares) == sorted(shares, key=lambda k: -shares[k])
    assert profile_shares({}, ROOT) == {}


async def test_breakdown_times_awaitables_and_divides_by_the_calls_made():
    breakdown = Breakdown(claims_engine=object())

    async def work(x):
        await asyncio.sleep(0.01)
        return x

    timed = breakdown.timed("write", work)
    assert await timed(1) == 1 and await timed(2) == 2
    assert breakdown.calls["write"] == 2 and breakdown.mean_ms("write") >= 9
    assert breakdown.mean_ms("never") == 0.0
    breakdown.statements.update(claims=27, policy=8)
    breakdown.checkouts.update(all=6, claims=4)
    alone = RoundResult(2, 1.0, 20.0, 30.0, 25.0, 0.1)
    per = breakdown.per_intake(alone)
    assert per["claims_sql_statements"] == 13.5 and per["policy_sql_statements"] == 4.0
    assert per["claims_checkouts"] == 2.0 and per["policy_checkouts"] == 1.0
    assert per["rest_ms"] == pytest.approx(25.0 - per["write_tx_ms"], abs=0.01)


def test_the_note_gives_latencies_the_verdict_and_the_breakdown():
    intake = summarise([_sample()])
    echo = summarise([_sample(completed=3000, server=0.9, p50=9.0)])
    breakdown = {
        "total_ms": 12.0,
        "policy_get_elevator_ms": 3.5,
        "write_tx_ms": 5.0,
        "read_tx_ms": 2.2,
        "rest_ms": 1.3,
        "claims_sql_statements": 13.5,
        "claims_checkouts": 2.0,
        "policy_sql_statements": 4.0,
    }
    text = compose_note(
        intake=intake,
        echo=echo,
        ratio=0.033,
        breakdown=breakdown,
        shares={"SQLAlchemy": 0.45, "asyncpg": 0.06},
        interceptors_ms=0.13,
        cpus=2,
    )
    assert text.startswith("p50 300.0 ms, p99 600.0 ms at 32 callers (echo: p50 9.00 ms")
    assert "misses the 50% target" in text and "CPU-bound in Python" in text
    assert "SQLAlchemy 45%" in text and "policy GetElevator over gRPC 3.50" in text
    assert "interceptors cost 0.13 ms" in text
