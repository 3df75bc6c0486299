"""Deciding whether a photo is a reuse of an indexed one: decoding, hashing, looking up.

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
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageOps

from services.evidence.core.hash_index import HashIndex
from services.evidence.core.phash import (
    INDEX_ZOOMS,
    MATCH_DISTANCE,
    THUMB,
    WORDS,
    index_hashes,
    photo_hash,
)


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


@dataclass(frozen=True)
class Match:
    """The indexed photo judged to be the same photo, and the hash distance it was found at."""

    photo_id: str
    distance: int


class PhotoMatcher:
    """Indexed photos and the reuse decision: the nearest indexed photo within
    ``max_distance`` bits (``MATCH_DISTANCE`` by default; see ``phash`` for why)."""

    def __init__(self, max_distance: int = MATCH_DISTANCE) -> None:
        self.max_distance = max_distance
        self._index = HashIndex(WORDS)

    @classmethod
    def build(
        cls,
        photo_ids: Sequence[str],
        hashes: npt.NDArray[np.uint64],
        max_distance: int = MATCH_DISTANCE,
    ) -> PhotoMatcher:
        """From stored ``index_hashes`` of many photos: ``hashes`` is (photos, zooms, words)."""
        matcher = cls(max_distance)
        zooms = len(INDEX_ZOOMS)
        ids = [photo_id for photo_id in photo_ids for _ in range(zooms)]
        matcher._index = HashIndex.build(ids, hashes.reshape(-1, WORDS))
        return matcher

    def __len__(self) -> int:
        return len(self._index) // len(INDEX_ZOOMS)

    def add(self, photo_id: str, hashes: npt.NDArray[np.uint64]) -> None:
        """Index a photo by its ``index_hashes``."""
        self._index.extend([photo_id] * len(hashes), hashes)

    def add_image(self, photo_id: str, image: Image.Image) -> None:
        self.add(photo_id, index_hashes(image))

    def match(self, query: npt.NDArray[np.uint64]) -> Match | None:
        """The indexed photo a photo with ``photo_hash`` ``query`` reuses, if any."""
        found = self._index.nearest(query, self.max_distance)
        return None if found is None else Match(*found)

    def match_image(self, image: Image.Image) -> Match | None:
        return self.match(photo_hash(image))
