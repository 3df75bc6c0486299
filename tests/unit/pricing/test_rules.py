from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.pricing.core.catalogue import load_catalogue
from services.pricing.core.labour_norms import (
    InvalidLabourNorms,
    TaskNorm,
    load_labour_norms,
)
from services.pricing.core.matching import Matcher
from services.pricing.core.normalise import Specs
from services.pricing.core.reasons import EXPLANATIONS, Reason
from services.pricing.core.references import Basis, Observation, ReferenceBook
from services.pricing.core.rules import (
    Elevator,
    Fault,
    QuoteLine,
    QuoteVerdict,
    judge_quote,
    labour_task_text,
    line_amount,
    region_name,
    spec_key,
)
from shared.money import format_fen

CATALOGUE = load_catalogue()
MATCHER = Matcher(CATALOGUE)
NORMS = load_labour_norms()
ON = date(2026, 1, 1)
ZHUZHOU = "430200"
ELEVATOR = Elevator(
    brand="三菱", rope_count=4, rope_length_m=Decimal(40), landings=10, motor_kw=Decimal("7.5")
)
PRICES = {  # category → (fen per unit, unit)
    "inverter": (1_200_000, "台"),
    "traction_machine": (3_600_000, "台"),
    "wire_rope": (4_000, "米"),
    "landing_door": (280_000, "樘"),
    "door_operator": (780_000, "台"),
    "control_board": (650_000, "块"),
    "door_lock": (45_000, "个"),
    "labour": (15_000, "工时"),
}


_SPREAD = (2, -3, 0, 4, -4, -1, 3, 0, -2, 1)  # per cent: median 0, no trend


def _observations() -> list[Observation]:
    rows = []
    for category, (price, unit) in PRICES.items():
        for i in range(10):  # ±4 % around the price, spread over 2025
            rows.append(
                Observation(
                    category=category,
                    brand=None,
                    region=ZHUZHOU,
                    observed_on=date(2025, 1, 10) + timedelta(days=35 * i),
                    unit_price_fen=price * (100 + _SPREAD[i]) // 100,
                    unit=unit,
                    source="supplier_list",
                )
            )
    for i in range(6):  # Mitsubishi inverters, 50 % dearer
        rows.append(
            Observation(
                category="inverter",
                brand="mitsubishi",
                region=ZHUZHOU,
                observed_on=date(2025, 2, 1) + timedelta(days=40 * i),
                unit_price_fen=1_800_000 + i * 1_000,
                unit="台",
                source="settled_claim",
            )
        )
    return rows


UNITS = {code: category.units for code, category in CATALOGUE.categories.items()}
BOOK = ReferenceBook.build(_observations(), version="test-7", units=UNITS)


def line(
    no: int, description: str, qty: str | int | Decimal, unit: str, price: int, kind: str = "part"
) -> QuoteLine:
    return QuoteLine(
        line_no=no,
        kind=kind,
        description=description,
        qty=Decimal(qty),
        unit=unit,
        unit_price_fen=price,
    )


def judge(
    *lines: QuoteLine,
    fault: str = "drive_fault",
    elevator: Elevator = ELEVATOR,
    region: str = ZHUZHOU,
) -> QuoteVerdict:
    return judge_quote(
        lines=lines,
        elevator=elevator,
        fault=Fault(fault, "变频器报警"),
        region=region,
        quoted_on=ON,
        matcher=MATCHER,
        catalogue=CATALOGUE,
        references=BOOK,
        labour_norms=NORMS,
    )


def test_reason_codes_are_frozen():
    # Stored by claims, filtered on in the UI, written by evaluate: never renamed or reused.
    assert [r.value for r in Reason] == [
        "PRICE_ABOVE_REFERENCE",
        "QTY_ABOVE_SPEC",
        "DUPLICATE_LINE",
        "PART_UNRELATED_TO_FAULT",
        "LABOUR_ABOVE_NORM",
        "NO_REFERENCE_PRICE",
        "UNMATCHED_ITEM",
    ]
    assert set(EXPLANATIONS) == set(Reason)
    for reason in Reason:
        assert reason.en.strip() and reason.zh.strip()
    assert {r for r in Reason if r.trims} == {
        Reason.PRICE_ABOVE_REFERENCE,
        Reason.QTY_ABOVE_SPEC,
        Reason.DUPLICATE_LINE,
        Reason.LABOUR_ABOVE_NORM,
    }


def test_a_fair_line_is_approved_as_submitted_with_its_reference():
    verdict = judge(line(1, "主板 MCB-3000", 1, "块", 1_230_000 // 2), fault="control_fault")
    (only,) = verdict.lines
    assert only.part_category == "control_board"
    assert only.reasons == ()
    assert only.reference is not None and only.reference_unit_price_fen == 650_000
    assert only.approved_qty == 1 and only.approved_unit_price_fen == 615_000
    assert "以内" in only.explanation and "n=10" in only.explanation
    assert verdict.submitted_total_fen == verdict.approved_total_fen == 615_000


def test_a_price_above_the_band_is_trimmed_to_the_bands_top():
    verdict = judge(line(1, "曳引机", 1, "台", 7_200_000), fault="machine_noise")
    (only,) = verdict.lines
    reference = only.reference
    assert reference is not None
    assert only.reasons == ("PRICE_ABOVE_REFERENCE",)
    assert only.approved_unit_price_fen == reference.high_fen
    assert reference.median_fen <= only.approved_unit_price_fen < 7_200_000
    assert only.approved_qty == 1
    text = only.explanation
    assert f"单价 ¥72,000.00 高于参考价上限 {format_fen(reference.high_fen)}" in text
    assert f"中位数 {format_fen(reference.median_fen)}" in text
    assert "n=10" in text and "株洲" in text and "2026-01-01 版本 test-7" in text
    assert verdict.approved_total_fen == reference.high_fen


def test_a_line_in_another_unit_of_the_same_kind_is_converted():
    # 工日 = 8 工时: the reference per day is 8 × the hourly one.
    fair = judge(line(1, "人工费", "0.5", "工日", 8 * 15_000, kind="labour")).lines[0]
    assert fair.reasons == () and fair.reference_unit_price_fen == 8 * 15_000
    dear = judge(line(1, "人工费", "0.5", "工日", 8 * 40_000, kind="labour")).lines[0]
    assert dear.reference is not None
    assert dear.reasons == ("PRICE_ABOVE_REFERENCE",)
    assert dear.approved_unit_price_fen == 8 * dear.reference.high_fen


def test_rope_metres_beyond_rope_count_times_length_plus_margin_are_capped():
    # 4 ropes × 40 m × 1.10 = 176 m.
    padded = judge(line(1, "曳引钢丝绳φ10", 250, "m", 4_000), fault="rope_wear").lines[0]
    assert padded.reasons == ("QTY_ABOVE_SPEC",)
    assert padded.approved_qty == 176 and padded.approved_unit_price_fen == 4_000
    assert "4 根 × 40 米 × 1.10" in padded.explanation
    fair = judge(line(1, "曳引钢丝绳φ10", 176, "米", 4_000), fault="rope_wear").lines[0]
    assert fair.reasons == () and fair.approved_qty == 176


def test_rope_allowance_is_shared_by_the_quotes_rope_lines():
    verdict = judge(
        line(1, "曳引钢丝绳 φ10", 100, "米", 4_000),
        line(2, "钢丝绳 φ8", 100, "米", 4_000),
        fault="rope_wear",
    )
    first, second = verdict.lines
    assert first.reasons == () and first.approved_qty == 100
    assert second.reasons == ("QTY_ABOVE_SPEC",) and second.approved_qty == 76


def test_ropes_counted_per_rope_are_capped_at_the_rope_count_and_not_priced():
    (only,) = judge(line(1, "钢丝绳", 6, "根", 200_000), fault="rope_wear").lines
    assert only.reasons == ("QTY_ABOVE_SPEC", "NO_REFERENCE_PRICE")
    assert only.approved_qty == 4 and only.approved_unit_price_fen == 200_000
    assert only.reference_unit_price_fen is None
    assert "不可比" in only.explanation


def test_landing_doors_beyond_the_landings_are_capped():
    (only,) = judge(line(1, "层门", 12, "樘", 280_000), fault="door_fault").lines
    assert only.reasons == ("QTY_ABOVE_SPEC",) and only.approved_qty == 10
    assert "10 层站" in only.explanation


def test_a_second_inverter_is_capped():
    (one,) = judge(line(1, "变频器", 2, "台", 1_200_000)).lines
    assert one.reasons == ("QTY_ABOVE_SPEC",) and one.approved_qty == 1
    first, second = judge(
        line(1, "汇川变频器 7.5kW", 1, "台", 1_200_000),
        line(2, "电梯专用变频器", 1, "台", 1_150_000),
    ).lines
    assert first.reasons == ()
    assert second.approved_qty == 0
    assert set(second.reasons) & {"QTY_ABOVE_SPEC", "DUPLICATE_LINE"}


def test_the_same_line_twice_approves_the_later_one_at_zero():
    verdict = judge(
        line(1, "门锁", 2, "个", 45_000),
        line(2, "门机", 1, "台", 780_000),
        line(3, "门锁", 2, "个", 45_000),
        fault="door_fault",
    )
    first, _, copy = verdict.lines
    assert first.reasons == () and first.approved_qty == 2
    assert copy.reasons == ("DUPLICATE_LINE",) and copy.approved_qty == 0
    assert "与第 1 行重复" in copy.explanation
    assert verdict.approved_total_fen == 2 * 45_000 + 780_000
    # A reworded copy (same quantity at the same price) is a duplicate too.
    reworded = judge(
        line(1, "门锁", 2, "个", 45_000),
        line(2, "厅门锁（原装）", 2, "个", 45_000),
        fault="door_fault",
    ).lines[1]
    assert reworded.reasons == ("DUPLICATE_LINE",)
    # A copy that drops the brand is still a copy; different specs are different parts.
    unbranded = judge(
        line(1, "施耐德接触器", 2, "个", 38_000),
        line(2, "交流接触器", 2, "个", 38_000),
    ).lines[1]
    assert unbranded.reasons[0] == "DUPLICATE_LINE"
    other_brand = judge(
        line(1, "施耐德接触器", 2, "个", 38_000),
        line(2, "正泰接触器", 2, "个", 38_000),
    ).lines[1]
    assert "DUPLICATE_LINE" not in other_brand.reasons
    # Two different lines of a part counted in pieces are not.
    other = judge(
        line(1, "门锁", 2, "个", 45_000),
        line(2, "厅门锁", 1, "个", 46_000),
        fault="door_fault",
    ).lines[1]
    assert other.reasons == ()


def test_the_later_line_is_by_line_number_and_output_keeps_the_input_order():
    verdict = judge(line(2, "门锁", 1, "个", 45_000), line(1, "门锁", 1, "个", 45_000))
    assert [v.line_no for v in verdict.lines] == [2, 1]
    assert verdict.lines[0].reasons[0] == "DUPLICATE_LINE"
    assert "DUPLICATE_LINE" not in verdict.lines[1].reasons


def test_a_part_unrelated_to_the_fault_is_flagged_not_trimmed():
    (only,) = judge(line(1, "门机", 1, "台", 780_000), fault="machine_noise").lines
    assert only.reasons == ("PART_UNRELATED_TO_FAULT",)
    assert only.approved_qty == 1 and only.approved_unit_price_fen == 780_000
    assert "无明显关联" in only.explanation
    # A fault category nobody knows is not judged.
    (unknown,) = judge(line(1, "门机", 1, "台", 780_000), fault="strange").lines
    assert unknown.reasons == ()


def test_labour_naming_a_part_is_held_to_that_tasks_norm():
    verdict = judge(
        line(1, "变频器", 1, "台", 1_200_000),
        line(2, "更换变频器人工", 30, "工时", 15_000, kind="labour"),
    )
    labour = verdict.lines[1]
    assert labour.part_category == "labour"
    assert labour.reasons == ("LABOUR_ABOVE_NORM",)
    assert labour.approved_qty == NORMS.task("inverter").hours == 8
    assert "变频器作业定额 8 工时" in labour.explanation


def test_generic_labour_is_held_to_base_hours_plus_the_parts_tasks():
    verdict = judge(
        line(1, "变频器", 1, "台", 1_200_000),
        line(2, "门锁", 2, "个", 45_000),
        line(3, "人工费", 40, "工时", 15_000, kind="labour"),
        fault="trapped_passenger",
    )
    labour = verdict.lines[2]
    # base 4 + inverter 8 + door locks 3 + 1.5 for the second one.
    assert labour.reasons == ("LABOUR_ABOVE_NORM",) and labour.approved_qty == Decimal("16.5")
    assert "综合定额 16.5 工时" in labour.explanation
    fair = judge(
        line(1, "变频器", 1, "台", 1_200_000),
        line(2, "安装调试费", 10, "小时", 15_000, kind="labour"),
    ).lines[1]
    assert fair.reasons == () and fair.approved_qty == 10


def test_labour_lines_share_their_norm():
    verdict = judge(
        line(1, "变频器", 1, "台", 1_200_000),
        line(2, "人工费", 10, "工时", 15_000, kind="labour"),
        line(3, "安装调试费", 8, "工时", 14_000, kind="labour"),
    )
    first, second = verdict.lines[1:]
    assert first.reasons == () and first.approved_qty == 10
    assert second.reasons == ("LABOUR_ABOVE_NORM",) and second.approved_qty == 2  # 12 − 10


def test_labour_in_days_is_judged_in_hours():
    (labour,) = judge(line(1, "人工费", 3, "工日", 120_000, kind="labour")).lines
    # No part: the base norm, 4 hours = 0.5 工日.
    assert labour.reasons == ("LABOUR_ABOVE_NORM",) and labour.approved_qty == Decimal("0.5")


def test_labour_as_a_lump_sum_has_no_hours_to_judge():
    (labour,) = judge(line(1, "人工费", 1, "项", 300_000, kind="labour")).lines
    assert labour.reasons == ("NO_REFERENCE_PRICE",)
    assert labour.approved_qty == 1 and labour.approved_unit_price_fen == 300_000


def test_a_labour_rate_above_the_reference_is_trimmed():
    (labour,) = judge(line(1, "人工费", 2, "工时", 40_000, kind="labour")).lines
    assert labour.reasons == ("PRICE_ABOVE_REFERENCE",)
    assert labour.reference is not None
    assert labour.approved_unit_price_fen == labour.reference.high_fen


def test_no_reference_price_is_flagged_and_approved_as_submitted():
    (only,) = judge(line(1, "缓冲器", 2, "个", 220_000), fault="overspeed_or_slip").lines
    assert only.part_category == "buffer"
    assert only.reasons == ("NO_REFERENCE_PRICE",)
    assert only.reference_unit_price_fen is None and only.reference is None
    assert only.approved_qty == 2 and only.approved_unit_price_fen == 220_000


def test_an_unmatched_line_is_never_priced():
    (only,) = judge(line(1, "办公椅", 1, "把", 99_900)).lines
    assert only.part_category == "unknown"
    assert only.reasons == ("UNMATCHED_ITEM",)
    assert only.reference_unit_price_fen is None
    assert only.approved_qty == 1 and only.approved_unit_price_fen == 99_900


def test_an_unmatched_line_listed_twice_is_a_duplicate_still_unmatched():
    first, copy = judge(
        line(1, "办公椅", 1, "把", 99_900), line(2, "办公椅", 1, "把", 99_900)
    ).lines
    assert first.reasons == ("UNMATCHED_ITEM",) and first.approved_qty == 1
    assert copy.reasons == ("UNMATCHED_ITEM", "DUPLICATE_LINE") and copy.approved_qty == 0
    assert copy.part_category == "unknown" and copy.reference_unit_price_fen is None


def test_an_ambiguous_line_is_never_priced():
    assert MATCHER.match("门机+光幕").ambiguous
    (only,) = judge(line(1, "门机+光幕", 1, "套", 2_000_000), fault="door_fault").lines
    assert only.reasons == ("UNMATCHED_ITEM",)
    assert only.reference_unit_price_fen is None
    assert only.approved_qty == 1 and only.approved_unit_price_fen == 2_000_000
    assert "歧义" in only.explanation and "门机" in only.explanation


def test_unknown_elevator_figures_are_not_guessed():
    unknown = Elevator(
        brand=None, rope_count=None, rope_length_m=None, landings=None, motor_kw=None
    )
    rope, doors = judge(
        line(1, "钢丝绳", 900, "米", 4_000),
        line(2, "层门", 40, "樘", 280_000),
        elevator=unknown,
        fault="rope_wear",
    ).lines
    assert "QTY_ABOVE_SPEC" not in rope.reasons and rope.approved_qty == 900
    assert "QTY_ABOVE_SPEC" not in doors.reasons and doors.approved_qty == 40


def test_elevator_figures_that_are_not_positive_are_not_relied_on():
    broken = Elevator(
        brand="三菱", rope_count=0, rope_length_m=Decimal(40), landings=0, motor_kw=None
    )
    rope, doors = judge(
        line(1, "钢丝绳", 170, "米", 4_000),
        line(2, "层门", 2, "樘", 280_000),
        elevator=broken,
        fault="rope_wear",
    ).lines
    assert rope.approved_qty == 170 and doors.approved_qty == 2


def test_capped_quantities_are_plain_decimals():
    (doors,) = judge(line(1, "层门", 100, "樘", 280_000), fault="door_fault").lines
    assert str(doors.approved_qty) == "10"
    (rope,) = judge(line(1, "钢丝绳", 500, "米", 4_000), fault="rope_wear").lines
    assert str(rope.approved_qty) == "176"


def test_an_original_part_is_priced_as_the_elevators_brand():
    (original,) = judge(line(1, "原厂变频器", 1, "台", 1_900_000)).lines
    assert original.reference is not None
    assert original.reference.basis is Basis.BRAND and original.reference.brand == "mitsubishi"
    assert original.reasons == ()
    (generic,) = judge(line(1, "变频器", 1, "台", 1_900_000)).lines
    assert generic.reasons == ("PRICE_ABOVE_REFERENCE",)


def test_versions_and_amounts_are_recorded():
    verdict = judge(line(1, "变频器", Decimal("1"), "台", 1_000_001))
    assert verdict.reference_version == "test-7"
    assert verdict.catalogue_version == CATALOGUE.version
    assert verdict.labour_norms_version == NORMS.version
    assert verdict.lines[0].submitted_amount_fen == 1_000_001
    assert line_amount(Decimal("2.5"), 3) == 8  # half up, to the fen
    assert judge().lines == () and judge().approved_total_fen == 0


def test_helpers():
    assert spec_key(Specs(diameter_mm=10.0)) == "φ10"
    assert spec_key(Specs(power_kw=7.5)) == "7.5kW"
    assert spec_key(Specs(diameter_mm=8.0, power_kw=11.0)) == "φ8 11kW"
    assert spec_key(Specs()) is None
    assert labour_task_text("更换变频器人工费") == "变频器"
    assert labour_task_text("人工费") == ""
    assert region_name("430200") == "株洲"
    assert region_name("430000") == "湖南"
    assert region_name("000000") == "全国"
    assert region_name("999999") == "999999"


def test_labour_norms_file():
    assert NORMS.task("traction_machine").hours == 40
    assert NORMS.task("no_such_part").hours == NORMS.default_task_hours
    norm = TaskNorm(hours=Decimal(6), per_extra_unit=Decimal(5))
    assert norm.hours_for(Decimal(3), counted=True) == 16
    assert norm.hours_for(Decimal(3), counted=False) == 6
    assert norm.hours_for(Decimal("1.5"), counted=True) == 11  # a part of a unit is a unit
    for broken in (
        "nonsense = [",
        'version = ""\nbase_hours = 1\ndefault_task_hours = 1',
        'version = "1"\nbase_hours = true\ndefault_task_hours = 1',
        'version = "1"\nbase_hours = 1\ndefault_task_hours = 0',
        'version = "1"\nbase_hours = 1\ndefault_task_hours = 1\nextra = 1',
        'version = "1"\nbase_hours = 1\ndefault_task_hours = 1\n[task]\nx = { hour = 1 }',
        'version = "1"\nbase_hours = 1\ndefault_task_hours = 1\n[task]\nx = { hours = -1 }',
    ):
        with pytest.raises(InvalidLabourNorms):
            load_labour_norms(broken)
