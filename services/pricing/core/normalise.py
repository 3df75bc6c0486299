"""Normalising quote descriptions and reading specs out of them.

Contractors write the same part many ways: full-width characters (``（含安装）``, ``ＫＷ``),
any case, any brackets, units as ``KW``/``kw``/``千瓦`` and diameters as ``φ``/``Φ``/``Ø``/``直径``,
and words that sell the part without naming it (``原厂``, ``全新``, ``含安装``). ``normalise``
reduces all of that to one form, so the matcher compares names and nothing else, and
``extract_specs`` reads what the words around the name say (diameter, power, brand, model).

The normal form: NFKC (full-width → half-width), lower case, every kind of bracket written
"(" ")" (empty ones dropped: a remark in brackets is often only noise, "（含安装）"), other
punctuation turned into spaces, list separators (``、 , ; + &`` and ``/`` between Chinese
words) into ``+``, units spelt one way (``kw``, ``mm``, ``cm``, ``kg``, ``φ``; ``米`` kept, it
is the rope unit), a number joined to its unit (``7.5kw``, ``φ10``), noise words removed,
single spaces. It is idempotent (normalising twice changes nothing) and total (any ``str``
is accepted).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# Words that sell a part without naming it: they are dropped before matching (and reported by
# ``noise_in``, so a person can see what was ignored). Longest first wins where they overlap
# (含安装费 before 含安装). "电梯" is here too: every line of a quote is an elevator part.
NOISE_WORDS: tuple[str, ...] = (
    "原厂原装",
    "原厂",
    "原装",
    "正品",
    "全新",
    "新品",
    "进口",
    "国产",
    "合资",
    "含安装调试",
    "含安装费",
    "含安装",
    "包安装",
    "含调试",
    "含税",
    "含运费",
    "含人工费",
    "含人工",
    "包工包料",
    "包邮",
    "配件",
    "总成",
    "总承",
    "组件",
    "部件",
    "专用",
    "更换",
    "换新",
    "拆旧换新",
    "以旧换新",
    "品牌",
    "型号",
    "规格",
    "电梯",
    "质保",
    "保修",
    "通用",
    "同款",
    "厂家直供",
    "厂家",
    "brand new",
    "original",
    "genuine",
    "oem",
    "imported",
    "new",
    "incl installation",
    "including installation",
)

# Unit spellings, after NFKC and lower case (Ф, Φ and Ø have become ф, φ and ø by then).
_UNIT_WORDS: tuple[tuple[str, str], ...] = (
    ("千瓦", "kw"),
    ("毫米", "mm"),
    ("厘米", "cm"),
    ("公斤", "kg"),
    ("千克", "kg"),
    ("直径", "φ"),
    ("ø", "φ"),
    ("⌀", "φ"),
    ("ф", "φ"),  # Cyrillic ef: Chinese input methods offer it for φ
)
_UNITS = ("kw", "mm", "cm", "kg", "米", "m")


@dataclass(frozen=True)
class Brand:
    """A maker whose name appears in quotes; ``code`` is stable, ``aliases`` as written."""

    code: str
    name_zh: str
    aliases: tuple[str, ...]


# Elevator makers, and the makers of parts that quotes name (inverters, encoders, contactors,
# door operators, light curtains, ropes). Aliases are matched after normalisation.
BRANDS: tuple[Brand, ...] = (
    Brand("otis", "奥的斯", ("奥的斯", "otis")),
    Brand("xizi_otis", "西子奥的斯", ("西子奥的斯", "西奥", "xizi otis")),
    Brand("mitsubishi", "三菱", ("三菱", "上海三菱", "mitsubishi")),
    Brand("hitachi", "日立", ("日立", "广州日立", "hitachi")),
    Brand("kone", "通力", ("通力", "kone")),
    Brand("schindler", "迅达", ("迅达", "讯达", "schindler")),
    Brand("thyssenkrupp", "蒂森克虏伯", ("蒂森克虏伯", "蒂森", "thyssenkrupp", "thyssen", "tke")),
    Brand("fujitec", "富士达", ("富士达", "fujitec")),
    Brand("fuji", "富士", ("富士", "fuji")),
    Brand("toshiba", "东芝", ("东芝", "toshiba")),
    Brand("canny", "康力", ("康力", "canny")),
    Brand("xizi", "西子", ("西子", "xizi")),
    Brand("guangri", "广日", ("广日", "guangri")),
    Brand("blt", "博林特", ("博林特", "沈阳博林特", "blt")),
    Brand("sjec", "江南嘉捷", ("江南嘉捷", "sjec")),
    Brand("hyundai", "现代", ("现代电梯", "hyundai")),
    Brand("monarch", "默纳克", ("默纳克", "monarch")),
    Brand("inovance", "汇川", ("汇川", "inovance")),
    Brand("step", "新时达", ("新时达", "step", "sigriner")),
    Brand("bluelight", "蓝光", ("蓝光", "bluelight")),
    Brand("yaskawa", "安川", ("安川", "yaskawa")),
    Brand("siemens", "西门子", ("西门子", "siemens")),
    Brand("schneider", "施耐德", ("施耐德", "schneider")),
    Brand("abb", "ABB", ("abb",)),
    Brand("omron", "欧姆龙", ("欧姆龙", "omron")),
    Brand("chint", "正泰", ("正泰", "chint")),
    Brand("delixi", "德力西", ("德力西", "delixi")),
    Brand("wittur", "威特", ("威特", "wittur")),
    Brand("fermator", "法玛托", ("法玛托", "fermator")),
    Brand("heidenhain", "海德汉", ("海德汉", "heidenhain")),
    Brand("tamagawa", "多摩川", ("多摩川", "tamagawa")),
    Brand("weco", "微科", ("微科", "weco")),
    Brand("fasten", "法尔胜", ("法尔胜",)),  # not "fasten": "rope fastening" is a part
    Brand("bekaert", "贝卡尔特", ("贝卡尔特", "bekaert")),
    Brand("brugg", "布鲁克", ("布鲁克", "brugg")),
)

_OPENING = "([{<《〈「『【〔〖"
_CLOSING = ")]}>》〉」』】〕〗"
_LIST_SEPARATORS = ",;、+&"
_KEEP_INSIDE = {"-", ".", "/"}  # kept between ASCII letters or digits ("mcb-3000", "7.5")
_MAX_PASSES = 8


def _ascii_alnum(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def _boundary_pattern(words: tuple[str, ...], *, glued: int | None = None) -> re.Pattern[str]:
    """Longest first; an ASCII word only as a whole word (not "new" inside "renewal").

    With ``glued``, a word of that many letters or more may run into the next one
    ("HITACHIgovernor"): a long brand name is not the start of another word.
    """
    parts = []
    for word in sorted(set(words), key=lambda w: (-len(w), w)):
        escaped = re.escape(word)
        if _ascii_alnum(word[0]):
            escaped = r"(?<![a-z0-9])" + escaped
        if _ascii_alnum(word[-1]) and (glued is None or len(word) < glued):
            escaped += r"(?![a-z0-9])"
        parts.append(escaped)
    return re.compile("|".join(parts))


_NOISE = _boundary_pattern(NOISE_WORDS)
_UNIT_MAP = dict(_UNIT_WORDS)
_UNIT_WORD = re.compile("|".join(re.escape(w) for w, _ in _UNIT_WORDS))
_NUMBER_UNIT_GAP = re.compile(r"(\d)\s+(kw|mm|cm|kg|米)(?![a-z0-9])")
_PHI_GAP = re.compile(r"φ\s+(?=\d)")
_TIMES = re.compile(r"(?<=\d)\s*[×*]\s*(?=\d)")
_SPACES = re.compile(r"\s+")
_EMPTY_BRACKETS = re.compile(r"\(\s*\)")
_AFTER_OPENING = re.compile(r"\(\s+")
_BEFORE_CLOSING = re.compile(r"\s+\)")
_SEPARATOR_RUN = re.compile(r"(?:\s*\+\s*)+")


def normalise(text: str) -> str:
    """The normal form of a description (see the module docstring); idempotent and total."""
    for _ in range(_MAX_PASSES):
        result = _pass(text)
        if result == text:
            return result
        text = result
    return text


def _pass(text: str) -> str:
    text = _NOISE.sub(" ", _clean(text))
    text = _SPACES.sub(" ", text)
    text = _EMPTY_BRACKETS.sub(" ", text)
    text = _BEFORE_CLOSING.sub(")", _AFTER_OPENING.sub("(", text))
    text = _NUMBER_UNIT_GAP.sub(r"\1\2", text)
    text = _PHI_GAP.sub("φ", text)
    return _SEPARATOR_RUN.sub(" + ", text).strip(" +")


def _clean(text: str) -> str:
    """NFKC, lower case, one spelling per unit, punctuation unified (noise words still in)."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _TIMES.sub("x", text)
    text = _UNIT_WORD.sub(lambda m: _UNIT_MAP[m.group(0)], text)
    return _punctuation(text)


def _punctuation(text: str) -> str:
    """Every bracket to "(" or ")", other punctuation to spaces, list separators to "+";
    "-", "." and "/" kept only between ASCII letters or digits (model codes, decimals)."""
    out: list[str] = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch.isalnum() or (
            ch in _KEEP_INSIDE
            and 0 < i < last
            and _ascii_alnum(text[i - 1])
            and _ascii_alnum(text[i + 1])
        ):
            out.append(ch)
        elif ch in _LIST_SEPARATORS or ch == "/":
            out.append("+")
        elif ch in _OPENING:
            out.append(" (")
        elif ch in _CLOSING:
            out.append(") ")
        else:
            out.append(" ")
    return "".join(out)


def noise_in(text: str) -> tuple[str, ...]:
    """The noise words ``normalise`` drops from ``text``, in order of appearance."""
    return tuple(m.group(0) for m in _NOISE.finditer(_clean(text)))


# ------------------------------------------------------------------ specs


@dataclass(frozen=True)
class Specs:
    """What a description says beyond the part's name.

    ``brand`` is a ``Brand.code`` (``"otis"``), ``model`` an upper-case model code
    (``"MCB-3000"``); a figure that is not written is ``None``, never guessed.
    """

    diameter_mm: float | None = None
    power_kw: float | None = None
    brand: str | None = None
    model: str | None = None


_NUMBER = r"(\d+(?:\.\d+)?)"
_DIAMETER_PHI = re.compile(r"φ" + _NUMBER + r"(cm|mm)?")
_DIAMETER_MM = re.compile(r"(?<![a-z0-9.])" + _NUMBER + r"mm(?![a-z])")
_POWER = re.compile(r"(?<![a-z0-9.])" + _NUMBER + r"kw(?![a-z])")
# A model code: letters then digits, perhaps more letters, digits, "-" or "/" ("mcb-3000",
# "gaa21750ak3", "nice3000", "v3f16"). Plain specs ("7.5kw") start with a digit and never match.
_MODEL = re.compile(r"(?<![a-z0-9\-./φ])[a-z]{1,8}-?\d[a-z0-9]*(?:[-/.][a-z0-9]+)*")
# Diameters beyond this are not rope or sheave diameters but lengths ("1200mm" door width).
_MAX_DIAMETER_MM = 1000.0

_BRAND_BY_ALIAS: dict[str, str] = {
    alias: brand.code for brand in BRANDS for alias in (brand.name_zh.lower(), *brand.aliases)
}
_BRAND = _boundary_pattern(tuple(_BRAND_BY_ALIAS), glued=5)


def brand_of(text: str) -> str | None:
    """The brand code named in ``text`` (the longest brand alias wins), or ``None``.

    Works on a whole description or on a bare brand field ("奥的斯", "OTIS", "Otis").
    """
    found = brand_spans(normalise(text))
    return found[0][2] if found else None


def brand_spans(normalised: str) -> list[tuple[int, int, str]]:
    """(start, end, brand code) of every brand alias in a normalised text, left to right."""
    return [(m.start(), m.end(), _BRAND_BY_ALIAS[m.group(0)]) for m in _BRAND.finditer(normalised)]


def extract_specs(text: str) -> Specs:
    """Diameter (mm), power (kW), brand and model code written in a description.

    "曳引钢丝绳φ10" → diameter 10; "8mm" → 8; "7.5KW" or "7.5千瓦" → 7.5 kW;
    "奥的斯"/"OTIS" → brand "otis"; "主板MCB-3000" → model "MCB-3000".
    """
    return specs_of_normalised(normalise(text))


def specs_of_normalised(normalised: str) -> Specs:
    """``extract_specs`` for a text that is already normalised (the matcher's path)."""
    return Specs(
        diameter_mm=_diameter(normalised),
        power_kw=_first_number(_POWER, normalised),
        brand=_first_brand(normalised),
        model=_model(normalised),
    )


def _diameter(text: str) -> float | None:
    match = _DIAMETER_PHI.search(text)
    if match:
        value = float(match.group(1)) * (10.0 if match.group(2) == "cm" else 1.0)
    else:
        mm = _first_number(_DIAMETER_MM, text)
        if mm is None:
            return None
        value = mm
    return value if 0 < value <= _MAX_DIAMETER_MM else None


def _first_number(pattern: re.Pattern[str], text: str) -> float | None:
    match = pattern.search(text)
    if match is None:
        return None
    value = float(match.group(1))
    return value if value > 0 else None


def _first_brand(text: str) -> str | None:
    match = _BRAND.search(text)
    return _BRAND_BY_ALIAS[match.group(0)] if match else None


def _model(text: str) -> str | None:
    for match in _MODEL.finditer(text):
        token = match.group(0)
        if token in _BRAND_BY_ALIAS:
            continue
        return token.upper()
    return None


__all__ = [
    "BRANDS",
    "NOISE_WORDS",
    "Brand",
    "Specs",
    "brand_of",
    "brand_spans",
    "extract_specs",
    "noise_in",
    "normalise",
    "specs_of_normalised",
]
