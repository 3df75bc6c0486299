import pytest

from services.policy.domain.codes import (
    ELEVATOR_CATEGORIES,
    EquipmentCodeFormat,
    normalise_registration_code,
    parse_registration_code,
    validate_equipment_code,
)
from services.policy.domain.errors import InvalidCode


def reason_for(raw: str) -> str:
    with pytest.raises(InvalidCode) as caught:
        validate_equipment_code(raw)
    assert caught.value.field == "equipment_code"
    return caught.value.reason


class TestRegistration20:
    def test_parts_are_strings_with_leading_zeros(self):
        code = validate_equipment_code("31101101052019010007")
        assert code.format is EquipmentCodeFormat.REGISTRATION_20
        assert (code.category, code.region, code.year, code.month, code.sequence) == (
            "3110",
            "110105",
            "2019",
            "01",
            "0007",
        )
        assert code.code == "31101101052019010007"
        assert code.category_name == "曳引驱动乘客电梯"

    def test_spaces_and_full_width_digits_are_normalised(self):
        assert validate_equipment_code(" ３１１０ 440300 200811 0029 ").code == (
            "31104403002008110029"
        )

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("3110440300200811002", "must be 20 digits"),
            ("3110440300200811002", "got 19"),
            ("31104403002008A10029", "got 'A' at position 15"),
            ("21604403002008110029", "category 2160 is not an elevator category"),
            ("31109903002008110029", "region 990300 does not start with a province code"),
            ("31104403002008130029", "month must be 01–12, got 13"),
            ("31104403002008000029", "month must be 01–12, got 00"),
            ("31104403001949110029", "year must be 1950–2100, got 1949"),
            ("31104403002008110000", "sequence must not be all zeros"),
            ("", "equipment code is empty"),
        ],
    )
    def test_invalid_codes_say_why(self, raw, expected):
        assert expected in reason_for(raw)

    def test_field_name_is_passed_through(self):
        with pytest.raises(InvalidCode) as caught:
            validate_equipment_code("123", field="spec.equipment_code")
        assert caught.value.field == "spec.equipment_code"
        assert isinstance(caught.value, ValueError)


class TestManufacturer18:
    def test_parts(self):
        code = validate_equipment_code("311044012201500098")
        assert code.format is EquipmentCodeFormat.MANUFACTURER_18
        assert (code.category, code.maker, code.year, code.sequence) == (
            "3110",
            "44012",
            "2015",
            "00098",
        )
        assert code.region is None and code.month is None

    def test_national_authority_and_letter_sequence(self):
        code = validate_equipment_code("31101089020150A001")
        assert (code.maker, code.sequence) == ("10890", "0A001")

    def test_unknown_licensing_region(self):
        assert "must start with a province code or 10" in reason_for("311099012201500098")

    def test_lower_case_letters_are_upper_cased(self):
        assert validate_equipment_code("31101089020150a001").code == "31101089020150A001"


class TestOrganisation21:
    # D2143569-X is the worked example of GB 11714.
    def test_parts_and_check_character(self):
        code = validate_equipment_code("3110D2143569X20160001")
        assert code.format is EquipmentCodeFormat.ORGANISATION_21
        assert (code.maker, code.year, code.sequence) == ("D2143569X", "2016", "0001")

    def test_wrong_check_character(self):
        assert "expected X" in reason_for("3110D2143569120160001")


def test_category_table_is_elevators_only():
    assert all(code.startswith("3") and len(code) == 4 for code in ELEVATOR_CATEGORIES)


class TestRegistrationCode:
    @pytest.mark.parametrize(
        "raw",
        [
            "梯11粤B00123(18)",
            "梯11粤B00123（18）",
            " 梯 11 粤 b 00123 ( 18 ) ",
            "梯１１粤Ｂ００１２３（１８）",
            "梯11粤B00123\u3000(18)",
        ],
    )
    def test_variants_normalise_to_one_canonical_form(self, raw):
        assert normalise_registration_code(raw) == "梯11粤B00123(18)"

    def test_parts(self):
        code = parse_registration_code("梯12黔A00007(21)")
        assert (code.category, code.province, code.province_code) == ("12", "黔", "52")
        assert (code.office, code.sequence, code.year) == ("A", "00007", "21")

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("容11粤B00123(18)", "must start with 梯"),
            ("梯19粤B00123(18)", "category 19 is not an elevator category"),
            ("梯11XB00123(18)", "'X' is not a province abbreviation"),
            ("梯11粤B0123(18)", "must look like 梯11粤B00123(18)"),
            ("梯11粤B00123-18", "must look like"),
            ("梯11粤B00000(18)", "must not be all zeros"),
            ("  ", "registration code is empty"),
        ],
    )
    def test_invalid_numbers_say_why(self, raw, expected):
        with pytest.raises(InvalidCode) as caught:
            normalise_registration_code(raw)
        assert expected in caught.value.reason
        assert caught.value.field == "registration_code"
