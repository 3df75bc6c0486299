from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from services.claims.domain.errors import InvalidFields, InvalidValue
from services.claims.domain.intake import (
    DESCRIPTION_MAX_CHARS,
    FaultCategory,
    Report,
    Source,
    fold_key,
    is_emergency,
    peril_for,
    validate_report,
)

NOW = datetime(2025, 6, 2, 2, 0, tzinfo=UTC)
POLICY_PERILS = {
    "mechanical_failure",
    "electrical_failure",
    "door_system",
    "trapped_passenger",
    "wear_and_tear",
}


def report(**overrides: Any) -> Report:
    arguments: dict[str, Any] = {
        "source": "property_manager",
        "source_event_id": "pm-2025-0001",
        "elevator_id": "31104302012019060012",
        "category": "abnormal_noise",
        "reported_at": NOW - timedelta(minutes=3),
        "description": "主机异响",
        "reporter": "物业王经理",
        "now": NOW,
    } | overrides
    return validate_report(**arguments)


def test_codes_are_stable():
    assert [s.value for s in Source] == [
        "iot_alarm",
        "property_manager",
        "owner_via_property_manager",
        "adjuster",
    ]
    assert [c.value for c in FaultCategory] == [
        "trapped_passenger",
        "door_fault",
        "abnormal_noise",
        "stopped",
        "overspeed",
        "leveling_fault",
        "electrical_fault",
        "brake_fault",
        "wear",
        "other",
    ]


def test_every_category_maps_to_a_policy_peril():
    assert {peril_for(c) for c in FaultCategory} == POLICY_PERILS
    assert peril_for(FaultCategory.TRAPPED_PASSENGER) == "trapped_passenger"
    assert peril_for(FaultCategory.DOOR_FAULT) == "door_system"


def test_only_a_trapped_passenger_is_an_emergency():
    assert [c for c in FaultCategory if is_emergency(c)] == [FaultCategory.TRAPPED_PASSENGER]


def test_fold_key_separates_elevators_and_faults():
    key = fold_key("31104302012019060012", FaultCategory.TRAPPED_PASSENGER)
    assert key == "31104302012019060012#trapped_passenger"
    assert key != fold_key("31104302012019060012", FaultCategory.DOOR_FAULT)
    assert key != fold_key("31104302012019060013", FaultCategory.TRAPPED_PASSENGER)
    # registry codes are compared as strings: never as numbers, never case-folded
    assert fold_key("梯43020001", "door_fault") == "梯43020001#door_fault"  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "a b", "x#y", "9" * 65])
def test_fold_key_refuses_bad_ids(bad):
    with pytest.raises(InvalidValue):
        fold_key(bad, FaultCategory.OTHER)


def test_a_valid_report():
    r = report(reported_at=NOW.astimezone(datetime.now().astimezone().tzinfo))
    assert r.source is Source.PROPERTY_MANAGER
    assert r.category is FaultCategory.ABNORMAL_NOISE
    assert r.reported_at.tzinfo is UTC
    assert r.fold_key == "31104302012019060012#abnormal_noise"
    assert r.peril == "mechanical_failure"
    assert not r.is_emergency


def test_an_alarm_needs_no_words_or_reporter():
    r = report(source="iot_alarm", description="", reporter="", category="trapped_passenger")
    assert r.is_emergency


def test_every_bad_field_is_named_at_once():
    with pytest.raises(InvalidFields) as caught:
        report(
            source="fax",
            source_event_id="has space",
            elevator_id="",
            category="flying",
            reported_at=datetime(2025, 6, 2, 10, 0),
            description="x" * (DESCRIPTION_MAX_CHARS + 1),
            reporter="y" * 129,
        )
    assert [p.field for p in caught.value.problems] == [
        "source",
        "category",
        "source_event_id",
        "elevator_id",
        "reported_at",
        "description",
        "reporter",
    ]


def test_a_persons_report_must_say_what_and_who():
    with pytest.raises(InvalidFields) as caught:
        report(description=" 梯 ", reporter="  ")
    assert [p.field for p in caught.value.problems] == ["description", "reporter"]


def test_a_report_from_the_future_is_refused_beyond_skew():
    report(reported_at=NOW + timedelta(minutes=5))
    with pytest.raises(InvalidFields) as caught:
        report(reported_at=NOW + timedelta(hours=8))  # a Shanghai time sent as UTC
    assert caught.value.problems[0].field == "reported_at"
