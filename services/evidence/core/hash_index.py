"""An in-memory index of (id, hash) answering "the nearest hash within r bits" exactly.

Multi-index hashing (Norouzi, Punjani and Fleet, 2012): each hash is cut into ``m`` 16-bit
substrings. If two hashes differ in at most ``r`` bits, at least one of their ``m``
substrings differs in at most ``r // m`` bits (pigeonhole). So a lookup enumerates, for each
substring position, every 16-bit value within ``r // m`` bits of the query's substring
(17 values for radius 1 out of 65,536), reads the entries holding those values from a table
sorted by that substring, and computes the full distance of these candidates only.

A table is an ``order`` (entry positions sorted by the substring) and ``starts`` (65,537
offsets into it, by counting): one bucket is ``order[starts[v]:starts[v + 1]]``, no search.
Entries added after the tables were built wait in a tail that lookups scan directly, until
the tail is worth a rebuild. Where the enumeration would touch too many buckets (large radii),
a vectorised scan of everything is both simpler and faster, and is used instead.

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
MAX_SUB_RADIUS: Final = 2  # beyond it (2,192 buckets for 256 bits) the scan is cheaper
_MIN_TAIL: Final = 4096  # the tail is rebuilt into the tables once it is this long …
_TAIL_SHARE: Final = 0.25  # … and at least this share of the index

IntArray = npt.NDArray[np.intp]


def _masks(radius: int) -> npt.NDArray[np.uint16]:
    """Every 16-bit value with at most ``radius`` bits set."""
    values = [0]
    for bits in range(1, radius + 1):
        values += [sum(1 << b for b in chosen) for chosen in combinations(range(SUB_BITS), bits)]
    return np.asarray(values, dtype=np.uint16)


_MASKS: Final = tuple(_masks(r) for r in range(MAX_SUB_RADIUS + 1))


class HashIndex:
    """Hashes of ``words`` uint64 words each, with an id per entry (ids may repeat: a photo
    stored under several hashes has one entry per hash)."""

    def __init__(self, words: int) -> None:
        if words < 1:
            raise ValueError("a hash has at least one word")
        self.words = words
        self._ids: list[str] = []
        self._hashes = np.empty((0, words), dtype=np.uint64)
        self._built = 0  # entries [0, _built) are in the tables
        self._order: list[IntArray] = []
        self._starts: list[IntArray] = []

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
        """Add one entry per row of ``hashes``."""
        hashes = np.asarray(hashes, dtype=np.uint64).reshape(-1, self.words)
        if len(ids) != len(hashes):
            raise ValueError(f"{len(ids)} ids for {len(hashes)} hashes")
        self._ids.extend(ids)
        self._hashes = np.concatenate([self._hashes, hashes])
        tail = len(self._ids) - self._built
        if tail >= _MIN_TAIL and tail >= _TAIL_SHARE * len(self._ids):
            self._rebuild()

    def _rebuild(self) -> None:
        subs = self._substrings(self._hashes)
        self._order, self._starts = [], []
        for column in subs.T:
            order = np.argsort(column, kind="stable")
            starts = np.zeros(_VALUES + 1, dtype=np.intp)
            np.cumsum(np.bincount(column, minlength=_VALUES), out=starts[1:])
            self._order.append(order)
            self._starts.append(starts)
        self._built = len(self._ids)

    def _substrings(self, hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint16]:
        """(n, 4 × words) 16-bit substrings of ``hashes``."""
        return np.ascontiguousarray(hashes).view(np.uint16).reshape(len(hashes), 4 * self.words)

    def _candidates(self, query: npt.NDArray[np.uint64], sub_radius: int) -> IntArray:
        """Positions of built entries with a substring within ``sub_radius`` of the query's."""
        masks = _MASKS[sub_radius]
        found = []
        for j, value in enumerate(self._substrings(query.reshape(1, -1))[0]):
            keys = (masks ^ value).astype(np.intp)
            begin, end = self._starts[j][keys], self._starts[j][keys + 1]
            lengths = end - begin
            total = int(lengths.sum())
            if total == 0:
                continue
            # Concatenate the ranges [begin, end) without a Python loop.
            offsets = np.repeat(begin - np.cumsum(lengths) + lengths, lengths)
            found.append(self._order[j][offsets + np.arange(total)])
        return np.concatenate(found) if found else np.empty(0, dtype=np.intp)

    def _search(
        self, query: npt.NDArray[np.uint64], max_distance: int
    ) -> tuple[IntArray, npt.NDArray[np.intp]]:
        """(positions, distances) of every entry within ``max_distance``, positions ascending."""
        query = np.asarray(query, dtype=np.uint64).reshape(self.words)
        if max_distance < 0 or not self._ids:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.intp)
        sub_radius = max_distance // (self.words * 64 // SUB_BITS)
        if sub_radius > MAX_SUB_RADIUS or self._built == 0:
            positions = np.arange(len(self._ids))
        else:
            tail = np.arange(self._built, len(self._ids))
            # An entry near the query in several substrings comes back several times; the
            # distances of the repeats are cheaper than sorting them away first.
            positions = np.concatenate([self._candidates(query, sub_radius), tail])
        distances = _distances(self._hashes[positions], query)
        keep = distances <= max_distance
        positions, first = np.unique(positions[keep], return_index=True)
        return positions, distances[keep][first]

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
    """Hamming distance of every row of ``hashes`` to ``query``."""
    xor = np.bitwise_xor(hashes, query)
    distances: IntArray = np.bitwise_count(xor).sum(axis=1, dtype=np.intp)
    return distances


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
    distances = _distances(hashes, query)
    within = np.flatnonzero(distances <= max_distance)
    ranked = within[np.lexsort((within, distances[within]))][:k]
    return [(ids[i], int(distances[i])) for i in ranked]
