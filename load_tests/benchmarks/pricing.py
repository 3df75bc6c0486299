"""Benchmarks of the pricing core: matching quote lines to catalogue categories."""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Sequence
from types import MappingProxyType

from rapidfuzz import fuzz, process, utils

from load_tests.harness import BenchContext, BenchResult, Measure, Round, benchmark, interleaved
from services.pricing.core.catalogue import Catalogue, Category, load_catalogue
from services.pricing.core.matching import Matcher
from services.pricing.core.normalise import BRANDS
from tests.unit.pricing.corpus import generate

CATALOGUE_ENTRIES = 20_000
CORPUS_LINES = 2_400
LINES_PER_CALL = 100  # match_many batches, as a quote or an import hands them over
NAIVE_SAMPLE = 120  # the naive scan is ~100× slower: fewer lines, same per-line rate
SEED = 7

# Where a part sits or what kind it is: real words of quotes, used to make alias variants
# that stay distinct after normalisation (brands and specs alone would collapse back onto
# the catalogue's own aliases, which would flatter the matcher).
_MODIFIERS_ZH = (
    "", "轿厢", "对重", "机房", "底坑", "井道", "层站", "上部", "下部", "左侧", "右侧", "前", "后",
    "备用", "高速", "低速", "加强型", "重载", "轻型", "防水", "防爆", "耐高温", "大号", "小号",
    "新型", "老式", "标准型", "改进型", "双", "单", "一体式", "分体式", "直流", "三相", "单相",
    "无机房", "有机房", "客梯", "货梯", "医梯", "观光梯",
)  # fmt: skip
_MODIFIERS_EN = (
    "", "car", "counterweight", "machine room", "pit", "shaft", "heavy duty", "standard",
    "upgraded", "compact", "dual", "single", "high speed", "low speed", "passenger", "freight",
)  # fmt: skip
_SPECS = ("", "φ8", "φ10", "φ13", "8mm", "7.5kw", "11kw", "0.2kw", "KX-3000", "1台", "10米")


def _is_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def expanded_catalogue(entries: int = CATALOGUE_ENTRIES, seed: int = SEED) -> Catalogue:
    """The real catalogue grown to ``entries`` aliases: brand × modifier × alias × spec.

    Every variant keeps its category. Aliases are taken round-robin, so each category grows
    in proportion to its own alias list; variants are drawn without repeats.
    """
    base = load_catalogue()
    rng = random.Random(seed)
    brands = ["", *(alias for brand in BRANDS for alias in (brand.name_zh, brand.aliases[-1]))]
    extra: dict[str, list[str]] = {c.code: [] for c in base}
    seen = {alias for alias, _ in base.aliases()}
    sources = [(alias, code) for alias, code in base.aliases()]
    total = len(seen)
    for _ in range(entries):  # rounds; each adds one variant of most aliases
        if total >= entries:
            break
        for alias, code in sources:
            if total >= entries:
                break
            cjk = _is_cjk(alias)
            modifier = rng.choice(_MODIFIERS_ZH if cjk else _MODIFIERS_EN)
            brand, spec = rng.choice(brands), rng.choice(_SPECS)
            glue = "" if cjk else " "
            variant = " ".join(
                p for p in (brand, glue.join(p for p in (modifier, alias) if p), spec) if p
            )
            if variant not in seen:
                seen.add(variant)
                extra[code].append(variant)
                total += 1
    categories = {
        c.code: Category(
            code=c.code,
            name_zh=c.name_zh,
            name_en=c.name_en,
            units=c.units,
            aliases=c.aliases + tuple(extra[c.code]),
            faults=c.faults,
            per_elevator_max=c.per_elevator_max,
        )
        for c in base
    }
    return Catalogue(
        version=f"{base.version}+bench{entries}",
        categories=MappingProxyType(categories),
        homophones=base.homophones,
    )


def naive_matcher(catalogue: Catalogue) -> Callable[[str], str | None]:
    """The obvious way: WRatio of the line against every alias, the best one's category."""
    aliases = [alias for alias, _ in catalogue.aliases()]
    codes = [code for _, code in catalogue.aliases()]

    def match(description: str) -> str | None:
        best = process.extractOne(
            description, aliases, scorer=fuzz.WRatio, processor=utils.default_process
        )
        return codes[best[2]] if best is not None else None

    return match


def _rate_round(operation: Callable[[], object], lines: int, seconds: float) -> Round:
    """Lines per second of ``operation`` (which handles ``lines`` lines per call)."""

    async def run() -> float:
        calls = 0
        start = time.perf_counter()
        end = start + seconds
        while True:
            operation()
            calls += 1
            now = time.perf_counter()
            if now >= end:
                return calls * lines / (now - start)

    return run


def _cycle(
    chunks: Sequence[Sequence[str]], handle: Callable[[Sequence[str]], object]
) -> Callable[[], object]:
    position = itertools.cycle(range(len(chunks)))
    return lambda: handle(chunks[next(position)])


@benchmark("pricing_match_lines")
async def match_lines(ctx: BenchContext) -> BenchResult:
    """Matcher.match_many vs a naive WRatio scan of every alias, 20,000-alias catalogue.

    One core, one process; the lines are the labelled noisy corpus of the unit tests
    (distinct lines, so no answer is reused), the catalogue the real one grown to 20,000
    aliases (brand × modifier × alias × spec). The naive scan handles fewer lines per round;
    both are rates in lines/s, so they compare directly.
    """
    catalogue = expanded_catalogue()
    aliases = sum(1 for _ in catalogue.aliases())
    begun = time.perf_counter()
    matcher = Matcher(catalogue)
    build_s = time.perf_counter() - begun
    corpus = list({line.description: line for line in generate(CORPUS_LINES)}.values())
    descriptions = [line.description for line in corpus]
    chunks = [
        descriptions[i : i + LINES_PER_CALL] for i in range(0, len(descriptions), LINES_PER_CALL)
    ]
    naive = naive_matcher(catalogue)
    sample = random.Random(SEED).sample(corpus, NAIVE_SAMPLE)
    naive_chunks = [[line.description] for line in sample]

    results = matcher.match_many(descriptions)
    accuracy = sum(
        r.category == line.category and not r.ambiguous
        for r, line in zip(results, corpus, strict=True)
    ) / len(corpus)
    naive_accuracy = sum(naive(line.description) == line.category for line in sample) / len(sample)

    seconds = 0.8 * ctx.time_scale
    matched, scanned = await interleaved(
        _rate_round(_cycle(chunks, matcher.match_many), LINES_PER_CALL, seconds),
        _rate_round(_cycle(naive_chunks, lambda c: naive(c[0])), 1, seconds),
        rounds=5,
    )
    return BenchResult(
        Measure("pricing_match_lines", "lines/s", matched),
        Measure("pricing_match_naive_wratio", "lines/s", scanned),
        extra={
            "catalogue_aliases": aliases,
            "distinct_alias_keys": matcher.alias_count,
            "index_build_s": round(build_s, 2),
            "lines": len(corpus),
            "accuracy": round(accuracy, 4),
            "naive_accuracy_sample": round(naive_accuracy, 4),
        },
        note=(
            f"{aliases:,} aliases ({matcher.alias_count:,} distinct after normalisation). "
            f"Against this synthetic catalogue the matcher gets {accuracy:.1%} of the noisy "
            f"corpus right (ambiguous counted wrong), the naive scan {naive_accuracy:.1%} of a "
            f"{NAIVE_SAMPLE}-line sample"
        ),
    )
