"""Decoding photos safely, reading their EXIF facts, and stripping metadata from copies."""

from __future__ import annotations

import io
import time
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from PIL import Image

from services.evidence.core.images import (
    DISPLAY_SIDE,
    THUMBNAIL_SIDE,
    ImageRejected,
    PhotoFacts,
    derived_jpeg,
    open_image,
)
from shared.domain_errors import InvalidValue
from tests.unit.evidence import bad_files

SHANGHAI = timezone(timedelta(hours=8))


def _rejection(data: bytes, **options: int) -> ImageRejected:
    with pytest.raises(ImageRejected) as caught:
        open_image(data, **options)
    assert isinstance(caught.value, InvalidValue)
    assert caught.value.field == "content"
    return caught.value


# --- facts ------------------------------------------------------------------------------


def test_exif_facts_of_a_phone_photo() -> None:
    data = bad_files.jpeg_with_exif(
        datetime(2026, 11, 2, 9, 15, 30, tzinfo=SHANGHAI),
        ("HUAWEI", "P30 Pro"),
        (27.8274, 113.1339),
        width=64,
        height=48,
    )
    image, facts = open_image(data)
    assert replace(facts, gps=None) == PhotoFacts(
        width=64,
        height=48,
        format="image/jpeg",
        taken_at=datetime(2026, 11, 2, 1, 15, 30, tzinfo=UTC),
        device="HUAWEI P30 Pro",
        gps=None,
        has_exif=True,
    )
    assert facts.gps == pytest.approx((27.8274, 113.1339), abs=1e-6)
    assert facts.taken_at is not None and facts.taken_at.utcoffset() == timedelta(hours=8)
    assert (image.mode, image.size) == ("RGB", (64, 48))


@pytest.mark.parametrize(
    ("gps", "expected"),
    [
        ((-33.8688, 151.2093), (-33.8688, 151.2093)),  # Sydney: south
        ((40.7128, -74.0060), (40.7128, -74.0060)),  # New York: west
        ((-22.9068, -43.1729), (-22.9068, -43.1729)),  # Rio: both
    ],
)
def test_gps_signs_follow_the_references(
    gps: tuple[float, float], expected: tuple[float, float]
) -> None:
    _, facts = open_image(bad_files.jpeg_with_exif(gps=gps))
    assert facts.gps == pytest.approx(expected, abs=1e-6)


def test_a_time_without_offset_is_naive_phone_local_time() -> None:
    _, facts = open_image(bad_files.jpeg_with_exif(datetime(2026, 1, 31, 23, 59, 59)))
    assert facts.taken_at == datetime(2026, 1, 31, 23, 59, 59)
    assert facts.taken_at.tzinfo is None


def test_datetime_is_the_fallback_with_its_own_offset() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-3, minutes=-30)))
    _, facts = open_image(bad_files.jpeg_with_exif(moment, date_tag="DateTime"))
    assert facts.taken_at == moment
    assert facts.taken_at is not None and facts.taken_at.utcoffset() == moment.utcoffset()


def test_device_is_not_doubled_when_the_model_names_the_maker() -> None:
    _, facts = open_image(bad_files.jpeg_with_exif(device=("Xiaomi", "Xiaomi 14")))
    assert facts.device == "Xiaomi 14"


def test_a_photo_without_exif_has_no_facts_but_its_size() -> None:
    _, facts = open_image(bad_files.plain_jpeg(40, 30))
    assert facts == PhotoFacts(40, 30, "image/jpeg", None, None, None, has_exif=False)


def test_partial_exif() -> None:
    _, facts = open_image(bad_files.jpeg_with_exif(None, ("Apple", "iPhone 15"), None))
    assert (facts.taken_at, facts.device, facts.gps, facts.has_exif) == (
        None,
        "Apple iPhone 15",
        None,
        True,
    )


def test_null_island_is_no_location() -> None:
    _, facts = open_image(bad_files.jpeg_with_exif(gps=(0.0, 0.0)))
    assert facts.gps is None


# --- orientation and colour ----------------------------------------------------------------


def test_orientation_is_applied_and_facts_report_the_upright_size() -> None:
    # Stored 64 wide × 48 high; orientation 6 says "turn 90° clockwise to view".
    stored = Image.open(io.BytesIO(bad_files.jpeg_with_exif(orientation=6, width=64, height=48)))
    stored.load()
    image, facts = open_image(bad_files.jpeg_with_exif(orientation=6, width=64, height=48))
    assert image.size == (48, 64)
    assert (facts.width, facts.height) == (48, 64)
    # The stored bottom-left corner is the upright top-left one after a clockwise turn.
    assert image.getpixel((0, 0)) == stored.getpixel((0, 47))
    assert image.getexif().get(0x0112) in (None, 1)  # orientation tag gone or neutral


def test_png_and_webp_decode_to_rgb_with_transparency_on_white() -> None:
    image, facts = open_image(bad_files.png(32, 24, alpha=True))
    assert (image.mode, facts.format) == ("RGB", "image/png")
    assert image.getpixel((0, 0)) == (255, 255, 255)
    image, facts = open_image(bad_files.webp())
    assert (image.mode, facts.format, image.size) == ("RGB", "image/webp", (32, 24))


def test_draft_decodes_a_jpeg_smaller_but_reports_the_full_size() -> None:
    image, facts = open_image(bad_files.plain_jpeg(1280, 960), draft_side=THUMBNAIL_SIDE)
    assert (facts.width, facts.height) == (1280, 960)
    assert min(image.size) >= THUMBNAIL_SIDE
    assert image.size[0] < 1280


# --- rejections ----------------------------------------------------------------------------


def test_a_decompression_bomb_is_rejected_fast_without_allocating_it() -> None:
    bomb = bad_files.png_bomb(30_000, 30_000)
    assert len(bomb) < 200_000  # ~110 KB that would decode to 900 megapixels
    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = _rejection(bomb)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.reason == "DECOMPRESSION_BOMB"
    assert elapsed < 1.0
    assert peak < 10_000_000


def test_our_own_pixel_cap_applies_below_pillows_global_limit() -> None:
    # 8 000 × 8 000 = 64 MP: Pillow's default limit (89 MP) would let it through.
    error = _rejection(bad_files.png_bomb(8_000, 8_000))
    assert error.reason == "DECOMPRESSION_BOMB"
    assert "8000×8000" in error.message
    assert _rejection(bad_files.plain_jpeg(100, 100), max_pixels=9_999).reason == (
        "DECOMPRESSION_BOMB"
    )
    open_image(bad_files.plain_jpeg(100, 100), max_pixels=10_000)


def test_a_truncated_jpeg_is_rejected_not_padded_with_grey() -> None:
    error = _rejection(bad_files.truncated_jpeg())
    assert error.reason == "TRUNCATED_IMAGE"


def test_a_truncated_png_is_rejected() -> None:
    whole = bad_files.png(64, 64)
    assert _rejection(whole[: len(whole) // 2]).reason == "TRUNCATED_IMAGE"


@pytest.mark.parametrize(
    "data",
    [
        b"\xff\xd8\xff" + b"this is not a JPEG after all" * 4,  # right magic, garbage after
        b"\x89PNG\r\n\x1a\n" + bytes(64),  # PNG signature, broken IHDR
        b"nothing an image decoder could read" * 3,
    ],
)
def test_anything_pillow_cannot_decode_is_corrupt(data: bytes) -> None:
    assert _rejection(data).reason == "CORRUPT_IMAGE"


@pytest.mark.parametrize(
    "data",
    [
        bad_files.mp4(b"heic", (b"mif1", b"heic")),
        bad_files.pdf(),
        bad_files.executable(),
    ],
)
def test_content_that_is_no_decodable_photo_is_unsupported(data: bytes) -> None:
    assert _rejection(data).reason == "UNSUPPORTED_TYPE"


def test_heic_rejection_tells_the_phone_to_send_jpeg() -> None:
    error = _rejection(bad_files.mp4(b"heic", (b"mif1", b"heic")))
    assert "HEIC" in error.message and "JPEG" in error.message
    assert (error.code, error.reasons) == ("IMAGE_REJECTED", ("UNSUPPORTED_TYPE",))


# --- derived copies ------------------------------------------------------------------------


def test_derived_copies_carry_no_exif_gps_or_icc() -> None:
    data = bad_files.jpeg_with_exif(width=400, height=300)
    image, facts = open_image(data)
    assert facts.gps is not None
    image.info["icc_profile"] = b"not a real profile, but it must not travel"
    for side in (THUMBNAIL_SIDE, DISPLAY_SIDE):
        copy = Image.open(io.BytesIO(derived_jpeg(image, max_side=side)))
        assert copy.format == "JPEG"
        assert len(copy.getexif()) == 0
        assert "exif" not in copy.info
        assert "icc_profile" not in copy.info


@pytest.mark.parametrize(
    ("size", "max_side", "expected"),
    [
        ((4000, 3000), THUMBNAIL_SIDE, (320, 240)),
        ((3000, 4000), THUMBNAIL_SIDE, (240, 320)),
        ((4000, 3000), DISPLAY_SIDE, (1600, 1200)),
        ((1000, 10), 320, (320, 3)),
        ((5000, 1), 320, (320, 1)),  # never rounded down to nothing
        ((200, 100), DISPLAY_SIDE, (200, 100)),  # never upscaled
    ],
)
def test_derived_copies_keep_the_aspect_within_max_side(
    size: tuple[int, int], max_side: int, expected: tuple[int, int]
) -> None:
    copy = Image.open(io.BytesIO(derived_jpeg(Image.new("RGB", size, "grey"), max_side=max_side)))
    assert copy.size == expected


def test_derived_copies_are_deterministic() -> None:
    image, _ = open_image(bad_files.plain_jpeg(800, 600, seed=7))
    assert derived_jpeg(image, max_side=320) == derived_jpeg(image, max_side=320)


def test_derived_jpeg_refuses_nonsense_arguments() -> None:
    image = Image.new("RGB", (10, 10))
    with pytest.raises(ValueError, match="max_side"):
        derived_jpeg(image, max_side=0)
    with pytest.raises(ValueError, match="quality"):
        derived_jpeg(image, max_side=10, quality=100)


def test_a_12_megapixel_photo_opens_and_thumbnails_well_under_a_second() -> None:
    data = bad_files.plain_jpeg(4000, 3000, seed=5)
    started = time.perf_counter()
    image, facts = open_image(data)
    thumbnail = derived_jpeg(image, max_side=THUMBNAIL_SIDE)
    elapsed = time.perf_counter() - started
    assert (facts.width, facts.height) == (4000, 3000)
    assert thumbnail.startswith(b"\xff\xd8\xff")
    assert elapsed < 1.0
