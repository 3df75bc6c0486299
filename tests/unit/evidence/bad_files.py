"""Evidence files, good and bad, made in memory for the unit and integration tests.

Everything is built from code (Pillow, numpy, zlib, struct), deterministic for the same
arguments, and small: no binary fixtures in the repository, and a reader sees exactly what
makes each file bad.
"""

from __future__ import annotations

import io
import struct
import zlib
from datetime import datetime, timedelta
from functools import cache

import numpy as np
from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def plain_jpeg(width: int = 640, height: int = 480, seed: int = 0, *, quality: int = 90) -> bytes:
    """A JPEG of seeded noise, with no EXIF at all (what a screenshot or an editor gives)."""
    return _encode(_noise(width, height, seed), "JPEG", quality=quality)


def jpeg_with_exif(
    taken_at: datetime | None = datetime(2026, 11, 2, 9, 15, 30),
    device: tuple[str, str] | None = ("HUAWEI", "P30 Pro"),
    gps: tuple[float, float] | None = (27.8274, 113.1339),
    *,
    orientation: int | None = None,
    width: int = 64,
    height: int = 48,
    seed: int = 1,
    date_tag: str = "DateTimeOriginal",
    picture: Image.Image | None = None,
) -> bytes:
    """A phone-like JPEG whose EXIF holds ``taken_at``, ``device`` (make, model) and ``gps``;
    its pixels are ``picture``, or seeded noise of ``width`` × ``height``.

    An aware ``taken_at`` also writes its offset (OffsetTimeOriginal, or OffsetTime with
    ``date_tag="DateTime"``), as recent phones do. ``gps`` is signed decimal degrees, written
    the EXIF way: unsigned degrees/minutes/seconds rationals and N/S/E/W references.
    ``orientation`` (1–8) says how a viewer must turn the stored pixels.
    """
    exif = Image.Exif()
    details: dict[int, object] = {}
    if taken_at is not None:
        stamp = taken_at.strftime("%Y:%m:%d %H:%M:%S")
        offset = _offset(taken_at)
        if date_tag == "DateTimeOriginal":
            details[ExifTags.Base.DateTimeOriginal] = stamp
            if offset:
                details[ExifTags.Base.OffsetTimeOriginal] = offset
        else:
            exif[ExifTags.Base.DateTime] = stamp
            if offset:
                details[ExifTags.Base.OffsetTime] = offset
    if device is not None:
        exif[ExifTags.Base.Make], exif[ExifTags.Base.Model] = device
    if orientation is not None:
        exif[ExifTags.Base.Orientation] = orientation
    if details:
        exif[ExifTags.IFD.Exif] = details
    if gps is not None:
        latitude, longitude = gps
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N" if latitude >= 0 else "S",
            ExifTags.GPS.GPSLatitude: _dms(latitude),
            ExifTags.GPS.GPSLongitudeRef: "E" if longitude >= 0 else "W",
            ExifTags.GPS.GPSLongitude: _dms(longitude),
        }
    pixels = picture if picture is not None else _noise(width, height, seed)
    return _encode(pixels, "JPEG", quality=90, exif=exif)


def truncated_jpeg(width: int = 640, height: int = 480, seed: int = 2) -> bytes:
    """A real JPEG cut in half: headers intact, scan data ending early (an upload cut short)."""
    whole = plain_jpeg(width, height, seed)
    return whole[: len(whole) // 2]


def png(width: int = 32, height: int = 24, *, alpha: bool = False, seed: int = 3) -> bytes:
    """A valid PNG of seeded noise; with ``alpha`` an RGBA one whose left half is transparent."""
    if not alpha:
        return _encode(_noise(width, height, seed), "PNG")
    pixels = np.asarray(_noise(width, height, seed))
    opacity = np.full((height, width, 1), 255, dtype=np.uint8)
    opacity[:, : width // 2] = 0
    return _encode(Image.fromarray(np.concatenate([pixels, opacity], axis=2)), "PNG")


def webp(width: int = 32, height: int = 24, seed: int = 4) -> bytes:
    return _encode(_noise(width, height, seed), "WEBP", quality=80)


@cache
def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A valid 1-bit PNG of ``width`` × ``height`` black pixels, about 1/1000 of the raw size.

    30 000 × 30 000 is 900 megapixels (a gigabyte of memory once decoded) in ~110 KB; 8 000 ×
    8 000 (64 MP, above our 40 MP cap but under Pillow's own limit) is ~8 KB. Deflate cannot
    shrink zeros by more than ~1032:1, so this is as small as a *complete* bomb gets. The
    stream is assembled from one compressed 1 MiB block of zeros repeated, so building even
    the big one takes milliseconds.
    """
    row_bytes = 1 + (width + 7) // 8  # filter byte 0 ("none") + the packed bits, all zero
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    return (
        PNG_SIGNATURE
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", _zlib_zeros(row_bytes * height))
        + _png_chunk(b"IEND", b"")
    )


def executable(kind: str = "elf") -> bytes:
    """The start of a program (``elf``, ``pe`` or ``macho``), padded to 256 bytes.

    Only the headers matter to a content check; tests upload it named ``photo.jpg`` and
    declared ``image/jpeg``.
    """
    heads = {
        # ELF64, little-endian, version 1, System V ABI, type EXEC, machine x86-64.
        "elf": b"\x7fELF\x02\x01\x01\x00" + bytes(8) + struct.pack("<HHI", 2, 0x3E, 1),
        # DOS stub of a PE file: "MZ", then the PE header offset at 0x3C.
        "pe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(50) + struct.pack("<I", 0x80),
        # Mach-O 64-bit, little-endian, CPU arm64, filetype EXECUTE.
        "macho": b"\xcf\xfa\xed\xfe" + struct.pack("<III", 0x0100000C, 0, 2),
    }
    head = heads[kind]
    return head + bytes(256 - len(head))


def pdf() -> bytes:
    """A minimal, valid one-page PDF (with a correct cross-reference table)."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def mp4(major_brand: bytes = b"isom", compatible: tuple[bytes, ...] = (b"isom", b"mp42")) -> bytes:
    """An ISO base media file: an ``ftyp`` box with these brands and an empty ``mdat``.

    ``mp4(b"qt  ", (b"qt  ",))`` is a QuickTime movie, ``mp4(b"heic", (b"mif1", b"heic"))`` a
    HEIC photo, ``mp4(b"mif1", (b"mif1", b"avif"))`` an AVIF one, as far as sniffing goes.
    """
    ftyp = major_brand + struct.pack(">I", 0x200) + b"".join(compatible)
    return _box(b"ftyp", ftyp) + _box(b"mdat", bytes(64))


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def _noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _encode(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **options)
    return out.getvalue()


def _offset(moment: datetime) -> str | None:
    delta = moment.utcoffset()
    if delta is None:
        return None
    sign = "-" if delta < timedelta(0) else "+"
    minutes = abs(int(delta.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _dms(value: float) -> tuple[IFDRational, IFDRational, IFDRational]:
    """Unsigned degrees, minutes and seconds (to 1/1000 s), as EXIF rationals want them."""
    total_ms = round(abs(value) * 3_600_000)
    degrees, rest = divmod(total_ms, 3_600_000)
    minutes, millis = divmod(rest, 60_000)
    return IFDRational(degrees, 1), IFDRational(minutes, 1), IFDRational(millis, 1000)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def _zlib_zeros(length: int) -> bytes:
    """A zlib stream of ``length`` zero bytes, without compressing ``length`` bytes.

    After a full flush deflate forgets its history, so a compressed block of 1 MiB of zeros
    can be repeated as is; the Adler-32 of n zeros is (n mod 65521) << 16 | 1.
    """
    chunk = 1 << 20
    repeats, rest = divmod(length, chunk)
    block = zlib.compressobj(9, zlib.DEFLATED, -15)
    middle = block.compress(bytes(chunk)) + block.flush(zlib.Z_FULL_FLUSH)
    final = zlib.compressobj(9, zlib.DEFLATED, -15)
    tail = final.compress(bytes(rest)) + final.flush()
    adler = ((length % 65521) << 16) | 1
    return b"\x78\xda" + middle * repeats + tail + struct.pack(">I", adler)
