"""The parts catalogue and the two-stage matcher."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.pricing.core.catalogue import (
    FAULT_CATEGORIES,
    LABOUR,
    REQUIRED_CODES,
    InvalidCatalogue,
    load_catalogue,
)
from services.pricing.core.matching import (
    AMBIGUITY_MARGIN,
    UNMATCHED_BELOW,
    Matcher,
    match_key,
)
from services.pricing.core.normalise import normalise
from tests.unit.pricing.test_normalise import QUOTE_TEXT

CATALOGUE = load_catalogue()
MATCHER = Matcher(CATALOGUE)


def category_of(description: str) -> str | None:
    result = MATCHER.match(description)
    assert not result.ambiguous, result
    return result.category


class TestCatalogue:
    def test_versioned_with_every_required_code(self):
        assert CATALOGUE.version == "2026.11.1"
        assert set(CATALOGUE.categories) >= REQUIRED_CODES
        assert CATALOGUE.get("traction_machine") is not None
        assert CATALOGUE.get("no_such_part") is None

    def test_every_category_is_complete(self):
        for category in CATALOGUE:
            assert category.units and category.aliases and category.faults, category.code
            assert category.faults <= FAULT_CATEGORIES
            assert category.name_zh and category.name_en

    @pytest.mark.parametrize(
        "code",
        [
            "traction_machine",
            "inverter",
            "control_board",
            "door_operator",
            "brake",
            "encoder",
            "speed_governor",
        ],
    )
    def test_one_per_elevator(self, code):
        assert CATALOGUE.categories[code].per_elevator_max == 1

    def test_ropes_and_landing_doors_have_no_fixed_limit(self):
        # judged by the rules from rope count × length and from the number of landings
        assert CATALOGUE.categories["wire_rope"].per_elevator_max is None
        assert CATALOGUE.categories["landing_door"].per_elevator_max is None
        assert CATALOGUE.categories["wire_rope"].units[0] == "米"

    def test_faults_a_part_fixes(self):
        assert CATALOGUE.categories["door_operator"].fixes("door_fault")
        assert not CATALOGUE.categories["door_operator"].fixes("machine_noise")
        assert CATALOGUE.categories[LABOUR].faults == FAULT_CATEGORIES

    def test_no_alias_names_two_categories(self):
        # after normalisation; a clash would make every line with that alias ambiguous
        owners: dict[str, set[str]] = {}
        for alias, code in CATALOGUE.aliases():
            key = match_key(normalise(alias))
            owners.setdefault(key, set()).add(code)
        assert {k: v for k, v in owners.items() if len(v) > 1} == {}

    def test_every_alias_matches_its_own_category(self):
        for alias, code in CATALOGUE.aliases():
            result = MATCHER.match(alias)
            assert (result.category, result.ambiguous) == (code, False), alias

    @pytest.mark.parametrize(
        ("edit", "message"),
        [
            (lambda t: t.replace('version = "2026.11.1"', 'version = ""'), "version"),
            (lambda t: t.replace('"machine_noise", "door_fault"', '"noise"'), "unknown fault"),
            (lambda t: t.replace('code = "buffer"', 'code = "wire_rope"'), "defined twice"),
            (lambda t: t.replace('code = "buffer"', 'code = "bumper"'), "required"),
            (lambda t: t.replace("max = 1\n", "max = true\n", 1), "positive"),
            (lambda t: t.replace('code = "buffer"', 'code = "Buffer"'), "snake case"),
            (lambda t: t.replace('"曳夜叶', '"门夜叶', 1), "two homophone groups"),
            (lambda t: t + "\n[[category]]\ncode = 1\n", "missing keys"),
            (lambda t: "not toml [", "not valid TOML"),
        ],
    )  # fmt: skip
    def test_a_bad_file_is_refused_with_the_place(self, edit, message):
        from importlib import resources

        text = (
            resources.files("services.pricing.core")
            .joinpath("catalogue.toml")
            .read_text(encoding="utf-8")
        )
        with pytest.raises(InvalidCatalogue, match=message):
            load_catalogue(edit(text))


class TestMatching:
    @pytest.mark.parametrize(
        ("description", "category"),
        [
            # the examples
            ("曳引机 7.5KW 原厂", "traction_machine"),
            ("曳引钢丝绳φ10 （含安装）", "wire_rope"),
            ("主板MCB-3000", "control_board"),
            # full-width, brands, noise, quantities
            ("奥的斯　曳引主机　１１ＫＷ", "traction_machine"),
            ("【原装】三菱变频器 一台", "inverter"),
            ("蒂森 门机 包工包料", "door_operator"),
            ("钢丝绳 8mm×120米", "wire_rope"),
            ("层门 3扇", "landing_door"),
            ("MCB-3000", "control_board"),
            # English, and Chinese with English
            ("Traction Machine OTIS", "traction_machine"),
            ("VVVF inverter 11kW", "inverter"),
            ("door light curtain 2 sets", "door_light_curtain"),
            ("contactors", "contactor"),
            ("光幕 light curtain", "door_light_curtain"),
            # homophones, dropped and swapped characters
            ("报闸", "brake"),
            ("轿箱光慕", "door_light_curtain"),
            ("曳引几", "traction_machine"),
            ("编马器", "encoder"),
            ("曳机 7.5kw", "traction_machine"),
            ("缓冲 器", "buffer"),
            ("冲缓器", "buffer"),
            ("invertor", "inverter"),
            ("encodr", "encoder"),
            # compounds: the head is last, the longer name wins, remarks are remarks
            ("门机光幕", "door_light_curtain"),
            ("曳引机钢丝绳", "wire_rope"),
            ("限速器钢丝绳 φ6", "speed_governor"),
            ("编码器（主机）", "encoder"),
            ("门机（含光幕）", "door_operator"),
            ("抱闸接触器", "contactor"),
            ("曳引机钢丝神", "wire_rope"),
            # labour
            ("人工费", "labour"),
            ("更换曳引机人工费", "labour"),
            ("安装调试费", "labour"),
            ("labour 8 hours", "labour"),
            # a spec decides between names otherwise equally near
            ("曳引 φ10", "wire_rope"),
            ("曳引 7.5kw", "traction_machine"),
        ],
    )
    def test_cases(self, description, category):
        assert category_of(description) == category

    @pytest.mark.parametrize(
        "description",
        ["办公椅", "空调维修", "打印纸", "", "   ", "12345", "（含安装）", "原厂", "office chair"],
    )
    def test_unmatched(self, description):
        result = MATCHER.match(description)
        assert result.category is None
        assert result.score < UNMATCHED_BELOW
        assert not result.ambiguous

    @pytest.mark.parametrize(
        ("description", "candidates"),
        [
            ("门机+光幕", {"door_operator", "door_light_curtain"}),  # two parts in one line
            ("曳引机、变频器", {"traction_machine", "inverter"}),
            ("变器", {"inverter", "power_supply"}),  # 变频器 or 变压器?
        ],
    )
    def test_ambiguous(self, description, candidates):
        result = MATCHER.match(description)
        assert result.ambiguous
        assert {result.category, result.runner_up} == candidates
        assert not result.confident

    def test_the_result_carries_specs_and_the_normal_form(self):
        result = MATCHER.match("奥的斯 曳引钢丝绳 Φ10（原厂）")
        assert result.category == "wire_rope" and result.confident
        assert result.specs.diameter_mm == 10.0 and result.specs.brand == "otis"
        assert result.normalised == "奥的斯 曳引钢丝绳 φ10"
        assert result.score == 100.0

    def test_a_modifier_is_the_runner_up_not_a_rival(self):
        result = MATCHER.match("门机光幕")
        assert result.runner_up == "door_operator" and not result.ambiguous

    def test_match_many_is_match_for_each_in_order(self):
        lines = ["曳引机", "办公椅", "光幕", "曳引机", "门机+光幕"]
        assert MATCHER.match_many(lines) == [MATCHER.match(line) for line in lines]
        assert MATCHER.match_many([]) == []

    def test_thresholds_are_on_the_rapidfuzz_scale(self):
        assert 0 < AMBIGUITY_MARGIN < UNMATCHED_BELOW < 100

    @settings(max_examples=200, deadline=None)
    @given(st.one_of(st.text(), QUOTE_TEXT))
    def test_total(self, text):
        result = MATCHER.match(text)
        assert 0.0 <= result.score <= 100.0
        assert result.category is None or result.category in CATALOGUE
        assert not (result.ambiguous and result.category is None)
        assert result.normalised == normalise(text)


class TestScale:
    def test_the_bench_catalogue_keeps_categories_and_the_matcher_copes(self):
        from load_tests.benchmarks.pricing import expanded_catalogue, naive_matcher

        big = expanded_catalogue(20_000)
        assert sum(1 for _ in big.aliases()) == 20_000
        assert set(big.categories) == set(CATALOGUE.categories)
        matcher = Matcher(big)
        assert matcher.alias_count > 10_000  # variants that stay distinct after normalisation
        for description in ("曳引机 7.5KW 原厂", "曳引钢丝绳φ10 （含安装）", "主板MCB-3000"):
            assert matcher.match(description).category == MATCHER.match(description).category
        assert naive_matcher(big)("曳引机") == "traction_machine"

    def test_a_paragraph_is_matched_on_its_opening(self):
        result = MATCHER.match("曳引机 7.5kW " + "（说明：" + "施工期间停梯。" * 2_000 + "）")
        assert result.category == "traction_machine"
        assert result.specs.power_kw == 7.5
