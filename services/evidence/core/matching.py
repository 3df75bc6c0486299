"""Deciding whether a photo is a reuse of an indexed one: decoding, hashing, looking up, aligning.

The service and ``python -m services.evidence match`` share this module, so a photo is
decoded and hashed the same way whichever path it takes (the hash depends slightly on
decoding: JPEG draft mode decodes at a reduced scale).

Decoding is defensive: uploads come from phones and from fraudsters alike. A file Pillow
cannot identify or decode, a truncated one, and a decompression bomb (more pixels than
``Image.MAX_IMAGE_PIXELS``; Pillow's warning is raised as an error here, its error beyond twice
that limit is caught) are all ``UnreadablePhoto``. EXIF orientation is applied before hashing,
so a photo re-saved upright by an editor hashes like the original.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from services.evidence.core.alignment import PhotoView, align, view_of
from services.evidence.core.hash_index import HashIndex
from services.evidence.core.images import THUMBNAIL_SIDE, derived_jpeg
from services.evidence.core.phash import INDEX_VIEWS, THUMB, WORDS, index_hashes

CANDIDATES: Final = 8  # photos aligned per query: the true one is nearly always among them
# Index entries asked for per query: twice one per view of each candidate, room for the photos
# ``skip`` leaves out and for photos found under several views.
CANDIDATE_ENTRIES: Final = 2 * CANDIDATES * len(INDEX_VIEWS)
# The widest radius the hash index searches without a scan (3 bits in each of 16 substrings
# would be 47+1): the edits of a reuse rarely move its hash further (99% were within 48 bits
# on the development corpus), and alignment, not this radius, decides.
CANDIDATE_DISTANCE: Final = 47


class UnreadablePhoto(ValueError):
    """The bytes are not an image this service will decode."""


_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and truncated files
    ValueError,
    EOFError,
    SyntaxError,  # some plugins' "not a … file"
    Image.DecompressionBombError,
    Image.DecompressionBombWarning,
)


def decode(data: bytes) -> Image.Image:
    """The photo in ``data``, upright (EXIF orientation applied), loaded; JPEGs decoded at the
    smallest DCT scale that still covers twice the hash's thumbnail."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.draft("RGB", (2 * THUMB, 2 * THUMB))
            image.load()
            return ImageOps.exif_transpose(image)
    except _DECODE_ERRORS as error:
        raise UnreadablePhoto(f"{type(error).__name__}: {error}") from None


@dataclass(frozen=True, eq=False)
class PhotoPrint:
    """What the forensics keep of a photo: its hashes (one row per ``INDEX_VIEWS``, row 0 the
    photo as it is) to find candidates by, and its view to check them with."""

    hashes: npt.NDArray[np.uint64]
    view: PhotoView


def photo_print(hashed: Image.Image, thumbnail: bytes) -> PhotoPrint:
    """The print of a photo decoded by ``decode``, with its stored thumbnail."""
    return PhotoPrint(index_hashes(hashed), view_of(thumbnail))


def print_of(data: bytes) -> PhotoPrint:
    """The print of a photo file, made as the service makes it (the thumbnail it would store)."""
    image = decode(data)
    return photo_print(image, derived_jpeg(image, max_side=THUMBNAIL_SIDE))


@dataclass(frozen=True)
class Match:
    """An indexed photo judged to be the same photo: its hash distance (bits of 256) and how
    many features the alignment explained."""

    photo_id: str
    distance: int
    inliers: int


def candidates(
    index: HashIndex,
    query: npt.NDArray[np.uint64],
    skip: Callable[[str], bool] = lambda photo_id: False,
) -> list[tuple[str, int]]:
    """Up to ``CANDIDATES`` distinct indexed photos within ``CANDIDATE_DISTANCE`` of the hash
    ``query`` (a photo is stored under one hash per view), nearest first, leaving out those
    ``skip`` says (the service skips the claim's own photos): (id, distance)."""
    nearest: dict[str, int] = {}
    for photo_id, distance in index.top_k(query, CANDIDATE_ENTRIES, CANDIDATE_DISTANCE):
        if photo_id not in nearest and not skip(photo_id):
            nearest[photo_id] = distance
    return list(nearest.items())[:CANDIDATES]


def confirmed(query: PhotoView, proposed: Sequence[tuple[str, int, PhotoView]]) -> list[Match]:
    """The proposed photos (id, hash distance, view) that ``query`` is a copy of, the best
    aligned first."""
    found = []
    for photo_id, distance, view in proposed:
        alignment = align(query, view)
        if alignment is not None and alignment.is_copy:
            found.append(Match(photo_id, distance, alignment.inliers))
    return sorted(found, key=lambda m: (-m.inliers, m.distance))


class PhotoMatcher:
    """Indexed photos in memory and the reuse decision: hashes propose, alignment decides
    (``candidates``, then ``confirmed``)."""

    def __init__(self) -> None:
        self._index = HashIndex(WORDS)
        self._views: dict[str, PhotoView] = {}

    def __len__(self) -> int:
        return len(self._views)

    def add(self, photo_id: str, photo: PhotoPrint) -> None:
        self._index.extend([photo_id] * len(photo.hashes), photo.hashes)
        self._views[photo_id] = photo.view

    def match(self, query: PhotoPrint) -> Match | None:
        """The indexed photo ``query`` is a copy of, if any."""
        proposed = [(i, d, self._views[i]) for i, d in candidates(self._index, query.hashes[0])]
        found = confirmed(query.view, proposed)
        return found[0] if found else None
