"""How well a thermal -> RGB homography registers real pairs: an overlay to look at and a score to compare.

* ``edge_overlay``: thermal edges (Canny on the thermal image warped into the RGB frame) drawn in color on
  the RGB image; with a good homography they lie on the RGB image's own edges (people, poles, kerbs).
* ``alignment_score``: normalized mutual information (Studholme et al., 1999) between the two images'
  gradient magnitudes, over the pixels the warped thermal image covers, in [0, 1]: 0 when the edge maps
  are independent, higher the more one predicts the other. Gradients, not intensities: RGB and thermal
  brightness are unrelated (a cold dark car, a hot bright one), their edges mostly sit in the same places.
* ``check_alignment``: the score of the homography, and of the same homography followed by every shift of
  up to ``search_px`` pixels: when a shifted version scores clearly higher, the calibration is off by
  about that shift (or the scene is at another depth than the points that were fitted).
The score is relative: compare homographies on the same pairs; pairs with structure at the working
distance (people, poles, cars) say more than an empty road.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from .homography import to_gray8

BINS = 32
EDGE_COLOR = (255, 0, 255)  # RGB: magenta edges read on both day and night images
CLEARLY_BETTER = 0.05  # a shift of LOOKS_OFF_PX or more scoring this much higher (relative) flags the homography
LOOKS_OFF_PX = 4  # smaller offsets are within what a homography holds over a scene of several depths


def warp_thermal(thermal: np.ndarray, matrix: np.ndarray, rgb_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The thermal image (8-bit gray) warped into the RGB frame and the mask of RGB pixels it covers."""
    h, w = rgb_hw
    gray = to_gray8(thermal)
    warped = cv2.warpPerspective(gray, np.asarray(matrix, np.float64), (w, h), flags=cv2.INTER_LINEAR)
    cover = cv2.warpPerspective(np.full(gray.shape, 255, np.uint8), np.asarray(matrix, np.float64), (w, h),
                                flags=cv2.INTER_NEAREST) > 0
    return warped, cv2.erode(cover.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0


def edge_overlay(rgb: np.ndarray, thermal: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The RGB image (dimmed) with the warped thermal image's edges drawn on it (HxWx3 uint8 RGB)."""
    warped, cover = warp_thermal(thermal, matrix, rgb.shape[:2])
    edges = cv2.Canny(cv2.GaussianBlur(warped, (3, 3), 0), 40, 120) > 0
    edges &= cover
    out = (rgb[..., :3].astype(np.float32) * 0.75).astype(np.uint8)
    out[edges] = EDGE_COLOR
    return out


def _gradient(gray: np.ndarray) -> np.ndarray:
    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), 1.5)
    return cv2.magnitude(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))


def _quantize(values: np.ndarray) -> np.ndarray:
    top = np.percentile(values, 99.5) if values.size else 0.0
    if top <= 0:
        return np.zeros(values.shape, np.int64)
    return np.minimum((values / top * BINS).astype(np.int64), BINS - 1)


def normalized_mutual_information(a: np.ndarray, b: np.ndarray) -> float:
    """(H(A) + H(B)) / H(A, B) - 1 of two equal-length arrays of bin indices in [0, BINS)."""
    joint = np.bincount(a * BINS + b, minlength=BINS * BINS).astype(np.float64)
    if joint.sum() == 0:
        return 0.0
    p = joint / joint.sum()

    def entropy(q: np.ndarray) -> float:
        q = q[q > 0]
        return float(-(q * np.log(q)).sum())

    h_joint = entropy(p)
    if h_joint == 0:
        return 0.0
    pm = p.reshape(BINS, BINS)
    return (entropy(pm.sum(1)) + entropy(pm.sum(0))) / h_joint - 1.0


@dataclass(frozen=True)
class AlignmentCheck:
    """``score`` of the homography; ``best_shift`` (dx, dy) RGB pixels after it that scored best, ``best_score``."""

    score: float
    best_shift: tuple[int, int]
    best_score: float
    pairs: int

    @property
    def looks_off(self) -> bool:
        """A shift of ``LOOKS_OFF_PX`` or more scores clearly better than the homography itself."""
        far = max(abs(self.best_shift[0]), abs(self.best_shift[1])) >= LOOKS_OFF_PX
        return far and self.best_score > self.score * (1 + CLEARLY_BETTER)

    def summary(self) -> str:
        dx, dy = self.best_shift
        verdict = (f"a shift of {dx:+d}, {dy:+d} px scores {self.best_score:.4f}: the homography looks off by about "
                   "that much (recalibrate, or check the scene depth)" if self.looks_off else
                   f"no shift of {LOOKS_OFF_PX} px or more scores clearly better (best {dx:+d}, {dy:+d} px: "
                   f"{self.best_score:.4f}): the homography registers these pairs")
        return f"alignment score {self.score:.4f} (edge NMI over {self.pairs} pair(s), higher is better); {verdict}"


def _shift(matrix: np.ndarray, dx: float, dy: float) -> np.ndarray:
    return np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], np.float64) @ np.asarray(matrix, np.float64)


class _Prepared:
    """One pair's edge maps: RGB's in bins (fixed), thermal's gradient magnitude in its own frame (warped per try)."""

    def __init__(self, rgb: np.ndarray, thermal: np.ndarray) -> None:
        self.hw = rgb.shape[:2]
        self.rgb_bins = _quantize(_gradient(to_gray8(rgb)))
        self.thermal_gradient = _gradient(to_gray8(thermal))
        self.thermal_shape = thermal.shape[:2]

    def bins(self, matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        h, w = self.hw
        m = np.asarray(matrix, np.float64)
        warped = cv2.warpPerspective(self.thermal_gradient, m, (w, h), flags=cv2.INTER_LINEAR)
        cover = cv2.warpPerspective(np.full(self.thermal_shape, 255, np.uint8), m, (w, h), flags=cv2.INTER_NEAREST)
        cover = cv2.erode(cover, np.ones((5, 5), np.uint8)) > 0
        return self.rgb_bins[cover], _quantize(warped[cover])


def _score(prepared: Sequence[_Prepared], matrix: np.ndarray) -> float:
    parts = [p.bins(matrix) for p in prepared]
    parts = [(a, b) for a, b in parts if a.size]
    if not parts:
        return 0.0
    return normalized_mutual_information(np.concatenate([a for a, _ in parts]), np.concatenate([b for _, b in parts]))


def alignment_score(pairs: Sequence[tuple[np.ndarray, np.ndarray]], matrix: np.ndarray) -> float:
    """Edge NMI of ``pairs`` ((rgb, thermal) arrays) registered by ``matrix`` (see the module docstring)."""
    return _score([_Prepared(rgb, thermal) for rgb, thermal in pairs], matrix)


def check_alignment(pairs: Sequence[tuple[np.ndarray, np.ndarray]], matrix: np.ndarray, search_px: int = 8,
                    step_px: int = 2) -> AlignmentCheck:
    """The homography's score and the best score of it shifted by up to ``search_px`` (``step_px`` apart)."""
    if not pairs:
        raise ValueError("no image pairs to check the homography on")
    prepared = [_Prepared(rgb, thermal) for rgb, thermal in pairs]
    score = _score(prepared, matrix)
    best, best_shift = score, (0, 0)
    offsets = range(-search_px, search_px + 1, step_px) if search_px > 0 else [0]
    for dy in offsets:
        for dx in offsets:
            if (dx, dy) == (0, 0):
                continue
            s = _score(prepared, _shift(matrix, dx, dy))
            if s > best:
                best, best_shift = s, (dx, dy)
    return AlignmentCheck(score, best_shift, best, len(pairs))
