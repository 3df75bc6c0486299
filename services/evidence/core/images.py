"""Decoding evidence photos safely, reading what their EXIF says, and making metadata-free copies.

Photos come from contractors' phones and are checked before they count, so the decoder
treats every byte as hostile:

- only JPEG, PNG and WebP reach Pillow, and Pillow is told so (``formats=``), so a crafted
  file cannot wake one of its exotic plugins (EPS would even start Ghostscript);
- the pixel count is read from the header and checked *before* any pixel is decoded, per
  call (``max_pixels``), instead of mutating Pillow's process-wide ``MAX_IMAGE_PIXELS``,
  which other threads read at the same time. Pillow's own bomb guard stays on as the outer
  fence: its error (and its warning, when warnings are raised as errors) is a bomb too;
- the image is fully loaded, and ``ImageFile.LOAD_TRUNCATED_IMAGES`` is left off, so a file
  cut short in transit fails here rather than showing up grey at the bottom later.

HEIC (the iPhone default) is refused with ``UNSUPPORTED_TYPE``: Pillow cannot decode it
without a plugin this project does not ship, and a photo we cannot decode is a photo we
cannot check. ``content.ALLOWED`` leaves HEIC out of every kind for the same reason, so
the two modules agree; phones send JPEG when set to "Most Compatible".

Copies shown to people (``derived_jpeg``) carry no EXIF, GPS or ICC data: where a
contractor stood is for the adjuster's forensics, not for every viewer of the thumbnail.

Pure: Pillow and the standard library, no I/O beyond the bytes given.
"""

from __future__ import annotations

import io
import math
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from PIL import ExifTags, Image, ImageOps

from services.evidence.core.content import (
    HEIC,
    JPEG,
    PNG,
    SNIFF_BYTES,
    UNSUPPORTED_TYPE,
    WEBP,
    sniff,
)
from shared.domain_errors import InvalidValue

# Stable reason codes of ``ImageRejected`` (plus ``content.UNSUPPORTED_TYPE``).
DECOMPRESSION_BOMB: Final = "DECOMPRESSION_BOMB"
TRUNCATED_IMAGE: Final = "TRUNCATED_IMAGE"
CORRUPT_IMAGE: Final = "CORRUPT_IMAGE"

DEFAULT_MAX_PIXELS: Final = 40_000_000  # a 12 MP phone photo is 12_000_000; a 108 MP one is refused

THUMBNAIL_SIDE: Final = 320
DISPLAY_SIDE: Final = 1600

# The content types Pillow decodes here, and the plugin each one may use. A JPEG may come
# back as "MPO" (multi-picture JPEG from phones' portrait modes): the JPEG plugin opens both.
_DECODABLE: Final = {JPEG: "JPEG", PNG: "PNG", WEBP: "WEBP"}

# What Pillow's plugins raise on bytes they cannot make sense of. Fuzzing finds more than
# OSError and SyntaxError, and every one of them means "cannot decode", not a bug of ours.
_DECODE_ERRORS: Final = (
    OSError,  # includes UnidentifiedImageError and "image file is truncated"
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
)
_BOMB_ERRORS: Final = (Image.DecompressionBombError, Image.DecompressionBombWarning)

_EXIF_DATETIME = re.compile(r"(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"[+-]\d{2}:\d{2}")


class ImageRejected(InvalidValue):
    """A photo refused because it cannot be decoded safely; ``reason`` is a stable code.

    Like ``content.ContentRejected``: the class ``code`` is the ErrorInfo reason, ``reasons``
    goes to its metadata, ``field`` (``content``) becomes the field violation.
    """

    code = "IMAGE_REJECTED"

    def __init__(self, reason: str, message: str, *, field: str = "content") -> None:
        super().__init__(field, message)
        self.reason = reason
        self.reasons = (reason,)


@dataclass(frozen=True, slots=True)
class PhotoFacts:
    """What a photo says about itself.

    ``width``/``height``: the full-resolution size as shown upright (after EXIF orientation),
    even when ``open_image`` decoded a reduced draft. ``format``: the sniffed MIME type.
    ``taken_at``: EXIF DateTimeOriginal (else DateTime); aware when the phone wrote the
    matching offset (OffsetTimeOriginal, resp. OffsetTime), otherwise *naive*: the local
    time of the phone's clock, which callers read as Asia/Shanghai. ``device``: Make and
    Model (just Model when it already starts with Make). ``gps``: decimal (latitude,
    longitude), south and west negative; ``None`` when absent, unreadable or exactly (0, 0)
    (what phones write without a fix). Every fact is ``None`` rather than a guess when its
    tag is missing or garbled: EXIF is written by the uploader and proves nothing alone.
    """

    width: int
    height: int
    format: str
    taken_at: datetime | None
    device: str | None
    gps: tuple[float, float] | None
    has_exif: bool
    orientation: int = 1  # EXIF Orientation (1: upright as stored; 1 when absent or garbled)


def open_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    draft_side: int | None = None,
    rgb: bool = True,
) -> tuple[Image.Image, PhotoFacts]:
    """Decode ``data`` into an upright RGB image and its facts, or raise ``ImageRejected``.

    ``max_pixels`` caps width × height, checked from the header before decoding. Pillow's
    global limit still applies above it. ``draft_side``: when the caller only needs copies
    no larger than this, let libjpeg decode JPEGs at 1/2, 1/4 or 1/8 scale (each side stays
    ≥ ``draft_side``), several times faster; every byte of the file is still decoded, so a
    truncated one is caught as at full size. ``rgb=False`` leaves the mode as decoded (what
    ``matching.decode`` hashes; ``derived_jpeg`` converts by itself).
    """
    mime = sniff(data[:SNIFF_BYTES])
    plugin = _DECODABLE.get(mime or "")
    if mime is None or plugin is None:
        raise _not_decodable(mime)
    try:
        image = Image.open(io.BytesIO(data), formats=(plugin,))
    except _BOMB_ERRORS as exc:
        raise _bomb() from exc
    except _DECODE_ERRORS as exc:
        raise ImageRejected(CORRUPT_IMAGE, f"content is not a readable {plugin} image") from exc
    # No ``with image``: closing an image destroys its pixels, and these are returned.
    width, height = image.size
    if width <= 0 or height <= 0:
        raise ImageRejected(CORRUPT_IMAGE, f"content is a {plugin} image with no pixels")
    if width * height > max_pixels:
        raise _bomb(f"{width}×{height} is more than {max_pixels} pixels")
    if draft_side is not None and plugin == "JPEG":
        image.draft("RGB", (draft_side, draft_side))
    try:
        image.load()
        exif = image.getexif()
        facts = _facts(exif, width, height, mime)
        ImageOps.exif_transpose(image, in_place=True)
        return (_to_rgb(image) if rgb else image), facts
    except _BOMB_ERRORS as exc:
        raise _bomb() from exc
    except (OSError, EOFError) as exc:
        # Pillow says "image file is truncated" / "Truncated File Read" when the data ends
        # early; EOFError is the same thing from plugins that read chunk by chunk.
        if isinstance(exc, EOFError) or "truncated" in str(exc).lower():
            message = f"content is a {plugin} image cut short; upload it again"
            raise ImageRejected(TRUNCATED_IMAGE, message) from exc
        raise ImageRejected(CORRUPT_IMAGE, f"content is a damaged {plugin} image") from exc
    except _DECODE_ERRORS as exc:
        raise ImageRejected(CORRUPT_IMAGE, f"content is a damaged {plugin} image") from exc


def derived_jpeg(image: Image.Image, *, max_side: int, quality: int = 85) -> bytes:
    """A JPEG copy of ``image`` fitting in ``max_side`` × ``max_side``, with no metadata.

    The aspect ratio is kept and nothing is upscaled. No EXIF (so no GPS), no ICC profile,
    no comments: these copies are what people see (``THUMBNAIL_SIDE``, ``DISPLAY_SIDE``).
    """
    if max_side < 1:
        raise ValueError(f"max_side must be positive, not {max_side}")
    if not 1 <= quality <= 95:
        raise ValueError(f"quality must be within 1..95, not {quality}")
    rgb = _to_rgb(image)
    width, height = rgb.size
    scale = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if size == rgb.size:
        copy = rgb.copy()
    else:
        # reducing_gap: shrink by whole factors first (box filter), then Lanczos the rest.
        # 2.0, not 3.0: at 3.0 a 1280-pixel photo's 4× shrink to a thumbnail skips the box
        # step and Lanczos runs over every pixel (12 ms instead of 5 ms, bench measured).
        copy = rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)
    copy.info = {}  # resize and copy carry exif/icc_profile along; the encoder may read them
    out = io.BytesIO()
    copy.save(out, format="JPEG", quality=quality)
    return out.getvalue()


def stripped_jpeg(data: bytes, *, orientation: int = 1) -> bytes | None:
    """The JPEG ``data`` without its metadata, its compressed pixels untouched (no re-encoding:
    the same picture, byte for byte in its scans, at no decoding cost), or None when its
    structure is not the plain one this reads (the caller then re-encodes with
    ``derived_jpeg``).

    Kept: the frame, tables and scans, APP0 (JFIF) and APP14 (Adobe: how to read the colours).
    Dropped: every other APPn segment (EXIF with GPS, time and device; XMP; ICC; IPTC; maker
    data), comments, and whatever follows the end of the image (the extra pictures of a phone's
    MPO file carry EXIF of their own). An ``orientation`` other than 1 is kept in a minimal
    EXIF holding that tag alone, so that the copy is still shown upright.
    """
    if not data.startswith(b"\xff\xd8"):
        return None
    kept = [data[:2]]
    if orientation != 1:
        exif = Image.Exif()
        exif[ExifTags.Base.Orientation] = orientation
        payload = exif.tobytes()
        kept.append(b"\xff\xe1" + (len(payload) + 2).to_bytes(2, "big") + payload)
    at, end = 2, len(data)
    while at + 1 < end:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte before a marker
            at += 1
            continue
        if marker == 0xD9:  # end of image: nothing after it is kept
            kept.append(b"\xff\xd9")
            return b"".join(kept)
        if at + 4 > end:
            return None
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        following = at + 2 + length
        if length < 2 or following > end:
            return None
        if marker not in _METADATA_MARKERS:
            kept.append(data[at:following])
        at = following
        if marker == 0xDA:  # start of scan: the compressed data runs to the next marker
            scan_end = _scan_end(data, at)
            if scan_end is None:
                return None
            kept.append(data[at:scan_end])
            at = scan_end
    return None  # no end of image


# APP1…APP13 and APP15 (APP0 is JFIF, APP14 Adobe's colour transform) and COM.
_METADATA_MARKERS: Final = frozenset({*range(0xE1, 0xEE), 0xEF, 0xFE})


def _scan_end(data: bytes, at: int) -> int | None:
    """Where the compressed data from ``at`` ends: the first 0xFF that is not a stuffed
    0xFF00 nor a restart marker (0xFFD0–D7)."""
    while (at := data.find(b"\xff", at)) != -1 and at + 1 < len(data):
        following = data[at + 1]
        if following == 0 or 0xD0 <= following <= 0xD7:
            at += 2
        elif following == 0xFF:  # fill bytes before the next marker
            at += 1
        else:
            return at
    return None


def _facts(exif: Image.Exif, width: int, height: int, mime: str) -> PhotoFacts:
    """The facts of a loaded, not yet transposed image (orientation swaps the sides)."""
    if exif.get(ExifTags.Base.Orientation) in (5, 6, 7, 8):
        width, height = height, width
    details = exif.get_ifd(ExifTags.IFD.Exif)
    taken_at = _exif_datetime(
        details.get(ExifTags.Base.DateTimeOriginal), details.get(ExifTags.Base.OffsetTimeOriginal)
    ) or _exif_datetime(exif.get(ExifTags.Base.DateTime), details.get(ExifTags.Base.OffsetTime))
    orientation = exif.get(ExifTags.Base.Orientation)
    return PhotoFacts(
        width=width,
        height=height,
        format=mime,
        taken_at=taken_at,
        device=_device(exif.get(ExifTags.Base.Make), exif.get(ExifTags.Base.Model)),
        gps=_gps(exif.get_ifd(ExifTags.IFD.GPSInfo)),
        has_exif=len(exif) > 0,
        orientation=orientation if isinstance(orientation, int) and 1 <= orientation <= 8 else 1,
    )


def _text(value: object) -> str | None:
    """An EXIF ASCII value as clean text; phones pad with NULs and spaces."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.replace("\x00", " ").strip() or None


def _exif_datetime(value: object, offset: object) -> datetime | None:
    """``YYYY:MM:DD HH:MM:SS`` (plus ``±HH:MM`` when given) as a datetime, None if garbled."""
    text = _text(value)
    match = _EXIF_DATETIME.match(text or "")
    if match is None:
        return None
    year, month, day, hour, minute, second = match.groups()
    iso = f"{year}-{month}-{day}T{hour}:{minute}:{second}"
    zone = _text(offset)
    if zone is not None and _EXIF_OFFSET.fullmatch(zone):
        iso += zone
    try:
        return datetime.fromisoformat(iso)  # "0000:00:00 00:00:00" (no clock) fails here
    except ValueError:
        return None


def _device(make: object, model: object) -> str | None:
    maker, name = _text(make), _text(model)
    if maker and name and not name.casefold().startswith(maker.casefold()):
        return f"{maker} {name}"
    return name or maker


def _gps(gps: dict[int, object]) -> tuple[float, float] | None:
    latitude = _coordinate(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef))
    longitude = _coordinate(
        gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef)
    )
    if latitude is None or longitude is None or (latitude == 0 and longitude == 0):
        return None
    if abs(latitude) > 90 or abs(longitude) > 180:
        return None
    return latitude, longitude


def _coordinate(dms: object, ref: object) -> float | None:
    """Degrees, minutes, seconds (EXIF rationals) and an N/S/E/W reference as signed degrees.

    A coordinate without its reference is refused rather than assumed north or east.
    """
    hemisphere = (_text(ref) or "").upper()[:1]
    if hemisphere not in ("N", "S", "E", "W") or not isinstance(dms, Sequence):
        return None
    try:
        parts = [float(part) for part in dms][:3]
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not parts or not all(math.isfinite(part) and part >= 0 for part in parts):
        return None
    degrees = sum(part / 60.0**i for i, part in enumerate(parts))
    return -degrees if hemisphere in ("S", "W") else degrees


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB, with transparent areas on white (a plain convert would leave them black)."""
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        flat.info = dict(image.info)
        return flat
    return image.convert("RGB")


def _bomb(detail: str = "") -> ImageRejected:
    message = "content has too many pixels to decode safely"
    return ImageRejected(DECOMPRESSION_BOMB, f"{message} ({detail})" if detail else message)


def _not_decodable(mime: str | None) -> ImageRejected:
    if mime == HEIC:
        message = (
            "content is a HEIC photo, which cannot be checked; set the phone camera to "
            "'Most Compatible' (JPEG) and take or share it again"
        )
        return ImageRejected(UNSUPPORTED_TYPE, message)
    if mime is not None:
        return ImageRejected(UNSUPPORTED_TYPE, f"content is {mime}, not a JPEG, PNG or WebP photo")
    return ImageRejected(CORRUPT_IMAGE, "content is not an image we can read")
