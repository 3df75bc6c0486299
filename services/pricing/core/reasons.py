"""Why a quote line was trimmed or flagged: stable reason codes with explanations for people.

The codes are an interface: the claims service stores them, the adjusters' UI filters on
them and the ``evaluate`` command writes them. A code is never renamed or reused; a new kind
of finding gets a new code.

Two families:

- **trimming** reasons change what is approved (price or quantity):
  ``PRICE_ABOVE_REFERENCE``, ``QTY_ABOVE_SPEC``, ``DUPLICATE_LINE``, ``LABOUR_ABOVE_NORM``;
- **routing** reasons leave the line as submitted and send it to a person:
  ``PART_UNRELATED_TO_FAULT``, ``NO_REFERENCE_PRICE``, ``UNMATCHED_ITEM``.

An ambiguous description (two parts score alike) is ``UNMATCHED_ITEM`` too: the insurer
prices only what it is sure of, and the explanation names both candidates.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType


class Reason(StrEnum):
    PRICE_ABOVE_REFERENCE = "PRICE_ABOVE_REFERENCE"
    QTY_ABOVE_SPEC = "QTY_ABOVE_SPEC"
    DUPLICATE_LINE = "DUPLICATE_LINE"
    PART_UNRELATED_TO_FAULT = "PART_UNRELATED_TO_FAULT"
    LABOUR_ABOVE_NORM = "LABOUR_ABOVE_NORM"
    NO_REFERENCE_PRICE = "NO_REFERENCE_PRICE"
    UNMATCHED_ITEM = "UNMATCHED_ITEM"

    @property
    def trims(self) -> bool:
        """True when this finding lowers the approved amount (as opposed to routing only)."""
        return self in _TRIMMING

    @property
    def en(self) -> str:
        return EXPLANATIONS[self].en

    @property
    def zh(self) -> str:
        return EXPLANATIONS[self].zh


_TRIMMING = frozenset(
    {
        Reason.PRICE_ABOVE_REFERENCE,
        Reason.QTY_ABOVE_SPEC,
        Reason.DUPLICATE_LINE,
        Reason.LABOUR_ABOVE_NORM,
    }
)


@dataclass(frozen=True)
class Explanation:
    en: str
    zh: str


EXPLANATIONS: MappingProxyType[Reason, Explanation] = MappingProxyType(
    {
        Reason.PRICE_ABOVE_REFERENCE: Explanation(
            en="The unit price is above the tolerated band of the reference price for this "
            "part in this region on the quote date; the approved price is the band's top.",
            zh="单价高于该地区报价日参考价的容许上限，核定单价按上限计。",
        ),
        Reason.QTY_ABOVE_SPEC: Explanation(
            en="More units than this elevator can take (rope metres beyond rope count × "
            "length plus a margin, landing doors beyond landings, a second unit of a part an "
            "elevator has one of); the approved quantity is capped.",
            zh="数量超过该电梯的配置（钢丝绳米数超过根数×长度加余量、层门多于层站数、"
            "每台电梯只有一件的部件报了多件），核定数量按上限计。",
        ),
        Reason.DUPLICATE_LINE: Explanation(
            en="The same part appears earlier in this quote; this line is approved at quantity 0.",
            zh="同一部件在本报价中重复出现，本行核定数量为 0。",
        ),
        Reason.PART_UNRELATED_TO_FAULT: Explanation(
            en="This part does not plausibly fix the reported fault; flagged for a person, "
            "not trimmed.",
            zh="该部件与报修故障无明显关联，转人工复核，不核减。",
        ),
        Reason.LABOUR_ABOVE_NORM: Explanation(
            en="Labour hours beyond the norm for this task; the approved hours are capped at "
            "the norm.",
            zh="工时超过该作业的定额，核定工时按定额计。",
        ),
        Reason.NO_REFERENCE_PRICE: Explanation(
            en="Too few comparable price observations for a reference; approved as "
            "submitted and routed to a person.",
            zh="可比价格样本不足，无法给出参考价；按报价核定并转人工复核。",
        ),
        Reason.UNMATCHED_ITEM: Explanation(
            en="The description matches no catalogue part with confidence (unknown or "
            "ambiguous); never priced automatically, routed to a person.",
            zh="描述无法可靠对应到目录中的部件（未识别或有歧义），不自动定价，转人工复核。",
        ),
    }
)
