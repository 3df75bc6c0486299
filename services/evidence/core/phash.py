"""A 256-bit perceptual hash of a photo, robust to the edits of a reused photo.

A hash is a numpy ``uint64`` array of ``WORDS`` (4) words, bit 0 the most significant bit of
word 0; two photos are compared by the Hamming distance of their hashes (``hamming``).

How it is made, and why:

1. **Grayscale, 128×128, central region.** Colour adds little and costs robustness (white
   balance, recompression). Phones stamp time and place along the bottom and in corners, so
   the hash sees only ``REGION`` — x 10–90%, y 8–80% of the frame — of a 128×128 thumbnail
   (aspect squashed: a uniform resize changes nothing).
2. **Low-pass: the 64 lowest DCT frequencies** (zig-zag order, DC dropped) of that region at
   32×32. Dropping DC and keeping only the direction of the vector (step 3) makes the hash
   blind to brightness and contrast; low frequencies move little under ±3° rotation,
   resampling and JPEG.
3. **Centred and balanced** (``balanced``). The vector is made a unit vector (blind to
   contrast), the mean unit vector of photos is subtracted and each coefficient divided by
   the square root of its spread over photos (``photo_statistics``, fitted on generated
   machine-room photos). Raw, the lowest few frequencies dominate every photo's vector and all
   photos lean the same way, so their hashes crowd: biased, correlated bits, and an index
   lookup at 1,000,000 hashes reads much of the index. Full whitening (dividing by the spread
   itself) would spread them as uniform random hashes are, but it amplifies the higher
   frequencies, where resampling and JPEG noise live, and pushes reuses apart; the square root
   keeps nearly every reuse within the candidate radius (docs/adr/0011 has the trade-off).
4. **256 random hyperplanes (SimHash).** Bit *i* is the sign of the balanced vector's dot
   product with a fixed Gaussian vector (seeded, so every process and version agrees). The
   expected Hamming distance is 256·θ/π for the angle θ between two photos' balanced
   vectors, so the distance is a calibrated, low-variance similarity, not the noisy count of
   sign flips of 63 individual coefficients that a 64-bit pHash is.
5. **Zoomed copies for the index** (``index_hashes``): a crop of up to 10% per edge is a zoom
   of up to 1.25× about a centre moved up to 5%, and a zoom moves every low frequency. The
   index therefore holds the hash of the photo, of its centre zoomed 1.25×, and of 1.12× zooms
   about the centre and four centres moved 2.5% diagonally (``INDEX_VIEWS``); a query is
   hashed once (``photo_hash``) and its distance is the nearest of the seven.

**The hash proposes, it does not decide.** A second shot from a camera moved 8% is closer, in
any global low-pass hash, than a reuse cropped 10% on one side, so no distance threshold
separates the two (the best one found 58% of reuses at 1% false matches). The hash only picks
the few nearest indexed photos as candidates (``matching.candidates``); whether the query is a
copy of one of them is decided by aligning the two (``alignment``). On generated corpora the
seven index views put the right original among the 8 candidates within 47 bits for 98.6–99.0%
of reuses (docs/adr/0011).
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

from services.evidence.core import photo_statistics

BITS: Final = 256
WORDS: Final = BITS // 64
THUMB: Final = 128  # side of the grayscale thumbnail every hash is computed from
REGION: Final = (0.10, 0.90, 0.08, 0.80)  # x0, x1, y0, y1 of the hashed region
DCT_SIZE: Final = 32
COEFFICIENTS: Final = 64
_SHIFT: Final = 0.025
# (zoom, x shift, y shift) of each hash an indexed photo is stored under; see step 4.
INDEX_VIEWS: Final = (
    (1.0, 0.0, 0.0),
    (1.12, 0.0, 0.0),
    (1.12, -_SHIFT, -_SHIFT),
    (1.12, _SHIFT, -_SHIFT),
    (1.12, -_SHIFT, _SHIFT),
    (1.12, _SHIFT, _SHIFT),
    (1.25, 0.0, 0.0),
)
_SEED: Final = 20260314  # the hyperplanes; changing it changes every stored hash
# Stored hashes carry the version they were made by: a change to anything above (or to the
# photo statistics) bumps it, and the service re-hashes stored photos of older versions.
HASH_VERSION: Final = 2
_CENTRE: Final = np.asarray(photo_statistics.CENTRE)
_WEIGHTS: Final = 1 / np.sqrt(np.asarray(photo_statistics.SPREAD))

Hash = npt.NDArray[np.uint64]


def _dct_matrix(n: int) -> npt.NDArray[np.float64]:
    """The orthonormal DCT-II matrix: ``D @ x`` is the DCT of a column vector ``x``."""
    k = np.arange(n)[:, None]
    x = np.arange(n)[None, :]
    matrix: npt.NDArray[np.float64] = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


def _low_frequencies(n: int, count: int) -> npt.NDArray[np.intp]:
    """Flat indices of the ``count`` lowest frequencies of an n×n DCT (by u+v, then u), DC out."""
    u, v = np.mgrid[0:n, 0:n]
    order = np.lexsort((u.ravel(), (u + v).ravel()))
    return order[1 : count + 1]


_DCT: Final = _dct_matrix(DCT_SIZE)
_LOW: Final = _low_frequencies(DCT_SIZE, COEFFICIENTS)
_PLANES: Final = np.random.default_rng(_SEED).standard_normal((BITS, COEFFICIENTS))


def thumbnail(image: Image.Image) -> npt.NDArray[np.float64]:
    """The THUMB×THUMB grayscale thumbnail every hash of ``image`` is computed from."""
    gray = image.convert("L").resize((THUMB, THUMB), Image.Resampling.LANCZOS)
    return np.asarray(gray, dtype=np.float64)


def low_frequencies(
    thumb: npt.NDArray[np.float64], zoom: float, dx: float = 0.0, dy: float = 0.0
) -> npt.NDArray[np.float64]:
    """The ``COEFFICIENTS`` low frequencies of the region ``REGION`` of ``thumb`` zoomed
    ``zoom``× about a centre moved by (dx, dy) (shares of the side; the zoomed window stays
    inside the frame): what a hash is the SimHash of."""
    margin = (1 - 1 / zoom) / 2
    x0, x1 = (margin + dx + f / zoom for f in REGION[:2])
    y0, y1 = (margin + dy + f / zoom for f in REGION[2:])
    rows, cols = thumb.shape
    region = thumb[round(y0 * rows) : round(y1 * rows), round(x0 * cols) : round(x1 * cols)]
    small = Image.fromarray(region.astype(np.float32)).resize(
        (DCT_SIZE, DCT_SIZE), Image.Resampling.BILINEAR
    )
    coefficients: npt.NDArray[np.float64] = (
        _DCT @ np.asarray(small, dtype=np.float64) @ _DCT.T
    ).ravel()[_LOW]
    return coefficients


def unit(vectors: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Each vector (the last axis) scaled to length 1; a zero vector (a blank photo) stays 0."""
    lengths = np.linalg.norm(vectors, axis=-1, keepdims=True)
    scaled: npt.NDArray[np.float64] = vectors / np.where(lengths > 0, lengths, 1.0)
    return scaled


def balanced(coefficients: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Coefficient vectors (the last axis) centred and balanced as step 3 says."""
    weighted: npt.NDArray[np.float64] = (unit(coefficients) - _CENTRE) * _WEIGHTS
    return weighted


def _hash_of(thumb: npt.NDArray[np.float64], zoom: float, dx: float = 0.0, dy: float = 0.0) -> Hash:
    """The hash of ``low_frequencies(thumb, zoom, dx, dy)``."""
    bits = (_PLANES @ balanced(low_frequencies(thumb, zoom, dx, dy))) > 0
    return np.packbits(bits).view(">u8").astype(np.uint64)


def simhashes(coefficients: npt.NDArray[np.float64]) -> npt.NDArray[np.uint64]:
    """The hashes of many coefficient vectors (one per row) at once, for modelling photos in
    bulk; a bit whose projection is within rounding of 0 may differ from ``_hash_of``'s."""
    bits = (balanced(coefficients) @ _PLANES.T) > 0
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64)


def photo_hash(image: Image.Image) -> Hash:
    """The hash of a photo as it is (what a query is looked up by)."""
    return _hash_of(thumbnail(image), 1.0)


def index_hashes(image: Image.Image) -> npt.NDArray[np.uint64]:
    """The hashes an indexed photo is stored under: one row per view of ``INDEX_VIEWS`` (row 0
    is ``photo_hash``)."""
    thumb = thumbnail(image)
    return np.stack([_hash_of(thumb, *view) for view in INDEX_VIEWS])


def hamming(a: Hash, b: Hash) -> int:
    """The number of differing bits of two hashes."""
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum())


def phash64(image: Image.Image) -> Hash:
    """The classic 64-bit DCT pHash (32×32 grayscale, 8×8 lowest frequencies against their
    median), one word: the baseline the benchmark compares with."""
    gray = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    block = (_DCT @ np.asarray(gray, dtype=np.float64) @ _DCT.T)[:8, :8].ravel()
    return np.packbits(block > np.median(block)).view(">u8").astype(np.uint64)
