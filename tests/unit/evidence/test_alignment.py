"""The alignment decides reuse: every edit of a reuse is a copy, a second shot and another scene
are not, and the fitted geometry is the edit's."""

import io

import numpy as np
import pytest
from PIL import Image

from load_tests import photo_corpus as pc
from services.evidence.core.alignment import MAX_OVERFLOW, align, view_of
from services.evidence.core.images import THUMBNAIL_SIDE, derived_jpeg
from services.evidence.core.matching import decode
from tests.unit.evidence.conftest import SCENES, SEED
from tests.unit.evidence.reuse_edits import edited


def _view(data: bytes):
    return view_of(derived_jpeg(decode(data), max_side=THUMBNAIL_SIDE))


@pytest.mark.parametrize("edit", ["resize", "recompress", "crop", "tone", "rotate", "stamp"])
def test_every_reuse_edit_is_a_copy(originals, edit):
    for scene in SCENES[:3]:
        alignment = align(_view(edited(originals[scene], edit, scene)), _view(originals[scene]))
        assert alignment is not None and alignment.is_copy, (scene, alignment)


def test_the_fitted_similarity_is_the_edit(originals):
    rotated = align(_view(edited(originals[0], "rotate", 0)), _view(originals[0]))
    assert rotated is not None and abs(abs(rotated.rotation_degrees) - 3.0) < 0.5
    # 640 → 256 pixels: the query's thumbnail is 256 wide, the original's 320.
    shrunk = align(_view(edited(originals[0], "resize", 0)), _view(originals[0]))
    assert shrunk is not None and shrunk.scale == pytest.approx(320 / 256, rel=0.03)


def test_a_second_shot_reaches_outside_the_original_frame(worlds, originals):
    for scene in SCENES[:3]:
        shot = _view(pc.second_shot(worlds[scene], scene, SEED, take=2))
        alignment = align(shot, _view(originals[scene]))
        assert alignment is None or not alignment.is_copy, (scene, alignment)
        if alignment is not None and alignment.inliers >= 20:
            assert alignment.overflow > MAX_OVERFLOW  # it sees what the original did not


def test_another_machine_room_is_not_a_copy(originals):
    for a, b in ((0, 1), (1, 2), (2, 0)):
        alignment = align(_view(originals[a]), _view(originals[b]))
        assert alignment is None or not alignment.is_copy, (a, b, alignment)


def test_a_blank_photo_has_no_features_and_aligns_with_nothing(originals):
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, "JPEG")
    blank = view_of(buffer.getvalue())
    assert len(blank.points) == 0 and blank.descriptors.shape == (0, 32)
    assert align(blank, _view(originals[0])) is None
    assert align(_view(originals[0]), blank) is None
    assert np.array_equal(blank.gray, np.full((240, 320), 128, np.uint8))
