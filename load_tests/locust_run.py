"""Running the locust users headless, step by step, and turning what they saw into a report.

``python -m load_tests.locust_run`` is a process of its own, started by ``load_tests.load``:
gevent must patch the standard library before anything imports ssl or threading, so this
module patches first and nothing else imports it.
A :class:`StepShape` holds each step's users for its time; every request event is recorded as
a :class:`~load_tests.report.Sample` of the step it ended in, and the CPU of each part of the
stack is read at each step's edges (``load_tests.cpu``).
"""

from __future__ import annotations

from gevent import monkey

monkey.patch_all()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Mapping, Sequence  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from typing import Any  # noqa: E402

import gevent  # noqa: E402
from locust import LoadTestShape, events  # noqa: E402
from locust.env import Environment  # noqa: E402

from load_tests.cpu import cores_between, cpu_by_process  # noqa: E402
from load_tests.locustfile import user_classes  # noqa: E402
from load_tests.report import Sample, StepResult, build_report  # noqa: E402

TICK_S = 0.2  # how often the shape is asked; a step starts at most this late


class StepShape(LoadTestShape):
    """``(users, seconds)`` steps, each user spawned at once at the step's start."""

    def __init__(self, steps: Sequence[tuple[int, float]]) -> None:
        super().__init__()
        self.steps = list(steps)
        self.edges = [sum(s for _, s in self.steps[:i]) for i in range(len(self.steps) + 1)]

    def step_at(self, elapsed: float) -> int | None:
        for index in range(len(self.steps)):
            if elapsed < self.edges[index + 1]:
                return index
        return None

    def tick(self) -> tuple[int, float] | None:
        index = self.step_at(self.get_run_time())
        if index is None:
            return None
        users = self.steps[index][0]
        return users, float(users)  # spawn the whole step within a second


class Recorder:
    """Samples by step, and the CPU readings at each step's edges."""

    def __init__(self, steps: Sequence[tuple[int, float]]) -> None:
        self.results = [StepResult(users=u, seconds=0.0) for u, _ in steps]
        self.current: int | None = None
        self._cpu: dict[tuple[str, int], float] = {}
        self._began = 0.0

    def enter(self, index: int | None) -> None:
        now = time.monotonic()
        cpu = cpu_by_process()
        if self.current is not None:
            step = self.results[self.current]
            step.seconds = now - self._began
            step.cores = cores_between(self._cpu, cpu, step.seconds)
        self.current, self._cpu, self._began = index, cpu, now

    def on_request(
        self,
        request_type: str,
        name: str,
        response_time: float,
        response_length: int,
        exception: BaseException | None = None,
        context: Mapping[str, Any] | None = None,
        response: Any = None,
        **_: Any,
    ) -> None:
        if self.current is None:
            return
        ctx = context or {}
        if request_type == "grpc":
            code = str(ctx.get("code", "OK" if exception is None else "UNKNOWN"))
        else:  # HTTP: the status, or the transport error's name
            status = getattr(response, "status_code", 0)
            code = "OK" if exception is None else (f"HTTP_{status}" if status else "HTTP_ERROR")
        self.results[self.current].samples.append(
            Sample(name, response_time / 1000, code, bool(ctx.get("expected", False)))
        )


def run_steps(
    steps: Sequence[tuple[int, float]],
    *,
    skipped: Sequence[int],
    bend_factor: float,
    target: Mapping[str, str],
    config: Mapping[str, Any],
) -> dict[str, Any]:
    shape = StepShape(steps)
    recorder = Recorder(steps)
    env = Environment(user_classes=user_classes(), shape_class=shape, events=events)
    env.events.request.add_listener(recorder.on_request)
    runner = env.create_local_runner()
    started_at, began = datetime.now(UTC), time.monotonic()
    runner.start_shape()
    total = shape.edges[-1]

    def watch() -> None:
        # Steps change on the shape's clock; the recorder follows it, then stops the run.
        while True:
            index = shape.step_at(time.monotonic() - began)
            if index != recorder.current:
                recorder.enter(index)
            if index is None or time.monotonic() - began > total + 5:
                break
            gevent.sleep(TICK_S)
        runner.quit()

    watcher = gevent.spawn(watch)
    watcher.join()
    runner.greenlet.join(timeout=15)
    env.events.request.remove_listener(recorder.on_request)
    return build_report(
        target=target,
        started_at=started_at,
        duration_s=time.monotonic() - began,
        config=config,
        steps=recorder.results,
        skipped_users=skipped,
        bend_factor=bend_factor,
    )


def main() -> int:
    """Reads the plan as JSON on stdin; writes the report as JSON on stdout."""
    plan = json.loads(sys.stdin.read())
    report = run_steps(
        [tuple(step) for step in plan["steps"]],
        skipped=plan["skipped"],
        bend_factor=plan["bend_factor"],
        target=plan["target"],
        config=plan["config"],
    )
    sys.stdout.write(json.dumps(report, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
