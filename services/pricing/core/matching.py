"""Matching quote descriptions to catalogue categories, in two stages.

A description is normalised (``normalise``), its specs read (``specs_of_normalised``), and
reduced to a *key* (``match_key``): the words that can name a part, with brands, numbers,
specs, quantities ("2根", "一台") and model numbers taken out, Latin plurals made singular,
spaces kept only between Latin words, list items apart by "+" and bracketed remarks in "()".
Every catalogue alias goes through the same reduction, so "奥的斯曳引机 7.5kW" and "曳引机"
share a key, and a catalogue expanded by brand × alias × spec holds few distinct keys.

Stage one, the shortlist, is cheap and does not grow with the catalogue:

- *Exact hits*: every alias key found in the line's key, as written or after replacing each
  character by the first of its homophone group (the usual misspelling of a typed quote is
  a homophone: 报闸, 轿箱, 光慕). Found by dictionary look-ups of the line's substrings, so the
  cost depends on the line, not on the number of aliases. A hit inside a longer hit is part
  of that name ("钢丝绳" in "限速器钢丝绳"); of the rest, the last one in a list item wins,
  because a Chinese compound names its head last ("门机光幕" is a light curtain, "曳引机钢丝绳"
  a rope), unless it is in a bracketed remark ("编码器（主机）" is an encoder). Heads of
  different categories in different list items ("门机+光幕") make the line ambiguous.
- *Fuzzy candidates*, when no alias hits, or when text the hits do not explain is left over
  (a misspelt longer name, "限速器丝钢绳"): the aliases sharing the most character pairs with
  the line (adjacent or one apart, in either order, so a dropped, swapped or replaced
  character still leaves pairs in common), counted through an inverted index that reads the
  rarest pairs first within a fixed budget; then the best of those by
  ``rapidfuzz.process.extract`` (``fuzz.WRatio`` with a score cutoff, averaged with
  ``fuzz.ratio`` so long aliases that merely contain part of the line do not crowd out the
  near ones), a few per category.

Stage two re-ranks the few candidates precisely (``_aligned``): the Indel similarity of the
alias with the best stretch of the line (whole words for a Latin alias), as written or
through homophones (a few points less). A stretch that ends its list item with the alias's
last character is the item's head and earns a bonus; any other stretch loses points for the
text it leaves out. A spec that fits the part (a rope diameter, a motor's kW) earns a bonus
too. Bonuses order names that match; they never lift a name over the threshold.

The result names no category when the best score is below ``UNMATCHED_BELOW`` and is
``ambiguous`` when another category comes within ``AMBIGUITY_MARGIN``; callers never price
either silently.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from rapidfuzz import fuzz, process

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
# commonest misspelling, but the exact spelling is better evidence when both are on offer.
LITERAL_SCORE = 100.0
PHONETIC_SCORE = 95.0
PHONETIC_PENALTY = LITERAL_SCORE - PHONETIC_SCORE
# Below this a line is UNMATCHED. One wrong or swapped character in a three-character name
# (曳引几, 引曳机) scores 66.7 and a dropped one (曳机) 80; most part names have two or three
# characters, so 65 keeps single typos; two wrong characters in a three-character name
# (33.3), or one in a two-character name (50), are guesses, not matches: a person decides.
UNMATCHED_BELOW = 65.0
# Two different categories within this many points of each other: AMBIGUOUS. One typo more
# or less costs 8 points or more on names of up to six characters, so 5 separates evidence
# from noise, while two names equally near the line ("变器": 变频器 or 变压器?) are flagged.
AMBIGUITY_MARGIN = 5.0
# A spec that fits a part (a rope diameter after "曳引", kW after "曳引") is worth more than
# the margin, so it decides between names otherwise equally near, and less than one typo, so
# it never outweighs the name itself. Bonuses (this and HEAD_BONUS) rank names that match;
# they never lift a name over UNMATCHED_BELOW.
SPEC_BONUS = 8.0
# Names that are not the head of the line (modifiers, "门机" in "门机光幕") rank this far
# below the head: reported as runner-up, never close enough to make the line ambiguous.
MODIFIER_DISCOUNT = 2 * AMBIGUITY_MARGIN
# The shortlist: at most PAIR_BUDGET index entries are counted (rarest pairs first, so a
# 20,000-alias catalogue costs what a small one does), the SHORTLIST_SIZE aliases sharing
# the most pairs are scored by rapidfuzz, and those at SHORTLIST_CUTOFF or more
# (WRatio; a two-character alias sharing one character with the line scores 50) go
# on to the re-rank: the RERANK_SIZE best, at most KEYS_PER_CATEGORY of one category.
PAIR_BUDGET = 2000
SHORTLIST_SIZE = 64
SHORTLIST_CUTOFF = 40.0
RERANK_SIZE = 16
KEYS_PER_CATEGORY = 4
# A stretch of the line that ends with the alias's last character, at the end of its list
# item, names the same kind of thing (板, 器, 机, 绳: Chinese puts the head last): worth
# more than the margin, less than a typo.
HEAD_BONUS = 6.0
# Each character of the list item that the aligned stretch leaves out costs this much, up
# to OUTSIDE_CAP: a name that explains the whole item beats one that explains a fragment.
OUTSIDE_PENALTY = 2.0
OUTSIDE_CAP = 10.0
# Text of a list item that no hit explains may be a misspelt longer name ("限速器丝钢绳"):
# the fuzzy stage is then asked for a longer alias, which wins if it scores at least this
# (a longer name with one typo in five or more characters).
FUZZY_OVERRIDE = 80.0

# A quote line names its part in a few words; of a longer text (a paragraph pasted into the
# description) only the first this many characters are matched, so one line cannot cost
# more than a few hundred ordinary ones. Specs are still read from all of it.
MAX_MATCHED_CHARS = 200

# Parts whose specs are written as a diameter or a power, for the spec bonus.
_SMALL_DIAMETER = frozenset(
    {"wire_rope", "speed_governor", "rope_fastening", "compensation_chain", "travelling_cable"}
)
_LARGE_DIAMETER = frozenset({"traction_sheave", "rope_pulley", "speed_governor"})
_SMALL_DIAMETER_MAX_MM = 40.0
_LOW_POWER = frozenset({"door_operator", "door_motor", "car_fan"})
_HIGH_POWER = frozenset({"traction_machine", "inverter"})
_LOW_POWER_MAX_KW = 1.0

_MODEL = re.compile(r"(?<![a-z0-9])([a-z]{1,12})-?\d[a-z0-9]*(?:[-/.][a-z0-9]+)*")
_MIN_GLUED_WORD = 3
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
_PLURAL = re.compile(r"(?<![a-z0-9])([a-z]{2,}[a-rt-z])s(?![a-z0-9])")
_LATIN_WORD = re.compile(r"[a-z0-9]+")
_SEPARATOR = "+"
_OPEN, _CLOSE = "(", ")"
_ALIAS_PARTS = re.compile(r"[+()]")
_STRUCTURE = " +()"


def _is_word(ch: str) -> bool:
    return ch.isascii() and ch.isalnum()


def match_key(normalised: str, keep: Collection[str] = ()) -> str:
    """The words of a normalised text that can name a part (see the module docstring).

    A model code ("mcb-3000", "gaa21750ak3") goes, but where its letters start with a word
    of ``keep`` (the words of Latin aliases) that word stays: "mcb-3000" keeps "mcb",
    "door lock2个" keeps "lock".
    """
    text = normalised
    spans = brand_spans(text)
    if spans:
        pieces: list[str] = []
        last = 0
        for start, end, _ in spans:
            pieces.append(text[last:start])
            pieces.append(" ")
            last = end
        pieces.append(text[last:])
        text = "".join(pieces)
    text = _MODEL.sub(lambda m: f" {_glued_word(m.group(1), keep)} ", text)
    text = _QUANTITY.sub(" ", text)
    text = _NUMBERS.sub(" ", text)
    text = _INNER_PUNCTUATION.sub(" ", text)
    text = _PLURAL.sub(r"\1", text)
    return _tidy(text)


def _glued_word(letters: str, words: Collection[str]) -> str:
    """The longest known word that ``letters`` start with ("" if none)."""
    for end in range(len(letters), _MIN_GLUED_WORD - 1, -1):
        if letters[:end] in words:
            return letters[:end]
    return ""


def _tidy(text: str) -> str:
    """Flat, balanced, non-empty brackets; spaces only between Latin words; no lone Latin
    letters; "+" only between items."""
    tokens: list[str] = []
    depth = 0
    for raw in text.replace(_OPEN, " ( ").replace(_CLOSE, " ) ").split():
        if raw == _OPEN:
            depth += 1
            if depth == 1:
                tokens.append(_OPEN)
        elif raw == _CLOSE:
            if depth > 0:
                depth -= 1
                if depth == 0:
                    tokens.append(_CLOSE)
        elif raw == _SEPARATOR or set(raw) == {_SEPARATOR}:
            tokens.append(_SEPARATOR)
        elif not (len(raw) == 1 and _is_word(raw)):
            tokens.append(raw)
    if depth > 0:
        tokens.append(_CLOSE)
    out: list[str] = []
    for token in tokens:
        if token == _CLOSE and out and out[-1] == _OPEN:
            out.pop()  # empty remark
            continue
        if token == _SEPARATOR and (not out or out[-1] in (_SEPARATOR, _OPEN)):
            continue
        if token == _CLOSE and out and out[-1] == _SEPARATOR:
            out.pop()
        if out and _is_word(out[-1][-1]) and _is_word(token[0]):
            out.append(" ")
        out.append(token)
    while out and out[-1] == _SEPARATOR:
        out.pop()
    return "".join(out)


def _remarks(key: str) -> list[bool]:
    """For each position of a key: inside a bracketed remark?"""
    flags: list[bool] = []
    inside = False
    for ch in key:
        if ch == _OPEN:
            inside = True
        flags.append(inside)
        if ch == _CLOSE:
            inside = False
    return flags


def _main_text(key: str) -> str:
    """The key without its remarks; the remarks' words when nothing else is left."""
    main = re.sub(r"\([^)]*\)", _SEPARATOR, key)
    if any(ch not in _STRUCTURE for ch in main):
        return main
    return key.replace(_OPEN, _SEPARATOR).replace(_CLOSE, _SEPARATOR)


def _segments(text: str) -> list[str]:
    """The list items of a key text, each without structure characters but Latin spaces."""
    items = []
    for item in text.split(_SEPARATOR):
        item = item.replace(_OPEN, "").replace(_CLOSE, "")
        if item.strip():
            items.append(item)
    return items


def _pairs(key: str) -> set[str]:
    """Character pairs, adjacent or one apart, in a fixed order (so a swap keeps them)."""
    grams: set[str] = set()
    n = len(key)
    if n == 1 and key not in _STRUCTURE:
        grams.add(key)
    for i in range(n - 1):
        a = key[i]
        if a in _STRUCTURE:
            continue
        for j in (i + 1, i + 2):
            if j < n:
                b = key[j]
                if b in _STRUCTURE:
                    continue
                grams.add(a + b if a <= b else b + a)
    return grams


@dataclass(frozen=True)
class _Alignment:
    """The best stretch of a line item for an alias: its similarity, the head bonus it earns
    and where it is (end exclusive)."""

    score: float
    start: int
    end: int
    bonus: float = 0.0

    @property
    def ranking(self) -> float:
        return self.score + self.bonus


_NO_ALIGNMENT = _Alignment(0.0, 0, 0)


def _aligned(item: str, alias: str) -> _Alignment:
    """How well ``alias`` fits the best stretch of a line item, 0-100.

    The stretch's Indel similarity to the alias (windows as long as the alias to two
    characters longer, an inserted word: "控制电路板" for "控制板"; the whole item when it is
    shorter, a dropped character). A stretch that ends the item with the alias's last
    character is the item's head (Chinese names their head last: 板, 器, 机, 绳), what comes
    before it its modifiers ("对重" in "对重缓冲器"): it earns ``HEAD_BONUS``. Any other stretch
    is a fragment and loses ``OUTSIDE_PENALTY`` a character it leaves out. A Latin alias is
    compared with runs of whole words, so "tractor" is never found inside "contractor".
    """
    if _is_word(alias[0]):
        return _aligned_words(item, alias)
    m, n = len(alias), len(item)
    if n <= m:
        bonus = HEAD_BONUS if item[-1] == alias[-1] else 0.0
        return _Alignment(fuzz.ratio(item, alias), 0, n, bonus)
    best = _NO_ALIGNMENT
    for width in range(m, min(n, m + 2) + 1):
        outside = min(OUTSIDE_CAP, OUTSIDE_PENALTY * (n - width))
        for start in range(n - width + 1):
            end = start + width
            score = fuzz.ratio(item[start:end], alias)
            if end == n and item[-1] == alias[-1]:
                bonus = HEAD_BONUS  # the item's head: what comes before are its modifiers
            else:
                bonus, score = 0.0, score - outside
            if score + bonus > best.ranking:
                best = _Alignment(score, start, end, bonus)
    return best


def _aligned_words(item: str, alias: str) -> _Alignment:
    words = [(m.start(), m.end()) for m in _LATIN_WORD.finditer(item)]
    if not words:
        return _NO_ALIGNMENT
    width = alias.count(" ") + 1
    best = _NO_ALIGNMENT
    for span in range(max(1, width - 1), width + 2):
        outside = min(OUTSIDE_CAP, OUTSIDE_PENALTY * max(0, len(words) - span))
        for first in range(len(words) - span + 1):
            start, end = words[first][0], words[first + span - 1][1]
            candidate = " ".join(item[a:b] for a, b in words[first : first + span])
            score = fuzz.ratio(candidate, alias) - outside
            if score > best.score:
                best = _Alignment(score, start, end)
    return best


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

    @property
    def length(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class _Candidate:
    """A shortlisted alias key scored against a line item."""

    index: int
    score: float  # with the bonuses, for ranking
    evidence: float  # without: what UNMATCHED_BELOW is judged on
    item: int
    start: int
    end: int


class Matcher:
    """Matches descriptions against one catalogue; build once, then share (read-only)."""

    def __init__(self, catalogue: Catalogue) -> None:
        self.catalogue = catalogue
        self.version = catalogue.version
        self._phonetic_map = str.maketrans(
            {ch: group[0] for group in catalogue.homophones for ch in group[1:]}
        )
        pairs = list(catalogue.aliases())
        # The words of Latin aliases, so one glued to a number ("mcb-3000") stays.
        self._latin: frozenset[str] = frozenset(
            word
            for alias, _ in pairs
            for word in _LATIN_WORD.findall(_PLURAL.sub(r"\1", normalise(alias)))
            if not word.isdigit()
        )
        literal: dict[str, set[str]] = {}
        for alias, code in pairs:
            # "导向轮/反绳轮", "制动器（抱闸）": each name on its own
            for key in _ALIAS_PARTS.split(match_key(normalise(alias), self._latin)):
                if key.strip():
                    literal.setdefault(key.strip(), set()).add(code)
        self._literal: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in literal.items()}
        phonetic: dict[str, set[str]] = {}
        spellings: dict[str, list[str]] = {}
        for key, codes in literal.items():
            sound = self._phonetic(key)
            phonetic.setdefault(sound, set()).update(codes)
            spellings.setdefault(sound, []).append(key)
        self._sounds: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in phonetic.items()}
        # Exact look-ups start only where a key can start: key lengths by first (phonetic) char.
        lengths: dict[str, set[int]] = {}
        for sound in self._sounds:
            lengths.setdefault(sound[0], set()).add(len(sound))
        self._lengths = {ch: tuple(sorted(ls, reverse=True)) for ch, ls in lengths.items()}
        # Fuzzy candidates: phonetic keys, their spellings, an inverted index of their pairs.
        self._keys: list[str] = list(self._sounds)
        self._key_codes: list[frozenset[str]] = [self._sounds[k] for k in self._keys]
        self._key_spellings: list[tuple[str, ...]] = [tuple(spellings[k]) for k in self._keys]
        grams: dict[str, list[int]] = {}
        for index, sound in enumerate(self._keys):
            for gram in _pairs(sound):
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
        key = match_key(normalised[:MAX_MATCHED_CHARS], self._latin)
        if not any(ch not in _STRUCTURE for ch in key):
            return MatchResult(None, 0.0, False, None, specs, normalised)
        ranked = self._exact(key, specs)
        if ranked is None:
            ranked = self._fuzzy(_main_text(key), specs)
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

    def _hits(self, key: str) -> list[_Hit]:
        sound = self._phonetic(key)
        hits: list[_Hit] = []
        n = len(key)
        for start in range(n):
            for length in self._lengths.get(sound[start], ()):
                end = start + length
                if end > n:
                    continue
                codes = self._literal.get(key[start:end])
                score = LITERAL_SCORE
                if codes is None:
                    codes = self._sounds.get(sound[start:end])
                    score = PHONETIC_SCORE
                if codes is not None and _bounded(key, start, end):
                    hits.append(_Hit(start, end, codes, score))
        return hits

    def _exact(self, key: str, specs: Specs) -> list[tuple[str, float]] | None:
        """Categories ranked from alias hits, or ``None`` when no alias hits."""
        hits = self._hits(key)
        if not hits:
            return None
        maximal = [
            h
            for h in hits
            if not any(
                o is not h
                and o.start <= h.start
                and h.end <= o.end
                and (o.length > h.length or o.score > h.score)
                for o in hits
            )
        ]
        remark = _remarks(key)
        segment_of = _segment_ids(key)
        heads: dict[int, _Hit] = {}
        for hit in maximal:  # per list item: outside remarks first, then the one ending last
            segment = segment_of[hit.start]
            current = heads.get(segment)
            rank = (not remark[hit.start], hit.end, hit.score)
            if current is None or rank > (not remark[current.start], current.end, current.score):
                heads[segment] = hit
        chosen = list(heads.values())
        if any(not remark[h.start] for h in chosen):  # a remark-only item is a remark
            chosen = [h for h in chosen if not remark[h.start]]
        ranked: dict[str, float] = {}
        for hit in chosen:
            for code in hit.codes:
                ranked[code] = max(ranked.get(code, 0.0), hit.score)
        top = max(ranked.values())
        for hit in maximal:
            for code in hit.codes:
                if code not in ranked:
                    ranked[code] = min(hit.score, top) - MODIFIER_DISCOUNT
        order = sorted(ranked.items(), key=lambda kv: -kv[1])
        if len(chosen) == 1:
            override = self._misspelt_longer_name(key, chosen[0], maximal, remark, segment_of)
            if override is not None:
                return _demoted(override, order)
        if all(remark[h.start] for h in chosen):
            # Only a remark names a part ("码器（主机）"): the main text may name it misspelt.
            main = self._fuzzy(_main_text(key), specs)
            if main and main[0][1] >= UNMATCHED_BELOW:
                return _demoted(main, order)
        return order

    def _misspelt_longer_name(
        self,
        key: str,
        head: _Hit,
        maximal: list[_Hit],
        remark: list[bool],
        segment_of: list[int],
    ) -> list[tuple[str, float]] | None:
        """A better reading of the head's list item when the hits leave text unexplained:
        a longer alias whose best stretch covers the head and more, scoring FUZZY_OVERRIDE."""
        segment = segment_of[head.start]
        positions = [
            i
            for i, ch in enumerate(key)
            if segment_of[i] == segment and not remark[i] and ch not in _STRUCTURE
        ]
        covered = {i for h in maximal for i in range(h.start, h.end)}
        uncovered = sum(i not in covered for i in positions)
        fragments = sum(segment_of[h.start] == segment and not remark[h.start] for h in maximal)
        # One stray character after a whole name is noise ("门机机"); two, or a character
        # between two names ("限速器丝钢绳"), may be a longer name misspelt.
        if uncovered == 0 or (uncovered < 2 and fragments < 2):
            return None
        first, last = positions[0], positions[-1] + 1
        if _is_word(key[head.start]) or not first <= head.start < head.end <= last:
            return None
        item = key[first:last]
        head_start, head_end = head.start - first, head.end - first
        best: _Candidate | None = None
        for candidate in self._scored([item], Specs()):
            if (
                len(self._keys[candidate.index]) > head.length
                and candidate.start <= head_start
                and candidate.end >= head_end
                and candidate.end - candidate.start > head.length
                and (best is None or candidate.score > best.score)
            ):
                best = candidate
        if best is None or best.score < FUZZY_OVERRIDE:
            return None
        codes = self._key_codes[best.index]
        if head.codes <= codes:
            return None
        return [(code, min(LITERAL_SCORE, best.score)) for code in sorted(codes)]

    # -------------------------------------------------------------- stage one: fuzzy

    def _shortlist(self, sound: str) -> list[int]:
        postings = [ids for g in _pairs(sound) if (ids := self._grams.get(g)) is not None]
        if not postings:
            return []
        postings.sort(key=len)
        counts: Counter[int] = Counter()
        spent = 0
        for ids in postings:
            if spent and spent + len(ids) > PAIR_BUDGET:
                break
            counts.update(ids)
            spent += len(ids)
        top = [index for index, _ in counts.most_common(SHORTLIST_SIZE)]
        found = process.extract(
            sound,
            [self._keys[i] for i in top],
            scorer=fuzz.WRatio,
            score_cutoff=SHORTLIST_CUTOFF,
            limit=None,
        )
        # WRatio alone favours long aliases that merely contain part of the line ("轿流接触器"
        # for "触接器"); averaged with the plain ratio, the order is nearer the re-rank's.
        order = sorted(
            ((score + fuzz.ratio(sound, choice)) / 2, top[position])
            for choice, score, position in found
        )
        # The best keys, at most KEYS_PER_CATEGORY of a category: one category's many
        # near-identical aliases (曳引机, 曳引主机, 曳引电机 …) must not crowd out a rival that
        # would make the line ambiguous.
        kept: list[int] = []
        per_category: Counter[frozenset[str]] = Counter()
        for _, index in reversed(order):
            codes = self._key_codes[index]
            if per_category[codes] < KEYS_PER_CATEGORY:
                per_category[codes] += 1
                kept.append(index)
                if len(kept) == RERANK_SIZE:
                    break
        return kept

    def _scored(self, items: list[str], specs: Specs) -> list[_Candidate]:
        """Stage two: each shortlisted alias key aligned with the best of the line items,
        as written or through homophones (``PHONETIC_PENALTY`` less)."""
        sounds = [self._phonetic(item) for item in items]
        scored: list[_Candidate] = []
        for index in self._shortlist(_SEPARATOR.join(sounds)):
            sound_key = self._keys[index]
            best: _Candidate | None = None
            for position, (item, sound) in enumerate(zip(items, sounds, strict=True)):
                heard = _aligned(sound, sound_key)
                options = [(heard.score - PHONETIC_PENALTY, heard)]
                for spelling in self._key_spellings[index]:
                    written = _aligned(item, spelling)
                    options.append((written.score, written))
                for evidence, where in options:
                    score = evidence + (where.bonus if evidence >= UNMATCHED_BELOW else 0.0)
                    if best is None or score > best.score:
                        best = _Candidate(index, score, evidence, position, where.start, where.end)
            if best is not None:
                scored.append(best)
        return scored

    def _fuzzy(self, text: str, specs: Specs) -> list[tuple[str, float]]:
        """Categories ranked by the precise re-rank of the fuzzy shortlist (stage two)."""
        items = _segments(text)
        if not items:
            return []
        ranked: dict[str, float] = {}
        for candidate in self._scored(items, specs):
            for code in self._key_codes[candidate.index]:
                bonus = _spec_bonus(code, specs) if candidate.evidence >= UNMATCHED_BELOW else 0.0
                score = min(LITERAL_SCORE, candidate.score + bonus)
                if score > ranked.get(code, -1.0):
                    ranked[code] = score
        return sorted(ranked.items(), key=lambda kv: -kv[1])


def _demoted(
    better: list[tuple[str, float]], exact: list[tuple[str, float]]
) -> list[tuple[str, float]]:
    """``better``, with the exact hits it replaces ranked as modifiers below its best."""
    merged = dict(better)
    ceiling = better[0][1] - MODIFIER_DISCOUNT
    for code, score in exact:
        merged.setdefault(code, min(score, ceiling))
    return sorted(merged.items(), key=lambda kv: -kv[1])


def _bounded(key: str, start: int, end: int) -> bool:
    """A Latin alias only as whole words: "tractor" is not in "contractor"."""
    if start > 0 and _is_word(key[start]) and _is_word(key[start - 1]):
        return False
    return not (end < len(key) and _is_word(key[end - 1]) and _is_word(key[end]))


def _segment_ids(key: str) -> list[int]:
    """For each position of a key, which list item ("+"-separated) it is in."""
    out: list[int] = []
    segment = 0
    for ch in key:
        if ch == _SEPARATOR:
            segment += 1
        out.append(segment)
    return out


def _spec_bonus(code: str, specs: Specs) -> float:
    if specs.diameter_mm is not None:
        fits = _SMALL_DIAMETER if specs.diameter_mm <= _SMALL_DIAMETER_MAX_MM else _LARGE_DIAMETER
        if code in fits:
            return SPEC_BONUS
    if specs.power_kw is not None:
        fits = _LOW_POWER if specs.power_kw <= _LOW_POWER_MAX_KW else _HIGH_POWER
        if code in fits:
            return SPEC_BONUS
    return 0.0


def _result(ranked: list[tuple[str, float]], specs: Specs, normalised: str) -> MatchResult:
    if not ranked or ranked[0][1] < UNMATCHED_BELOW:
        runner = ranked[0][0] if ranked else None
        score = round(ranked[0][1], 1) if ranked else 0.0
        return MatchResult(None, score, False, runner, specs, normalised)
    best, score = ranked[0]
    runner_up, runner_score = ranked[1] if len(ranked) > 1 else (None, 0.0)
    ambiguous = runner_up is not None and runner_score >= score - AMBIGUITY_MARGIN
    return MatchResult(best, round(score, 1), ambiguous, runner_up, specs, normalised)
