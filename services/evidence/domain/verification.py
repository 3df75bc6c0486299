"""What an uploaded object must be before it counts as evidence: pure, so the presigned-upload
path and the streaming RPC judge the same bytes the same way.

In order: the size the client declared (and the kind's limit), the SHA-256 it declared, the
real type by content (never the name), and for photos a safe decode (pixel limit, truncation)
that also yields the EXIF facts, the two derived copies shown to people (no EXIF, no GPS) and
the perceptual hashes forensics needs. Any failure is ``UploadRejected`` with a stable reason.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from services.evidence.core.content import ALLOWED, JPEG, check_content
from services.evidence.core.images import (
    DISPLAY_SIDE,
    THUMBNAIL_SIDE,
    PhotoFacts,
    derived_jpeg,
    open_image,
    stripped_jpeg,
)
from services.evidence.core.phash import THUMB, index_hashes, photo_hash
from shared.domain_errors import InvalidValue

PHOTO_KINDS: Final = frozenset({"before_photo", "after_photo", "replaced_part_photo"})
KINDS: Final = tuple(ALLOWED)
MIB: Final = 1024 * 1024
# Phones send 2–8 MB photos; a scanned invoice is smaller; a short repair video is larger.
MAX_BYTES: Final[dict[str, int]] = {
    "before_photo": 20 * MIB,
    "after_photo": 20 * MIB,
    "replaced_part_photo": 20 * MIB,
    "inspection_report": 20 * MIB,
    "invoice": 20 * MIB,
    "video": 200 * MIB,
}
MAX_PIXELS: Final = 40_000_000  # a 48-megapixel phone sensor bins to 12; 40 leaves room
_SHA256 = re.compile(r"[0-9a-f]{64}")
HASH_DRAFT_SIDE: Final = 2 * THUMB  # as ``matching.decode`` decodes


class UploadRejected(InvalidValue):
    """Like ``ContentRejected``: ``code`` is the ErrorInfo reason, ``reasons`` the detail."""

    code = "UPLOAD_REJECTED"

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(field, message)
        self.reason = reason
        self.reasons = (reason,)


@dataclass(frozen=True)
class Declared:
    """What the client said it would upload."""

    kind: str
    content_type: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Verified:
    content_type: str  # sniffed
    size_bytes: int
    sha256: str
    photo: PhotoFacts | None = None
    thumbnail: bytes | None = None
    display: bytes | None = None
    photo_hash: bytes | None = None  # 32 bytes: what the photo is looked up by
    index_hashes: bytes | None = None  # 224 bytes: the hashes the photo is stored under


def check_declared(d: Declared) -> list[InvalidValue]:
    """Problems of the declaration itself (before any byte is uploaded)."""
    problems: list[InvalidValue] = []
    if d.kind not in MAX_BYTES:
        problems.append(InvalidValue("kind", f"must be one of {', '.join(KINDS)}"))
    elif not 0 < d.size_bytes <= MAX_BYTES[d.kind]:
        problems.append(
            InvalidValue("size_bytes", f"must be 1 to {MAX_BYTES[d.kind]} bytes for {d.kind}")
        )
    if not _SHA256.fullmatch(d.sha256):
        problems.append(InvalidValue("sha256", "must be 64 lower-case hex digits"))
    if d.kind in ALLOWED and d.content_type not in ALLOWED[d.kind]:
        allowed = ", ".join(sorted(ALLOWED[d.kind]))
        problems.append(InvalidValue("content_type", f"{d.kind} must be one of {allowed}"))
    return problems


def verify(data: bytes, d: Declared) -> Verified:
    """The object as evidence, or ``UploadRejected`` / ``ContentRejected`` / ``ImageRejected``."""
    if len(data) != d.size_bytes:
        raise UploadRejected(
            "size_bytes",
            "SIZE_MISMATCH",
            f"the object has {len(data)} bytes, {d.size_bytes} were declared",
        )
    digest = hashlib.sha256(data).hexdigest()
    if digest != d.sha256:
        raise UploadRejected(
            "sha256", "HASH_MISMATCH", "the object's SHA-256 is not the one declared"
        )
    mime = check_content(d.kind, d.content_type, data[:64])
    if not mime.startswith("image/"):
        return Verified(mime, len(data), digest)
    # One decode, at the draft scale the match command decodes at (``matching.decode``: JPEG
    # draft scaling changes the hash slightly, and the service and `python -m
    # services.evidence match` must judge a photo alike). It still reads every byte, so a
    # truncated or damaged photo fails here with its reason, and the thumbnail is made from it
    # as the match command makes it.
    hashed, facts = open_image(data, max_pixels=MAX_PIXELS, draft_side=HASH_DRAFT_SIDE, rgb=False)
    return Verified(
        mime,
        len(data),
        digest,
        photo=facts,
        thumbnail=derived_jpeg(hashed, max_side=THUMBNAIL_SIDE),
        display=display_copy(data, facts),
        photo_hash=photo_hash(hashed).tobytes(),
        index_hashes=index_hashes(hashed).tobytes(),
    )


def rehashed(data: bytes) -> tuple[bytes, bytes]:
    """(photo_hash, index_hashes) of a stored photo, decoded as ``verify`` decodes it: for
    photos stored under an older ``HASH_VERSION``."""
    hashed, _ = open_image(data, max_pixels=MAX_PIXELS, draft_side=HASH_DRAFT_SIDE, rgb=False)
    return photo_hash(hashed).tobytes(), index_hashes(hashed).tobytes()


def display_copy(data: bytes, facts: PhotoFacts) -> bytes:
    """The copy people see: at most DISPLAY_SIDE, no metadata. A JPEG that already fits is
    the same picture with its metadata cut out (``stripped_jpeg``: no decoding, no quality
    lost); anything else is decoded (at the smallest draft scale that still covers the side)
    and re-encoded."""
    if facts.format == JPEG and max(facts.width, facts.height) <= DISPLAY_SIDE:
        stripped = stripped_jpeg(data, orientation=facts.orientation)
        if stripped is not None:
            return stripped
    image, _ = open_image(data, max_pixels=MAX_PIXELS, draft_side=DISPLAY_SIDE)
    return derived_jpeg(image, max_side=DISPLAY_SIDE)
