"""IoT alarms end to end into claims' first notice of loss; signed pushes; outbound
notifications to a partner that is down for a while, then back; dead letters replayed."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import grpc
import pytest

from elevins.claims.v1 import claims_pb2 as cpb
from elevins.claims.v1 import claims_pb2_grpc
from elevins.exchange.v1 import exchange_pb2 as pb
from elevins.exchange.v1 import exchange_pb2_grpc
from services.exchange.domain.signing import partner_secret, sign
from shared.auth import parse_keys
from shared.errors import details_of
from shared.timestamps import to_timestamp
from tests.integration.claims.helpers import insured_registration_code
from tests.integration.exchange.helpers import FakePartner, free_port, register, rid
from tests.integration.policy.helpers import World, meta

pytestmark = pytest.mark.integration


@pytest.fixture
def stub(exchange_channel) -> exchange_pb2_grpc.ExchangeServiceStub:
    return exchange_pb2_grpc.ExchangeServiceStub(exchange_channel)


@pytest.fixture
async def iot(stub, mint):
    await register(stub, mint, "zz-iot", kind="iot_platform", feeds=("alarm",))
    return meta(mint("partner", subject="zz-iot", regions=("4302",)))


def secret(auth_key: str, partner_id: str) -> bytes:
    return partner_secret(next(iter(parse_keys(auth_key).values())), partner_id)


async def wait_for(condition, seconds: float = 15.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def test_iot_alarms_become_claims_through_the_exchange(
    stub, iot, claims_channel, policy_channel, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    alarm_id = f"A{rid()[:12]}"

    async def alarms():
        yield pb.StreamAlarmsRequest(
            format="zz-iot/alarm/v1",
            alarm=pb.Alarm(
                alarm_id=alarm_id,
                registration_code=code,
                fault_code="E01",  # the platform's code for 困人
                occurred_at=to_timestamp(datetime.now(UTC)),
                description="轿厢困人报警",
            ),
        )
        yield pb.StreamAlarmsRequest(
            format="zz-iot/alarm/v1",
            alarm=pb.Alarm(alarm_id=f"B{rid()[:8]}", registration_code=code, fault_code="E99",
                           occurred_at=to_timestamp(datetime.now(UTC))),
        )  # fmt: skip
        yield pb.StreamAlarmsRequest(
            format="zz-iot/alarm/v1",
            alarm=pb.Alarm(alarm_id=alarm_id, registration_code=code, fault_code="E01",
                           occurred_at=to_timestamp(datetime.now(UTC))),
        )  # fmt: skip

    receipts = [r.receipt async for r in stub.StreamAlarms(alarms(), metadata=iot)]
    first, unknown, repeat = receipts
    assert (first.state, first.claim_created, first.duplicate) == ("forwarded", True, False)
    assert unknown.state == "rejected" and "fault_code" in unknown.reason
    assert (repeat.duplicate, repeat.claim_id) == (True, first.claim_id)

    claims = claims_pb2_grpc.ClaimsServiceStub(claims_channel)
    claim = (
        await claims.GetClaim(
            cpb.GetClaimRequest(claim_id=first.claim_id), metadata=meta(mint("service"))
        )
    ).claim
    assert (claim.source, claim.registration_code, claim.fault_category) == (
        cpb.SOURCE_IOT_ALARM,
        code,
        "trapped_passenger",
    )


async def test_a_signed_push_is_accepted_once_and_a_replayed_or_badly_signed_one_is_not(
    stub, iot, auth_key, policy_channel, mint
) -> None:
    code = await insured_registration_code(policy_channel, mint)
    body = json.dumps(
        {
            "alarmId": f"P{rid()[:12]}",
            "regCode": code,
            "faultCode": "E04",
            "alarmTime": datetime.now(UTC).isoformat(),
            "remark": "主机异响",
        },
        ensure_ascii=False,
    ).encode()
    now = int(time.time())
    good = pb.PushAlarmRequest(
        timestamp=now,
        signature=sign(secret(auth_key, "zz-iot"), now, body),
        body=body,
        format="zz-iot/alarm/v1",
    )
    receipt = (await stub.PushAlarm(good, metadata=iot)).receipt
    assert receipt.state == "forwarded" and receipt.claim_id

    async def refused(request: pb.PushAlarmRequest) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await stub.PushAlarm(request, metadata=iot)
        found = details_of(caught.value)
        return found.code, found.reason

    unauthenticated = grpc.StatusCode.UNAUTHENTICATED
    assert await refused(good) == (unauthenticated, "PUSH_REPLAYED")
    tampered = pb.PushAlarmRequest()
    tampered.CopyFrom(good)
    tampered.body = body.replace(b"E04", b"E01")
    assert await refused(tampered) == (unauthenticated, "PUSH_SIGNATURE_INVALID")
    other_key = sign(secret(auth_key, "someone-else"), now, body)
    assert await refused(
        pb.PushAlarmRequest(timestamp=now, signature=other_key, body=body, format=good.format)
    ) == (unauthenticated, "PUSH_SIGNATURE_INVALID")
    old = now - 3600
    assert await refused(
        pb.PushAlarmRequest(
            timestamp=old, signature=sign(secret(auth_key, "zz-iot"), old, body), body=body,
            format=good.format,
        )
    ) == (unauthenticated, "PUSH_OUTSIDE_WINDOW")  # fmt: skip


async def test_a_partner_down_for_a_while_gets_every_notification_exactly_once(
    stub, auth_key, mint, claims_channel, policy_channel, exchange_app
) -> None:
    # Three insured elevators (their policies issued before the partners exist), and the relay
    # caught up with both outboxes (earlier tests' events are not for these partners).
    codes = [await insured_registration_code(policy_channel, mint) for _ in range(3)]
    usecases = exchange_app[1]
    for source in ("claims", "policy"):
        while await usecases.relay_once(source):
            pass
    # A property manager and the housing bureau in 430202, both down at first.
    pm_port, bureau_port = free_port(), free_port()
    pm_id, bureau_id = f"pm-{rid()[:8]}", f"hb-{rid()[:8]}"
    pm = FakePartner(secret(auth_key, pm_id))
    bureau = FakePartner(secret(auth_key, bureau_id))
    await register(stub, mint, pm_id, kind="property_manager", regions=("430202",),
                   inbox_addr=f"127.0.0.1:{pm_port}")  # fmt: skip
    await register(stub, mint, bureau_id, kind="housing_bureau", regions=("430202",),
                   inbox_addr=f"127.0.0.1:{bureau_port}", topics=("premium.deduction",),
                   outbound_version=2)  # fmt: skip
    service = meta(mint("service"))
    try:
        # Three claims opened (alarms of three elevators) and one policy issued, while down.
        claims = claims_pb2_grpc.ClaimsServiceStub(claims_channel)
        opened = []
        for code in codes:
            reply = await claims.ReportLoss(
                cpb.ReportLossRequest(
                    source=cpb.SOURCE_IOT_ALARM, source_event_id=rid(), registration_code=code,
                    fault_category="abnormal_noise",
                ),
                metadata=meta(mint("partner", subject="iot-x", regions=("4302",))),
            )  # fmt: skip
            opened.append(reply.claim.claim_id)
        await World(policy_channel, mint("service")).insured_elevator()  # premium.deduction

        async def mine(state: str, partner: str) -> list[pb.Delivery]:
            reply = await stub.ListDeliveries(
                pb.ListDeliveriesRequest(state=state, partner_id=partner, page_size=1000),
                metadata=service,
            )
            return list(reply.deliveries)

        # Retried while down: attempts climb, nothing is delivered.
        deadline = time.monotonic() + 10
        while True:
            pending = await mine("pending", pm_id)
            if len(pending) >= 3 and all(d.attempts >= 2 for d in pending):
                break
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await pm.start(pm_port)
        await wait_for(lambda: {json.loads(r.payload_json)["claim_id"] for r in pm.received}
                       >= set(opened))  # fmt: skip
        await asyncio.sleep(0.5)  # time for any repeat to arrive, if there were one
        mine_received = [r for r in pm.received if json.loads(r.payload_json)["claim_id"] in opened]
        assert len(mine_received) == 3
        assert len({r.dedup_id for r in mine_received}) == 3
        assert {r.topic for r in mine_received} == {"claim.opened"}
        assert pm.bad_signatures == 0

        # The bureau stays down until its deliveries are dead; the operator sees and replays.
        deadline = time.monotonic() + 15
        while not (dead := await mine("dead", bureau_id)) or await mine("pending", bureau_id):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        await bureau.start(bureau_port)
        replay = await stub.ReplayDeliveries(
            pb.ReplayDeliveriesRequest(
                request_id=rid(), delivery_ids=[d.delivery_id for d in dead]
            ),
            metadata=service,
        )
        assert replay.replayed == len(dead)
        await wait_for(lambda: len(bureau.received) >= len(dead))
        await asyncio.sleep(0.3)
        assert sorted(r.dedup_id for r in bureau.received) == sorted(d.dedup_id for d in dead)
        deduction = json.loads(bureau.received[0].payload_json)
        assert deduction["topic"] == "premium.deduction" and "保单号" in deduction
    finally:
        await pm.stop()
        await bureau.stop()


async def test_a_partner_sees_only_its_own_deliveries(stub, mint) -> None:
    other = meta(mint("partner", subject=f"nobody-{rid()[:6]}", regions=("4302",)))
    reply = await stub.ListDeliveries(pb.ListDeliveriesRequest(), metadata=other)
    assert list(reply.deliveries) == []
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stub.ReplayDeliveries(
            pb.ReplayDeliveriesRequest(request_id=rid(), delivery_ids=[1]), metadata=other
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
