"""An in-memory index of (id, hash) answering "the entries within r bits, nearest first" exactly.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012) with a pigeonring filter (Qin and Xiao,
2018). Each hash is cut into ``m`` 16-bit substrings, taken as a ring (after the last comes the
first). Two hashes that differ in at most ``r`` bits differ in ``d_0 … d_{m-1}`` bits per
substring with ``sum(d_i - (r + 1) / m) < 0``, so by the cycle lemma some substring ``i`` starts
a run along the ring whose every prefix of ``l`` substrings differs in fewer than
``l (r + 1) / m`` bits. For ``l = 1`` that is MIH's pigeonhole (substring ``i`` within
``r // m`` bits: 2 of 16 at r = 47 of 256, 137 values of 65,536); for ``l = 2`` it adds that
substrings ``i`` and ``i + 1`` together differ in at most ``ceil(2 (r + 1) / m) - 1`` bits (5),
which an unrelated entry passing the first test meets about once in a hundred.

So a lookup enumerates, for each substring position ``i``, every value within ``r // m`` bits of
the query's substring ``i``; reads the entries holding those values from table ``i``; keeps
those whose next substring, stored beside them in the table, passes the second test; and
computes the full distance of these few only. The full hashes are thereby read at random for
~1.5% of the bucket entries (~500 of ~33,500 at 1,000,000 uniform random hashes and r = 47),
which is what made the plain MIH lookup slow (a cache miss each).

Table ``i`` is ``order`` (entry positions sorted by substring ``i``), ``after`` (substring
``i + 1`` of those entries, same order) and ``starts`` (offsets by counting, no search): bucket
``v`` is ``order[starts[v]:starts[v + 1]]``. The ``m`` tables lie end to end in flat arrays,
so a lookup handles them all in a dozen numpy calls, whatever ``m``.

Photos' hashes are not uniform: their bits are biased and correlated (they are signs of
projections of 64 coefficients), so they crowd together and a query's buckets can hold a large
share of the index. Where they hold more than ``_SCAN_SHARE`` of it (known before any entry is
read), one vectorised scan of every hash is cheaper and is used instead; it is also used where
the enumeration would touch too many buckets (large radii). The hashes are stored word by word
(column-major) so that the scan runs down contiguous memory.

Growth: entries added after the tables were built wait in a tail that lookups scan directly.
Once the tail holds ``_MIN_TAIL`` entries, the next lookup (or ``settle``) indexes it: in a
second, recent set of tables while everything past the main tables is under ``_RECENT_SHARE``
of them, else by rebuilding the main tables over everything. A lookup thus scans at most
``_MIN_TAIL`` entries and a bulk load pays for one build, not one per addition. Not
thread-safe: a lookup may rebuild tables.

Results are exactly those of a brute-force scan: the smallest distance, ties to the entry
added first (``top_k``: by distance, then by order of addition).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Final

import numpy as np
import numpy.typing as npt

SUB_BITS: Final = 16
_VALUES: Final = 1 << SUB_BITS
MAX_SUB_RADIUS: Final = 2  # larger radii scan (the service's 47 of 256 bits needs 2)
_MIN_TAIL: Final = 4096  # entries past the tables that a lookup scans rather than indexes
_RECENT_SHARE: Final = 0.25  # the recent tables are merged into the main ones beyond this share
_GROW: Final = 1.5  # the hashes' spare capacity: an addition copies no hashes, mostly
# A lookup whose buckets hold more than this share of the entries scans them all instead: both
# cost about the same there, on hashes crowded as photos' are (uniform ones hold ~3%).
_SCAN_SHARE: Final = 0.35

IntArray = npt.NDArray[np.intp]


def _masks(radius: int) -> npt.NDArray[np.uint16]:
    """Every 16-bit value with at most ``radius`` bits set, by number of bits."""
    values = [0]
    for bits in range(1, radius + 1):
        values += [sum(1 << b for b in chosen) for chosen in combinations(range(SUB_BITS), bits)]
    return np.asarray(values, dtype=np.uint16)


_MASKS: Final = tuple(_masks(r).astype(np.intp) for r in range(MAX_SUB_RADIUS + 1))
# ``popcount(after ^ (q_next | _CARRIED[s][k]))`` is the next substring's distance plus the
# bits of mask ``k``: both halves of the ring's two-substring test in one popcount.
_CARRIED: Final = tuple(
    ((1 << np.bitwise_count(m).astype(np.uint32)) - 1) << np.uint32(SUB_BITS) for m in _MASKS
)


class _Tables:
    """The ``m`` substring tables of the entries ``[lo, hi)``, end to end in flat arrays."""

    __slots__ = ("after", "hi", "lo", "order", "starts")

    def __init__(self, words: npt.NDArray[np.uint64], lo: int) -> None:
        """Tables of the hashes ``words`` (one row per word, one column per entry)."""
        size = words.shape[1]
        columns = _substrings(words)
        substrings = len(columns)
        self.lo, self.hi = lo, lo + size
        self.order = np.empty(substrings * size, dtype=np.int32 if self.hi < 2**31 else np.intp)
        self.after = np.empty(substrings * size, dtype=np.uint16)
        # Table i's bucket v starts at starts[i * _VALUES + v]; table i + 1's first bucket
        # ends table i's last.
        self.starts = np.zeros(substrings * _VALUES + 1, dtype=np.intp)
        for i, column in enumerate(columns):
            ranks = np.argsort(column, kind="stable")  # by position within a bucket
            self.order[i * size : (i + 1) * size] = ranks + lo
            self.after[i * size : (i + 1) * size] = columns[(i + 1) % substrings][ranks]
            counts = np.cumsum(np.bincount(column, minlength=_VALUES))
            self.starts[i * _VALUES + 1 : (i + 1) * _VALUES + 1] = i * size + counts

    def buckets(self, keys: IntArray) -> tuple[IntArray, IntArray]:
        """Where buckets ``keys`` begin in the flat arrays, and their lengths."""
        begin = self.starts[keys]
        return begin, self.starts[keys + 1] - begin

    def candidates(
        self,
        buckets: tuple[IntArray, IntArray],
        carried: npt.NDArray[np.uint32],
        bound: int,
    ) -> npt.NDArray[np.signedinteger]:
        """Positions of the entries in ``buckets`` that pass the ring's two-substring test
        (``carried``: per bucket, the query's next substring and the bucket's own distance)."""
        begin, lengths = buckets
        ends = np.cumsum(lengths)
        # The ranges [begin, begin + length) end to end, without a Python loop.
        ranks = np.repeat(begin - ends + lengths, lengths)
        ranks += np.arange(int(ends[-1]))
        near = np.bitwise_count(self.after[ranks] ^ np.repeat(carried, lengths)) <= bound
        positions: npt.NDArray[np.signedinteger] = self.order[ranks[near]]
        return positions


def _substrings(words: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
    """(4 × words, n) 16-bit substrings of hashes given as (words, n), one row per substring
    (in the order of ``hash.view(np.uint16)``)."""
    count, size = words.shape
    quarters = np.ascontiguousarray(words).view(np.uint16).reshape(count, size, 4)
    return np.ascontiguousarray(quarters.transpose(0, 2, 1)).reshape(4 * count, size)


class HashIndex:
    """Hashes of ``words`` uint64 words each, with an id per entry (ids may repeat: a photo
    stored under several hashes has one entry per hash)."""

    def __init__(self, words: int) -> None:
        if words < 1:
            raise ValueError("a hash has at least one word")
        self.words = words
        self._ids: list[str] = []
        # Word w of entry j is _columns[w, j]: a scan, and a distance, runs down contiguous
        # words (twice as fast as across rows of 4). Spare capacity beyond len(ids).
        self._columns = np.empty((words, 0), dtype=np.uint64)
        self._tables: list[_Tables] = []  # the main tables from entry 0, maybe recent ones

    @classmethod
    def build(cls, ids: Sequence[str], hashes: npt.NDArray[np.uint64]) -> HashIndex:
        """An index of ``hashes`` (one row each) under ``ids``, tables built at once."""
        index = cls(hashes.shape[1] if hashes.ndim == 2 else 1)
        index.extend(ids, hashes)
        index._rebuild()
        return index

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, id_: str, hash_: npt.NDArray[np.uint64]) -> None:
        """Add one entry."""
        self.extend([id_], hash_.reshape(1, -1))

    def extend(self, ids: Sequence[str], hashes: npt.NDArray[np.uint64]) -> None:
        """Add one entry per row of ``hashes`` (found by lookups at once, through the tail)."""
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, self.words)
        if len(ids) != len(hashes):
            raise ValueError(f"{len(ids)} ids for {len(hashes)} hashes")
        size, needed = len(self._ids), len(self._ids) + len(hashes)
        if needed > self._columns.shape[1]:
            capacity = max(needed, int(_GROW * self._columns.shape[1]))
            columns = np.empty((self.words, capacity), dtype=np.uint64)
            columns[:, :size] = self._columns[:, :size]
            self._columns = columns
        self._columns[:, size:needed] = hashes.T
        self._ids.extend(ids)

    def settle(self) -> None:
        """Index the tail if it is long enough to be worth it (lookups call this; call it
        after a bulk load so that the first lookup does not pay for it)."""
        covered = self._tables[-1].hi if self._tables else 0
        if len(self._ids) - covered < _MIN_TAIL:
            return
        main = self._tables[0].hi if self._tables else 0
        if len(self._ids) - main > _RECENT_SHARE * main:
            self._rebuild()
        else:
            recent = _Tables(self._columns[:, main : len(self._ids)], main)
            self._tables = [self._tables[0], recent]

    def _rebuild(self) -> None:
        size = len(self._ids)
        self._tables = [_Tables(self._columns[:, :size], 0)] if size else []

    def _search(
        self, query: npt.NDArray[np.uint64], max_distance: int
    ) -> tuple[IntArray, IntArray]:
        """(positions, distances) of every entry within ``max_distance``, positions ascending."""
        query = np.ascontiguousarray(query, dtype=np.uint64).reshape(self.words)
        size = len(self._ids)
        if max_distance < 0 or not size:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        self.settle()
        hashes = self._columns[:, :size].T  # (size, words), each word contiguous
        substrings = 4 * self.words
        sub_radius = max_distance // substrings
        covered = self._tables[-1].hi if self._tables else 0
        if sub_radius > MAX_SUB_RADIUS or covered == 0:
            return _within(hashes, query, max_distance)
        subs = query.view(np.uint16).astype(np.intp)
        keys = (_MASKS[sub_radius] ^ subs[:, None]) + _VALUES * np.arange(substrings)[:, None]
        buckets = [t.buckets(keys.ravel()) for t in self._tables]
        if sum(int(lengths.sum()) for _, lengths in buckets) > _SCAN_SHARE * size:
            # Hashes crowded around the query: its buckets hold so much of the index that
            # one scan of it all is cheaper.
            return _within(hashes, query, max_distance)
        carried = _CARRIED[sub_radius] | np.roll(subs, -1).astype(np.uint32)[:, None]
        bound = -(-2 * (max_distance + 1) // substrings) - 1  # ceil(2 (r + 1) / m) - 1
        found = [
            t.candidates(b, carried.ravel().astype(np.uint32), bound)
            for t, b in zip(self._tables, buckets, strict=True)
        ]
        # An entry may pass in several tables: duplicates are cheaper to measure than to sort.
        positions = np.concatenate(found)
        distances = _distances(np.stack([w.take(positions) for w in self._columns]).T, query)
        near = distances <= max_distance
        positions, first = np.unique(positions[near], return_index=True)
        tail, tail_distances = _within(hashes[covered:], query, max_distance)
        return (
            np.concatenate([positions, tail + covered]),
            np.concatenate([distances[near][first], tail_distances]),
        )

    def nearest(self, query: npt.NDArray[np.uint64], max_distance: int) -> tuple[str, int] | None:
        """The entry nearest ``query`` if within ``max_distance`` bits: (id, distance)."""
        positions, distances = self._search(query, max_distance)
        if len(positions) == 0:
            return None
        best = int(np.argmin(distances))  # positions ascend: the first minimum is the oldest
        return self._ids[positions[best]], int(distances[best])

    def top_k(
        self, query: npt.NDArray[np.uint64], k: int, max_distance: int
    ) -> list[tuple[str, int]]:
        """Up to ``k`` entries within ``max_distance``, nearest first (ties: oldest first)."""
        positions, distances = self._search(query, max_distance)
        ranked = np.lexsort((positions, distances))[:k]
        return [(self._ids[positions[i]], int(distances[i])) for i in ranked]


def _distances(hashes: npt.NDArray[np.uint64], query: npt.NDArray[np.uint64]) -> IntArray:
    """Hamming distance of every row of ``hashes`` to ``query``.

    Word by word: numpy runs ``hashes ^ query`` over rows of 4 words as one short inner loop
    per row, and ``.sum(axis=1)`` likewise, 3-4 times slower than four passes down the columns
    (which are faster still where each column is contiguous: ``np.asfortranarray``).
    """
    distances: IntArray = np.bitwise_count(hashes[:, 0] ^ query[0]).astype(np.intp)
    for word in range(1, hashes.shape[1]):
        distances += np.bitwise_count(hashes[:, word] ^ query[word])
    return distances


def _within(
    hashes: npt.NDArray[np.uint64], query: npt.NDArray[np.uint64], max_distance: int
) -> tuple[IntArray, IntArray]:
    """(rows, distances) of the rows of ``hashes`` within ``max_distance``, by a scan."""
    distances = _distances(hashes, query)
    rows = np.flatnonzero(distances <= max_distance)
    return rows, distances[rows]


def brute_force_nearest(
    ids: Sequence[str],
    hashes: npt.NDArray[np.uint64],
    query: npt.NDArray[np.uint64],
    max_distance: int,
) -> tuple[str, int] | None:
    """The reference (and the benchmark's baseline): one vectorised scan of every hash."""
    if len(ids) == 0:
        return None
    distances = _distances(hashes, query)
    best = int(np.argmin(distances))
    if distances[best] > max_distance:
        return None
    return ids[best], int(distances[best])


def brute_force_top_k(
    ids: Sequence[str],
    hashes: npt.NDArray[np.uint64],
    query: npt.NDArray[np.uint64],
    k: int,
    max_distance: int,
) -> list[tuple[str, int]]:
    """``HashIndex.top_k`` by one vectorised scan: the reference, and the benchmark's baseline."""
    within, distances = _within(hashes, query, max_distance)
    ranked = np.lexsort((within, distances))[:k]
    return [(ids[within[i]], int(distances[i])) for i in ranked]
