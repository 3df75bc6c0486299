"""The exchange's pure pieces: parsing rows, formats, signatures, retry schedules, routing."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from services.exchange.domain.formats import load_formats, map_header
from services.exchange.domain.notifications import RetryPolicy, SourceEvent, Subscriber, route
from services.exchange.domain.records import KINDS, DateStyle, parse_batch
from services.exchange.domain.signing import PushRefused, PushStale, sign, verify
from shared.domain_errors import InvalidFields

REG = KINDS["registry"]


def columns(**extra):
    base = {
        "record_id": ["a", "b"],
        "version": ["1", "2"],
        "region_code": ["430202", "430202"],
        "equipment_code": ["31104302022018090001", "31104302022018090002"],
        "registration_no": ["x", "y"],
    }
    return base | extra


@pytest.mark.parametrize(
    ("style", "text", "ok"),
    [
        (DateStyle.ISO, "2024-03-01", True),
        (DateStyle.ISO, "2024-3-1", False),
        (DateStyle.ISO, "today", False),
        (DateStyle.ISO, "2024-02-30", False),
        (DateStyle.SLASH, "2024/3/1", True),
        (DateStyle.CHINESE, "2024年3月1日", True),
        (DateStyle.COMPACT, "20240301", True),
        (DateStyle.COMPACT, "2024031", False),
    ],
)
def test_dates_in_each_style(style, text, ok):
    batch = parse_batch(
        REG, [2, 3], columns(install_date=[text, ""]), allowed_regions=frozenset({"*"}),
        date_style=style,
    )  # fmt: skip
    assert [r.field for r in batch.rejections] == ([] if ok else ["install_date"])
    if ok:
        assert (
            batch.columns["install_date"].values[0]
            == (
                datetime(2024, 3, 1, tzinfo=UTC).date() - datetime(1970, 1, 1, tzinfo=UTC).date()
            ).days
        )
        assert batch.columns["install_date"].nulls.tolist() == [False, True]


def test_a_repeat_in_a_batch_is_dropped_and_a_conflicting_one_refused():
    cols = columns(record_id=["a", "a"], version=["1", "1"], registration_no=["x", "x"])
    cols["equipment_code"] = ["31104302022018090001"] * 2
    same = parse_batch(REG, [2, 3], cols, allowed_regions=frozenset({"4302"}))
    assert same.good().tolist() == [0] and same.repeats == 1 and not same.rejections
    cols["registration_no"] = ["x", "z"]
    other = parse_batch(REG, [2, 3], cols, allowed_regions=frozenset({"4302"}))
    assert [(r.row, r.code) for r in other.rejections] == [(3, "DUPLICATE_IN_FILE")]


def test_regions_outside_the_callers_are_refused_by_row():
    batch = parse_batch(
        REG, [2, 3], columns(region_code=["430202", "110101"]), allowed_regions=frozenset({"4302"})
    )
    assert [(r.row, r.field, r.code) for r in batch.rejections] == [
        (3, "region_code", "REGION_FORBIDDEN")
    ]


def test_formats_map_chinese_columns_and_refuse_an_unknown_layout():
    book = load_formats()
    fmt = book.find("zz-msb/registry/v2", "registry", "zz-msb", operator=False)
    header = ["\ufeff记录编号", "版本号", "行政区划代码", "设备代码", "使用登记证编号"]
    fields = map_header(fmt, header, required=("record_id",))
    assert fields[0] == "record_id" and fields[3] == "equipment_code"
    with pytest.raises(InvalidFields) as caught:
        map_header(fmt, ["记录编号", "电梯品牌"], required=("record_id", "version"))
    assert len(caught.value.problems) == 2
    with pytest.raises(ValueError, match="format"):
        book.find("zz-msb/registry/v2", "registry", "cs-msb", operator=False)


def test_signatures_bind_body_and_time():
    secret = b"k" * 32
    good = sign(secret, 1000, b"{}")
    assert verify(secret, timestamp=1000, message=b"{}", signature=good, now=1100).digest == good
    with pytest.raises(PushStale):
        verify(secret, timestamp=1000, message=b"{}", signature=good, now=2000)
    with pytest.raises(PushRefused):
        verify(secret, timestamp=1000, message=b"{ }", signature=good, now=1000)


def test_backoff_grows_is_capped_and_gives_up():
    policy = RetryPolicy(base_s=2, max_s=60, max_attempts=5)
    rng = random.Random(1)
    delays = [policy.delay(n, rng).total_seconds() for n in range(1, 9)]
    assert all(1 <= d <= 2 for d in delays[:1]) and all(30 <= d <= 60 for d in delays[5:])
    assert not policy.gives_up(4) and policy.gives_up(5)


def test_routing_by_topic_region_and_outbound_version():
    event = SourceEvent("policy", 7, "policy.issued", "pol_1", {"policy_id": "pol_1"},
                        datetime(2026, 1, 1, tzinfo=UTC))  # fmt: skip
    subs = [
        Subscriber("hb", ("4302",), ("premium.deduction",), 2),
        Subscriber("pm", ("4302",), ("claim.opened",), 1),
        Subscriber("hb-cs", ("4301",), ("premium.deduction",), 1),
    ]
    (only,) = route(event, "430202", subs, load_formats().outbound)
    assert (only.partner_id, only.dedup_id, only.topic) == ("hb", "policy-7", "premium.deduction")
    assert only.payload["保单号"] == "pol_1"


def test_a_nul_in_text_is_a_bad_value_not_a_failed_import():
    # PostgreSQL text cannot hold NUL: the row is refused by field, the others go on.
    cols = columns(registration_no=["x\x00y", "y"], record_id=["a", "b\x00"])
    batch = parse_batch(REG, [2, 3], cols, allowed_regions=frozenset({"*"}))
    assert sorted((r.row, r.field, r.code) for r in batch.rejections) == [
        (2, "registration_no", "FIELD_INVALID"),
        (3, "record_id", "FIELD_INVALID"),
    ]
    assert batch.good().tolist() == []


def test_values_parse_as_python_reads_them_and_bad_ones_are_named():
    cols = columns(
        landings=[" 18", "十八"],
        rated_speed_mps=["1_0.5", "nan"],
        install_date=["2018-03-01", "2018-3-1"],
    )
    batch = parse_batch(REG, [2, 3], cols, allowed_regions=frozenset({"*"}))
    assert batch.columns["landings"].values[0] == 18
    assert batch.columns["rated_speed_mps"].values[0] == 10.5
    assert sorted((r.row, r.field) for r in batch.rejections) == [
        (3, "install_date"),
        (3, "landings"),
        (3, "rated_speed_mps"),
    ]
