"""Padding rules: one quote in, one verdict per line out, each with reasons a person can read.

``judge_quote`` is the only entry point; the gRPC service and the ``evaluate`` command both
call it. Every line gets a part category (or ``unknown``), the reference it was judged
against (or none), an approved quantity and unit price, stable reason codes
(:class:`~services.pricing.core.reasons.Reason`) and a Chinese explanation with the figures.

The rules, in the order they are applied to each line (parts first, then labour, each in
``line_no`` order, so "the later line" is well defined):

``UNMATCHED_ITEM``
    The matcher found no part, or two parts score alike. The line is approved as submitted,
    never priced (no reference); a person decides. The category reported for an ambiguous
    line is the matcher's best guess, named with the runner-up in the explanation.
``DUPLICATE_LINE``
    A part line repeats an earlier one: same category, no spec written on both that differs
    (diameter, power, brand, model: a copy may drop the brand), and either a part an
    elevator has one set of (``per_elevator_max`` set, or priced by the metre like rope), or
    the same normalised text, or the same quantity at the same unit price (a copied line
    reworded). The later line is approved at quantity 0. An unmatched line listed twice
    (same text, quantity, unit and price) is a duplicate too, though still unmatched.
    Two labour lines for the same task are duplicates on the same test.
``QTY_ABOVE_SPEC``
    More than the elevator can take, counted over all the quote's lines of that part: rope
    metres beyond ``rope_count × rope_length_m × 1.10`` (or more ropes than ``rope_count``
    when counted in 根), landing doors beyond ``landings``, more units of a part than the
    catalogue's ``per_elevator_max``. The quantity is capped (never below what is left of
    the allowance, never below 0). A figure of the elevator that is unknown (or not
    positive) is not guessed: the rule is skipped.
``PRICE_ABOVE_REFERENCE``
    The unit price (converted to the reference unit) is above the reference band's top:
    the approved unit price is the band's top (so never below the median).
``NO_REFERENCE_PRICE``
    No reference with enough observations, or the line's unit cannot be compared with the
    references' (rope per 根 against prices per 米): approved price as submitted, flagged.
``PART_UNRELATED_TO_FAULT``
    The catalogue says the part does not fix the reported fault category: flagged only.
    An unknown fault category is not judged.
``LABOUR_ABOVE_NORM``
    Labour in hours (工时; 工日 = 8 工时) beyond the norm of its task
    (:mod:`~services.pricing.core.labour_norms`). A labour line naming a part ("更换变频器
    人工") is that part's task; a generic one ("人工费") is judged against the base hours plus
    the tasks of every part line the quote approves that no named labour line covers. Lines
    of the same task share one norm. The hourly rate is judged against the ``labour``
    references like any price. Labour in lump sums (项, 次) has no hours to judge.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Protocol

from services.pricing.core.catalogue import FAULT_CATEGORIES, LABOUR, Catalogue, Category
from services.pricing.core.labour_norms import LabourNorms, load_labour_norms
from services.pricing.core.matching import MatchResult
from services.pricing.core.normalise import Specs, brand_of, normalise
from services.pricing.core.reasons import Reason
from services.pricing.core.references import (
    Basis,
    Reference,
    ReferenceBook,
    canonical_unit,
    unit_dimension,
)
from shared.money import format_fen

__all__ = [
    "UNKNOWN",
    "DescriptionMatcher",
    "Elevator",
    "Fault",
    "LabourNorms",
    "LineKind",
    "LineVerdict",
    "QuoteLine",
    "QuoteVerdict",
    "judge_quote",
    "labour_task_text",
    "line_amount",
    "load_labour_norms",
    "region_name",
    "spec_key",
]

UNKNOWN = "unknown"
ROPE_MARGIN = Decimal("0.10")  # cutting and terminations: 10 % over rope count × length
QTY_DECIMALS = Decimal("0.001")
_ROPE = "wire_rope"
_LANDING_DOOR = "landing_door"
# Words a labour line uses around the part it names; removed to find the task.
_LABOUR_WORDS = (
    "人工费",
    "人工",
    "工时费",
    "工时",
    "工费",
    "安装调试费",
    "安装调试",
    "安装费",
    "安装",
    "调试费",
    "调试",
    "拆装费",
    "拆装",
    "拆除费",
    "拆除",
    "维修费",
    "维修",
    "检修费",
    "施工费",
    "吊装费",
    "服务费",
    "费用",
    "费",
    "labour",
    "labor",
    "fee",
)
_ORIGINAL_PART = ("原厂", "原装")


class LineKind(StrEnum):
    PART = "part"
    LABOUR = "labour"


@dataclass(frozen=True)
class QuoteLine:
    line_no: int
    kind: str  # "part" or "labour" (LineKind)
    description: str
    qty: Decimal
    unit: str
    unit_price_fen: int


@dataclass(frozen=True)
class Elevator:
    """What the rules need of the elevator; a figure that is not known is ``None`` and the
    rule that needs it is skipped rather than guessed."""

    brand: str | None
    rope_count: int | None
    rope_length_m: Decimal | None
    landings: int | None
    motor_kw: Decimal | None


@dataclass(frozen=True)
class Fault:
    category: str  # one of catalogue.FAULT_CATEGORIES
    description: str = ""


@dataclass(frozen=True)
class LineVerdict:
    line_no: int
    part_category: str  # a catalogue code, "labour", or "unknown"
    reference_unit_price_fen: int | None  # the reference median, per the line's unit
    approved_qty: Decimal
    approved_unit_price_fen: int
    reasons: tuple[str, ...]  # Reason codes, in the order the rules found them
    explanation: str
    submitted_amount_fen: int = 0
    approved_amount_fen: int = 0
    reference: Reference | None = None


@dataclass(frozen=True)
class QuoteVerdict:
    lines: tuple[LineVerdict, ...]  # in the order the lines were given
    submitted_total_fen: int
    approved_total_fen: int
    reference_version: str
    catalogue_version: str = ""
    labour_norms_version: str = ""


class DescriptionMatcher(Protocol):
    """What the rules need of the matcher (``matching.Matcher`` is one)."""

    def match_many(self, descriptions: Sequence[str]) -> list[MatchResult]: ...


def line_amount(qty: Decimal, unit_price_fen: int) -> int:
    """``qty × unit price`` rounded half up to the fen."""
    return int((qty * unit_price_fen).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def spec_key(specs: Specs) -> str | None:
    """The spec that segments references ("φ10", "7.5kW", "φ10 7.5kW"); None without one.
    Observations and quote lines must both use this function."""
    parts = []
    if specs.diameter_mm is not None:
        parts.append(f"φ{specs.diameter_mm:g}")
    if specs.power_kw is not None:
        parts.append(f"{specs.power_kw:g}kW")
    return " ".join(parts) or None


def labour_task_text(description: str) -> str:
    """A labour description without its labour words ("更换变频器人工费" → "变频器"), to
    find which part's task it is; "" when nothing but labour words is left."""
    text = normalise(description)
    for word in _LABOUR_WORDS:
        text = text.replace(word, " ")
    text = " ".join(text.split())
    return text if any(ch.isalpha() for ch in text) else ""


# ------------------------------------------------------------------ judging


@dataclass
class _Line:
    """Working state of one line while the rules run."""

    index: int
    line: QuoteLine
    match: MatchResult
    category: str  # code, "labour" or "unknown"
    is_labour: bool
    approved_qty: Decimal
    approved_price: int
    reasons: list[Reason] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    reference: Reference | None = None
    reference_fen: int | None = None
    task: str | None = None  # labour: the part category whose task it is; None = generic


@dataclass(frozen=True)
class _Context:
    elevator: Elevator
    fault: Fault
    region: str
    quoted_on: date
    catalogue: Catalogue
    references: ReferenceBook
    norms: LabourNorms


def judge_quote(
    *,
    lines: Sequence[QuoteLine],
    elevator: Elevator,
    fault: Fault,
    region: str,
    quoted_on: date,
    matcher: DescriptionMatcher,
    catalogue: Catalogue,
    references: ReferenceBook,
    labour_norms: LabourNorms,
) -> QuoteVerdict:
    """Judge every line of one quote (see the module docstring for the rules)."""
    context = _Context(elevator, fault, region, quoted_on, catalogue, references, labour_norms)
    matches = matcher.match_many([line.description for line in lines])
    work = [
        _start(i, line, match, catalogue)
        for i, (line, match) in enumerate(zip(lines, matches, strict=True))
    ]
    _find_tasks(work, matcher, catalogue)
    ordered = sorted(work, key=lambda w: (w.line.line_no, w.index))
    parts = [w for w in ordered if not w.is_labour]
    labour = [w for w in ordered if w.is_labour]
    _judge_parts(parts, context)
    _judge_labour(labour, parts, context)
    verdicts = tuple(_verdict(w) for w in work)
    return QuoteVerdict(
        lines=verdicts,
        submitted_total_fen=sum(v.submitted_amount_fen for v in verdicts),
        approved_total_fen=sum(v.approved_amount_fen for v in verdicts),
        reference_version=references.version,
        catalogue_version=catalogue.version,
        labour_norms_version=labour_norms.version,
    )


def _start(index: int, line: QuoteLine, match: MatchResult, catalogue: Catalogue) -> _Line:
    category = match.category if match.category in catalogue else None
    is_labour = line.kind == LineKind.LABOUR or category == LABOUR
    work = _Line(
        index=index,
        line=line,
        match=match,
        category=category or UNKNOWN,
        is_labour=is_labour,
        approved_qty=line.qty,
        approved_price=line.unit_price_fen,
    )
    if is_labour:
        work.category = LABOUR
        if category not in (None, LABOUR) and not match.ambiguous:
            work.task = category
    return work


def _find_tasks(work: Sequence[_Line], matcher: DescriptionMatcher, catalogue: Catalogue) -> None:
    """Labour lines that did not match a part outright: match what is left without the
    labour words ("更换曳引机人工" → "曳引机")."""
    pending = [w for w in work if w.is_labour and w.task is None]
    texts = [labour_task_text(w.line.description) for w in pending]
    asked = [(w, t) for w, t in zip(pending, texts, strict=True) if t]
    if not asked:
        return
    found = matcher.match_many([t for _, t in asked])
    for (w, _), match in zip(asked, found, strict=True):
        if match.category in catalogue and match.category != LABOUR and not match.ambiguous:
            w.task = match.category


# ------------------------------------------------------------------ parts


def _judge_parts(parts: Sequence[_Line], ctx: _Context) -> None:
    used: dict[tuple[str, str], Decimal] = defaultdict(Decimal)  # (category, dimension) → qty
    earlier: list[_Line] = []
    unmatched: list[_Line] = []
    for w in parts:
        category = ctx.catalogue.get(w.category) if w.category != UNKNOWN else None
        if category is None or w.match.ambiguous:
            _unmatched(w, ctx.catalogue)
            copy_of = next((e for e in unmatched if _same_line(e, w)), None)
            if copy_of is not None:
                # What the part is needs a person; that it is listed twice does not.
                w.approved_qty = Decimal(0)
                w.reasons.append(Reason.DUPLICATE_LINE)
                w.notes.append(f"与第 {copy_of.line.line_no} 行完全相同，本行核定数量为 0")
            unmatched.append(w)
            continue
        duplicate_of = next((e for e in earlier if _duplicates(e, w, category)), None)
        if duplicate_of is not None:
            w.approved_qty = Decimal(0)
            w.reasons.append(Reason.DUPLICATE_LINE)
            w.notes.append(
                f"与第 {duplicate_of.line.line_no} 行重复（{category.name_zh}），本行核定数量为 0"
            )
        else:
            _quantity(w, category, ctx, used)
        earlier.append(w)
        _price(w, ctx, brand=_line_brand(w, ctx), spec=spec_key(w.match.specs))
        if ctx.fault.category in FAULT_CATEGORIES and not category.fixes(ctx.fault.category):
            w.reasons.append(Reason.PART_UNRELATED_TO_FAULT)
            w.notes.append(
                f"{category.name_zh}与报修故障（{ctx.fault.category}）无明显关联，转人工复核"
            )


def _unmatched(w: _Line, catalogue: Catalogue) -> None:
    w.reasons.append(Reason.UNMATCHED_ITEM)
    if w.match.ambiguous and w.category != UNKNOWN:
        runner = catalogue.get(w.match.runner_up or "")
        first = catalogue.get(w.category)
        names = "、".join(c.name_zh for c in (first, runner) if c is not None)
        w.notes.append(f"描述有歧义（{names}），不自动定价，转人工复核")
    else:
        w.category = UNKNOWN
        w.notes.append("未能识别为目录中的部件，不自动定价，转人工复核")


def _compatible(earlier: _Line, later: _Line) -> bool:
    """Same category, and no spec written on both lines that differs (φ8 against φ10 are
    two parts; "变频器" against "安川变频器 7.5kW" may be the same one reworded)."""
    if earlier.category != later.category:
        return False
    a, b = earlier.match.specs, later.match.specs
    pairs = (
        (a.diameter_mm, b.diameter_mm),
        (a.power_kw, b.power_kw),
        (a.brand, b.brand),
        (a.model, b.model),
    )
    return all(x is None or y is None or x == y for x, y in pairs)


def _same_line(earlier: _Line, later: _Line) -> bool:
    """The same text (normalised), quantity, unit and price: a copy, whatever the part."""
    return (
        bool(earlier.match.normalised)
        and earlier.match.normalised == later.match.normalised
        and earlier.line.qty == later.line.qty
        and earlier.line.unit == later.line.unit
        and earlier.line.unit_price_fen == later.line.unit_price_fen
    )


def _duplicates(earlier: _Line, later: _Line, category: Category | None) -> bool:
    if not _compatible(earlier, later):
        return False
    if category is not None and (
        category.per_elevator_max is not None or unit_dimension(category.units[0]) == "length"
    ):
        return True
    if earlier.match.normalised and earlier.match.normalised == later.match.normalised:
        return True
    return (
        earlier.line.qty == later.line.qty
        and earlier.line.unit_price_fen == later.line.unit_price_fen
    )


def _quantity(
    w: _Line, category: Category, ctx: _Context, used: dict[tuple[str, str], Decimal]
) -> None:
    dimension = unit_dimension(w.line.unit)
    allowance: Decimal | None = None
    what = ""
    elevator = ctx.elevator
    if category.code == _ROPE and dimension == "length":
        ropes, length = elevator.rope_count, elevator.rope_length_m
        if ropes is not None and length is not None and _known(ropes) and _known(length):
            allowance = ropes * length * (1 + ROPE_MARGIN)
            what = f"钢丝绳 {ropes} 根 × {_qty(length)} 米 × {1 + ROPE_MARGIN}"
    elif category.code == _ROPE and dimension == "count" and canonical_unit(w.line.unit)[0] == "根":
        if elevator.rope_count is not None and _known(elevator.rope_count):
            allowance = Decimal(elevator.rope_count)
            what = f"钢丝绳 {elevator.rope_count} 根"
    elif category.code == _LANDING_DOOR and dimension == "count":
        if elevator.landings is not None and _known(elevator.landings):
            allowance = Decimal(elevator.landings)
            what = f"{elevator.landings} 层站"
    elif category.per_elevator_max is not None and dimension == "count":
        allowance = Decimal(category.per_elevator_max)
        what = f"每台电梯 {category.per_elevator_max} {category.units[0]}"
    if allowance is None:
        return
    key = (category.code, dimension)
    left = max(allowance - used[key], Decimal(0))
    if w.line.qty > left:
        w.approved_qty = _plain(left.quantize(QTY_DECIMALS, rounding=ROUND_DOWN))
        w.reasons.append(Reason.QTY_ABOVE_SPEC)
        earlier = f"，本报价前面已计 {_qty(used[key])}" if used[key] else ""
        w.notes.append(
            f"数量 {_qty(w.line.qty)} {w.line.unit} 超过该电梯配置（{what}{earlier}），"
            f"核定 {_qty(w.approved_qty)} {w.line.unit}"
        )
    used[key] += w.approved_qty


def _known(figure: int | Decimal | None) -> bool:
    """An elevator figure the rules may rely on: given and positive (0 ropes is a data error,
    not an elevator, and must not trim every rope line to nothing)."""
    return figure is not None and figure > 0


def _line_brand(w: _Line, ctx: _Context) -> str | None:
    """The brand the line names; "原厂/原装" without one means the elevator's own brand."""
    if w.match.specs.brand:
        return w.match.specs.brand
    raw = unicodedata.normalize("NFKC", w.line.description)
    if ctx.elevator.brand and any(word in raw for word in _ORIGINAL_PART):
        return brand_of(ctx.elevator.brand) or ctx.elevator.brand
    return None


def _price(w: _Line, ctx: _Context, *, brand: str | None, spec: str | None) -> None:
    """Judge the unit price against the reference of ``w.category`` (``labour`` for labour)."""
    code = LABOUR if w.is_labour else w.category
    factor = ctx.references.unit_factor(code, w.line.unit)
    if factor is None:
        w.reasons.append(Reason.NO_REFERENCE_PRICE)
        expected = ctx.references.unit(code)
        if expected is None:
            w.notes.append("无该类部件的价格样本，按报价核定，转人工复核")
        else:
            w.notes.append(
                f"单位“{w.line.unit}”与参考价单位“{expected}”不可比，按报价核定，转人工复核"
            )
        return
    reference = ctx.references.reference(
        category=code, region=ctx.region, on=ctx.quoted_on, brand=brand, spec=spec
    )
    if reference is None:
        w.reasons.append(Reason.NO_REFERENCE_PRICE)
        w.notes.append(
            f"可比价格样本不足（每级至少 {ctx.references.min_n} 个），按报价核定，转人工复核"
        )
        return
    w.reference = reference
    # Prices per the line's unit: one 工日 is 8 工时, so its reference is 8 × the hourly one.
    median = _fen(reference.median_fen * factor)
    top = _fen(reference.high_fen * factor)
    w.reference_fen = median
    basis = _describe(reference, ctx.region)
    if w.line.unit_price_fen > top:
        w.approved_price = top
        w.reasons.append(Reason.PRICE_ABOVE_REFERENCE)
        w.notes.append(
            f"单价 {format_fen(w.line.unit_price_fen)} 高于参考价上限 {format_fen(top)}"
            f"（中位数 {format_fen(median)}，{basis}），核定单价 {format_fen(top)}"
        )
    else:
        w.notes.append(
            f"单价 {format_fen(w.line.unit_price_fen)} 在参考价上限 {format_fen(top)} 以内"
            f"（中位数 {format_fen(median)}，{basis}）"
        )


# ------------------------------------------------------------------ labour


def _judge_labour(labour: Sequence[_Line], parts: Sequence[_Line], ctx: _Context) -> None:
    norms = ctx.norms
    named = {w.task for w in labour if w.task is not None}
    # Norm pools: a named task's hours, and one generic pool for everything else.
    pools: dict[str | None, Decimal] = {}
    explain: dict[str | None, str] = {}
    for task in named:
        units, counted = _units_of(task, parts)
        pools[task] = norms.task(task).hours_for(units, counted=counted)
        explain[task] = f"{_name(task, ctx)}作业定额 {_qty(pools[task])} 工时"
    generic = norms.base_hours
    covered: list[str] = [f"基本 {_qty(norms.base_hours)}"]
    tasks_in_parts = sorted(
        {w.category for w in parts if w.approved_qty > 0 and w.category not in named},
        key=lambda c: min(w.line.line_no for w in parts if w.category == c),
    )
    for task in tasks_in_parts:
        if task == UNKNOWN:
            count = sum(1 for w in parts if w.category == UNKNOWN and w.approved_qty > 0)
            hours = norms.default_task_hours * count
        else:
            units, counted = _units_of(task, parts)
            hours = norms.task(task).hours_for(units, counted=counted)
        generic += hours
        covered.append(f"{_name(task, ctx)} {_qty(hours)}")
    pools[None] = generic
    explain[None] = f"综合定额 {_qty(generic)} 工时（{' + '.join(covered)}）"

    start = dict(pools)
    earlier: list[_Line] = []
    for w in labour:
        duplicate_of = next(
            (e for e in earlier if e.task == w.task and _duplicates(e, w, None)), None
        )
        if duplicate_of is not None:
            w.approved_qty = Decimal(0)
            w.reasons.append(Reason.DUPLICATE_LINE)
            w.notes.append(f"与第 {duplicate_of.line.line_no} 行人工重复，本行核定数量为 0")
        else:
            _hours(w, pools, start, explain)
        earlier.append(w)
        _price(w, ctx, brand=None, spec=None)


def _hours(
    w: _Line,
    pools: dict[str | None, Decimal],
    start: dict[str | None, Decimal],
    explain: dict[str | None, str],
) -> None:
    if unit_dimension(w.line.unit) != "time":
        w.notes.append(f"人工按“{w.line.unit}”计，无工时可核")
        return
    per_unit = canonical_unit(w.line.unit)[1]  # 工时 in one of the line's units (工日 = 8)
    hours = w.line.qty * per_unit
    left = max(pools[w.task], Decimal(0))
    if hours > left:
        w.approved_qty = _plain((left / per_unit).quantize(QTY_DECIMALS, rounding=ROUND_DOWN))
        w.reasons.append(Reason.LABOUR_ABOVE_NORM)
        already = "，本报价前面的人工行已用去部分定额" if left < start[w.task] else ""
        w.notes.append(
            f"工时 {_qty(hours)} 超过定额（{explain[w.task]}{already}），"
            f"核定 {_qty(w.approved_qty)} {w.line.unit}"
        )
    else:
        w.notes.append(f"工时 {_qty(hours)} 在定额以内（{explain[w.task]}）")
    pools[w.task] = left - w.approved_qty * per_unit


def _units_of(task: str, parts: Sequence[_Line]) -> tuple[Decimal, bool]:
    """How many units of ``task``'s part the quote approves, and whether they are pieces."""
    lines = [w for w in parts if w.category == task and w.approved_qty > 0]
    counted = bool(lines) and all(unit_dimension(w.line.unit) == "count" for w in lines)
    return sum((w.approved_qty for w in lines), Decimal(0)) or Decimal(1), counted


# ------------------------------------------------------------------ explanations

_BASIS_ZH = {
    Basis.BRAND_SPEC: "同品牌同规格",
    Basis.SPEC: "同规格",
    Basis.BRAND: "同品牌",
    Basis.CATEGORY: "同类",
}
_PROVINCE_NAMES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
    "21": "辽宁", "22": "吉林", "23": "黑龙江",
    "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西",
    "37": "山东", "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西",
    "46": "海南", "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
    "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
}  # fmt: skip
_CITY_NAMES = {
    "430100": "长沙", "430200": "株洲", "430300": "湘潭", "430400": "衡阳", "370100": "济南",
    "440100": "广州", "440300": "深圳", "330100": "杭州", "320100": "南京", "420100": "武汉",
    "510100": "成都", "610100": "西安", "410100": "郑州", "350100": "福州", "370200": "青岛",
}  # fmt: skip


def region_name(code: str) -> str:
    """ "株洲" for 430200, "湖南省" for 430000, "全国" for 000000; the code itself otherwise."""
    if code == "000000":
        return "全国"
    if code in _CITY_NAMES:
        return _CITY_NAMES[code]
    province = _PROVINCE_NAMES.get(code[:2])
    if province is not None and code[2:] == "0000":
        return province
    return code


def _describe(reference: Reference, asked_region: str) -> str:
    place = region_name(reference.region)
    drift = (
        f"，价格指数 {reference.index_per_year:+.1%}/年"
        if abs(reference.index_per_year) >= 0.0005
        else ""
    )
    excluded = f"，剔除异常 {reference.excluded} 个" if reference.excluded else ""
    return (
        f"n={reference.n}，{place}{_BASIS_ZH[reference.basis]}样本{excluded}{drift}，"
        f"{reference.on.isoformat()} 版本 {reference.version}"
    )


def _name(code: str, ctx: _Context) -> str:
    category = ctx.catalogue.get(code)
    return category.name_zh if category is not None else code


def _plain(value: Decimal) -> Decimal:
    """Without trailing zeros and never in exponent form: 176.000 → 176, 0.500 → 0.5."""
    if value == value.to_integral_value():
        return value.quantize(Decimal(1))
    return value.normalize()


def _qty(value: Decimal) -> str:
    return format(_plain(value), "f")


def _fen(value: Decimal | int) -> int:
    return int(Decimal(value).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _verdict(w: _Line) -> LineVerdict:
    if not w.notes:
        w.notes.append("核定如数")
    return LineVerdict(
        line_no=w.line.line_no,
        part_category=w.category,
        reference_unit_price_fen=w.reference_fen,
        approved_qty=w.approved_qty,
        approved_unit_price_fen=w.approved_price,
        reasons=tuple(str(r) for r in w.reasons),
        explanation="；".join(w.notes) + "。",
        submitted_amount_fen=line_amount(w.line.qty, w.line.unit_price_fen),
        approved_amount_fen=line_amount(w.approved_qty, w.approved_price),
        reference=w.reference,
    )
