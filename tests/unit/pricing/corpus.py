"""A labelled corpus of noisy quote-line descriptions, generated from a fixed seed.

How each line is made (``generate``), every choice drawn from ``random.Random(seed)``:

1. A category: the 19 categories the issue names and ``labour`` twice as often as the others.
2. A name for it: with probability 0.35 a *held-out* variant (``HELD_OUT`` below: names shops
   write that are deliberately NOT in the catalogue's alias list, not even after
   normalisation, e.g. "永磁曳引机", "红外光幕", "镀锌钢丝绳", "主控电脑板"), otherwise one of the
   catalogue's aliases (Chinese four times as often as English).
3. Real-world noise, each independently:
   - p=0.25 a typo in the name, one of: a dropped character, two neighbours swapped (both
     only in names of three or more characters: with fewer nobody could tell the part), or a
     character replaced by a homophone from ``TYPO_HOMOPHONES`` (a list written for this
     corpus from pinyin, independently of the catalogue's homophone groups);
   - p=0.3 a brand, as a prefix or a suffix ("奥的斯", "OTIS", "三菱", "KONE" …);
   - p=0.45 a spec that suits the part: a rope diameter ("φ10", "Φ8", "直径10mm", "8mm"), a
     motor power ("7.5KW", "11kw", "5.5千瓦"; "0.2kW" for door motors), a model number
     ("MCB-3000", "GAA21750AK3") or a quantity ("10米", "2根", "一台");
   - p=0.35 a noise word or phrase ("原厂", "（含安装）", "全新", "进口", "原装正品", "包工包料" …);
   - p=0.15 a space inside the name ("曳引 机");
   - p=0.1 an "assembly" word after a Chinese name ("总成", "组件"); p=0.3 an English name
     in the plural or hyphenated ("contactors", "light-curtain");
   - p=0.2 the whole line in full-width characters (letters, digits, brackets, spaces);
   - p=0.08 the English name beside the Chinese one ("曳引机 traction machine");
   - English names are written in upper, lower or title case at random.
4. ``UNRELATED`` lines (office supplies, building services, other trades) carry no part of
   an elevator and must come back unmatched.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from services.pricing.core.catalogue import Catalogue, load_catalogue

SEED = 20261101
ISSUE_CODES = (
    "traction_machine",
    "wire_rope",
    "inverter",
    "control_board",
    "door_operator",
    "landing_door",
    "door_light_curtain",
    "door_lock",
    "brake",
    "encoder",
    "speed_governor",
    "safety_gear",
    "guide_shoe",
    "buffer",
    "push_button",
    "display_board",
    "travelling_cable",
    "contactor",
    "rope_fastening",
)

# Names seen in quotes that the catalogue does not list: they test the matcher's reach, not
# its alias list. (If one of them is ever added to the catalogue, replace it here.)
HELD_OUT: dict[str, tuple[str, ...]] = {
    "traction_machine": (
        "永磁曳引机",
        "曳引机本体",
        "主机本体",
        "无齿轮主机",
        "电梯拖动主机",
        "hoist motor",
    ),
    "wire_rope": ("曳引用钢丝绳", "镀锌钢丝绳", "麻芯钢丝绳", "钢丝绳(曳引)", "hoisting rope"),
    "inverter": ("变频调速装置", "驱动变频器", "变频驱动装置", "VVVF变频", "inverter drive"),
    "control_board": ("主控电脑板", "控制电路板", "主控制电路板", "主控电路板", "main pcb"),
    "door_operator": ("自动门机", "门机控制系统", "门机机构", "开关门机构", "car door operator"),
    "landing_door": ("厅门门扇", "层门门扇", "层门扇", "landing door leaf"),
    "door_light_curtain": ("红外光幕", "光幕感应器", "光幕条", "门光幕保护装置", "curtain sensor"),
    "door_lock": ("厅门门锁装置", "门锁电气触点", "门锁锁钩", "landing door lock"),
    "brake": ("抱闸制动器", "抱闸电磁铁", "主机制动器", "制动电磁铁", "brake unit"),
    "encoder": ("曳引机旋转编码器", "编码器(主机)", "主机测速编码器", "encoder unit"),
    "speed_governor": ("双向限速器", "轿厢限速器", "限速器总装", "governor unit"),
    "safety_gear": ("轿厢安全钳", "对重安全钳", "安全钳钳体", "safety gear set"),
    "guide_shoe": ("轿厢滑动导靴", "对重滚轮导靴", "导靴衬片", "guide shoe set"),
    "buffer": ("轿厢缓冲器", "对重缓冲器", "液压式缓冲器", "buffer unit"),
    "push_button": ("轿内按钮", "召唤按键", "楼层按键", "button unit"),
    "display_board": ("楼层显示板", "外呼显示屏", "轿厢显示器", "display panel"),
    "travelling_cable": ("随行电缆(扁)", "随行扁电缆", "随行扁平电缆", "travel cable"),
    "contactor": ("主回路接触器", "接触器(主回路)", "交流接触器线圈", "contactor unit"),
    "rope_fastening": ("绳头组合件", "钢丝绳绳头组合", "绳头装置", "绳头拉杆"),
    "labour": ("维修工时费", "人工安装费", "技术人工费", "人工服务费", "labour charge"),
}

# Homophones a pinyin input method offers for characters of part names (toneless syllable),
# written for this corpus.
TYPO_HOMOPHONES: dict[str, str] = {
    "曳": "夜叶液",
    "引": "印银",
    "机": "几基级",
    "钢": "刚缸",
    "丝": "思斯",
    "绳": "声生",
    "变": "便边",
    "频": "品拼",
    "器": "气起",
    "板": "版办",
    "门": "们",
    "幕": "慕木",
    "锁": "所",
    "抱": "报包保",
    "闸": "扎",
    "制": "治质",
    "编": "边便",
    "码": "马",
    "限": "线现",
    "速": "素塑",
    "钳": "前钱",
    "导": "到道",
    "靴": "学雪",
    "缓": "换",
    "冲": "充",
    "钮": "扭纽",
    "显": "现险",
    "示": "是式",
    "随": "岁碎",
    "缆": "览栏",
    "触": "处出",
    "头": "投",
    "层": "曾",
    "厅": "听停",
    "轿": "较叫",
    "厢": "箱相",
    "控": "空",
    "主": "住注",
    "光": "广",
    "按": "安案",
    "费": "废",
    "装": "状",
}

BRAND_NAMES = (
    "奥的斯", "OTIS", "三菱", "Mitsubishi", "日立", "HITACHI", "通力", "KONE", "迅达",
    "Schindler", "蒂森", "ThyssenKrupp", "富士达", "东芝", "康力", "西子", "广日", "博林特",
    "默纳克", "新时达", "安川", "西门子",
)  # fmt: skip

NOISE = (
    "原厂", "（含安装）", "(含安装)", "全新", "进口", "国产", "原装正品", "包工包料", "含税",
    "原厂配件", "【原装】", "全新原装", "含安装调试",
)  # fmt: skip

UNRELATED = (
    "办公椅", "空调维修", "打印纸", "A4复印纸", "矿泉水", "办公桌", "绿化养护", "保洁服务",
    "外墙清洗", "消防栓", "灭火器", "监控摄像头", "车位划线", "水泵", "防水涂料", "瓷砖",
    "油漆", "窗帘", "沙发", "会议费", "餐费", "差旅费", "快递费", "物业费", "燃气表", "水表",
    "垃圾桶", "草坪修剪", "乳胶漆", "地砖", "洗手液", "拖把", "纸巾", "文件柜", "投影仪",
    "路由器", "电费", "水费", "office chair", "printer paper", "air conditioner repair",
    "咖啡机", "饮水机", "茶叶", "宣传海报", "春节慰问品",
)  # fmt: skip

_FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))} | {" ": "\u3000"}


@dataclass(frozen=True)
class Labelled:
    description: str
    category: str
    held_out: bool
    noise: tuple[str, ...]


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _typo(rng: random.Random, name: str) -> tuple[str, str] | None:
    chars = [i for i, ch in enumerate(name) if "\u4e00" <= ch <= "\u9fff"]
    kinds = ["homophone"]
    if len(chars) >= 3:
        kinds += ["drop", "swap"]
    kind = rng.choice(kinds)
    if kind == "homophone":
        options = [i for i in chars if name[i] in TYPO_HOMOPHONES]
        if not options:
            return None
        i = rng.choice(options)
        return name[:i] + rng.choice(TYPO_HOMOPHONES[name[i]]) + name[i + 1 :], "homophone"
    if kind == "drop":
        i = rng.choice(chars)
        return name[:i] + name[i + 1 :], "drop"
    pairs = [i for i in chars if i + 1 in chars]
    if not pairs:
        return None
    i = rng.choice(pairs)
    return name[:i] + name[i + 1] + name[i] + name[i + 2 :], "swap"


def _spec(rng: random.Random, code: str) -> str:
    if code in ("wire_rope", "speed_governor", "rope_fastening") and rng.random() < 0.8:
        d = rng.choice(["8", "10", "12", "13", "6"])
        return rng.choice([f"φ{d}", f"Φ{d}", f"直径{d}mm", f"{d}mm", f"Ø{d}", f"φ{d}mm"])
    if code in ("traction_machine", "inverter") and rng.random() < 0.8:
        kw = rng.choice(["7.5", "11", "5.5", "15", "18.5"])
        return rng.choice([f"{kw}KW", f"{kw}kw", f"{kw}kW", f"{kw}千瓦", f"{kw} KW"])
    if code in ("door_operator",) and rng.random() < 0.5:
        return rng.choice(["0.2kW", "200W", "0.18KW"])
    roll = rng.random()
    if roll < 0.4:
        letters = "".join(rng.choice("ABCDEFGKMNPSTVX") for _ in range(rng.randint(2, 4)))
        return f"{letters}{rng.choice(['-', ''])}{rng.randint(10, 99999)}"
    if code in ("wire_rope", "travelling_cable"):
        return rng.choice(["10米", "60m", "2根", "120米"])
    return rng.choice(["1台", "一台", "2个", "1套", "一套", "4只", "2块"])


def _case(rng: random.Random, text: str) -> str:
    return rng.choice([text, text.upper(), text.title(), text.lower()])


def generate(
    count: int = 2400, seed: int = SEED, catalogue: Catalogue | None = None
) -> list[Labelled]:
    """``count`` noisy descriptions with their true category (see the module docstring)."""
    catalogue = catalogue or load_catalogue()
    rng = random.Random(seed)
    codes = [*ISSUE_CODES, "labour", "labour"]
    lines: list[Labelled] = []
    while len(lines) < count:
        code = rng.choice(codes)
        category = catalogue.categories[code]
        held_out = rng.random() < 0.35
        if held_out:
            name = rng.choice(HELD_OUT[code])
        else:
            chinese = [a for a in category.aliases if _is_cjk(a)]
            english = [a for a in category.aliases if not _is_cjk(a)]
            name = rng.choice(chinese if rng.random() < 0.8 or not english else english)
        noise: list[str] = []
        if not _is_cjk(name):
            name = _case(rng, name)
        if rng.random() < 0.25:
            typo = _typo(rng, name)
            if typo is not None:
                name, kind = typo
                noise.append(kind)
        if _is_cjk(name) and rng.random() < 0.1:
            name += rng.choice(["总成", "组件"])
            noise.append("assembly")
        elif not _is_cjk(name) and rng.random() < 0.3:
            name = name.replace(" ", "-", 1) if " " in name and rng.random() < 0.5 else name + "s"
            noise.append("english_variant")
        if rng.random() < 0.15 and _is_cjk(name) and len(name) >= 3:
            i = rng.randint(1, len(name) - 1)
            name = name[:i] + " " + name[i:]
            noise.append("space")
        parts = [name]
        if rng.random() < 0.08 and _is_cjk(name):
            parts.append(_case(rng, category.name_en))
            noise.append("english")
        if rng.random() < 0.3:
            brand = rng.choice(BRAND_NAMES)
            parts.insert(0, brand) if rng.random() < 0.6 else parts.append(brand)
            noise.append("brand")
        if rng.random() < 0.45 and code != "labour":
            parts.append(_spec(rng, code))
            noise.append("spec")
        if rng.random() < 0.35:
            parts.append(rng.choice(NOISE)) if rng.random() < 0.7 else parts.insert(
                0, rng.choice(NOISE)
            )
            noise.append("noise")
        separator = rng.choice([" ", "", " ", "，"]) if len(parts) > 1 else ""
        text = separator.join(parts)
        if rng.random() < 0.2:
            text = "".join(_FULL_WIDTH.get(ch, ch) for ch in text)
            noise.append("full_width")
        lines.append(Labelled(text, code, held_out, tuple(noise)))
    return lines
