"""The validation service over gRPC: one record, columnar batch streams, and bad batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date

import grpc
import pytest

from elevins.validation.v1 import validation_pb2 as pb
from elevins.validation.v1 import validation_pb2_grpc
from services.validation.core.fields import to_days
from tests.integration.policy.helpers import meta

pytestmark = pytest.mark.integration

GOOD_CLAIM = {
    "loss_date": pb.Value(date_value="2026-11-10"),
    "policy_start": pb.Value(date_value="2026-01-01"),
    "policy_end": pb.Value(date_value="2026-12-31"),
    "inspection_passed": pb.Value(bool_value=True),
    "inspection_valid_until": pb.Value(date_value="2027-03-01"),
    "last_maintenance_date": pb.Value(date_value="2026-11-01"),
    "claimed_amount_fen": pb.Value(int_value=1_200_000),
    "remaining_sum_insured_fen": pb.Value(int_value=15_000_000),
    "quote_date": pb.Value(date_value="2026-11-11"),
    "photos_before": pb.Value(int_value=2),
    "photos_after": pb.Value(int_value=2),
    "contractor_list": pb.Value(string_value="white"),
    "iot_alarm": pb.Value(bool_value=True),
    "property_report": pb.Value(bool_value=False),
    "claims_on_elevator_12m": pb.Value(int_value=1),
}


@pytest.fixture
def stub(validation_channel) -> validation_pb2_grpc.ValidationServiceStub:
    return validation_pb2_grpc.ValidationServiceStub(validation_channel)


async def test_one_claim_passes_and_a_lapsed_one_fails_with_a_trace(stub, mint) -> None:
    md = meta(mint("service"))
    ok = await stub.Validate(
        pb.ValidateRequest(rule_set="claims", on="2026-11-20", fields=GOOD_CLAIM), metadata=md
    )
    assert list(ok.failed) == [] and ok.rule_set_version == "1"
    bad = dict(
        GOOD_CLAIM,
        loss_date=pb.Value(date_value="2027-02-01"),
        contractor_list=pb.Value(string_value="black"),
    )
    reply = await stub.Validate(
        pb.ValidateRequest(rule_set="claims", on="2027-02-20", fields=bad, trace=True), metadata=md
    )
    assert {"CLAIM_POLICY_NOT_IN_FORCE", "CLAIM_CONTRACTOR_BLACKLISTED"} <= set(reply.failed)
    traced = {t.code: dict(t.values) for t in reply.trace}
    assert traced["CLAIM_POLICY_NOT_IN_FORCE"]["loss_date"] == "2027-02-01"


def _batch(n: int, batch_id: str, *, bad_length: bool = False) -> pb.ValidateBatchesRequest:
    days = to_days(date(2026, 11, 10))
    cols = [
        pb.Column(name="loss_date", dates=[days] * n),
        pb.Column(name="policy_start", dates=[days - 300] * n),
        pb.Column(name="policy_end", dates=[days + 50] * n),
        pb.Column(name="inspection_passed", bools=[True] * n),
        pb.Column(name="inspection_valid_until", dates=[days + 100] * n),
        pb.Column(name="last_maintenance_date", dates=[days - 5] * n),
        pb.Column(name="days_since_previous_same_part_claim", ints=[0] * n, nulls=list(range(n))),
        # Every tenth claim asks for more than is left of the sum insured.
        pb.Column(
            name="claimed_amount_fen",
            ints=[2_000_000 if i % 10 == 0 else 100_000 for i in range(n)],
        ),
        pb.Column(
            name="remaining_sum_insured_fen", ints=[1_000_000] * (n + (1 if bad_length else 0))
        ),
        pb.Column(name="quote_date", dates=[days + 1] * n),
        pb.Column(name="photos_before", ints=[2] * n),
        pb.Column(name="photos_after", ints=[2] * n),
        pb.Column(name="contractor_list", strings=["white"] * n),
        pb.Column(name="iot_alarm", bools=[True] * n),
        pb.Column(name="property_report", bools=[False] * n),
        pb.Column(name="claims_on_elevator_12m", ints=[1] * n),
    ]
    return pb.ValidateBatchesRequest(
        batch_id=batch_id, rule_set="claims", on="2026-11-20", columns=cols
    )


async def test_batches_stream_and_a_bad_batch_does_not_break_the_stream(stub, mint) -> None:
    async def requests() -> AsyncIterator[pb.ValidateBatchesRequest]:
        yield _batch(1000, "b1")
        yield _batch(10, "b2-bad", bad_length=True)
        bad_type = _batch(10, "b3-bad-type")
        bad_type.columns[3].ClearField("bools")
        bad_type.columns[3].strings.extend(["yes"] * 10)
        yield bad_type
        unknown = _batch(10, "b4-unknown")
        unknown.columns.append(pb.Column(name="favourite_colour", strings=["red"] * 10))
        yield unknown
        yield _batch(20, "b5")

    replies = [r async for r in stub.ValidateBatches(requests(), metadata=meta(mint("partner")))]
    by_id = {r.batch_id: r for r in replies}
    assert [r.batch_id for r in replies] == ["b1", "b2-bad", "b3-bad-type", "b4-unknown", "b5"]
    assert by_id["b1"].rows == 1000 and len(by_id["b1"].failures) == 100
    assert {c for f in by_id["b1"].failures for c in f.codes} == {
        "CLAIM_AMOUNT_ABOVE_REMAINING_SUM"
    }
    assert by_id["b2-bad"].error.field == "remaining_sum_insured_fen"
    assert by_id["b3-bad-type"].error.field == "inspection_passed"
    assert by_id["b4-unknown"].error.field == "favourite_colour"
    assert by_id["b5"].rows == 20 and len(by_id["b5"].failures) == 2


async def test_ten_million_rows_in_one_message_are_refused_and_the_stream_goes_on(
    stub, mint
) -> None:
    async def requests() -> AsyncIterator[pb.ValidateBatchesRequest]:
        yield pb.ValidateBatchesRequest(
            batch_id="huge",
            rule_set="claims",
            columns=[pb.Column(name="claims_on_elevator_12m", ints=[1] * 10_000_000)],
        )
        yield _batch(5, "after")

    replies = [r async for r in stub.ValidateBatches(requests(), metadata=meta(mint("partner")))]
    assert replies[0].batch_id == "huge" and "at most" in replies[0].error.reason
    assert replies[1].batch_id == "after" and replies[1].rows == 5


async def test_unknown_rule_sets_and_fields_are_invalid_arguments(stub, mint) -> None:
    md = meta(mint("service"))
    for request in (
        pb.ValidateRequest(rule_set="nope"),
        pb.ValidateRequest(
            rule_set="claims", fields={"favourite_colour": pb.Value(string_value="red")}
        ),
        pb.ValidateRequest(
            rule_set="claims", fields={"photos_before": pb.Value(string_value="two")}
        ),
        pb.ValidateRequest(rule_set="claims", on="yesterday"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.Validate(request, metadata=md)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    listed = await stub.ListRuleSets(pb.ListRuleSetsRequest(), metadata=md)
    assert {rs.name for rs in listed.rule_sets} == {
        "claims",
        "maintenance",
        "registry",
        "inspection",
        "fund_account",
        "roster",
    }


async def test_each_batch_is_answered_before_the_client_sends_the_next(stub, mint) -> None:
    """A partner that waits for each answer before sending more must not wait forever."""
    queue: asyncio.Queue[pb.ValidateBatchesRequest | None] = asyncio.Queue()

    async def requests() -> AsyncIterator[pb.ValidateBatchesRequest]:
        while (item := await queue.get()) is not None:
            yield item

    call = stub.ValidateBatches(requests(), metadata=meta(mint("partner")), timeout=10)
    for i in range(3):
        await queue.put(_batch(100, f"w{i}"))
        reply = await asyncio.wait_for(call.read(), 5)
        assert reply.batch_id == f"w{i}" and reply.rows == 100
    await queue.put(None)
