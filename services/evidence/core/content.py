"""What an uploaded evidence object really is, from its first bytes, and whether its kind allows it.

A phone, a browser or a partner system says what it sends (a file name, a declared content
type), and either can be wrong or a lie: a program renamed ``photo.jpg`` is still a program.
So the type that counts is the one read from the content's magic bytes (``sniff``); the
declared type only has to agree with it (``check_content``).

``sniff`` knows two groups of types:

- the types evidence may be (``image/jpeg``, ``image/png``, ``image/webp``, ``image/heic``,
  ``application/pdf``, ``video/mp4``, ``video/quicktime``) and two look-alikes that share
  their containers (``image/avif``, ``video/3gpp``), so they are refused by name rather than
  mistaken for HEIC or MP4;
- things that must never be accepted (``REFUSED``: executables, scripts, ZIP archives).
  They get distinct types, not ``None``, so the rejection and the log can say "this is a
  program", which matters for an upload that pretends to be a photo.

Anything else is ``None``: not recognised, and therefore not accepted.

HEIC is recognised but not allowed for any kind: the image decoder (Pillow, no HEIF plugin)
cannot decode it, and a photo that cannot be decoded cannot be checked. Phones send JPEG
when the camera is set to "Most Compatible" (iPhone) or when sharing through a browser.

Pure: imports nothing but the standard library and ``shared.domain_errors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from shared.domain_errors import InvalidValue

# How many leading bytes a caller should read for ``sniff``. Every signature below, ftyp
# major and compatible brands included, lies inside the first 64 bytes. A shorter head is
# fine when the whole object is shorter.
SNIFF_BYTES: Final = 64

JPEG: Final = "image/jpeg"
PNG: Final = "image/png"
WEBP: Final = "image/webp"
HEIC: Final = "image/heic"
AVIF: Final = "image/avif"
PDF: Final = "application/pdf"
MP4: Final = "video/mp4"
QUICKTIME: Final = "video/quicktime"
THREE_GP: Final = "video/3gpp"

EXECUTABLE: Final = "application/x-executable"  # ELF, PE ("MZ"), Mach-O
SCRIPT: Final = "text/x-script"  # "#!" shebang
ZIP: Final = "application/zip"  # also APK, JAR, Office files

REFUSED: Final[frozenset[str]] = frozenset({EXECUTABLE, SCRIPT, ZIP})

_PHOTOS = frozenset({JPEG, PNG, WEBP})
_DOCUMENTS = frozenset({PDF, JPEG, PNG})
_VIDEOS = frozenset({MP4, QUICKTIME})

# Evidence kind → the content types it may be. HEIC is in none of them (see module docstring).
ALLOWED: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "before_photo": _PHOTOS,
        "after_photo": _PHOTOS,
        "replaced_part_photo": _PHOTOS,
        "inspection_report": _DOCUMENTS,
        "invoice": _DOCUMENTS,
        "video": _VIDEOS,
    }
)

# Stable reason codes of ``ContentRejected``: never renamed, never reused.
UNKNOWN_KIND: Final = "UNKNOWN_KIND"
UNSUPPORTED_TYPE: Final = "UNSUPPORTED_TYPE"
TYPE_MISMATCH: Final = "TYPE_MISMATCH"

_SIMPLE_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", JPEG),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"%PDF-", PDF),
    (b"\x7fELF", EXECUTABLE),
    (b"MZ", EXECUTABLE),
    (b"\xfe\xed\xfa\xce", EXECUTABLE),  # Mach-O 32-bit, big-endian
    (b"\xfe\xed\xfa\xcf", EXECUTABLE),  # Mach-O 64-bit, big-endian
    (b"\xce\xfa\xed\xfe", EXECUTABLE),  # Mach-O 32-bit, little-endian
    (b"\xcf\xfa\xed\xfe", EXECUTABLE),  # Mach-O 64-bit, little-endian
    (b"\xca\xfe\xba\xbe", EXECUTABLE),  # Mach-O universal (and Java class files)
    (b"#!", SCRIPT),
    (b"PK\x03\x04", ZIP),
    (b"PK\x05\x06", ZIP),  # empty archive
    (b"PK\x07\x08", ZIP),  # spanned archive
)

# ISO base media ("ftyp") brands. The major brand decides; "mif1"/"msf1" are the generic
# HEIF brands, shared by HEIC and AVIF, so for them the compatible brands decide.
_FTYP_MAJOR: Mapping[bytes, str] = MappingProxyType(
    {
        **dict.fromkeys((b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"), HEIC),
        **dict.fromkeys((b"avif", b"avis"), AVIF),
        b"qt  ": QUICKTIME,
        **dict.fromkeys(
            (
                b"isom",
                b"iso2",
                b"iso3",
                b"iso4",
                b"iso5",
                b"iso6",
                b"mp41",
                b"mp42",
                b"mp71",
                b"avc1",
                b"M4V ",
                b"M4VH",
                b"M4VP",
                b"dash",
                b"mmp4",
                b"MSNV",
                b"XAVC",
            ),
            MP4,
        ),
        **dict.fromkeys((b"3gp4", b"3gp5", b"3gp6", b"3g2a"), THREE_GP),
    }
)
_GENERIC_HEIF = frozenset({b"mif1", b"msf1"})

# Declared types that name the same thing under another spelling.
_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "image/jpg": JPEG,
        "image/pjpeg": JPEG,
        "image/x-png": PNG,
        "image/heif": HEIC,
        "application/x-pdf": PDF,
    }
)


class ContentRejected(InvalidValue):
    """An evidence object refused for what it is; ``reason`` is one of the codes above.

    As elsewhere in the project (``PolicyNotIssuable``), the class ``code`` is the ErrorInfo
    reason and ``reasons`` travels in its metadata, so a client sees ``CONTENT_REJECTED`` with
    ``reasons=UNSUPPORTED_TYPE`` and a field violation on ``field``.
    """

    code = "CONTENT_REJECTED"

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(field, message)
        # InvalidValue keeps the message in ``reason``; here ``reason`` is the stable code.
        self.reason = reason
        self.reasons = (reason,)


def sniff(head: bytes) -> str | None:
    """The MIME type the leading bytes show, or ``None`` when they show nothing we know.

    Pass at least ``SNIFF_BYTES`` bytes (or the whole object when it is shorter).
    Types in ``REFUSED`` mean "recognised, and never acceptable".
    """
    for signature, mime in _SIMPLE_SIGNATURES:
        if head.startswith(signature):
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp":
        return _sniff_ftyp(head)
    return None


def _sniff_ftyp(head: bytes) -> str | None:
    """HEIC, AVIF, MP4, 3GP or QuickTime, from the brands of the leading ``ftyp`` box."""
    box_size = int.from_bytes(head[0:4], "big")
    major = head[8:12]
    if box_size < 16 or len(major) < 4:
        return None
    if major in _GENERIC_HEIF:
        compatible = head[16 : min(box_size, len(head))]
        brands = {compatible[i : i + 4] for i in range(0, len(compatible) - 3, 4)}
        return AVIF if brands & {b"avif", b"avis"} else HEIC
    return _FTYP_MAJOR.get(major)


def normalise_declared(declared_type: str) -> str:
    """``declared_type`` as one canonical MIME: lower case, no parameters, aliases resolved."""
    mime = declared_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(mime, mime)


def check_content(kind: str, declared_type: str, head: bytes) -> str:
    """The sniffed type of an evidence object of ``kind``, or ``ContentRejected``.

    The checks run in this order, so the message names the most useful fault:
    ``UNKNOWN_KIND`` (field ``kind``), ``UNSUPPORTED_TYPE`` (field ``content``: the content is
    not a type the kind allows, a program named ``.jpg`` included), ``TYPE_MISMATCH`` (field
    ``content_type``: the declared type is not what the content is; an empty declaration
    counts as a mismatch, because an uploader that does not say what it sends is a bug to
    hear about, not to guess around).
    """
    allowed = ALLOWED.get(kind)
    if allowed is None:
        known = ", ".join(ALLOWED)
        raise ContentRejected(
            "kind", UNKNOWN_KIND, f"kind {kind!r} is not an evidence kind (one of {known})"
        )
    sniffed = sniff(head)
    if sniffed is None or sniffed not in allowed:
        raise ContentRejected(
            "content", UNSUPPORTED_TYPE, _unsupported_message(kind, sniffed, allowed)
        )
    declared = normalise_declared(declared_type)
    if declared != sniffed:
        raise ContentRejected(
            "content_type",
            TYPE_MISMATCH,
            f"content_type {declared_type!r} does not match the content, which is {sniffed}",
        )
    return sniffed


def _unsupported_message(kind: str, sniffed: str | None, allowed: frozenset[str]) -> str:
    expected = ", ".join(sorted(allowed))
    if sniffed is None:
        what = "not a file type we recognise"
    elif sniffed in REFUSED:
        what = f"a program or archive ({sniffed}), never accepted as evidence"
    elif sniffed == HEIC:
        what = "a HEIC photo, which we cannot check; set the phone camera to JPEG"
    else:
        what = sniffed
    return f"content of {kind} evidence must be one of {expected}; this upload is {what}"
