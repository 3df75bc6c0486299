"""The multi-index-hashing index returns exactly what a brute-force scan returns."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.evidence.core.hash_index import HashIndex, brute_force_nearest
from services.evidence.core.phash import COEFFICIENTS, simhashes


def _brute_distances(hashes, query):
    """Pure-Python popcounts: independent of the numpy code under test."""
    q = [int(w) for w in query]
    rows = hashes.tolist()
    return [sum((a ^ b).bit_count() for a, b in zip(row, q, strict=True)) for row in rows]


def _brute_top_k(hashes, query, k, r, distances=None):
    d = _brute_distances(hashes, query) if distances is None else distances
    order = sorted((x, i) for i, x in enumerate(d) if x <= r)
    return order[:k]


def _flip(row, bits):
    out = row.copy()
    for b in bits:
        out[b // 64] ^= np.uint64(1) << np.uint64(b % 64)
    return out


@st.composite
def cases(draw):
    """A small index of clustered hashes (near-duplicates, ties) and a query near one."""
    words = draw(st.sampled_from([1, 2, 4]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(0, 60))
    centres = np.frombuffer(rng.bytes(4 * words * 8), dtype=np.uint64).reshape(4, words)
    rows = [
        _flip(centres[rng.integers(4)], rng.choice(words * 64, rng.integers(0, 40), replace=False))
        for _ in range(n)
    ]
    hashes = np.array(rows, dtype=np.uint64).reshape(n, words)
    query = _flip(
        centres[rng.integers(4)], rng.choice(words * 64, rng.integers(0, 30), replace=False)
    )
    radius = draw(st.integers(0, words * 64))
    split = draw(st.integers(0, n))  # built in bulk, then the rest added one by one
    return words, hashes, query, radius, split


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(1, 5))
def test_index_equals_brute_force(case, k):
    words, hashes, query, radius, split = case
    ids = [f"id{i % 7}" for i in range(len(hashes))]  # ids repeat, as zoomed copies do
    index = HashIndex.build(ids[:split], hashes[:split].reshape(-1, words))
    for i in range(split, len(hashes)):
        index.add(ids[i], hashes[i])
    assert len(index) == len(hashes)
    assert index.nearest(query, radius) == brute_force_nearest(
        ids, hashes.reshape(-1, words), query, radius
    )
    expected = [(ids[i], d) for d, i in _brute_top_k(hashes, query, k, radius)]
    assert index.top_k(query, k, radius) == expected


def test_a_large_index_with_a_long_tail_still_agrees():
    rng = np.random.default_rng(3)
    hashes = np.frombuffer(rng.bytes(20_000 * 32), dtype=np.uint64).reshape(-1, 4)
    ids = [str(i) for i in range(len(hashes))]
    index = HashIndex.build(ids[:12_000], hashes[:12_000])
    index.extend(ids[12_000:], hashes[12_000:])  # tail rebuilt into the tables
    for i in rng.integers(0, len(hashes), 40):
        query = _flip(hashes[i], rng.choice(256, rng.integers(0, 40), replace=False))
        for r in (0, 10, 20, 47, 60):
            assert index.nearest(query, r) == brute_force_nearest(ids, hashes, query, r)


def test_empty_index_and_bad_input():
    index = HashIndex(4)
    assert index.nearest(np.zeros(4, np.uint64), 256) is None
    assert index.top_k(np.zeros(4, np.uint64), 3, 256) == []
    with pytest.raises(ValueError, match="ids for"):
        index.extend(["a", "b"], np.zeros((1, 4), np.uint64))


def test_recent_tables_and_tail_agree_with_brute_force():
    """Main tables, recent tables over what came after, and an unindexed tail, all searched."""
    rng = np.random.default_rng(5)
    hashes = np.frombuffer(rng.bytes(27_501 * 32), dtype=np.uint64).reshape(-1, 4)
    ids = [str(i // 7) for i in range(len(hashes))]  # seven hashes per photo, as indexed
    index = HashIndex.build(ids[:20_000], hashes[:20_000])
    for begin in range(20_000, 24_501, 7):  # a photo at a time, as the service adds them
        index.extend(ids[begin : begin + 7], hashes[begin : begin + 7])
    index.settle()  # 4,501 past the main tables, under a quarter of them: recent tables
    index.extend(ids[24_501:], hashes[24_501:])  # 3,000 more: too few to index, scanned
    assert len(index) == len(hashes)
    for i in rng.integers(0, len(hashes), 20):
        query = _flip(hashes[i], rng.choice(256, rng.integers(0, 48), replace=False))
        distances = _brute_distances(hashes, query)
        for r in (0, 20, 47):
            expected = [(ids[j], d) for d, j in _brute_top_k(hashes, query, 10, r, distances)]
            assert index.top_k(query, 10, r) == expected


def _spread(rng, radius, parts=16, width=16):
    """Bits to flip, ``radius`` of them spread over the substrings as evenly as the ring
    allows: the lookups the pigeonring filter is most likely to get wrong."""
    counts = np.full(parts, radius // parts)
    counts[rng.choice(parts, radius % parts, replace=False)] += 1
    moved = rng.integers(0, parts, 2)  # now and then one more here, one fewer there
    if counts[moved[1]] > 0 and counts[moved[0]] < width:
        counts[moved[0]] += 1
        counts[moved[1]] -= 1
    return [p * width + b for p in range(parts) for b in rng.choice(width, counts[p], False)]


def test_hashes_differing_in_every_substring_are_found():
    rng = np.random.default_rng(8)
    hashes = np.frombuffer(rng.bytes(5_000 * 32), dtype=np.uint64).reshape(-1, 4)
    ids = [str(i) for i in range(len(hashes))]
    index = HashIndex.build(ids, hashes)
    for _ in range(300):
        i = int(rng.integers(len(hashes)))
        radius = int(rng.integers(30, 48))
        query = _flip(hashes[i], _spread(rng, radius))
        distance = int(np.bitwise_count(query ^ hashes[i]).sum())
        assert index.nearest(query, 47) == (ids[i], distance)
        assert index.nearest(query, distance - 1) is None


def test_crowded_hashes_agree_with_brute_force():
    """Hashes crowded as photos' are (SimHashes of coefficient vectors with a common direction
    and a few strong components): some lookups enumerate buckets, some scan instead."""
    rng = np.random.default_rng(13)
    scale = 1.0 / np.sqrt(np.arange(1, COEFFICIENTS + 1))  # low frequencies dominate
    mean = 0.5 * rng.standard_normal(COEFFICIENTS) * scale  # half of these lookups scan
    vectors = mean + rng.standard_normal((20_000, COEFFICIENTS)) * scale
    hashes = simhashes(vectors)
    ids = [str(i) for i in range(len(hashes))]
    index = HashIndex.build(ids, hashes)
    queries = simhashes(mean + rng.standard_normal((30, COEFFICIENTS)) * scale)
    for query in queries:
        distances = _brute_distances(hashes, query)
        for r in (20, 35, 47):
            expected = [(ids[j], d) for d, j in _brute_top_k(hashes, query, 50, r, distances)]
            assert index.top_k(query, 50, r) == expected
