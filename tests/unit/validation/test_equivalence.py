"""The vectorised evaluator gives exactly the reference evaluator's verdicts, row by row."""

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.validation.core.batch import build_batch
from services.validation.core.fields import EPOCH, FieldType
from services.validation.core.reference import evaluate_row, failed_codes, rows_of
from services.validation.core.rules import KINDS, load_rule_set, parse_rule_set
from services.validation.core.vectorised import evaluate
from tests.unit.validation.strategies import columns

ON = date(2025, 1, 1)
RULE_SETS = {kind: load_rule_set(kind) for kind in KINDS}
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _check(rule_set, data):
    batch = build_batch(rule_set.fields, data)
    result = evaluate(rule_set, batch, on=ON, trace=True)
    rows = rows_of(batch)
    assert result.failed_codes_per_row() == failed_codes(rule_set, rows, on=ON)
    for row in range(batch.n):
        assert result.failed_codes(row) == failed_codes(rule_set, rows[row : row + 1], on=ON)[0]
    assert result.traces is not None
    for rule in result.rules:
        trace = result.traces[rule.code]
        assert list(trace.rows) == [
            i for i, row in enumerate(rows) if evaluate_row(rule.expr.root, row) is False
        ]
        for name in rule.expr.fields:
            seen = [batch.value(name, row) for row in trace.rows]
            if rule_set.fields[name] is FieldType.DATE:
                seen = [None if v is None else EPOCH + timedelta(days=v) for v in seen]
            assert list(trace.values[name]) == seen


@pytest.mark.parametrize("kind", KINDS)
def test_every_shipped_rule_set_vectorised_equals_reference(kind):
    rule_set = RULE_SETS[kind]

    @SETTINGS
    @given(columns(rule_set.fields, [r.expr.root for r in rule_set.rules]))
    def check(data):
        _check(rule_set, data)

    check()


# Every construct of the language, over one synthetic schema, including the awkward corners:
# division by zero and by a null, NaN from inf - inf, negation, chained comparisons,
# None comparisons, `in` on numbers and strings, len and regexes on nulls, nested Kleene logic.
LANGUAGE = parse_rule_set(
    """
name = "language"
version = "1"
[fields]
i = "int"
j = "int"
f = "float"
d = "date"
e = "date"
s = "str"
b = "bool"
"""
    + "".join(
        f"""
[[rules]]
code = "R{index}"
description = {{ en = "x", zh = "x" }}
severity = "error"
expr = '''{expr}'''
effective_from = 2020-01-01
"""
        for index, expr in enumerate(
            [
                "i / j > 0.5",
                "f * 2 - i <= -j + 3",
                "-(f + 1e308 * 10) < f - (f * 1e308) * 10",
                "0 <= i < j <= 100",
                "i == None or f != None",
                "not (b and (i > 3 or s == 'x')) or not_null(d)",
                "i in (1, 2, 3) and s not in ('a', 'b', '')",
                "len(s) <= 3 or matches(s, '[a-c]+')",
                "days_between(d, e) / (i - j) >= 1",
                "b == True or b != False and is_null(s)",
                "d < e and e <= d or s > 'm'",
                "not matches(s, 'x.*') and not (len(s) == 0)",
                "True",
                "1 / 0 > 0 or False",
                "not (is_null(i) or is_null(j)) and i - j != 0",
            ]
        )
    )
)


@SETTINGS
@given(columns(LANGUAGE.fields, [r.expr.root for r in LANGUAGE.rules]))
def test_every_construct_of_the_language_vectorised_equals_reference(data):
    _check(LANGUAGE, data)


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 3))
def test_a_constant_rule_fails_every_row_or_none(n):
    rule_set = parse_rule_set(
        """
name = "constant"
version = "1"
[fields]
i = "int"
[[rules]]
code = "ALWAYS"
description = { en = "x", zh = "x" }
severity = "error"
expr = "1 > 2"
effective_from = 2020-01-01
[[rules]]
code = "UNKNOWN"
description = { en = "x", zh = "x" }
severity = "error"
expr = "1 / 0 > 2"
effective_from = 2020-01-01
"""
    )
    batch = build_batch(rule_set.fields, {"i": list(range(n))})
    result = evaluate(rule_set, batch, on=ON)
    assert result.failed_codes_per_row() == [("ALWAYS",)] * n
    assert failed_codes(rule_set, rows_of(batch), on=ON) == [("ALWAYS",)] * n
