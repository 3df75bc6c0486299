"""The hash: each reuse edit keeps the original within the candidate radius; the matcher then
finds reuses and refuses second shots (the alignment decides: test_alignment)."""

import numpy as np
import pytest
from PIL import Image

from load_tests import photo_corpus as pc
from services.evidence.core.matching import CANDIDATE_DISTANCE, PhotoMatcher, decode, print_of
from services.evidence.core.phash import (
    BITS,
    INDEX_VIEWS,
    WORDS,
    hamming,
    index_hashes,
    phash64,
    photo_hash,
)
from tests.unit.evidence.conftest import SCENES, SEED
from tests.unit.evidence.reuse_edits import edited as _edited


def _nearest(original: bytes, query: bytes) -> int:
    stored = index_hashes(decode(original))
    return min(hamming(row, photo_hash(decode(query))) for row in stored)


def test_a_hash_is_four_words_and_deterministic(originals):
    image = decode(originals[0])
    first, again = photo_hash(image), photo_hash(decode(originals[0]))
    assert first.dtype == np.uint64 and first.shape == (WORDS,) and WORDS * 64 == BITS
    assert np.array_equal(first, again)
    assert index_hashes(image).shape == (len(INDEX_VIEWS), WORDS)
    assert np.array_equal(index_hashes(image)[0], first)  # zoom 1 is the photo as it is
    assert phash64(image).shape == (1,)


@pytest.mark.parametrize("edit", ["resize", "recompress", "crop", "tone", "rotate", "stamp"])
def test_each_reuse_edit_keeps_the_original_a_candidate(originals, edit):
    distances = [_nearest(originals[s], _edited(originals[s], edit, s)) for s in SCENES]
    assert max(distances) <= CANDIDATE_DISTANCE, distances


def test_the_index_views_bring_an_off_centre_crop_closer(originals):
    """A crop of 10% off the left and top: the shifted 1.12× views see it best."""
    image = decode(originals[1]).convert("RGB")
    w, h = image.size
    crop = image.crop((int(0.1 * w), int(0.1 * h), w, h))
    query = photo_hash(crop)
    distances = [hamming(row, query) for row in index_hashes(image)]
    assert min(distances[2:6]) < distances[0], distances


def test_brightness_alone_changes_nothing(originals):
    image = decode(originals[2]).convert("L")
    brighter = Image.fromarray(np.clip(np.asarray(image, np.int16) + 15, 0, 255).astype(np.uint8))
    assert hamming(photo_hash(image), photo_hash(brighter)) <= 4


def test_a_matcher_finds_the_reuse_and_not_the_second_shot(worlds, originals):
    matcher = PhotoMatcher()
    for scene, data in originals.items():
        matcher.add(f"s{scene}", print_of(data))
    assert len(matcher) == len(SCENES)
    for edit in ("crop", "rotate", "stamp"):
        found = matcher.match(print_of(_edited(originals[3], edit, 3)))
        assert found is not None and found.photo_id == "s3", edit
        assert found.inliers > 0 and 0 <= found.distance <= CANDIDATE_DISTANCE
    assert matcher.match(print_of(pc.second_shot(worlds[3], 3, SEED, take=1))) is None
    assert matcher.match(print_of(pc.original(pc.render_world(99, SEED), 99, SEED))) is None


def test_contrast_alone_changes_nothing(originals):
    image = decode(originals[2]).convert("L")
    pixels = np.asarray(image, np.float64)
    flatter = Image.fromarray((pixels.mean() + 0.7 * (pixels - pixels.mean())).astype(np.uint8))
    assert hamming(photo_hash(image), photo_hash(flatter)) <= 6


def test_unrelated_photos_differ_in_about_half_their_bits():
    """Centred and balanced, photos' hashes spread out (raw, these scenes' hashes differ in
    113 bits on average: they crowd, and a lookup in a large index reads much of it)."""
    hashes = [photo_hash(decode(pc.original(pc.render_world(s, SEED), s, SEED))) for s in range(12)]
    distances = [hamming(a, b) for i, a in enumerate(hashes) for b in hashes[i + 1 :]]
    assert np.mean(distances) >= 120, np.mean(distances)


def test_a_blank_photo_hashes_without_failing():
    grey = Image.new("L", (320, 240), 128)
    assert photo_hash(grey).shape == (WORDS,)
