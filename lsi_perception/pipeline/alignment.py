"""Bring the thermal image into the RGB camera's pixel grid (numpy + OpenCV, no ROS).

Rigs whose cameras are not co-aligned give a 3x3 homography mapping thermal pixels to RGB pixels; the
thermal image is warped with it to the RGB image's size, so the Detector sees a registered pair and its
boxes are in RGB pixel coordinates. With the identity (the default) the two images must already have the
same size.
"""
from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np


class AlignmentError(ValueError):
    """The pair cannot be registered (different sizes and no homography)."""


class ThermalAligner:
    """Warps thermal images into the RGB frame with a fixed homography (identity = pass through)."""

    def __init__(self, homography: Sequence[float]) -> None:
        h = np.asarray(homography, dtype=np.float64).reshape(3, 3)
        self.matrix = h
        self.is_identity = bool(np.array_equal(h, np.eye(3)))

    def align(self, thermal: np.ndarray, rgb_hw: tuple[int, int]) -> np.ndarray:
        """``thermal`` (HtxWt, any dtype cv2 warps: uint8, uint16, float32) -> HxW of the RGB image."""
        h, w = rgb_hw
        if self.is_identity:
            if thermal.shape[:2] != (h, w):
                raise AlignmentError(
                    f"thermal image is {thermal.shape[1]}x{thermal.shape[0]} but RGB is {w}x{h} and "
                    "thermal_to_rgb_homography is the identity: set the thermal->RGB homography of your rig "
                    "(row-major 3x3) so thermal can be warped into the RGB frame"
                )
            return thermal
        return cv2.warpPerspective(thermal, self.matrix, (w, h), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_CONSTANT, borderValue=0)
