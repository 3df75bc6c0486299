"""Normalising quote descriptions and reading specs out of them."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.pricing.core.normalise import (
    BRANDS,
    NOISE_WORDS,
    Specs,
    brand_of,
    extract_specs,
    noise_in,
    normalise,
)

# Text made of what quotes are made of, so hypothesis explores the interactions of noise
# words, units, brackets and full-width characters, not only random code points.
PIECES = st.sampled_from(
    [
        "曳引机", "钢丝绳", "主板", "门机", "光幕", "原厂", "原", "厂", "含安装", "含", "安装",
        "全新", "（", "）", "【", "】", "(", ")", "，", "、", "+", "/", "-", ".", " ", "\u3000",
        "ＫＷ", "KW", "kW", "千瓦", "千", "瓦", "Φ", "φ", "Ø", "直径", "毫米", "米", "mm", "MCB",
        "３０００", "7.5", "10", "×", "*", "OTIS", "奥的斯", "new", "NEW", "総成", "总成", "x",
    ]
)  # fmt: skip
QUOTE_TEXT = st.lists(PIECES, max_size=12).map("".join)
ANY_TEXT = st.one_of(st.text(), QUOTE_TEXT)


class TestNormalise:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("曳引机 7.5KW 原厂", "曳引机 7.5kw"),
            ("曳引钢丝绳φ10 （含安装）", "曳引钢丝绳φ10"),
            ("主板MCB-3000", "主板mcb-3000"),
            ("Ｔｒａｃｔｉｏｎ　Ｍａｃｈｉｎｅ", "traction machine"),
            ("变频器 11 千瓦", "变频器 11kw"),
            ("钢丝绳 直径 10 毫米", "钢丝绳 φ10mm"),
            ("钢丝绳Ø8", "钢丝绳φ8"),
            ("钢丝绳 Φ 13", "钢丝绳 φ13"),
            ("随行电缆 60 米", "随行电缆 60米"),
            ("编码器【主机】", "编码器 (主机)"),
            ("门机/门电机、光幕；按钮", "门机 + 门电机 + 光幕 + 按钮"),
            ("钢丝绳 8×19", "钢丝绳 8x19"),
            ("全新原装正品 进口 门机 包工包料", "门机"),
            ("  ", ""),
            ("", ""),
        ],
    )
    def test_cases(self, raw, expected):
        assert normalise(raw) == expected

    def test_a_latin_noise_word_goes_only_as_a_whole_word(self):
        assert normalise("NEW door operator") == "door operator"
        assert normalise("renewal kit") == "renewal kit"

    def test_decimals_and_model_codes_keep_their_inner_punctuation(self):
        assert normalise("GAA21750AK3 / 7.5KW") == "gaa21750ak3 + 7.5kw"

    def test_noise_words_removed_are_reported(self):
        assert noise_in("曳引机 （原厂 含安装） 全新") == ("原厂", "含安装", "全新")
        assert noise_in("曳引机") == ()

    def test_noise_words_are_data_and_each_one_is_removed(self):
        for word in NOISE_WORDS:
            assert word not in normalise(f"门机 {word} 门机").split()

    @settings(max_examples=300)
    @given(ANY_TEXT)
    def test_idempotent(self, text):
        once = normalise(text)
        assert normalise(once) == once

    @settings(max_examples=300)
    @given(ANY_TEXT)
    def test_total_and_tidy(self, text):
        result = normalise(text)
        assert result == result.strip()
        assert "  " not in result
        assert not any("Ａ" <= ch <= "ｚ" or "０" <= ch <= "９" for ch in result)
        assert result == result.lower()


class TestSpecs:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("曳引钢丝绳φ10", Specs(diameter_mm=10.0)),
            ("钢丝绳 8mm 120米", Specs(diameter_mm=8.0)),
            ("钢丝绳 直径13毫米", Specs(diameter_mm=13.0)),
            ("钢丝绳 Ø1.2cm", Specs(diameter_mm=12.0)),
            ("曳引机 7.5KW 原厂", Specs(power_kw=7.5)),
            ("曳引机 7.5千瓦", Specs(power_kw=7.5)),
            ("门机 0.2 kW", Specs(power_kw=0.2)),
            ("奥的斯曳引机", Specs(brand="otis")),
            ("OTIS traction machine", Specs(brand="otis")),
            ("西子奥的斯 主机", Specs(brand="xizi_otis")),
            ("Schindler门机", Specs(brand="schindler")),
            ("HITACHIgovernor", Specs(brand="hitachi")),
            ("主板MCB-3000", Specs(model="MCB-3000")),
            ("三菱主机 GAA21750AK3 11kW", Specs(None, 11.0, "mitsubishi", "GAA21750AK3")),
            ("默纳克 一体机 NICE3000", Specs(brand="monarch", model="NICE3000")),
            ("门机", Specs()),
            ("层门 宽1200mm", Specs(diameter_mm=None)),  # a width, not a diameter
            ("按钮 0mm", Specs()),
        ],
    )  # fmt: skip
    def test_cases(self, raw, expected):
        assert extract_specs(raw) == expected

    def test_a_brand_field_on_its_own(self):
        assert brand_of("OTIS") == brand_of("Otis") == brand_of("奥的斯") == "otis"
        assert brand_of("讯达") == "schindler"  # the homophone shops write
        assert brand_of("杂牌") is None
        assert brand_of("") is None

    def test_brand_codes_are_unique_and_lower_case(self):
        codes = [brand.code for brand in BRANDS]
        assert len(codes) == len(set(codes))
        assert all(code == code.lower() for code in codes)

    @settings(max_examples=300)
    @given(ANY_TEXT)
    def test_total(self, text):
        specs = extract_specs(text)
        assert specs.diameter_mm is None or specs.diameter_mm > 0
        assert specs.power_kw is None or specs.power_kw > 0
        assert specs.brand is None or specs.brand in {brand.code for brand in BRANDS}
