"""A ``ValidateBatches`` client in a process of its own, so its CPU is not the server's.

The benchmark process serves (the validation service, and a bare bidirectional echo beside
it); a child process started with ``spawn`` (never ``fork``: gRPC's threads do not survive
it) builds the claims batches once, serialises them once, then, for each :class:`StreamRound`,
opens streams one after another for ``seconds``, each carrying ``in_flight`` batches written
at once, and reads their replies (replies stream back as each batch is judged; a sliding
window on one long stream would measure the same work). Both targets are sent
the very same serialised bytes through a raw (no serialiser) stream, so what differs between
them is only what the server does with them: the echo answers the bytes unchanged; the
service parses them, evaluates the rule set and answers the failing rows, which the child
parses and checks against the expected counts.

:func:`claims_columns` draws the batches: realistic claims, most of them good, with nulls
where a null is ordinary (no previous claim on the part) and about ``FAILING_SHARE`` of rows
broken in one way each (a lapsed policy, a missing photo, a black-listed contractor, …).
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date
from multiprocessing.connection import Connection
from typing import Any, Literal

import grpc
import numpy as np
import numpy.typing as npt

from load_tests.harness import Metadata
from load_tests.stats import percentile

FAILING_SHARE = 0.10
NO_PREVIOUS_CLAIM_SHARE = 0.7  # days_since_previous_same_part_claim is null: the usual case
CALL_TIMEOUT_S = 120.0
ANSWER_GRACE_S = 120.0
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
ECHO_SERVICE = "elevins.bench.StreamEcho"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
VALIDATE_METHOD = "/elevins.validation.v1.ValidationService/ValidateBatches"
_EPOCH = date(1970, 1, 1)
_FIRST_LOSS = (date(2025, 1, 1) - _EPOCH).days
_LAST_LOSS = (date(2025, 12, 31) - _EPOCH).days

Kind = Literal["validate", "echo"]
Columns = dict[str, npt.NDArray[Any]]
Nulls = dict[str, npt.NDArray[np.bool_]]


def claims_columns(rows: int, seed: int) -> tuple[Columns, Nulls]:
    """``rows`` claims as columns (dates as days since 1970) and null masks.

    Good claims pass every rule of the ``claims`` rule set; a ``FAILING_SHARE`` of rows is then
    broken by one of ten faults, some of them a null where a value is required.
    """
    rng = np.random.default_rng(seed)

    def ints(low: int, high: int) -> npt.NDArray[np.int64]:
        return rng.integers(low, high, rows, dtype=np.int64)

    loss = ints(_FIRST_LOSS, _LAST_LOSS + 1)
    policy_start = loss - ints(0, 365)
    claimed = ints(50_000, 2_000_000)
    iot_alarm = rng.random(rows) < 0.7
    columns: Columns = {
        "loss_date": loss,
        "policy_start": policy_start,
        "policy_end": policy_start + 364,
        "inspection_passed": np.ones(rows, dtype=np.bool_),
        "inspection_valid_until": loss + ints(0, 365),
        "last_maintenance_date": loss - ints(0, 16),
        "days_since_previous_same_part_claim": ints(91, 2_000),
        "claimed_amount_fen": claimed,
        "remaining_sum_insured_fen": claimed + ints(0, 10_000_000),
        "quote_date": loss + ints(0, 10),
        "photos_before": ints(1, 7),
        "photos_after": ints(1, 7),
        "contractor_list": rng.choice(np.array(["white", "normal"]), rows, p=[0.6, 0.4]),
        "iot_alarm": iot_alarm,
        "property_report": ~iot_alarm | (rng.random(rows) < 0.3),
        "claims_on_elevator_12m": ints(0, 7),
    }
    nulls: Nulls = {name: np.zeros(rows, dtype=np.bool_) for name in columns}
    nulls["days_since_previous_same_part_claim"] = rng.random(rows) < NO_PREVIOUS_CLAIM_SHARE

    failing = np.flatnonzero(rng.random(rows) < FAILING_SHARE)
    fault = rng.integers(0, 10, failing.size)

    def rows_with(index: int) -> npt.NDArray[np.int64]:
        chosen: npt.NDArray[np.int64] = failing[fault == index]
        return chosen

    def some(low: int, high: int, where: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        return rng.integers(low, high, where.size, dtype=np.int64)

    at = rows_with(0)  # the loss after the policy ended
    columns["policy_end"][at] = loss[at] - some(1, 60, at)
    columns["inspection_passed"][rows_with(1)] = False
    nulls["last_maintenance_date"][rows_with(2)] = True
    at = rows_with(3)  # the same part claimed again within 90 days
    columns["days_since_previous_same_part_claim"][at] = some(1, 91, at)
    nulls["days_since_previous_same_part_claim"][at] = False
    at = rows_with(4)
    columns["remaining_sum_insured_fen"][at] = claimed[at] - some(1, 50_000, at)
    at = rows_with(5)
    columns["quote_date"][at] = loss[at] - some(1, 6, at)
    nulls["photos_before"][rows_with(6)] = True
    columns["contractor_list"][rows_with(7)] = "black"
    at = rows_with(8)
    columns["iot_alarm"][at] = False
    columns["property_report"][at] = False
    at = rows_with(9)
    columns["claims_on_elevator_12m"][at] = some(7, 13, at)
    return columns, {name: mask for name, mask in nulls.items() if mask.any()}


@dataclass(frozen=True)
class BatchSpec:
    """One batch to build: its rows, its seed, and how many rows the service must fail."""

    batch_id: str
    rows: int
    seed: int
    failing: int


def request_bytes(spec: BatchSpec, fields: dict[str, str], on: str) -> bytes:
    """A batch as a client sends it: a serialised ``ValidateBatchesRequest``, packed columns."""
    from elevins.validation.v1 import validation_pb2 as pb

    columns, nulls = claims_columns(spec.rows, spec.seed)
    packed = {"int": "ints", "float": "floats", "bool": "bools", "str": "strings", "date": "dates"}
    out = []
    for name, kind in fields.items():
        column = pb.Column(
            name=name, nulls=np.flatnonzero(nulls[name]).tolist() if name in nulls else []
        )
        getattr(column, packed[kind]).extend(columns[name].tolist())
        out.append(column)
    request = pb.ValidateBatchesRequest(
        batch_id=spec.batch_id, rule_set="claims", on=on, columns=out
    )
    return request.SerializeToString()


@dataclass(frozen=True)
class Prepare:
    """Build and serialise these batches (untimed); the child answers their sizes in bytes."""

    batches: tuple[BatchSpec, ...]
    fields: dict[str, str]
    on: str


@dataclass(frozen=True)
class StreamRound:
    kind: Kind
    addr: str
    seconds: float
    in_flight: int
    metadata: Metadata = ()


@dataclass(frozen=True)
class StreamResult:
    batches: int
    rows: int
    failures: int
    seconds: float
    cpu_s: float
    p50_ms: float
    p99_ms: float
    error: str | None = None

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


class _Child:
    def __init__(self) -> None:
        self.channels: dict[str, grpc.aio.Channel] = {}
        self.payloads: list[bytes] = []
        self.specs: list[BatchSpec] = []

    def channel(self, addr: str) -> grpc.aio.Channel:
        if addr not in self.channels:
            options = [
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ]
            self.channels[addr] = grpc.aio.insecure_channel(addr, options=options)
        return self.channels[addr]

    def prepare(self, job: Prepare) -> list[int]:
        self.specs = list(job.batches)
        self.payloads = [request_bytes(spec, job.fields, job.on) for spec in job.batches]
        return [len(p) for p in self.payloads]

    def checker(self, kind: Kind) -> Callable[[Any, int], tuple[int, int]]:
        """(rows, failures) of a reply to batch ``index``; raises if the reply is wrong."""
        if kind == "echo":

            def check_echo(reply: bytes, index: int) -> tuple[int, int]:
                if len(reply) != len(self.payloads[index]):
                    raise RuntimeError("the echo answered other bytes than it was sent")
                return self.specs[index].rows, 0

            return check_echo

        def check_validate(reply: Any, index: int) -> tuple[int, int]:
            spec = self.specs[index]
            if reply.HasField("error"):
                raise RuntimeError(f"{spec.batch_id}: {reply.error.field}: {reply.error.reason}")
            if reply.batch_id != spec.batch_id or reply.rows != spec.rows:
                raise RuntimeError(f"{spec.batch_id}: answered {reply.batch_id} ({reply.rows})")
            if len(reply.failures) != spec.failing:
                raise RuntimeError(
                    f"{spec.batch_id}: {len(reply.failures)} failing rows, not {spec.failing}"
                )
            return spec.rows, len(reply.failures)

        return check_validate

    async def run(self, job: StreamRound) -> StreamResult:
        if not self.payloads:
            raise RuntimeError("no batches prepared")
        channel = self.channel(job.addr)
        if job.kind == "echo":
            method = channel.stream_stream(ECHO_METHOD, None, None)
        else:
            from elevins.validation.v1 import validation_pb2 as pb

            method = channel.stream_stream(
                VALIDATE_METHOD, None, pb.ValidateBatchesResponse.FromString
            )
        check = self.checker(job.kind)
        latencies: list[float] = []  # per stream: first batch written to last reply read
        batches = rows = failures = 0
        cpu_start = time.process_time()
        start = time.perf_counter()
        end = start + job.seconds
        sent = 0
        while time.perf_counter() < end:
            indices = [(sent + i) % len(self.payloads) for i in range(job.in_flight)]
            sent += job.in_flight

            async def requests(chosen: list[int] = indices) -> AsyncIterator[bytes]:
                for index in chosen:
                    yield self.payloads[index]

            begun = time.perf_counter()
            answered = 0
            async for reply in method(requests(), metadata=job.metadata, timeout=CALL_TIMEOUT_S):
                if answered >= len(indices):
                    raise RuntimeError(f"{job.kind}: more replies than batches")
                got_rows, got_failures = check(reply, indices[answered])
                answered += 1
                rows += got_rows
                failures += got_failures
            if answered != len(indices):
                raise RuntimeError(f"{job.kind}: {len(indices) - answered} batches unanswered")
            latencies.append(time.perf_counter() - begun)
            batches += answered
        elapsed = time.perf_counter() - start
        latencies.sort()
        return StreamResult(
            batches=batches,
            rows=rows,
            failures=failures,
            seconds=elapsed,
            cpu_s=time.process_time() - cpu_start,
            p50_ms=percentile(latencies, 50) * 1000,
            p99_ms=percentile(latencies, 99) * 1000,
        )


def child_main(conn: Connection) -> None:
    asyncio.run(_serve(conn))


async def _serve(conn: Connection) -> None:
    child = _Child()
    try:
        while True:
            try:
                job = await asyncio.to_thread(conn.recv)
            except EOFError:
                return
            if job is None:
                return
            answer: object
            try:
                if isinstance(job, Prepare):
                    answer = await asyncio.to_thread(child.prepare, job)
                else:
                    answer = await child.run(job)
            except Exception as error:  # reported to the parent, which fails the benchmark
                answer = StreamResult(0, 0, 0, 0.0, 0.0, 0.0, 0.0, error=repr(error))
            conn.send(answer)
    finally:
        for channel in child.channels.values():
            await channel.close(grace=None)


class StreamClient:
    """The parent's handle: ``async with StreamClient() as client: await client.run(…)``."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_end = context.Pipe()
        self._child_end = child_end
        self._process = context.Process(
            target=child_main, args=(child_end,), name="bench-validation-client", daemon=True
        )

    async def __aenter__(self) -> StreamClient:
        self._process.start()
        self._child_end.close()
        return self

    async def prepare(self, job: Prepare) -> list[int]:
        """Have the child build and serialise the batches; their sizes in bytes."""
        self._conn.send(job)
        answer = await asyncio.to_thread(self._answer, ANSWER_GRACE_S)
        if isinstance(answer, StreamResult):
            raise RuntimeError(f"preparing the batches failed: {answer.error}")
        if not isinstance(answer, list):
            raise TypeError(f"the client process answered {answer!r} to Prepare")
        return answer

    async def run(self, job: StreamRound) -> StreamResult:
        self._conn.send(job)
        answer = await asyncio.to_thread(self._answer, job.seconds + ANSWER_GRACE_S)
        if not isinstance(answer, StreamResult):
            raise TypeError(f"the client process answered {answer!r} to a round")
        if answer.error is not None:
            raise RuntimeError(f"{job.kind}: the stream failed: {answer.error}")
        return answer

    def _answer(self, timeout: float) -> object:
        if not self._conn.poll(timeout):
            raise TimeoutError(f"the client process did not answer within {timeout:.0f}s")
        return self._conn.recv()

    async def __aexit__(self, *exc_info: object) -> None:
        with contextlib.suppress(OSError):
            self._conn.send(None)
        await asyncio.to_thread(self._process.join, 10)
        if self._process.is_alive():
            self._process.terminate()
            await asyncio.to_thread(self._process.join, 5)
        self._conn.close()


async def _echo_stream(requests: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
    async for request in requests:
        yield request


async def start_stream_echo() -> tuple[grpc.aio.Server, int]:
    """A bare bidirectional echo on loopback, served as ``GrpcApp`` serves (message limits
    raised likewise), without interceptors or (de)serialisers: each message answered as it
    comes, unchanged."""
    server = grpc.aio.server(
        options=[
            ("grpc.so_reuseport", 0),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
    )
    handler = grpc.method_handlers_generic_handler(
        ECHO_SERVICE, {"Echo": grpc.stream_stream_rpc_method_handler(_echo_stream)}
    )
    server.add_generic_rpc_handlers((handler,))
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        raise RuntimeError("stream echo: cannot bind")
    await server.start()
    return server, port
