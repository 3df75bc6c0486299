"""Verification of an uploaded photo: one decode that hashes as the match command does, and the
display copy, cut from the JPEG without re-encoding when it already fits."""

from __future__ import annotations

import hashlib
import io

import numpy as np
import pytest
from PIL import ExifTags, Image

from services.evidence.core.images import (
    DISPLAY_SIDE,
    THUMBNAIL_SIDE,
    derived_jpeg,
    open_image,
    stripped_jpeg,
)
from services.evidence.core.matching import decode
from services.evidence.core.phash import index_hashes, photo_hash
from services.evidence.domain.verification import Declared, display_copy, verify
from tests.unit.evidence import bad_files


def _declared(data: bytes, content_type: str = "image/jpeg") -> Declared:
    return Declared("before_photo", content_type, len(data), hashlib.sha256(data).hexdigest())


def _pixels(data: bytes) -> np.ndarray:
    image = Image.open(io.BytesIO(data))
    image.load()
    return np.asarray(image)


def _with_metadata(picture: Image.Image, *, progressive: bool = False) -> bytes:
    """A phone-like JPEG: EXIF with GPS, an ICC profile, an XMP packet and a comment."""
    exif_jpeg = bad_files.jpeg_with_exif(picture=picture)
    exif = Image.open(io.BytesIO(exif_jpeg)).getexif()
    out = io.BytesIO()
    picture.save(
        out,
        "JPEG",
        quality=88,
        exif=exif,
        icc_profile=b"\0" * 128,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><gps>27.8,113.1</gps></x:xmpmeta>',
        comment=b"taken by Zhang San 13800000000",
        progressive=progressive,
    )
    return out.getvalue()


PHOTOS = {
    "phone JPEG": lambda: bad_files.jpeg_with_exif(width=900, height=700, seed=5),
    "turned JPEG": lambda: bad_files.jpeg_with_exif(width=900, height=700, orientation=6),
    "grey JPEG": lambda: bad_files._encode(
        bad_files._noise(600, 400, 6).convert("L"), "JPEG", quality=85
    ),
    "PNG with alpha": lambda: bad_files.png(300, 200, alpha=True),
    "WebP": lambda: bad_files.webp(300, 200),
}
TYPES = {"PNG with alpha": "image/png", "WebP": "image/webp"}


@pytest.mark.parametrize("name", PHOTOS)
def test_verify_hashes_and_thumbnails_a_photo_as_the_match_command_does(name: str) -> None:
    data = PHOTOS[name]()
    verified = verify(data, _declared(data, TYPES.get(name, "image/jpeg")))
    hashed = decode(data)
    assert verified.index_hashes == index_hashes(hashed).tobytes(), name
    assert verified.photo_hash == photo_hash(hashed).tobytes(), name
    assert verified.thumbnail == derived_jpeg(hashed, max_side=THUMBNAIL_SIDE), name


def test_a_jpeg_that_fits_is_shown_as_the_same_picture_without_its_metadata() -> None:
    for progressive in (False, True):
        original = _with_metadata(bad_files._noise(800, 600, 7), progressive=progressive)
        copy = stripped_jpeg(original)
        assert copy is not None
        shown = Image.open(io.BytesIO(copy))
        assert not shown.getexif() and "icc_profile" not in shown.info
        assert "xmp" not in shown.info and "comment" not in shown.info
        assert b"Zhang San" not in copy and b"27.8" not in copy
        # Not re-encoded: the very same pixels, and no bigger.
        assert np.array_equal(_pixels(copy), _pixels(original))
        assert len(copy) < len(original)


def test_a_turned_photo_keeps_its_orientation_and_nothing_else() -> None:
    original = bad_files.jpeg_with_exif(width=90, height=60, orientation=6)
    copy = display_copy(original, open_image(original)[1])
    exif = Image.open(io.BytesIO(copy)).getexif()
    assert dict(exif) == {ExifTags.Base.Orientation: 6}
    assert np.array_equal(_pixels(copy), _pixels(original))


def test_the_extra_pictures_of_an_mpo_file_are_dropped() -> None:
    original = _with_metadata(bad_files._noise(200, 100, 8))
    second = bad_files.jpeg_with_exif(width=40, height=30)  # a depth map with its own EXIF
    copy = stripped_jpeg(original + second)
    assert copy is not None and copy.endswith(b"\xff\xd9")
    assert b"HUAWEI" not in copy
    assert np.array_equal(_pixels(copy), _pixels(original))


@pytest.mark.parametrize(
    "data",
    [b"", b"\xff\xd8", b"\xff\xd8\xff\xe1\x00", b"not a jpeg", bad_files.truncated_jpeg()],
)
def test_what_is_not_a_plain_whole_jpeg_is_not_cut(data: bytes) -> None:
    assert stripped_jpeg(data) is None


def test_a_photo_larger_than_the_display_side_is_reencoded_smaller() -> None:
    big = bad_files.jpeg_with_exif(width=DISPLAY_SIDE + 400, height=900)
    copy = display_copy(big, open_image(big)[1])
    shown = Image.open(io.BytesIO(copy))
    assert max(shown.size) == DISPLAY_SIDE and not shown.getexif()


def test_a_png_is_reencoded_as_a_jpeg() -> None:
    data = bad_files.png(300, 200, alpha=True)
    copy = display_copy(data, open_image(data)[1])
    assert Image.open(io.BytesIO(copy)).format == "JPEG"
