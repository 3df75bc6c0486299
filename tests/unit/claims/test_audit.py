import dataclasses
import hashlib
import itertools
import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.claims.domain.audit import (
    GENESIS,
    AuditEvent,
    canonical_json,
    chain_hash,
    next_event,
    verify_chain,
)
from services.claims.domain.errors import InvalidValue
from services.claims.domain.states import ClaimState
from shared.clock import SHANGHAI

T0 = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)


def chain(n: int, claim_id: str = "C1") -> list[AuditEvent]:
    events: list[AuditEvent] = []
    for i in range(n):
        events.append(
            next_event(
                events[-1] if events else None,
                claim_id=claim_id,
                at=T0 + timedelta(minutes=i),
                actor=f"user-{i % 3}",
                kind="transition",
                payload={"step": i, "to": ClaimState.QUOTED, "note": "报价第" + str(i) + "版"},
            )
        )
    return events


def test_canonical_json():
    assert (
        canonical_json(
            {
                "b": [1, (2, True)],
                "a": None,
                "名": "电梯",
                "at": datetime(2025, 6, 2, 10, 0, tzinfo=SHANGHAI),
                "d": date(2025, 6, 2),
                "q": Decimal("1.50"),
                "s": ClaimState.PAID,
            }
        )
        == '{"a":null,"at":"2025-06-02T02:00:00.000000Z","b":[1,[2,true]],"d":"2025-06-02",'
        '"q":"1.50","s":"paid","名":"电梯"}'.encode()
    )


@pytest.mark.parametrize(
    "bad",
    [{"x": 1.5}, {"x": datetime(2025, 1, 1)}, {1: "x"}, {"x": object()}, {"x": Decimal("NaN")}],
)
def test_canonical_json_refuses_what_would_not_round_trip(bad):
    with pytest.raises(InvalidValue):
        canonical_json(bad)


def test_chain_hash_is_sha256_of_the_canonical_fields():
    expected = hashlib.sha256(
        b'{"actor":"a","at":"2025-06-02T02:00:00.000000Z","claim_id":"C1","kind":"k",'
        b'"payload":{},"prev_hash":"' + GENESIS.encode() + b'","seq":1}'
    ).hexdigest()
    assert chain_hash(GENESIS, "C1", 1, T0, "a", "k", {}) == expected


def test_a_fresh_chain_verifies():
    events = chain(5)
    assert [e.seq for e in events] == [1, 2, 3, 4, 5]
    assert events[0].prev_hash == GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(events))
    report = verify_chain(events, head_hash=events[-1].hash)
    assert (report.ok, report.checked, report.first_broken_seq, report.problem) == (
        True,
        5,
        None,
        None,
    )
    assert verify_chain([]).ok
    assert verify_chain([], head_hash=GENESIS).ok


def test_the_payload_survives_a_jsonb_round_trip():
    events = chain(3)
    reread = [
        dataclasses.replace(e, payload=json.loads(json.dumps(dict(e.payload), sort_keys=False)))
        for e in events
    ]
    assert verify_chain(reread).ok
    assert events[1].payload["to"] == "quoted"


def test_tampered_payload_is_found_at_its_seq():
    events = chain(6)
    events[3] = dataclasses.replace(events[3], payload={**events[3].payload, "step": 99})
    report = verify_chain(events)
    assert (report.ok, report.checked, report.first_broken_seq) == (False, 3, 4)
    assert "changed" in (report.problem or "")


def test_tampered_field_rehashed_breaks_the_next_link():
    events = chain(6)
    forged = dataclasses.replace(events[2], actor="mallory")
    events[2] = dataclasses.replace(forged, hash=forged.recomputed_hash())
    report = verify_chain(events)
    assert report.first_broken_seq == 4
    assert "link" in (report.problem or "")


def test_removed_event():
    events = chain(6)
    del events[2]
    report = verify_chain(events)
    assert (report.first_broken_seq, report.checked) == (4, 2)
    assert "missing" in (report.problem or "")


def test_reordered_events():
    events = chain(6)
    events[1], events[2] = events[2], events[1]
    report = verify_chain(events)
    assert report.first_broken_seq == 3
    assert not report.ok


def test_renumbered_after_removal_is_still_caught():
    events = chain(5)
    del events[1]
    events = [dataclasses.replace(e, seq=i + 1) for i, e in enumerate(events)]
    report = verify_chain(events)
    assert report.first_broken_seq == 2


def test_truncation_needs_the_head():
    events = chain(5)
    head = events[-1].hash
    assert verify_chain(events[:3]).ok
    report = verify_chain(events[:3], head_hash=head)
    assert (report.ok, report.first_broken_seq) == (False, 4)
    assert not verify_chain([], head_hash=head).ok


def test_events_of_another_claim():
    events = chain(3)
    events.append(chain(4, claim_id="C2")[3])
    assert verify_chain(events).first_broken_seq == 4


def test_next_event_refuses_mixing_claims_and_naive_times():
    first = chain(1)[0]
    with pytest.raises(InvalidValue):
        next_event(first, claim_id="C2", at=T0, actor="a", kind="k", payload={})
    with pytest.raises(InvalidValue):
        next_event(None, claim_id="C1", at=datetime(2025, 1, 1), actor="a", kind="k", payload={})
    with pytest.raises(InvalidValue):
        next_event(None, claim_id="C1", at=T0, actor="a", kind="k", payload={"x": 0.1})


@given(st.integers(min_value=1, max_value=12), st.data())
def test_any_single_change_is_found_at_or_before_its_seq(n, data):
    events = chain(n)
    i = data.draw(st.integers(min_value=0, max_value=n - 1))
    field = data.draw(st.sampled_from(["actor", "kind", "payload", "at", "prev_hash", "hash"]))
    changed = {
        "actor": "x",
        "kind": "x",
        "payload": {"x": 1},
        "at": events[i].at + timedelta(microseconds=1),
        "prev_hash": "f" * 64,
        "hash": "e" * 64,
    }[field]
    events[i] = dataclasses.replace(events[i], **{field: changed})
    report = verify_chain(events)
    assert not report.ok
    assert report.first_broken_seq == i + 1
