"""Image file readers shared by the dataset loaders (OpenCV decode, RGB order, single-channel thermal)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


class UnreadableImageError(OSError):
    """An image file exists in the index but cannot be decoded (truncated, wrong format, ...)."""


def read_rgb(path: str | Path) -> np.ndarray:
    """Read a colour image as uint8 HxWx3 in RGB order (grayscale files are expanded)."""
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise UnreadableImageError(f"cannot decode image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def read_thermal(path: str | Path) -> np.ndarray:
    """Read a thermal image as HxW, keeping its bit depth (uint8 JPEG/PNG or uint16 radiometric PNG).

    KAIST stores LWIR frames as 3-channel grayscale JPEGs; channel 0 is taken.
    """
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise UnreadableImageError(f"cannot decode image {path}")
    if img.ndim == 3:
        img = img[..., 0]
    return img


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) of an image file from its header (no decode); UnreadableImageError if it has none."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return int(img.width), int(img.height)
    except (OSError, UnidentifiedImageError) as exc:
        raise UnreadableImageError(f"cannot read the size of image {path}: {exc}") from exc
