"""Is a photo a copy of another? Checked by aligning the two, not by comparing hashes.

A perceptual hash is a global summary: a second shot from a camera moved 8% is as close to the
original, in any such hash, as a reuse cropped 10% on one side. What tells them apart is
geometry. A reuse is the *same picture*: it maps onto the original by a similarity (crop,
resize, a slight rotation), shows nothing that lies outside the original's frame, and after
alignment its pixels agree with the original's (apart from a stamped watermark and re-encoding).
A second shot sees the scene from elsewhere: some of it lies outside the first frame, and
parallax, perspective and new noise make it disagree in the details.

So two photos are compared through their **views** (the 320-pixel thumbnail the service stores
anyway, in grayscale, with its ORB keypoints) in three steps:

1. **Features**: ORB keypoints matched by Hamming distance with Lowe's ratio test.
2. **Geometry**: a similarity transform fitted by RANSAC; ``inliers`` is how many matches it
   explains. Chance alignments of two different machine rooms explain a handful.
3. **Containment and agreement**: ``overflow`` is how far the query's frame reaches outside the
   candidate's once mapped into it (a share of the candidate's side; a copy's is ~0), and
   ``similarity`` is the correlation of the two views' gradient magnitudes where they overlap
   (edges in the same places; blind to brightness and contrast edits).

The thresholds (``is_copy``) were chosen on a generated development corpus (seed 5 of
``load_tests.photo_corpus``, 1,000 scenes; the benchmark measures on another seed): reuses
had ≥ 30 inliers, overflow ≤ 0.003 and similarity ≥ 0.50 in 99% of cases; second shots of the
same machine had overflow ≥ 0.05 in 99%; photos of other scenes had ≤ 33 inliers and similarity
≤ 0.31 at the 99th percentile. Each threshold sits between the two populations with a margin,
and a copy must pass all three.

Pure: numpy and OpenCV on arrays, no I/O.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt
from PIL import Image

MIN_INLIERS: Final = 20
MAX_OVERFLOW: Final = 0.03
MIN_SIMILARITY: Final = 0.40
FEATURES: Final = 1000  # ORB keypoints per view: plenty at 320 pixels
RATIO: Final = 0.8  # Lowe's ratio test: a match must be clearly better than the runner-up
RANSAC_PIXELS: Final = 2.0  # reprojection error allowed for an inlier, in view pixels
_MIN_MATCHES: Final = MIN_INLIERS  # fewer matches cannot reach MIN_INLIERS inliers


@dataclass(frozen=True, eq=False)
class PhotoView:
    """A photo as the alignment sees it: its grayscale thumbnail and ORB features."""

    gray: npt.NDArray[np.uint8]  # (height, width)
    points: npt.NDArray[np.float32]  # (n, 2) keypoint positions, x then y
    descriptors: npt.NDArray[np.uint8]  # (n, 32) ORB descriptors


@dataclass(frozen=True)
class Alignment:
    """How a query photo sits on a candidate: the fitted similarity and how well it holds."""

    inliers: int
    scale: float  # candidate pixels per query pixel
    rotation_degrees: float
    overflow: float
    similarity: float

    @property
    def is_copy(self) -> bool:
        """The query is the candidate's picture, edited (see the module for the thresholds)."""
        return (
            self.inliers >= MIN_INLIERS
            and self.overflow <= MAX_OVERFLOW
            and self.similarity >= MIN_SIMILARITY
        )


def view_of(thumbnail: bytes) -> PhotoView:
    """The view of a photo from its stored thumbnail (a JPEG, see ``images.derived_jpeg``)."""
    gray = np.asarray(Image.open(io.BytesIO(thumbnail)).convert("L"))
    # A detector per call: OpenCV's algorithm objects are not safe to share between threads.
    orb = cv2.ORB.create(nfeatures=FEATURES, fastThreshold=10)
    keypoints, descriptors = orb.detectAndCompute(gray, None)
    if descriptors is None:  # a blank or tiny picture has no features
        return PhotoView(gray, np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    points = np.asarray([k.pt for k in keypoints], dtype=np.float32).reshape(-1, 2)
    return PhotoView(gray, points, np.asarray(descriptors, dtype=np.uint8))


def align(query: PhotoView, candidate: PhotoView) -> Alignment | None:
    """The similarity mapping ``query`` onto ``candidate``, or None when features cannot
    support one (too few distinctive matches)."""
    if len(query.descriptors) < 2 or len(candidate.descriptors) < 2:
        return None
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(query.descriptors, candidate.descriptors, k=2)
    good = [p[0] for p in pairs if len(p) == 2 and p[0].distance < RATIO * p[1].distance]
    if len(good) < _MIN_MATCHES:
        return None
    source = query.points[[m.queryIdx for m in good]]
    target = candidate.points[[m.trainIdx for m in good]]
    fitted, inlier_mask = cv2.estimateAffinePartial2D(
        source,
        target,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PIXELS,
        maxIters=2000,
        confidence=0.999,
    )
    if fitted is None:
        return None
    inliers = int(np.count_nonzero(inlier_mask))
    transform: npt.NDArray[np.float64] = np.asarray(fitted, dtype=np.float64)
    linear = transform[:, :2]
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    rotation = float(np.degrees(np.arctan2(linear[1, 0], linear[0, 0])))
    if inliers < MIN_INLIERS or scale == 0:
        return Alignment(inliers, scale, rotation, overflow=1.0, similarity=0.0)
    return Alignment(
        inliers,
        scale,
        rotation,
        overflow=_overflow(transform, query.gray.shape, candidate.gray.shape),
        similarity=_similarity(transform, query.gray, candidate.gray),
    )


def _overflow(
    transform: npt.NDArray[np.float64],
    query_shape: tuple[int, ...],
    candidate_shape: tuple[int, ...],
) -> float:
    """How far the query's corners land outside the candidate's frame: the largest excess
    along either axis, as a share of the candidate's side (0 when inside)."""
    h, w = query_shape[:2]
    ch, cw = candidate_shape[:2]
    corners = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float64)
    mapped = corners @ transform[:, :2].T + transform[:, 2]
    excess_x = np.maximum(-mapped[:, 0], mapped[:, 0] - cw).max() / cw
    excess_y = np.maximum(-mapped[:, 1], mapped[:, 1] - ch).max() / ch
    return float(max(0.0, excess_x, excess_y))


def _gradients(gray: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    return np.asarray(cv2.magnitude(gx, gy), dtype=np.float32)


def _similarity(
    transform: npt.NDArray[np.float64],
    query: npt.NDArray[np.uint8],
    candidate: npt.NDArray[np.uint8],
) -> float:
    """Correlation of gradient magnitudes over the overlap, with the candidate resampled into
    the query's frame (``transform`` maps query pixels to candidate pixels)."""
    h, w = query.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(candidate.astype(np.float32), transform, (w, h), flags=flags)
    inside = cv2.warpAffine(
        np.ones(candidate.shape, np.uint8),
        transform,
        (w, h),
        flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
    )
    # Off the candidate's edge the warp is padding, and its border would be a false edge.
    overlap = cv2.erode(inside, np.ones((5, 5), np.uint8)) > 0
    if np.count_nonzero(overlap) < 100:
        return 0.0
    a = _gradients(query.astype(np.float32))[overlap]
    b = _gradients(np.asarray(warped, dtype=np.float32))[overlap]
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt(np.dot(a, a) * np.dot(b, b)))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0
