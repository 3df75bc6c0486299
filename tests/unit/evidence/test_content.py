"""Sniffing evidence content and checking it against its kind and declared type."""

from __future__ import annotations

import pytest

from services.evidence.core import content
from services.evidence.core.content import (
    ALLOWED,
    REFUSED,
    SNIFF_BYTES,
    ContentRejected,
    check_content,
    sniff,
)
from shared.domain_errors import InvalidInput, InvalidValue
from tests.unit.evidence import bad_files


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bad_files.plain_jpeg(16, 16), "image/jpeg"),
        (bad_files.jpeg_with_exif(), "image/jpeg"),
        (bad_files.png(), "image/png"),
        (bad_files.webp(), "image/webp"),
        (bad_files.pdf(), "application/pdf"),
        (bad_files.mp4(), "video/mp4"),
        (bad_files.mp4(b"mp42", (b"mp42", b"isom")), "video/mp4"),
        (bad_files.mp4(b"mp41", (b"mp41",)), "video/mp4"),
        (bad_files.mp4(b"avc1", (b"avc1",)), "video/mp4"),
        (bad_files.mp4(b"qt  ", (b"qt  ",)), "video/quicktime"),
        (bad_files.mp4(b"heic", (b"mif1", b"heic")), "image/heic"),
        (bad_files.mp4(b"heix", (b"mif1", b"heix")), "image/heic"),
        (bad_files.mp4(b"mif1", (b"mif1", b"heic")), "image/heic"),
        (bad_files.mp4(b"mif1", (b"mif1", b"miaf", b"avif")), "image/avif"),
        (bad_files.mp4(b"3gp4", (b"3gp4",)), "video/3gpp"),
        (bad_files.executable("elf"), content.EXECUTABLE),
        (bad_files.executable("pe"), content.EXECUTABLE),
        (bad_files.executable("macho"), content.EXECUTABLE),
        (b"#!/bin/sh\nrm -rf /\n", content.SCRIPT),
        (b"PK\x03\x04" + bytes(60), content.ZIP),
    ],
)
def test_sniff_reads_the_type_from_the_first_bytes(data: bytes, expected: str) -> None:
    assert sniff(data[:SNIFF_BYTES]) == expected


@pytest.mark.parametrize(
    "head",
    [
        b"",
        b"hello, this is plain text and not a photo at all" + bytes(20),
        b"GIF89a" + bytes(58),
        b"RIFF\x00\x00\x00\x00WAVEfmt ",  # RIFF, but audio
        bad_files.mp4(b"zzzz", (b"zzzz",)),  # an ftyp brand we do not know
        b"\x00\x00\x00\x08ftypisom",  # ftyp box too short to hold a brand and a version
    ],
)
def test_sniff_knows_nothing_else(head: bytes) -> None:
    assert sniff(head[:SNIFF_BYTES]) is None


def test_allowed_types_per_kind_leave_heic_out() -> None:
    photos = {"image/jpeg", "image/png", "image/webp"}
    assert {kind: set(types) for kind, types in ALLOWED.items()} == {
        "before_photo": photos,
        "after_photo": photos,
        "replaced_part_photo": photos,
        "inspection_report": {"application/pdf", "image/jpeg", "image/png"},
        "invoice": {"application/pdf", "image/jpeg", "image/png"},
        "video": {"video/mp4", "video/quicktime"},
    }
    assert not any(types & REFUSED for types in ALLOWED.values())


@pytest.mark.parametrize(
    ("kind", "declared", "data", "expected"),
    [
        ("before_photo", "image/jpeg", bad_files.plain_jpeg(16, 16), "image/jpeg"),
        ("after_photo", "image/png", bad_files.png(), "image/png"),
        ("replaced_part_photo", "image/webp", bad_files.webp(), "image/webp"),
        ("invoice", "application/pdf", bad_files.pdf(), "application/pdf"),
        ("inspection_report", "image/jpeg", bad_files.plain_jpeg(16, 16), "image/jpeg"),
        ("video", "video/mp4", bad_files.mp4(), "video/mp4"),
        ("video", "video/quicktime", bad_files.mp4(b"qt  ", (b"qt  ",)), "video/quicktime"),
        # Spellings of the same declared type: case, parameters, legacy aliases.
        ("before_photo", "IMAGE/JPEG", bad_files.plain_jpeg(16, 16), "image/jpeg"),
        ("before_photo", "image/jpg", bad_files.plain_jpeg(16, 16), "image/jpeg"),
        ("invoice", "application/pdf; charset=binary", bad_files.pdf(), "application/pdf"),
    ],
)
def test_accepted_content_returns_the_sniffed_type(
    kind: str, declared: str, data: bytes, expected: str
) -> None:
    assert check_content(kind, declared, data[:SNIFF_BYTES]) == expected


def _rejection(kind: str, declared: str, data: bytes) -> ContentRejected:
    with pytest.raises(ContentRejected) as caught:
        check_content(kind, declared, data[:SNIFF_BYTES])
    return caught.value


def test_unknown_kind() -> None:
    error = _rejection("selfie", "image/jpeg", bad_files.plain_jpeg(16, 16))
    assert (error.reason, error.field) == ("UNKNOWN_KIND", "kind")
    assert "'selfie'" in error.message


@pytest.mark.parametrize("kind", ["elf", "pe", "macho"])
def test_an_executable_named_jpg_is_unsupported_whatever_it_declares(kind: str) -> None:
    error = _rejection("before_photo", "image/jpeg", bad_files.executable(kind))
    assert (error.reason, error.field) == ("UNSUPPORTED_TYPE", "content")
    assert "program" in error.message


@pytest.mark.parametrize(
    ("kind", "declared", "data"),
    [
        ("before_photo", "application/pdf", bad_files.pdf()),  # a PDF is no photo
        ("invoice", "video/mp4", bad_files.mp4()),
        ("video", "image/jpeg", bad_files.plain_jpeg(16, 16)),
        ("invoice", "image/webp", bad_files.webp()),  # documents: JPEG or PNG scans only
        ("before_photo", "text/plain", b"just some words, typed into the file"),
        ("before_photo", "image/avif", bad_files.mp4(b"avif", (b"avif", b"mif1"))),
    ],
)
def test_content_of_a_type_the_kind_does_not_allow_is_unsupported(
    kind: str, declared: str, data: bytes
) -> None:
    error = _rejection(kind, declared, data)
    assert (error.reason, error.field) == ("UNSUPPORTED_TYPE", "content")
    assert kind in error.message


def test_heic_is_unsupported_with_advice_to_send_jpeg() -> None:
    error = _rejection("before_photo", "image/heic", bad_files.mp4(b"heic", (b"mif1", b"heic")))
    assert error.reason == "UNSUPPORTED_TYPE"
    assert "JPEG" in error.message


@pytest.mark.parametrize(
    ("declared", "data"),
    [
        ("image/jpeg", bad_files.png()),  # a screenshot renamed .jpg
        ("image/png", bad_files.plain_jpeg(16, 16)),
        ("application/octet-stream", bad_files.plain_jpeg(16, 16)),
        ("", bad_files.plain_jpeg(16, 16)),
    ],
)
def test_a_declared_type_other_than_the_content_is_a_mismatch(declared: str, data: bytes) -> None:
    error = _rejection("after_photo", declared, data)
    assert (error.reason, error.field) == ("TYPE_MISMATCH", "content_type")
    assert "content_type" in error.message


def test_rejections_are_invalid_values_that_carry_their_reason_to_the_wire() -> None:
    error = _rejection("before_photo", "image/jpeg", bad_files.executable())
    assert isinstance(error, InvalidValue)
    assert isinstance(error, InvalidInput)
    assert isinstance(error, ValueError)
    assert error.code == "CONTENT_REJECTED"
    assert error.reasons == ("UNSUPPORTED_TYPE",)
