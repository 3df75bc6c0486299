"""A labelled corpus of repair quotes and price history, generated from a fixed seed.

Everything is drawn from ``random.Random(seed)``; the same seed gives the same files. The
output is in the ``evaluate`` command's formats (H and Q lines, see
``services.pricing.core.evaluate``), with a label for every quote line.

**The market.** Each part category has a base price in fen per its usual unit (株洲, January
2024), a spec ladder where the spec sets the price (traction machines and inverters by kW,
wire rope by diameter: ``SPEC_PRICES``), brands with price multipliers (0.85–1.6), a yearly
drift (+2 % … +8 %, labour +6 %) and regional levels (长沙 ×1.08, 湘潭 ×0.97, 天津 ×1.12,
济南 ×1.02). The *market price* of a part on a day is base × spec × brand × region ×
(1 + drift) ** years since 2024-01-01.

**Price history** (``observations`` rows, 2024-01-01 … 2025-12-31, 45 % 株洲): a category
(labour twice as likely as a part), a spec and — with p = 0.45 — a brand; the price is the
market price × exp(N(0, 0.06)) (an honest market spread), rounded to the yuan. Half are
``supplier_list``, half ``settled_claim``. Noise: 1 % of rows are a ×10 typo and 0.5 % a ÷10
typo; 3 % of rope rows are priced per 根 (another unit: left out by the reference book);
20 % of labour rows are per 工日 (8 × the hourly price). The brand goes in the ``brand``
field (Chinese or English name) and, half the time, into the description too. Descriptions
are shop names (``NAMES``) with the spec in one of its spellings (φ10, Φ10, 直径10mm, 10mm;
7.5KW, 7.5kw, 7.5千瓦), noise words (原装, 含安装, 全新 …) with p = 0.3, a space inside the
name with p = 0.1, the whole line full-width with p = 0.15.

**Quotes** (2025-01-01 … 2026-06-30, 60 % 株洲): an elevator (brand, 6–33 landings,
rope count 4–6, rope length = 3 m a landing + 8–15 m, motor 5.5–15 kW by height), a fault
category, 1–3 parts that fix it (``FAULT_PARTS``, a subset of what the catalogue allows),
each at its usual quantity, and with p = 0.85 one labour line (60 % naming the main part's
task, "更换曳引机人工"; 40 % generic, "人工费"; 20 % of them in 工日). Fair lines:

- price = market price on the quote date × exp(N(0, 0.06)) clipped to ±2σ ("within the
  normal market spread"), rounded to the yuan;
- rope metres = rope count × rope length × U(1.00, 1.06), to the half metre; other
  quantities within the elevator (landing doors ≤ landings, one of a one-per-elevator part);
- labour hours = U(0.55, 0.95) × the norm of the task in ``labour_norms.toml`` (for a
  generic line: base hours + the tasks of the quote's parts), to the half hour; the hourly
  rate is priced like a part. The norm table defines what is fair here: the test checks the
  rule, not the table's realism.

**Padding**, one kind per padded quote (``padded_share`` of the quotes, kinds in turn):

- ``price``: one part line's unit price × U(1.3, 3.0);
- ``rope``: a rope line (fault ``rope_wear``) of rope count × length × U(1.25, 2.0) metres;
- ``second_unit``: an inverter (fault ``drive_fault``) at quantity 2, or — one time in
  three — a second inverter line with other wording;
- ``duplicate``: a part line copied later in the quote (line number changed; with p = 0.5
  its text re-spaced or made full-width);
- ``unrelated``: a door operator for a ``machine_noise`` fault (or a display board for
  ``rope_wear``, a landing door for ``brake_fault``), fairly priced;
- ``labour``: the labour line's hours × U(2, 4), rounded up to the half hour.

Each line's label says its kind (``fair`` or a padding kind), its true category, the reason
codes any of which counts as catching it, and its fair amount (what it would honestly cost:
0 for a duplicate, a second inverter line or a part the fault does not need).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from services.pricing.core.labour_norms import LabourNorms, load_labour_norms

SEED = 20260606
HISTORY_START = date(2024, 1, 1)
HISTORY_END = date(2025, 12, 31)
QUOTES_START = date(2025, 1, 1)
QUOTES_END = date(2026, 6, 30)
SIGMA = 0.06
PADDING_KINDS = ("price", "rope", "second_unit", "duplicate", "unrelated", "labour")
EXPECTED = {
    "price": frozenset({"PRICE_ABOVE_REFERENCE"}),
    "rope": frozenset({"QTY_ABOVE_SPEC"}),
    "second_unit": frozenset({"QTY_ABOVE_SPEC", "DUPLICATE_LINE"}),
    "duplicate": frozenset({"DUPLICATE_LINE"}),
    "unrelated": frozenset({"PART_UNRELATED_TO_FAULT"}),
    "labour": frozenset({"LABOUR_ABOVE_NORM"}),
}

# region code → (name, price level, weight in history, weight in quotes)
REGIONS: dict[str, tuple[str, float, float, float]] = {
    "430200": ("株洲", 1.00, 0.45, 0.60),
    "430100": ("长沙", 1.08, 0.20, 0.15),
    "430300": ("湘潭", 0.97, 0.10, 0.10),
    "120000": ("天津", 1.12, 0.15, 0.10),
    "370100": ("济南", 1.02, 0.10, 0.05),
}


@dataclass(frozen=True)
class Part:
    code: str
    unit: str
    base_yuan: float  # per unit, 株洲, January 2024, no brand, the middle spec
    drift: float  # a year
    names: tuple[str, ...]
    brands: tuple[tuple[str, str, float], ...] = ()  # (Chinese, English, multiplier)


PARTS: dict[str, Part] = {
    p.code: p
    for p in (
        Part("traction_machine", "台", 36_000, 0.04,
             ("曳引机", "曳引主机", "永磁同步曳引机", "主机", "曳引机总成"),
             (("三菱", "Mitsubishi", 1.35), ("奥的斯", "OTIS", 1.30), ("通力", "KONE", 1.25))),
        Part("wire_rope", "米", 38, 0.06, ("曳引钢丝绳", "钢丝绳", "曳引绳"),
             (("法尔胜", "Fasten", 1.0), ("贝卡尔特", "Bekaert", 1.35))),
        Part("inverter", "台", 12_500, 0.03, ("变频器", "电梯专用变频器", "变频器总成"),
             (("安川", "Yaskawa", 1.30), ("汇川", "Inovance", 0.95), ("三菱", "Mitsubishi", 1.45))),
        Part("control_board", "块", 6_500, 0.02, ("主板", "主控板", "电脑板", "主控制板"),
             (("默纳克", "Monarch", 0.9), ("新时达", "STEP", 1.0), ("三菱", "Mitsubishi", 1.6))),
        Part("door_operator", "台", 7_800, 0.03, ("门机", "门机系统", "变频门机"),
             (("威特", "Wittur", 1.2), ("法玛托", "Fermator", 1.3))),
        Part("landing_door", "樘", 2_800, 0.05, ("层门", "厅门", "层门门板")),
        Part("door_light_curtain", "套", 1_200, 0.02, ("光幕", "门光幕", "安全光幕"),
             (("微科", "WECO", 1.1),)),
        Part("door_lock", "个", 450, 0.03, ("门锁", "厅门锁", "层门门锁")),
        Part("brake", "套", 6_000, 0.04, ("抱闸", "制动器", "曳引机制动器")),
        Part("encoder", "个", 1_800, 0.02, ("编码器", "旋转编码器", "主机编码器"),
             (("海德汉", "Heidenhain", 1.6), ("多摩川", "Tamagawa", 1.2))),
        Part("speed_governor", "台", 4_200, 0.04, ("限速器", "双向限速器")),
        Part("safety_gear", "套", 5_500, 0.04, ("安全钳", "渐进式安全钳")),
        Part("guide_shoe", "个", 350, 0.03, ("导靴", "滑动导靴", "滚动导靴")),
        Part("buffer", "个", 2_200, 0.03, ("缓冲器", "液压缓冲器", "聚氨酯缓冲器")),
        Part("push_button", "个", 120, 0.02, ("按钮", "召唤按钮", "外呼按钮")),
        Part("display_board", "块", 650, 0.02, ("显示板", "外呼显示板", "楼层显示板")),
        Part("travelling_cable", "米", 45, 0.05, ("随行电缆", "扁电缆", "随行扁电缆")),
        Part("contactor", "个", 380, 0.03, ("接触器", "交流接触器"),
             (("施耐德", "Schneider", 1.2), ("正泰", "CHINT", 0.85))),
        Part("rope_fastening", "套", 260, 0.04, ("绳头组合", "绳头", "钢丝绳绳头组合")),
        Part("labour", "工时", 150, 0.06, ("人工费", "维修工时", "安装调试费", "人工")),
    )
}  # fmt: skip

# The spec that sets the price: (how it is written, multiplier). Others have no spec.
SPEC_PRICES: dict[str, tuple[tuple[str, float], ...]] = {
    "traction_machine": (("5.5", 0.78), ("7.5", 1.0), ("11", 1.25), ("15", 1.6)),
    "inverter": (("5.5", 0.8), ("7.5", 0.9), ("11", 1.0), ("15", 1.3)),
    "wire_rope": (("8", 0.75), ("10", 1.0), ("12", 1.35), ("13", 1.5)),
}
KW_SPELLINGS = ("{}KW", "{}kw", "{}kW", "{}千瓦", "{} KW")
PHI_SPELLINGS = ("φ{}", "Φ{}", "直径{}mm", "{}mm", "φ{}mm")
NOISE_WORDS = ("原装", "（含安装）", "(含安装)", "全新", "原厂配件", "含税", "【正品】", "包安装")
LABOUR_SPECIFIC = ("更换{}人工", "{}更换工时", "更换{}人工费", "{}安装调试人工")
LABOUR_GENERIC = ("人工费", "安装调试费", "维修人工费", "人工")

# Parts that fix each fault (checked against the catalogue's faults in the tests).
FAULT_PARTS: dict[str, tuple[str, ...]] = {
    "machine_noise": ("traction_machine", "guide_shoe", "wire_rope", "brake", "encoder"),
    "door_fault": ("door_operator", "landing_door", "door_light_curtain", "door_lock"),
    "overspeed_or_slip": ("speed_governor", "safety_gear", "wire_rope", "brake", "buffer"),
    "leveling_fault": ("encoder", "inverter", "control_board"),
    "control_fault": ("control_board", "contactor", "travelling_cable"),
    "rope_wear": ("wire_rope", "rope_fastening"),
    "brake_fault": ("brake", "contactor"),
    "call_or_display_fault": ("push_button", "display_board", "control_board"),
    "drive_fault": ("inverter", "encoder", "contactor"),
    "trapped_passenger": ("door_lock", "control_board", "inverter", "door_operator"),
}
UNRELATED_PADDING = (
    ("machine_noise", "door_operator"),
    ("machine_noise", "door_operator"),
    ("rope_wear", "display_board"),
    ("brake_fault", "landing_door"),
)
ELEVATOR_BRANDS = (("三菱", 1), ("奥的斯", 1), ("通力", 1), ("日立", 1), ("迅达", 1), ("康力", 1))
_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))} | {" ": "\u3000"}
_ORIGINAL = {"traction_machine", "control_board", "door_operator", "inverter"}


@dataclass(frozen=True)
class Label:
    quote_id: str
    line_no: int
    kind: str  # "fair" or one of PADDING_KINDS
    category: str  # the true category ("labour" for labour lines)
    expect: frozenset[str]  # reason codes any of which catches the padding (empty when fair)
    submitted_fen: int
    fair_fen: int  # what the line would honestly cost


@dataclass(frozen=True)
class Corpus:
    history: list[dict[str, Any]]
    quotes: list[dict[str, Any]]
    labels: dict[tuple[str, int], Label]

    @property
    def line_count(self) -> int:
        return sum(len(q["lines"]) for q in self.quotes)


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _amount(qty: float, price_fen: int) -> int:
    return int((Decimal(str(qty)) * price_fen).quantize(Decimal(1)))


class _Generator:
    def __init__(self, seed: int, norms: LabourNorms) -> None:
        self.rng = random.Random(seed)
        self.norms = norms

    # ---------------------------------------------------------------- market

    def market_fen(self, code: str, spec: float, brand: float, region: str, day: date) -> float:
        part = PARTS[code]
        years = (day - HISTORY_START).days / 365.25
        level = REGIONS[region][1]
        return float(part.base_yuan * 100 * spec * brand * level * (1 + part.drift) ** years)

    def pick_region(self, quotes: bool) -> str:
        codes = list(REGIONS)
        weights = [REGIONS[c][3] if quotes else REGIONS[c][2] for c in codes]
        return self.rng.choices(codes, weights)[0]

    def day_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randint(0, (end - start).days))

    def spec(self, code: str) -> tuple[str | None, float]:
        options = SPEC_PRICES.get(code)
        if not options:
            return None, 1.0
        return self.rng.choice(options)

    def spec_text(self, code: str, value: str) -> str:
        spellings = PHI_SPELLINGS if code == "wire_rope" else KW_SPELLINGS
        return self.rng.choice(spellings).format(value)

    def dress(self, text: str, *, full_width: float = 0.15) -> str:
        """Noise words, a space inside the name, full width."""
        rng = self.rng
        if rng.random() < 0.3:
            word = rng.choice(NOISE_WORDS)
            text = f"{text}{word}" if rng.random() < 0.7 else f"{word}{text}"
        if rng.random() < full_width:
            text = "".join(_FULL_WIDTH.get(ch, ch) for ch in text)
        return text

    def name(self, code: str) -> str:
        name = self.rng.choice(PARTS[code].names)
        if self.rng.random() < 0.1 and len(name) >= 3:
            cut = self.rng.randint(1, len(name) - 1)
            name = f"{name[:cut]} {name[cut:]}"
        return name

    def describe(
        self, code: str, spec: str | None, brand: tuple[str, str, float] | None, *, in_text: bool
    ) -> str:
        parts = [self.name(code)]
        if brand is not None and in_text:
            written = brand[0] if self.rng.random() < 0.7 else brand[1]
            parts.insert(0, written) if self.rng.random() < 0.7 else parts.append(written)
        if spec is not None:
            parts.append(self.spec_text(code, spec))
        return self.dress(self.rng.choice(["", " "]).join(parts))

    # ---------------------------------------------------------------- history

    def history(self, count: int) -> list[dict[str, Any]]:
        rng = self.rng
        codes = list(PARTS)
        weights = [2.0 if c == "labour" else 1.0 for c in codes]
        rows = []
        for _ in range(count):
            code = rng.choices(codes, weights)[0]
            part = PARTS[code]
            spec, spec_mult = self.spec(code)
            brand = rng.choice(part.brands) if part.brands and rng.random() < 0.45 else None
            region = self.pick_region(quotes=False)
            day = self.day_between(HISTORY_START, HISTORY_END)
            price = self.market_fen(code, spec_mult, brand[2] if brand else 1.0, region, day)
            price *= math.exp(rng.gauss(0, SIGMA))
            unit = part.unit
            roll = rng.random()
            if roll < 0.01:
                price *= 10
            elif roll < 0.015:
                price /= 10
            if code == "wire_rope" and rng.random() < 0.03:
                unit, price = "根", price * 120
            if code == "labour" and rng.random() < 0.2:
                unit, price = "工日", price * 8
            if unit == "米" and rng.random() < 0.2:
                unit = "m"
            in_text = brand is not None and rng.random() < 0.5
            rows.append(
                {
                    "description": self.describe(code, spec, brand, in_text=in_text),
                    "brand": (brand[0] if rng.random() < 0.6 else brand[1]) if brand else None,
                    "region": region,
                    "observed_on": day.isoformat(),
                    "unit_price_fen": max(100, round(price / 100) * 100),
                    "unit": unit,
                    "source": rng.choice(["supplier_list", "settled_claim"]),
                }
            )
        return rows

    # ---------------------------------------------------------------- quotes

    def fair_price(self, code: str, spec: float, brand: float, region: str, day: date) -> int:
        noise = max(-2 * SIGMA, min(2 * SIGMA, self.rng.gauss(0, SIGMA)))
        return round(self.market_fen(code, spec, brand, region, day) * math.exp(noise) / 100) * 100

    def elevator(self) -> dict[str, Any]:
        rng = self.rng
        landings = rng.randint(6, 33)
        kw = 5.5 if landings <= 8 else 7.5 if landings <= 18 else 11 if landings <= 26 else 15
        length = Decimal(landings * 3) + Decimal(rng.randint(16, 30)) / 2
        return {
            "registration_code": f"3110430200{rng.randint(2005, 2020)}{rng.randint(1, 12):02d}"
            f"{rng.randint(1, 9999):04d}",
            "brand": rng.choice(ELEVATOR_BRANDS)[0],
            "rope_count": rng.choice([4, 5, 6]),
            "rope_length_m": float(length),
            "landings": landings,
            "motor_kw": kw,
        }

    def part_line(
        self, code: str, elevator: dict[str, Any], region: str, day: date
    ) -> tuple[dict[str, Any], int]:
        """A fair part line (without line_no) and its fair unit price."""
        rng = self.rng
        part = PARTS[code]
        spec: str | None
        if code in ("traction_machine", "inverter"):
            spec = f"{elevator['motor_kw']:g}"
            spec_mult = dict(SPEC_PRICES[code])[spec]
        else:
            spec, spec_mult = self.spec(code)
        brand = rng.choice(part.brands) if part.brands and rng.random() < 0.5 else None
        description = self.describe(code, spec, brand, in_text=True)
        if brand is not None and code in _ORIGINAL and rng.random() < 0.3:
            # "原厂" (the elevator's own maker) without a name: the brand is the elevator's.
            names = {b[0]: b for b in part.brands}
            if elevator["brand"] in names:
                brand = names[elevator["brand"]]
                description = self.dress(
                    f"原厂{self.name(code)}" + (f" {self.spec_text(code, spec)}" if spec else "")
                )
        price = self.fair_price(code, spec_mult, brand[2] if brand else 1.0, region, day)
        qty: float = 1
        unit = part.unit
        if code == "wire_rope":
            metres = elevator["rope_count"] * elevator["rope_length_m"] * rng.uniform(1.0, 1.06)
            qty = math.floor(metres * 2) / 2
            unit = rng.choice(["米", "米", "m"])
        elif code == "travelling_cable":
            qty = elevator["landings"] * 3 + rng.randint(8, 15)
        elif code == "landing_door":
            qty = rng.randint(1, min(3, elevator["landings"]))
        elif code in ("door_lock", "push_button", "display_board", "contactor"):
            qty = rng.randint(1, 4)
        elif code == "guide_shoe":
            qty = rng.choice([4, 8])
        elif code == "buffer":
            qty = rng.choice([1, 2])
        elif code == "rope_fastening":
            qty = elevator["rope_count"] * rng.choice([1, 2])
        if code in ("traction_machine", "inverter", "door_operator") and rng.random() < 0.2:
            unit = "套"
        line = {
            "kind": "part",
            "description": description,
            "qty": qty,
            "unit": unit,
            "unit_price_fen": price,
        }
        return line, price

    def labour_line(
        self, task: str | None, norm: Decimal, region: str, day: date
    ) -> tuple[dict[str, Any], Decimal, int]:
        """A fair labour line, its hours and its fair hourly price."""
        rng = self.rng
        hours = Decimal(math.floor(float(norm) * rng.uniform(0.55, 0.95) * 2)) / 2
        hours = max(hours, Decimal("0.5"))
        rate = self.fair_price("labour", 1.0, 1.0, region, day)
        if task is None:
            description = rng.choice(LABOUR_GENERIC)
        else:
            description = rng.choice(LABOUR_SPECIFIC).format(rng.choice(PARTS[task].names))
        line: dict[str, Any] = {
            "kind": "labour",
            "description": self.dress(description, full_width=0.1),
            "qty": _json_number(hours),
            "unit": "工时",
            "unit_price_fen": rate,
        }
        if rng.random() < 0.2 and hours % 4 == 0:
            line["qty"] = _json_number(hours / 8)
            line["unit"] = "工日"
            line["unit_price_fen"] = rate * 8
        return line, hours, rate

    def norm(self, task: str | None, lines: Sequence[tuple[str, dict[str, Any]]]) -> Decimal:
        """The norm the generator's fair hours are drawn under (the same table as the rules)."""

        def hours(code: str) -> Decimal:
            units = sum((Decimal(str(line["qty"])) for c, line in lines if c == code), Decimal(0))
            counted = PARTS[code].unit not in ("米",)
            return self.norms.task(code).hours_for(units or Decimal(1), counted=counted)

        if task is not None:
            return hours(task)
        codes = dict.fromkeys(code for code, _ in lines)
        return self.norms.base_hours + sum((hours(c) for c in codes), Decimal(0))

    def quote(self, number: int, padding: str | None) -> tuple[dict[str, Any], list[Label]]:
        rng = self.rng
        quote_id = f"Q{number:05d}"
        region = self.pick_region(quotes=True)
        day = self.day_between(QUOTES_START, QUOTES_END)
        elevator = self.elevator()
        fault = rng.choice(list(FAULT_PARTS))
        forced: list[str] = []
        if padding == "rope":
            fault, forced = "rope_wear", ["wire_rope"]
        elif padding == "second_unit":
            fault, forced = "drive_fault", ["inverter"]
        elif padding == "unrelated":
            fault, extra = rng.choice(UNRELATED_PADDING)
        codes = list(dict.fromkeys([*forced, *rng.sample(FAULT_PARTS[fault], rng.randint(1, 2))]))
        with_labour = padding == "labour" or rng.random() < 0.85
        # (code, line, kind, fair unit price, fair qty)
        parts: list[tuple[str, dict[str, Any], str, int, float]] = []
        for code in codes:
            line, price = self.part_line(code, elevator, region, day)
            parts.append((code, line, "fair", price, line["qty"]))
        if padding == "price":
            index = rng.randrange(len(parts))
            code, line, _, price, qty = parts[index]
            line["unit_price_fen"] = round(price * rng.uniform(1.3, 3.0) / 100) * 100
            parts[index] = (code, line, "price", price, qty)
        elif padding == "rope":
            index = [c for c, *_ in parts].index("wire_rope")
            code, line, _, price, fair_qty = parts[index]
            metres = elevator["rope_count"] * elevator["rope_length_m"] * rng.uniform(1.25, 2.0)
            line["qty"] = math.ceil(metres)
            parts[index] = (code, line, "rope", price, fair_qty)
        elif padding == "second_unit":
            index = [c for c, *_ in parts].index("inverter")
            code, line, _, price, _ = parts[index]
            if rng.random() < 2 / 3:
                line["qty"] = 2
                parts[index] = (code, line, "second_unit", price, 1)
            else:
                second = dict(line)
                second["description"] = self.dress(self.name("inverter"))
                parts.append((code, second, "second_unit", price, 0))
        elif padding == "unrelated":
            line, price = self.part_line(extra, elevator, region, day)
            parts.append((extra, line, "unrelated", price, 0))  # not needed for this fault
        elif padding == "duplicate":
            code, line, _, price, _ = rng.choice(parts)
            copy = dict(line)
            if rng.random() < 0.5:
                copy["description"] = self.dress(
                    line["description"].replace(" ", ""), full_width=0.5
                )
            parts.append((code, copy, "duplicate", price, 0))
        labour: list[tuple[dict[str, Any], str, int]] = []
        if with_labour:
            main = next((c for c, _, kind, _, _ in parts if kind != "unrelated"), None)
            task = main if rng.random() < 0.6 else None
            fair_lines = [(c, line) for c, line, kind, _, _ in parts if kind == "fair"]
            norm = self.norm(task, fair_lines or [(c, line) for c, line, *_ in parts[:1]])
            line, hours, rate = self.labour_line(task, norm, region, day)
            kind = "fair"
            if padding == "labour":
                padded = Decimal(math.ceil(float(hours) * rng.uniform(2, 4) * 2)) / 2
                line["qty"] = _json_number(padded)
                line["unit"] = "工时"
                line["unit_price_fen"] = rate
                kind = "labour"
            labour.append((line, kind, _amount(float(hours), rate)))
        lines: list[dict[str, Any]] = []
        labels: list[Label] = []
        for code, line, kind, price, fair_qty in parts:
            line = {"line_no": len(lines) + 1, **line}
            lines.append(line)
            labels.append(
                Label(
                    quote_id=quote_id,
                    line_no=line["line_no"],
                    kind=kind,
                    category=code,
                    expect=EXPECTED.get(kind, frozenset()),
                    submitted_fen=_amount(line["qty"], line["unit_price_fen"]),
                    fair_fen=_amount(fair_qty, price),
                )
            )
        for line, kind, fair_fen in labour:
            line = {"line_no": len(lines) + 1, **line}
            lines.append(line)
            labels.append(
                Label(
                    quote_id=quote_id,
                    line_no=line["line_no"],
                    kind=kind,
                    category="labour",
                    expect=EXPECTED.get(kind, frozenset()),
                    submitted_fen=_amount(line["qty"], line["unit_price_fen"]),
                    fair_fen=fair_fen,
                )
            )
        quote = {
            "quote_id": quote_id,
            "region": region,
            "quoted_on": day.isoformat(),
            "elevator": elevator,
            "fault": {"category": fault, "description": FAULT_TEXT[fault]},
            "lines": lines,
        }
        return quote, labels


FAULT_TEXT = {
    "machine_noise": "主机异响",
    "door_fault": "开关门故障",
    "overspeed_or_slip": "溜车",
    "leveling_fault": "平层不准",
    "control_fault": "控制系统故障",
    "rope_wear": "钢丝绳磨损断丝",
    "brake_fault": "抱闸失效",
    "call_or_display_fault": "外呼无显示",
    "drive_fault": "变频器报警",
    "trapped_passenger": "困人",
}


def _json_number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def generate(
    *,
    seed: int = SEED,
    observations: int = 3000,
    quotes: int = 600,
    padded_share: float = 0.6,
    norms: LabourNorms | None = None,
) -> Corpus:
    """History and labelled quotes (see the module docstring)."""
    generator = _Generator(seed, norms or load_labour_norms())
    history = generator.history(observations)
    quote_rows: list[dict[str, Any]] = []
    labels: dict[tuple[str, int], Label] = {}
    padded = 0
    for number in range(1, quotes + 1):
        padding = None
        if generator.rng.random() < padded_share:
            padding = PADDING_KINDS[padded % len(PADDING_KINDS)]
            padded += 1
        quote, quote_labels = generator.quote(number, padding)
        quote_rows.append(quote)
        labels.update({(label.quote_id, label.line_no): label for label in quote_labels})
    return Corpus(history=history, quotes=quote_rows, labels=labels)


__all__ = [
    "EXPECTED",
    "FAULT_PARTS",
    "PADDING_KINDS",
    "PARTS",
    "Corpus",
    "Label",
    "generate",
    "write_jsonl",
]
