"""The callers' process and the intake schedule: fresh faults first, storms on recent ones."""

import os

import grpc
import pytest

from load_tests.callers import CallerProcess, IntakePlan, IntakeSchedule, Round, Target
from load_tests.echo import echo_callable, start_echo_server

CODES = tuple(f"梯11湘B{i:05d}(18)" for i in range(12))
CATEGORIES = ("trapped_passenger", "door_fault", "abnormal_noise", "stopped")


def test_the_first_reports_are_every_elevator_and_fault_once():
    schedule = IntakeSchedule(IntakePlan(CODES, CATEGORIES, storm_share=0))
    first = [schedule.next() for _ in range(len(CODES) * len(CATEGORIES))]
    assert len({(code, category) for code, category, _ in first}) == len(first)
    assert not any(storm for _, _, storm in first)
    # every elevator comes before any elevator's second fault …
    assert {code for code, _, _ in first[: len(CODES)]} == set(CODES)
    # … and neighbours report different faults
    assert len({category for _, category, _ in first[: len(CATEGORIES)]}) == len(CATEGORIES)
    assert schedule.first_reports == len(first)


def test_past_every_pair_the_schedule_wraps_around():
    schedule = IntakeSchedule(IntakePlan(CODES, CATEGORIES, storm_share=0))
    pairs = len(CODES) * len(CATEGORIES)
    assert schedule.pair(pairs + 5) == schedule.pair(5)


def test_storms_repeat_a_fault_reported_moments_ago():
    plan = IntakePlan(CODES, CATEGORIES, storm_share=0.25, storm_window=4, seed=7)
    schedule = IntakeSchedule(plan)
    recent: list[tuple[str, str]] = []
    storms = 0
    for _ in range(400):
        code, category, storm = schedule.next()
        if storm:
            storms += 1
            assert (code, category) in recent[-4:]
        else:
            recent.append((code, category))
    assert 0.18 < storms / 400 < 0.32
    # the same seed gives the same traffic
    a, b = IntakeSchedule(plan), IntakeSchedule(plan)
    assert [a.next() for _ in range(50)] == [b.next() for _ in range(50)]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"registration_codes": (), "categories": CATEGORIES},
        {"registration_codes": CODES, "categories": ()},
        {"registration_codes": CODES, "categories": CATEGORIES, "storm_share": 1.0},
        {"registration_codes": CODES, "categories": CATEGORIES, "storm_window": 0},
    ],
)
def test_a_plan_that_cannot_work_is_refused(kwargs):
    with pytest.raises(ValueError):
        IntakePlan(**kwargs)


async def test_the_echo_answers_the_bytes_it_was_sent():
    server, port = await start_echo_server()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            payload = os.urandom(300)
            assert await echo_callable(channel)(payload) == payload
    finally:
        await server.stop(None)


async def test_a_round_in_the_child_process_counts_calls_latency_and_cpu():
    server, port = await start_echo_server()
    addr = f"127.0.0.1:{port}"
    target = Target("echo", addr, "echo", (("authorization", "Bearer x"),), payload=b"x" * 64)
    try:
        async with CallerProcess() as callers:
            assert callers.pid is not None and callers.pid != os.getpid()
            result = await callers.run(Round(target, 0.2, 4))
            await callers.forget(addr)
            again = await callers.run(Round(target, 0.1, 1))  # reopens the channel
    finally:
        await server.stop(None)
    assert result.error is None and result.completed > 0 and result.rate > 0
    assert 0 < result.p50_ms <= result.p99_ms and result.mean_ms > 0 and result.cpu_s > 0
    assert (result.created, result.storm) == (0, 0)
    assert again.completed > 0


async def test_a_failing_call_fails_the_round():
    target = Target("nobody", "127.0.0.1:9", "echo", payload=b"x")  # discard port: refused
    async with CallerProcess() as callers:
        with pytest.raises(RuntimeError, match="a call failed"):
            await callers.run(Round(target, 0.1, 1))
