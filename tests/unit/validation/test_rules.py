"""Rule-set files: released codes are frozen, effective dates pick the rule of the day, and a
malformed file is refused naming where."""

from datetime import date

import pytest

from services.validation.core.batch import build_batch
from services.validation.core.rules import (
    KINDS,
    InvalidRuleSet,
    Severity,
    UnknownRuleSet,
    iter_codes,
    load_rule_set,
    load_rule_sets,
    parse_rule_set,
)
from services.validation.core.vectorised import evaluate

# Released codes, per rule set. A code is stored with every verdict, so it is never renamed or
# reused: add new codes here when they ship; retire one by moving it to the file's `retired`
# list (it stays here).
RELEASED = {
    "claims": {
        "CLAIM_POLICY_NOT_IN_FORCE",
        "CLAIM_INSPECTION_LAPSED",
        "CLAIM_INSPECTION_UNKNOWN",
        "CLAIM_MAINTENANCE_OVERDUE",
        "CLAIM_DUPLICATE_PART_90D",
        "CLAIM_AMOUNT_NOT_POSITIVE",
        "CLAIM_AMOUNT_ABOVE_REMAINING_SUM",
        "CLAIM_QUOTE_BEFORE_FAULT",
        "CLAIM_PHOTOS_MISSING",
        "CLAIM_CONTRACTOR_BLACKLISTED",
        "CLAIM_NO_ALARM_OR_REPORT",
        "CLAIM_TOO_MANY_ON_ELEVATOR",
    },
    "maintenance": {
        "MAINT_INTERVAL_OVER_15_DAYS",
        "MAINT_BEFORE_PREVIOUS",
        "MAINT_NOT_SIGNED",
        "MAINT_WORKER_UNLICENSED",
        "MAINT_CERT_NO_FORMAT",
        "MAINT_DURATION_IMPLAUSIBLE",
        "MAINT_TYPE_UNKNOWN",
    },
    "registry": {
        "REG_EQUIPMENT_CODE_FORMAT",
        "REG_REGISTRATION_NO_FORMAT",
        "REG_MANUFACTURED_AFTER_INSTALL",
        "REG_REGISTERED_BEFORE_INSTALL",
        "REG_INSPECTION_DUE_IMPLAUSIBLE",
        "REG_LANDINGS_IMPLAUSIBLE",
        "REG_ROPE_COUNT_IMPLAUSIBLE",
        "REG_SPEED_IMPLAUSIBLE",
    },
    "inspection": {
        "INSP_EQUIPMENT_CODE_FORMAT",
        "INSP_RESULT_UNKNOWN",
        "INSP_NEXT_DUE_NOT_AFTER",
        "INSP_INTERVAL_OVER_2_YEARS",
        "INSP_PASSED_WITHOUT_NEXT_DUE",
    },
    "fund_account": {
        "FUND_ACCOUNT_TYPE_UNKNOWN",
        "FUND_BALANCE_NEGATIVE",
        "FUND_INCOME_NEGATIVE",
        "FUND_PERSONAL_WITHOUT_FLAT",
        "FUND_BALANCE_IMPLAUSIBLE",
    },
    "roster": {
        "ROSTER_AREA_IMPLAUSIBLE",
        "ROSTER_OWNER_MISSING",
        "ROSTER_PHONE_FORMAT",
        "ROSTER_ID_NO_FORMAT",
    },
}
PREFIX = {
    "claims": "CLAIM_",
    "maintenance": "MAINT_",
    "registry": "REG_",
    "inspection": "INSP_",
    "fund_account": "FUND_",
    "roster": "ROSTER_",
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_released_code_is_still_there_active_or_retired(kind):
    rule_set = load_rule_set(kind)
    assert RELEASED[kind] <= set(rule_set.codes) | rule_set.retired


@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_code_is_released_and_prefixed_by_its_rule_set(kind):
    rule_set = load_rule_set(kind)
    assert set(rule_set.codes) <= RELEASED[kind], "add a new code to RELEASED"
    assert all(code.startswith(PREFIX[kind]) for code in rule_set.codes)


def test_no_code_is_in_two_rule_sets():
    pairs = list(iter_codes(load_rule_sets()))
    codes = [code for _, code in pairs]
    assert len(codes) == len(set(codes))


def test_every_rule_has_both_descriptions_and_a_severity():
    for rule_set in load_rule_sets().values():
        assert rule_set.name in KINDS and rule_set.version
        for rule in rule_set.rules:
            assert rule.description_en and rule.description_zh
            assert rule.severity in (Severity.ERROR, Severity.WARNING)


def test_an_unknown_kind_is_refused():
    with pytest.raises(UnknownRuleSet):
        load_rule_set("alarms")


HEADER = """
name = "t"
version = "2"
retired = ["OLD_CODE"]
[fields]
n = "int"
"""


def _rule(code, expr, start, end=None):
    window = f"effective_from = {start}\n" + (f"effective_to = {end}\n" if end else "")
    return (
        f'[[rules]]\ncode = "{code}"\ndescription = {{ en = "x", zh = "x" }}\n'
        f'severity = "warning"\nexpr = "{expr}"\n{window}'
    )


WINDOWED = parse_rule_set(
    HEADER
    + _rule("TOO_MANY", "n <= 6", "2020-01-01", "2026-01-01")
    + _rule("TOO_MANY", "n <= 4", "2026-01-01")
    + _rule("LATER", "n >= 0", "2025-07-01")
)


@pytest.mark.parametrize(
    ("on", "codes", "failed"),
    [
        (date(2019, 12, 31), (), [(), ()]),
        (date(2025, 6, 30), ("TOO_MANY",), [(), ()]),
        (date(2025, 7, 1), ("TOO_MANY", "LATER"), [(), ()]),
        (date(2025, 12, 31), ("TOO_MANY", "LATER"), [(), ()]),
        (date(2026, 1, 1), ("TOO_MANY", "LATER"), [(), ("TOO_MANY",)]),  # the stricter one
    ],
)
def test_only_rules_effective_on_the_day_apply(on, codes, failed):
    batch = build_batch(WINDOWED.fields, {"n": [3, 5]})
    result = evaluate(WINDOWED, batch, on=on)
    assert result.codes == codes
    assert result.failed_codes_per_row() == failed


def test_a_window_includes_its_start_and_excludes_its_end():
    first, second, _ = WINDOWED.rules
    assert first.effective_on(date(2020, 1, 1)) and not first.effective_on(date(2026, 1, 1))
    assert second.effective_on(date(2026, 1, 1))
    assert WINDOWED.codes == ("TOO_MANY", "LATER")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEADER + _rule("A", "n > 0", "2020-01-01") + _rule("A", "n > 1", "2021-01-01"),
            "overlapping",
        ),
        (HEADER + _rule("A", "n > 0", "2020-01-01", "2020-01-01"), "effective_to"),
        (HEADER + _rule("OLD_CODE", "n > 0", "2020-01-01"), "retired"),
        (HEADER + _rule("lower", "n > 0", "2020-01-01"), "UPPER_SNAKE"),
        (HEADER + _rule("A", "n.real > 0", "2020-01-01"), "attribute access"),
        (HEADER + _rule("A", "m > 0", "2020-01-01"), "rule #1 (A): unknown field 'm'"),
        (HEADER.replace('"int"', '"decimal"') + _rule("A", "n > 0", "2020-01-01"), "unknown type"),
        (HEADER.replace('"2"', '"v2"'), "version"),
        (HEADER + _rule("A", "n > 0", "2020-01-01").replace('"warning"', '"fatal"'), "severity"),
        (HEADER + _rule("A", "n > 0", "2020-01-01").replace('zh = "x"', 'fr = "x"'), "en and zh"),
        (HEADER + "[[rules]]\ncode = 'A'\n", "missing 'description'"),
        (HEADER + _rule("A", "n > 0", "2020-01-01") + "oops = 1\n", "unknown keys ['oops']"),
        ("oops = 1\n" + HEADER, "unknown keys ['oops']"),
        ("name = ", "t.toml"),
    ],
)
def test_a_malformed_rule_set_is_refused_saying_where(text, message):
    with pytest.raises(InvalidRuleSet) as caught:
        parse_rule_set(text, source="t.toml")
    assert message in str(caught.value)
