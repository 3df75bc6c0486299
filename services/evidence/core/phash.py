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
3. **256 random hyperplanes (SimHash).** Bit *i* is the sign of the coefficient vector's dot
   product with a fixed Gaussian vector (seeded, so every process and version agrees). The
   expected Hamming distance is 256·θ/π for the angle θ between two photos' coefficient
   vectors, so the distance is a calibrated, low-variance similarity, not the noisy count of
   sign flips of 63 individual coefficients that a 64-bit pHash is.
4. **Zoomed copies for the index** (``index_hashes``): a crop of up to 10% per edge is a zoom
   of up to 1.25× plus a shift, and a zoom moves every low frequency. The index therefore
   holds the hash of the photo and of its centre zoomed 1.12× and 1.25×; a query is hashed
   once (``photo_hash``) and its distance is the nearest of the three.

**Threshold** (``MATCH_DISTANCE`` = 20 of 256). Measured on the generated corpus
(``load_tests.photo_corpus``): with 400 indexed scenes (seeds 1 and 2) the largest distance
keeping second shots of the same machine and photos of other scenes under a 1% false-match
rate was 28 and 25; with 1,000 indexed scenes (seeds 3 and 4) it fell to 20 (false matches
0.81% and 0.84%, reuses found 58.5% and 62.7%; at 22 false matches were 2.1% and 1.5%). The
safe distance shrinks as the index grows — more look-alike neighbours, more near collisions —
so 20, the value of the larger index, and a real index of many more photos may need less.
``evidence_photo_matching`` re-measures it on another seed beside the 64-bit pHash.

What the hash cannot do: a second shot from a camera moved 8% is closer, in any global
low-pass hash, than a reuse cropped 10% on one side; the remaining misses are crops and
rotations of reuses (see the benchmark's per-edit recall). Telling those apart needs a
geometric check of candidate pairs (does the query fit inside the candidate's frame?), which
is not built yet.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image

BITS: Final = 256
WORDS: Final = BITS // 64
MATCH_DISTANCE: Final = 20
THUMB: Final = 128  # side of the grayscale thumbnail every hash is computed from
REGION: Final = (0.10, 0.90, 0.08, 0.80)  # x0, x1, y0, y1 of the hashed region
DCT_SIZE: Final = 32
COEFFICIENTS: Final = 64
INDEX_ZOOMS: Final = (1.0, 1.12, 1.25)
_SEED: Final = 20260314  # the hyperplanes; changing it changes every stored hash

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


def _hash_of(thumb: npt.NDArray[np.float64], zoom: float) -> Hash:
    """The hash of the region ``REGION`` of ``thumb``'s centre zoomed ``zoom``×."""
    margin = (1 - 1 / zoom) / 2
    x0, x1, y0, y1 = (margin + f / zoom for f in REGION)
    rows, cols = thumb.shape
    region = thumb[round(y0 * rows) : round(y1 * rows), round(x0 * cols) : round(x1 * cols)]
    small = Image.fromarray(region.astype(np.float32)).resize(
        (DCT_SIZE, DCT_SIZE), Image.Resampling.BILINEAR
    )
    coefficients = (_DCT @ np.asarray(small, dtype=np.float64) @ _DCT.T).ravel()[_LOW]
    bits = (_PLANES @ coefficients) > 0
    return np.packbits(bits).view(">u8").astype(np.uint64)


def photo_hash(image: Image.Image) -> Hash:
    """The hash of a photo as it is (what a query is looked up by)."""
    return _hash_of(thumbnail(image), 1.0)


def index_hashes(image: Image.Image) -> npt.NDArray[np.uint64]:
    """The hashes an indexed photo is stored under: one row per zoom of ``INDEX_ZOOMS``."""
    thumb = thumbnail(image)
    return np.stack([_hash_of(thumb, zoom) for zoom in INDEX_ZOOMS])


def hamming(a: Hash, b: Hash) -> int:
    """The number of differing bits of two hashes."""
    return int(np.bitwise_count(np.bitwise_xor(a, b)).sum())


def phash64(image: Image.Image) -> Hash:
    """The classic 64-bit DCT pHash (32×32 grayscale, 8×8 lowest frequencies against their
    median), one word: the baseline the benchmark compares with."""
    gray = image.convert("L").resize((32, 32), Image.Resampling.LANCZOS)
    block = (_DCT @ np.asarray(gray, dtype=np.float64) @ _DCT.T)[:8, :8].ravel()
    return np.packbits(block > np.median(block)).view(">u8").astype(np.uint64)
