import dataclasses
import io
import json
import logging
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

from shared.logs import (
    configure_logging,
    is_resident_id,
    luhn_valid,
    mask_name,
    mask_text,
    mask_value,
)

EQUIPMENT_CODE = "31104403002018090001"
RESIDENT_ID = "11010519491231002X"  # the specimen number of GB 11643's examples


@pytest.fixture
def stream():
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    configure_logging("policy", level="DEBUG", stream=out)
    yield out
    root.handlers[:], level = saved
    root.setLevel(level)
    logging.captureWarnings(False)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_one_json_object_per_line_with_the_core_fields(stream):
    logging.getLogger("services.policy.usecases").info("vote %s closed", "v-1")
    logging.getLogger("x").warning("second")
    first, second = lines(stream)
    assert first["msg"] == "vote v-1 closed"
    assert first["level"] == "INFO" and second["level"] == "WARNING"
    assert first["logger"] == "services.policy.usecases"
    assert first["service"] == "policy"
    assert first["ts"].endswith("Z")
    ts = datetime.fromisoformat(first["ts"])
    assert ts.tzinfo is not None and abs(datetime.now(UTC) - ts).total_seconds() < 60
    assert "trace_id" not in first  # no active span


def test_extra_fields_are_kept_and_personal_ones_masked(stream):
    logging.getLogger("t").info(
        "owner enrolled",
        extra={
            "owner_name": "张三",
            "ownerPhone": "13812345678",
            "id_number": RESIDENT_ID,
            "access_token": "eyJhbGciOiJIUzI1NiJ9.payload.sig",
            "authorization": {"scheme": "Bearer", "credentials": "abc"},
            "equipment_code": EQUIPMENT_CODE,
            "amount_fen": 1200000,
            "flats": [{"name": "欧阳娜娜", "mobile": "139 1234 5678", "area_m2": Decimal("89.50")}],
            "confirmed_at": datetime(2025, 10, 1, 8, 0, tzinfo=UTC),
        },
    )
    (line,) = lines(stream)
    assert line["owner_name"] == "张*"
    assert line["ownerPhone"] == "138****5678"
    assert line["id_number"] == "**************002X"
    assert line["access_token"] == "***"
    assert line["authorization"] == "***"
    assert line["equipment_code"] == EQUIPMENT_CODE
    assert line["amount_fen"] == 1200000
    assert line["flats"] == [{"name": "欧阳**", "mobile": "139****5678", "area_m2": "89.50"}]
    assert line["confirmed_at"] == "2025-10-01T08:00:00+00:00"


def test_message_is_masked_after_formatting(stream):
    logging.getLogger("t").info(
        "call %s or %s, mail %s, card %s, equipment %s",
        "13812345678",
        "0731-22334455",
        "zhang.san@example.com",
        "6222 0000 0000 0000 004",  # passes Luhn
        EQUIPMENT_CODE,
    )
    (line,) = lines(stream)
    assert line["msg"] == (
        "call 138****5678 or 0731-****4455, mail z***@example.com, "
        f"card 6222 00** **** ***0 004, equipment {EQUIPMENT_CODE}"
    )


def test_trace_and_span_ids_of_the_active_span(stream):
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("rpc") as span:
        logging.getLogger("t").info("inside")
    (line,) = lines(stream)
    ctx = span.get_span_context()
    assert line["trace_id"] == f"{ctx.trace_id:032x}"
    assert line["span_id"] == f"{ctx.span_id:016x}"


def test_exceptions_are_logged_masked(stream):
    try:
        raise ValueError("owner 13812345678 not found")
    except ValueError:
        logging.getLogger("t").exception("lookup failed")
    (line,) = lines(stream)
    assert "ValueError: owner 138****5678 not found" in line["exc"]
    assert "Traceback" in line["exc"]


def test_an_extra_cannot_forge_a_core_field(stream):
    logging.getLogger("t").info("hi", extra={"level": "CRITICAL", "service": "claims"})
    (line,) = lines(stream)
    assert line["level"] == "INFO" and line["service"] == "policy"
    assert line["level_"] == "CRITICAL" and line["service_"] == "claims"


def test_reconfiguring_replaces_the_handler(stream):
    again = io.StringIO()
    configure_logging("policy", level="info", stream=again)
    logging.getLogger("t").debug("dropped")
    logging.getLogger("t").info("once")
    assert stream.getvalue() == ""
    assert [line["msg"] for line in lines(again)] == ["once"]


def test_unknown_level_is_refused():
    with pytest.raises(ValueError, match="unknown log level"):
        configure_logging("policy", level="LOUD")


def test_dataclasses_are_walked_by_field_name():
    @dataclasses.dataclass
    class Owner:
        owner_name: str
        phone: str
        flat: str

    assert mask_value("owner", Owner("李四", "(010)12345678", "3-1-502")) == {
        "owner_name": "李*",
        "phone": "(010)****5678",
        "flat": "3-1-502",
    }


def test_personal_keys_mask_values_of_unknown_shape():
    assert mask_value("phone", "12-34") == "***"
    assert mask_value("id_number", "G12345678") == "*****5678"  # a passport number
    assert mask_value("password", 1234) == "***"
    assert mask_value("part_name", "曳引机") == "曳引机"  # only person names are names
    assert mask_value("owner_name", None) is None


@pytest.mark.parametrize(
    ("name", "masked"),
    [("张三", "张*"), ("欧阳娜娜", "欧阳**"), ("欧阳修", "欧阳*"), ("王", "*"), ("Li Lei", "L***")],
)
def test_mask_name_keeps_only_the_surname(name, masked):
    assert mask_name(name) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (
            "postgresql+asyncpg://elevins:pa55@db:5432/policy",
            "postgresql+asyncpg://elevins:***@db:5432/policy",
        ),
        ("Authorization: Bearer abcdefghijklmnop0123", "Authorization: *** ***"),
        ('{"db_password": "hunter2"}', '{"db_password": "***"}'),
        ("电话13812345678", "电话138****5678"),
        ("+86 138-1234-5678", "+86 138****5678"),
        ("8613812345678", "86138****5678"),
        ("(010)12345678", "(010)****5678"),
        ("073122334455", "073*****4455"),
        ("6222000000000000004", "622200*********0004"),
        ("13812345678@qq.com", "1***@qq.com"),
        # left alone:
        (EQUIPMENT_CODE, EQUIPMENT_CODE),
        ("3110 4403 0020 1809 0001", "3110 4403 0020 1809 0001"),  # an equipment code in fours
        ("梯11沪A01234(17)", "梯11沪A01234(17)"),  # a use-registration certificate number
        (
            "claim 0b6c2c1e-6a4d-4b1a-9e2a-013812345678",
            "claim 0b6c2c1e-6a4d-4b1a-9e2a-013812345678",
        ),
        ("12345678901234567", "12345678901234567"),  # 17 digits, failing Luhn
        ("110105194912310021", "110105194912310021"),  # an ID shape with a wrong check digit
        ("basic check done at 1736130000123", "basic check done at 1736130000123"),
    ],
)
def test_mask_text(text, masked):
    assert mask_text(text) == masked


def test_resident_id_checksum_and_birth_date():
    assert is_resident_id(RESIDENT_ID) and is_resident_id(RESIDENT_ID.lower())
    assert not is_resident_id("110105194912310021")  # wrong check digit
    assert not is_resident_id(EQUIPMENT_CODE[:18])
    assert not is_resident_id(_with_check("11010519491331002"))  # month 13
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def _with_check(first17: str) -> str:
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return (
        first17 + "10X98765432"[sum(int(c) * w for c, w in zip(first17, weights, strict=True)) % 11]
    )


@st.composite
def resident_ids(draw):
    region = draw(st.integers(110000, 659999))
    born = draw(st.dates(datetime(1920, 1, 1).date(), datetime(2025, 12, 31).date()))
    seq = draw(st.integers(0, 999))
    return _with_check(f"{region}{born:%Y%m%d}{seq:03d}")


# Numbers are whole tokens: an ASCII letter or digit next to one makes it part of something else.
before_number = st.sampled_from(["", " ", "身份证", "id=", "：", "\n", "(", "owner ", "+"])
after_number = st.sampled_from(["", " ", "，", "号", "\n", ")", ", owner", "."])


@given(resident_ids(), before_number, after_number)
def test_every_valid_resident_id_is_masked(number, before, after):
    assert is_resident_id(number)
    masked = mask_text(f"{before}{number}{after}")
    assert number not in masked and number[6:14] not in masked
    assert masked == f"{before}{'*' * 14}{number[-4:]}{after}"


@given(st.from_regex(r"\A[0-9]{20}\Z"), before_number)
def test_twenty_digit_codes_are_never_touched(code, before):
    assert mask_text(f"{before}{code}") == f"{before}{code}"


@given(st.from_regex(r"\A1[3-9][0-9]{9}\Z"), before_number, after_number)
def test_every_mobile_number_is_masked(number, before, after):
    assert mask_text(f"{before}{number}{after}") == f"{before}{number[:3]}****{number[-4:]}{after}"


@pytest.mark.parametrize(
    ("key", "value", "masked"),
    [
        ("flat_owner_name", "王小明", "王**"),
        ("ownerNames", ["张三", "李四"], ["张*", "李*"]),
        ("x-api-key", "k-123", "***"),
        ("password_hash", "$2b$12$abc", "***"),
        ("session_cookie", "sid=1", "***"),
        ("contactPhones", ["13812345678"], ["138****5678"]),
        ("owner_idcard", RESIDENT_ID, "**************002X"),
        ("bank_card_no", "6222000000000000004", "622200*********0004"),
        # not personal, though the key sounds close:
        ("part_name", "曳引机", "曳引机"),
        ("community_name", "荷塘小区", "荷塘小区"),
        ("paid_notice", "PN-0001", "PN-0001"),
        ("hotel", "x", "x"),
        ("equipment_code", EQUIPMENT_CODE, EQUIPMENT_CODE),
    ],
)
def test_keys_are_matched_as_whole_words(key, value, masked):
    assert mask_value(key, value) == masked
