"""Worked examples of the shipped rule sets: what fails, what a null does, what a trace shows."""

from datetime import date

from services.validation.core.batch import build_batch
from services.validation.core.rules import load_rule_set
from services.validation.core.vectorised import evaluate

ON = date(2025, 3, 1)
LOSS = date(2025, 3, 1)
GOOD_CLAIM = {
    "loss_date": LOSS,
    "policy_start": date(2025, 1, 1),
    "policy_end": date(2025, 12, 31),
    "inspection_passed": True,
    "inspection_valid_until": date(2025, 9, 1),
    "last_maintenance_date": date(2025, 2, 20),
    "days_since_previous_same_part_claim": None,
    "claimed_amount_fen": 1_200_000,
    "remaining_sum_insured_fen": 15_000_000,
    "quote_date": LOSS,
    "photos_before": 2,
    "photos_after": 3,
    "contractor_list": "white",
    "iot_alarm": True,
    "property_report": False,
    "claims_on_elevator_12m": 1,
}


def _claims(*changes):
    rule_set = load_rule_set("claims")
    rows = [{**GOOD_CLAIM, **change} for change in changes]
    columns = {name: [row[name] for row in rows] for name in rule_set.fields}
    return evaluate(rule_set, build_batch(rule_set.fields, columns), on=ON, trace=True)


def test_each_claim_fails_exactly_its_rule():
    result = _claims(
        {},
        {"policy_end": date(2025, 2, 28)},
        {"last_maintenance_date": date(2025, 2, 13)},  # 16 days
        {"last_maintenance_date": date(2025, 2, 14)},  # 15 days: fine
        {"days_since_previous_same_part_claim": 90},
        {"days_since_previous_same_part_claim": 91},
        {"claimed_amount_fen": 15_000_001},
        {"quote_date": date(2025, 2, 28)},
        {"photos_after": None},
        {"contractor_list": "black"},
        {"iot_alarm": False},
        {"claims_on_elevator_12m": 7},
        {"inspection_valid_until": None},
    )
    assert result.failed_codes_per_row() == [
        (),
        ("CLAIM_POLICY_NOT_IN_FORCE",),
        ("CLAIM_MAINTENANCE_OVERDUE",),
        (),
        ("CLAIM_DUPLICATE_PART_90D",),
        (),
        ("CLAIM_AMOUNT_ABOVE_REMAINING_SUM",),
        ("CLAIM_QUOTE_BEFORE_FAULT",),
        ("CLAIM_PHOTOS_MISSING",),
        ("CLAIM_CONTRACTOR_BLACKLISTED",),
        ("CLAIM_NO_ALARM_OR_REPORT",),
        ("CLAIM_TOO_MANY_ON_ELEVATOR",),
        # unknown expiry: the lapse rule cannot say, the rule that tests nulls does
        ("CLAIM_INSPECTION_UNKNOWN",),
    ]
    assert result.rejected().tolist() == [
        False, True, False, False, True, False, True, True, True, True, False, False, False,
    ]  # fmt: skip


def test_a_trace_shows_what_the_rule_saw_with_dates_as_dates():
    result = _claims({}, {"last_maintenance_date": date(2025, 2, 1)})
    assert result.traces is not None
    trace = result.traces["CLAIM_MAINTENANCE_OVERDUE"]
    assert trace.rows == (1,)
    assert dict(trace.values) == {
        "last_maintenance_date": (date(2025, 2, 1),),
        "loss_date": (LOSS,),
    }
    assert result.traces["CLAIM_POLICY_NOT_IN_FORCE"].rows == ()


def test_registry_code_formats():
    rule_set = load_rule_set("registry")
    good = {
        "equipment_code": "31104403012019050001",
        "registration_no": "梯11沪A00123(19)",
        "manufacture_date": date(2019, 1, 1),
        "install_date": date(2019, 3, 1),
        "registration_date": date(2019, 4, 1),
        "last_inspection_date": date(2024, 5, 1),
        "next_inspection_due": date(2025, 5, 1),
        "landings": 18,
        "rope_count": 6,
        "rated_speed_mps": 1.75,
    }
    rows = [
        good,
        {**good, "equipment_code": "3110440301201905000"},  # 19 digits
        {**good, "equipment_code": "31104403012019130001"},  # month 13
        {**good, "registration_no": "梯11沪A0012"},
        {**good, "landings": 1, "rope_count": 13},
    ]
    columns = {name: [row[name] for row in rows] for name in rule_set.fields}
    result = evaluate(rule_set, build_batch(rule_set.fields, columns), on=ON)
    assert result.failed_codes_per_row() == [
        (),
        ("REG_EQUIPMENT_CODE_FORMAT",),
        ("REG_EQUIPMENT_CODE_FORMAT",),
        ("REG_REGISTRATION_NO_FORMAT",),
        ("REG_LANDINGS_IMPLAUSIBLE", "REG_ROPE_COUNT_IMPLAUSIBLE"),
    ]
