"""Matching quote descriptions to catalogue categories, in two stages.

A description is normalised (``normalise``), its specs read (``extract_specs``), and then
reduced to a *key*: the words that can name a part, with brands, numbers, specs, quantities
("2根", "一台") and model numbers taken out, spaces kept only between Latin words. Every
catalogue alias goes through the same reduction, so "奥的斯曳引机 7.5kW" and "曳引机" share a key.

Stage one, the shortlist, is cheap and does not grow with the catalogue:

- *Exact hits*: every alias key that occurs in the line's key, as written or after replacing
  each character by the first of its homophone group (the usual misspelling of a typed quote
  is a homophone: 报闸, 轿箱, 光慕). Found by dictionary look-ups of the line's substrings, so
  the cost depends on the line, not on how many aliases there are. Where several aliases hit,
  one contained in a longer one does not count ("钢丝绳" in "限速器钢丝绳"), and of the rest the
  last in the phrase wins: a Chinese compound names its head last ("门机光幕" is a light
  curtain, "曳引机钢丝绳" a rope). Names in different list items ("门机+光幕") are two parts in
  one line: ambiguous.
- *Fuzzy candidates*, when no alias hits (a dropped, swapped or mistyped character): aliases
  sharing character pairs with the line (adjacent or one apart, in either order, so a
  dropped, swapped or replaced character still leaves a shared pair), counted through an
  inverted index, then the best of those by ``rapidfuzz.process.extract`` with
  ``fuzz.partial_ratio`` and a score cutoff.

Stage two re-ranks the few candidates precisely: the best alignment of the alias inside the
line by optimal-string-alignment distance (a substitution or a swap of neighbours costs
one), plus a bonus where the specs fit the part (a rope diameter, a motor's kW).

The result names no category when the best score is below ``UNMATCHED_BELOW`` and is
``ambiguous`` when another category comes within ``AMBIGUITY_MARGIN``; callers never price
either silently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process
from rapidfuzz.distance import OSA

from services.pricing.core.catalogue import Catalogue
from services.pricing.core.normalise import (
    Specs,
    brand_spans,
    normalise,
    specs_of_normalised,
)

# Scores are on rapidfuzz's 0-100 scale.
#
# An alias found as written scores 100, found only through homophones 95: a homophone is the
# commonest misspelling, but an exact spelling is better evidence when both are on offer.
LITERAL_SCORE = 100.0
PHONETIC_SCORE = 95.0
# Below this a line is UNMATCHED. One wrong, missing or swapped character in a three-character
# name (曳引几, 曳机, 引曳机) scores 66.7, and most part names are two or three characters, so
# 65 keeps those; two wrong characters in a three-character name (33.3), or one in a
# two-character name (50), are guesses, not matches: a person decides.
UNMATCHED_BELOW = 65.0
# Two different categories within this many points of each other: AMBIGUOUS. One typo less
# (a 3-character name against a 4-character one) is 8 points or more, so 5 separates real
# evidence from noise while two names equally near the line ("变器": 变频器 or 变压器?) are
# flagged.
AMBIGUITY_MARGIN = 5.0
# A spec that fits a part (a rope diameter after "曳引", kW after "曳引") is worth more than
# the margin, so it decides between names that are otherwise equally near, and less than one
# typo, so it never outweighs the name itself.
SPEC_BONUS = 8.0
# The shortlist: aliases sharing the most character pairs with the line, then the best that
# rapidfuzz scores at least SHORTLIST_CUTOFF (partial_ratio; a two-character alias sharing one
# character with the line scores 50) go on to the re-rank, at most KEYS_PER_CATEGORY a category.
SHORTLIST_SIZE = 64
SHORTLIST_CUTOFF = 40.0
RERANK_SIZE = 16
KEYS_PER_CATEGORY = 3
# Text left after the head alias (this many characters or more) may be a misspelt longer name
# ("曳引机钢丝神"): the fuzzy stage is asked too, and wins if it finds a longer alias scoring
# at least FUZZY_OVERRIDE.
TRAILING_TEXT = 2
FUZZY_OVERRIDE = 80.0

# Parts whose specs are written as a diameter or a power, for the spec bonus.
_SMALL_DIAMETER = frozenset(
    {"wire_rope", "speed_governor", "rope_fastening", "compensation_chain", "travelling_cable"}
)
_LARGE_DIAMETER = frozenset({"traction_sheave", "rope_pulley", "speed_governor"})
_SMALL_DIAMETER_MAX_MM = 40.0
_LOW_POWER = frozenset({"door_operator", "door_motor", "car_fan"})
_HIGH_POWER = frozenset({"traction_machine", "inverter"})
_LOW_POWER_MAX_KW = 1.0

_QUANTITY = re.compile(
    r"(?:\d+(?:\.\d+)?|[一二两三四五六七八九十百半]+)\s*"
    r"(?:台|个|套|根|米|块|扇|只|组|副|对|片|条|把|樘|项|次|卷|pcs|pc|sets|set)"
)
_NUMBERS = re.compile(
    r"φ\d+(?:\.\d+)?(?:cm|mm)?"
    r"|\d+(?:\.\d+)?(?:kw|kva|mm|cm|kg|hz|米|m|v|a|w)?(?![a-z])"
    r"|\d+"
)
_INNER_PUNCTUATION = re.compile(r"[-./]")
_SPACE = " "
_SEPARATOR = "+"


@dataclass(frozen=True)
class MatchResult:
    """What a description was matched to.

    ``category`` is ``None`` when nothing scored ``UNMATCHED_BELOW`` or more (UNMATCHED);
    ``ambiguous`` is true when ``runner_up``, a different category, came within
    ``AMBIGUITY_MARGIN`` (or the line names two parts). Neither may be priced silently.
    """

    category: str | None
    score: float
    ambiguous: bool
    runner_up: str | None
    specs: Specs
    normalised: str

    @property
    def confident(self) -> bool:
        """A category that can be priced without a person looking at the line."""
        return self.category is not None and not self.ambiguous


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    codes: frozenset[str]
    score: float


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def match_key(normalised: str) -> str:
    """The words of a normalised text that can name a part (see the module docstring).

    Brands, quantities, numbers and specs go; "-", "." and "/" go; a Latin token of one
    letter goes ("8x19" leaves an "x"); spaces stay only between Latin words; list items
    stay apart by "+".
    """
    text = normalised
    spans = brand_spans(text)
    if spans:
        pieces: list[str] = []
        last = 0
        for start, end, _ in spans:
            pieces.append(text[last:start])
            pieces.append(_SPACE)
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
    text = _QUANTITY.sub(_SPACE, text)
    text = _NUMBERS.sub(_SPACE, text)
    text = _INNER_PUNCTUATION.sub(_SPACE, text)
    out: list[str] = []
    for token in text.split():
        if len(token) == 1 and _is_word(token):
            continue
        if token == _SEPARATOR:
            if out and out[-1] != _SEPARATOR:
                out.append(_SEPARATOR)
            continue
        if out and out[-1] != _SEPARATOR and _is_word(out[-1][-1]) and _is_word(token[0]):
            out.append(_SPACE)
        out.append(token)
    while out and out[-1] == _SEPARATOR:
        out.pop()
    return "".join(out)


def _pairs(key: str) -> set[str]:
    """Character pairs, adjacent or one apart, in a fixed order (so a swap keeps them)."""
    grams: set[str] = set()
    n = len(key)
    if n == 1:
        grams.add(key)
    for i in range(n - 1):
        for j in (i + 1, i + 2):
            if j < n:
                a, b = key[i], key[j]
                if a in " +" or b in " +":
                    continue
                grams.add(a + b if a <= b else b + a)
    return grams


def _aligned_similarity(line: str, alias: str) -> float:
    """0-100: how well ``alias`` fits the best stretch of ``line`` (OSA distance)."""
    m, n = len(alias), len(line)
    if n <= m + 1:
        return 100.0 * OSA.normalized_similarity(line, alias)
    best = 0.0
    for width in (m - 1, m, m + 1):
        if width < 1:
            continue
        for start in range(n - width + 1):
            similarity = OSA.normalized_similarity(line[start : start + width], alias)
            if similarity > best:
                best = similarity
                if best == 1.0:
                    return 100.0
    return 100.0 * best


class Matcher:
    """Matches descriptions against one catalogue; build once, use from any thread."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.version = catalogue.version
        self._phonetic_map = str.maketrans(
            {ch: group[0] for group in catalogue.homophones for ch in group[1:]}
        )
        literal: dict[str, set[str]] = {}
        for alias, code in catalogue.aliases():
            key = match_key(normalise(alias)).replace(_SEPARATOR, "")
            if key:
                literal.setdefault(key, set()).add(code)
        self._literal: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in literal.items()}
        phonetic: dict[str, set[str]] = {}
        for key, codes in literal.items():
            phonetic.setdefault(self._phonetic(key), set()).update(codes)
        self._sounds: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in phonetic.items()}
        # Exact look-ups start only where a key can start: lengths by (phonetic) first char.
        lengths: dict[str, set[int]] = {}
        for key in self._sounds:
            lengths.setdefault(key[0], set()).add(len(key))
        self._lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}
        # Fuzzy candidates: phonetic keys and an inverted index of their character pairs.
        self._keys: list[str] = list(self._sounds)
        self._key_codes: list[frozenset[str]] = [self._sounds[k] for k in self._keys]
        grams: dict[str, list[int]] = {}
        for index, key in enumerate(self._keys):
            for gram in _pairs(key):
                grams.setdefault(gram, []).append(index)
        self._grams = grams

    @property
    def alias_count(self) -> int:
        """Distinct alias keys indexed (aliases that reduce to the same key count once)."""
        return len(self._literal)

    def _phonetic(self, key: str) -> str:
        return key.translate(self._phonetic_map)

    # -------------------------------------------------------------- public

    def match(self, description: str) -> MatchResult:
        """The category of one quote line's description (see ``MatchResult``)."""
        normalised = normalise(description)
        specs = specs_of_normalised(normalised)
        key = match_key(normalised)
        if not key.replace(_SEPARATOR, ""):
            return MatchResult(None, 0.0, False, None, specs, normalised)
        sound = self._phonetic(key)
        ranked = self._exact(key, sound, specs)
        if ranked is None:
            ranked = self._fuzzy(sound, specs)
        return _result(ranked, specs, normalised)

    def match_many(self, descriptions: Sequence[str]) -> list[MatchResult]:
        """``match`` for a batch; each distinct description is worked out once."""
        done: dict[str, MatchResult] = {}
        results: list[MatchResult] = []
        for description in descriptions:
            result = done.get(description)
            if result is None:
                result = done[description] = self.match(description)
            results.append(result)
        return results

    # -------------------------------------------------------------- stage one: exact hits

    def _hits(self, key: str, sound: str) -> list[_Hit]:
        hits: list[_Hit] = []
        n = len(key)
        for start in range(n):
            for length in self._lengths.get(sound[start], ()):
                end = start + length
                if end > n or not self._bounded(key, start, end):
                    continue
                codes = self._literal.get(key[start:end])
                if codes is not None:
                    hits.append(_Hit(start, end, codes, LITERAL_SCORE))
                    continue
                codes = self._sounds.get(sound[start:end])
                if codes is not None:
                    hits.append(_Hit(start, end, codes, PHONETIC_SCORE))
        return hits

    @staticmethod
    def _bounded(key: str, start: int, end: int) -> bool:
        """A Latin alias only as whole words: "tractor" is not in "contractor"."""
        if start > 0 and _is_word(key[start]) and _is_word(key[start - 1]):
            return False
        return not (end < len(key) and _is_word(key[end - 1]) and _is_word(key[end]))

    def _exact(self, key: str, sound: str, specs: Specs) -> list[tuple[str, float]] | None:
        """Categories ranked from alias hits, or ``None`` when no alias hits."""
        hits = self._hits(key, sound)
        if not hits:
            return None
        # A hit inside a longer hit is part of that name, not a name of its own.
        maximal = [
            h
            for h in hits
            if not any(
                o is not h
                and o.start <= h.start
                and h.end <= o.end
                and (o.end - o.start > h.end - h.start or o.score > h.score)
                for o in hits
            )
        ]
        segment_of = _segments(key)
        by_segment: dict[int, _Hit] = {}
        for hit in maximal:  # the head of each list item: the hit that ends last
            segment = segment_of[hit.start]
            current = by_segment.get(segment)
            if current is None or (hit.end, hit.score) > (current.end, current.score):
                by_segment[segment] = hit
        heads = list(by_segment.values())
        ranked: dict[str, float] = {}
        for hit in heads:
            for code in hit.codes:
                ranked[code] = max(ranked.get(code, 0.0), hit.score)
        # Modifiers in the same item ("门机" in "门机光幕") are runners-up, not rivals.
        for hit in maximal:
            for code in hit.codes:
                if code not in ranked:
                    ranked[code] = hit.score - 2 * AMBIGUITY_MARGIN
        order = sorted(ranked.items(), key=lambda kv: -kv[1])
        last_head = max(heads, key=lambda h: h.end)
        trailing = len(key) - last_head.end
        if trailing >= TRAILING_TEXT and len(heads) == 1:
            fuzzy = self._fuzzy(sound, specs, longer_than=last_head.end - last_head.start)
            if fuzzy and fuzzy[0][1] >= FUZZY_OVERRIDE:
                return fuzzy
        return order

    # -------------------------------------------------------------- stage one: fuzzy

    def _shortlist(self, sound: str) -> list[int]:
        counts: Counter[int] = Counter()
        for gram in _pairs(sound.replace(_SEPARATOR, _SPACE)):
            ids = self._grams.get(gram)
            if ids is not None:
                counts.update(ids)
        if not counts:
            return []
        top = [index for index, _ in counts.most_common(SHORTLIST_SIZE)]
        choices = [self._keys[i] for i in top]
        found = process.extract(
            sound, choices, scorer=fuzz.partial_ratio, score_cutoff=SHORTLIST_CUTOFF, limit=None
        )
        # The best few keys of each category, so one category's many near-identical aliases
        # (曳引机, 曳引主机, 曳引电机 …) cannot crowd out the others.
        kept: list[int] = []
        per_category: Counter[frozenset[str]] = Counter()
        for _, _, position in found:
            index = top[position]
            codes = self._key_codes[index]
            if per_category[codes] < KEYS_PER_CATEGORY:
                per_category[codes] += 1
                kept.append(index)
                if len(kept) == RERANK_SIZE:
                    break
        return kept

    def _fuzzy(self, sound: str, specs: Specs, *, longer_than: int = 0) -> list[tuple[str, float]]:
        """Categories ranked by the re-rank of the fuzzy shortlist (stage two)."""
        ranked: dict[str, float] = {}
        for index in self._shortlist(sound):
            alias = self._keys[index]
            if len(alias) <= longer_than:
                continue
            similarity = max(
                _aligned_similarity(segment, alias) for segment in sound.split(_SEPARATOR)
            )
            for code in self._key_codes[index]:
                score = min(100.0, similarity + _spec_bonus(code, specs))
                if score > ranked.get(code, -1.0):
                    ranked[code] = score
        return sorted(ranked.items(), key=lambda kv: -kv[1])


def _segments(key: str) -> list[int]:
    """For each position of a key, which list item ("+"-separated) it is in."""
    out: list[int] = []
    segment = 0
    for ch in key:
        if ch == _SEPARATOR:
            segment += 1
        out.append(segment)
    return out


def _spec_bonus(code: str, specs: Specs) -> float:
    bonus = 0.0
    if specs.diameter_mm is not None:
        fits = _SMALL_DIAMETER if specs.diameter_mm <= _SMALL_DIAMETER_MAX_MM else _LARGE_DIAMETER
        if code in fits:
            bonus = SPEC_BONUS
    if specs.power_kw is not None:
        fits = _LOW_POWER if specs.power_kw <= _LOW_POWER_MAX_KW else _HIGH_POWER
        if code in fits:
            bonus = SPEC_BONUS
    return bonus


def _result(ranked: Iterable[tuple[str, float]], specs: Specs, normalised: str) -> MatchResult:
    order = list(ranked)
    if not order or order[0][1] < UNMATCHED_BELOW:
        runner = order[0][0] if order else None
        score = round(order[0][1], 1) if order else 0.0
        return MatchResult(None, score, False, runner, specs, normalised)
    best, score = order[0]
    runner_up, runner_score = order[1] if len(order) > 1 else (None, 0.0)
    ambiguous = runner_up is not None and runner_score >= score - AMBIGUITY_MARGIN
    return MatchResult(best, round(score, 1), ambiguous, runner_up, specs, normalised)
