"""Image-pair preprocessing shared by training, the Detector, the node and the bag tools (numpy + OpenCV).

One definition of every step so all users feed the network the same numbers:

* ``check_rgb`` / ``check_thermal``: validate dtype and shape, with errors that name the expected form.
* ``thermal_to_unit``: 8-bit, 16-bit or radiometric float thermal -> float32 HxW in [0, 1]
  (8-bit: /255; otherwise the checkpoint's ``ThermalPolicy``: a linear range or percentile AGC).
* ``letterbox`` / ``Letterbox``: resize keeping the aspect ratio to fit ``PreprocessConfig.input_size``,
  pad bottom/right to a multiple of ``pad_multiple``; ``Letterbox.to_original`` maps boxes back.
* ``normalize_pair``: mean/std normalization to the CHW float32 arrays the network takes.

A blanked modality (``None`` in ``Detector.predict``) is the all-zero array in normalized space,
i.e. an image equal to the dataset mean: see ``blank_normalized``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from lsi_perception.config import PreprocessConfig, ThermalPolicy

# Percentiles of images larger than this are estimated on a strided subsample (AGC does not need
# every pixel, and a full 640x512 partition costs milliseconds per frame).
_PERCENTILE_MAX_SAMPLES = 80_000


def check_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """Return ``rgb`` if it is a uint8 HxWx3 array, else raise ValueError naming the expected form."""
    if not isinstance(rgb, np.ndarray):
        raise ValueError(f"{name} must be a numpy array of shape HxWx3 and dtype uint8, got {type(rgb).__name__}")
    if rgb.dtype != np.uint8:
        raise ValueError(
            f"{name} must have dtype uint8 (HxWx3, 8-bit color), got {rgb.dtype}; "
            "convert with np.clip(img, 0, 255).astype(np.uint8) or decode the image as 8-bit"
        )
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"{name} must have shape HxWx3 (8-bit color), got shape {tuple(rgb.shape)}")
    if rgb.shape[0] < 1 or rgb.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {tuple(rgb.shape)})")
    return rgb


def check_thermal(thermal: np.ndarray, name: str = "thermal") -> np.ndarray:
    """Return the thermal image as an HxW array (HxWx1 squeezed, HxWx3 grayscale -> channel 0).

    Accepted dtypes: uint8, uint16, float32/float64 (radiometric, every pixel finite). Anything else
    raises ValueError.
    """
    if not isinstance(thermal, np.ndarray):
        raise ValueError(
            f"{name} must be a numpy array of shape HxW and dtype uint8, uint16 or float32, got {type(thermal).__name__}"
        )
    if thermal.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise ValueError(f"{name} must have dtype uint8, uint16 or float32 (shape HxW), got {thermal.dtype}")
    if thermal.ndim == 3 and thermal.shape[2] in (1, 3):
        thermal = thermal[:, :, 0]
    if thermal.ndim != 2:
        raise ValueError(
            f"{name} must have shape HxW (or HxWx1, or HxWx3 grayscale), got shape {tuple(thermal.shape)}"
        )
    if thermal.shape[0] < 1 or thermal.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {tuple(thermal.shape)})")
    if thermal.dtype.kind == "f" and not (np.isfinite(thermal.min()) and np.isfinite(thermal.max())):
        bad = int(np.count_nonzero(~np.isfinite(thermal)))
        raise ValueError(
            f"{name} has {bad} of {thermal.size} pixels NaN or inf: no trustworthy detection is possible on it; "
            "replace invalid pixels with finite temperatures (e.g. np.nan_to_num with the scene's minimum)"
        )
    return thermal


def check_pair(rgb: np.ndarray | None, thermal: np.ndarray | None
               ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Validate an image pair (either side may be None = blanked, not both) and that the sizes agree.

    Returns (rgb, thermal) with thermal squeezed to HxW by ``check_thermal``.
    """
    if rgb is None and thermal is None:
        raise ValueError("rgb and thermal are both None: give at least one image of the pair")
    if rgb is not None:
        check_rgb(rgb)
    if thermal is not None:
        thermal = check_thermal(thermal)
    if rgb is not None and thermal is not None and rgb.shape[:2] != thermal.shape:
        raise ValueError(
            f"rgb ({rgb.shape[0]}x{rgb.shape[1]}) and thermal ({thermal.shape[0]}x{thermal.shape[1]}) must have the "
            "same size: register (warp) the thermal image to the RGB camera first"
        )
    return rgb, thermal


def _percentiles(img: np.ndarray, lows_highs: tuple[float, float]) -> tuple[float, float]:
    step = max(1, int(math.sqrt(img.size / _PERCENTILE_MAX_SAMPLES)))
    sample = img[::step, ::step] if step > 1 else img
    lo, hi = np.percentile(sample, lows_highs)
    return float(lo), float(hi)


def thermal_to_unit(img: np.ndarray, policy: ThermalPolicy) -> np.ndarray:
    """Thermal image -> float32 HxW in [0, 1].

    uint8 is divided by 255 (already gain-controlled by the camera). uint16 and float images follow
    ``policy``: ``linear`` maps [low, high] to [0, 1]; ``percentile`` maps the image's own
    [p_low, p_high] percentiles to [0, 1] (automatic gain control). Values outside are clipped.
    A flat image under percentile AGC maps to all zeros.
    """
    img = check_thermal(img)
    if img.dtype == np.uint8:
        return img.astype(np.float32) * np.float32(1.0 / 255.0)
    if policy.mode == "linear":
        lo, hi = float(policy.low), float(policy.high)
    elif policy.mode == "percentile":
        lo, hi = _percentiles(img, (policy.p_low, policy.p_high))
    else:
        raise ValueError(f"thermal policy mode {policy.mode!r} must be 'linear' or 'percentile'")
    span = max(hi - lo, 1e-6)
    out = (img.astype(np.float32) - np.float32(lo)) * np.float32(1.0 / span)
    return np.clip(out, 0.0, 1.0, out=out)


@dataclass(frozen=True)
class Letterbox:
    """How one image was resized and padded for the network, and how to map boxes back.

    The source image (``src_h`` x ``src_w``) is resized to ``out_h`` x ``out_w`` (aspect kept, ``scale``
    the nominal factor) and padded with ``pad_h`` rows at the bottom and ``pad_w`` columns at the right,
    giving a ``padded_h`` x ``padded_w`` network input. Padding never shifts coordinates.
    """

    scale: float
    out_h: int
    out_w: int
    pad_h: int
    pad_w: int
    src_h: int
    src_w: int

    @property
    def padded_h(self) -> int:
        return self.out_h + self.pad_h

    @property
    def padded_w(self) -> int:
        return self.out_w + self.pad_w

    @property
    def scale_x(self) -> float:
        """Exact horizontal factor of the resize (out_w / src_w; differs from ``scale`` by rounding only)."""
        return self.out_w / self.src_w

    @property
    def scale_y(self) -> float:
        return self.out_h / self.src_h

    @property
    def needs_resize(self) -> bool:
        return (self.out_h, self.out_w) != (self.src_h, self.src_w)

    def to_network(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes [N, 4] in source pixels -> network-input pixels (float32)."""
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
        out[:, 0::2] *= self.scale_x
        out[:, 1::2] *= self.scale_y
        return out

    def to_original(self, boxes: np.ndarray) -> np.ndarray:
        """xyxy boxes [N, 4] in network-input pixels -> source pixels, clipped to the source image."""
        out = np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()
        out[:, 0::2] = np.clip(out[:, 0::2] / self.scale_x, 0.0, self.src_w)
        out[:, 1::2] = np.clip(out[:, 1::2] / self.scale_y, 0.0, self.src_h)
        return out


def letterbox(h: int, w: int, cfg: PreprocessConfig) -> Letterbox:
    """Plan the resize + pad of an ``h`` x ``w`` image under ``cfg`` (see ``Letterbox``).

    With ``cfg.input_size = (H, W)`` the image is scaled by min(H/h, W/w) so it fits; with ``None`` it
    keeps its size. The result is padded up to a multiple of ``cfg.pad_multiple`` (not to the full
    input size: fewer pixels, same coordinates).
    """
    if h < 1 or w < 1:
        raise ValueError(f"cannot letterbox an empty image of size {h}x{w}")
    if cfg.input_size is None:
        scale, out_h, out_w = 1.0, h, w
    else:
        target_h, target_w = cfg.input_size
        scale = min(target_h / h, target_w / w)
        out_h = min(target_h, max(1, round(h * scale)))
        out_w = min(target_w, max(1, round(w * scale)))
    m = max(1, int(cfg.pad_multiple))
    pad_h = -out_h % m
    pad_w = -out_w % m
    return Letterbox(scale=float(scale), out_h=out_h, out_w=out_w, pad_h=pad_h, pad_w=pad_w, src_h=h, src_w=w)


def resize_to(img: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Resize ``img`` (HxW or HxWxC) to the letterbox's ``out_h`` x ``out_w`` (no padding).

    Bilinear when enlarging, area averaging when shrinking (no aliasing on small pedestrians).
    Returns ``img`` itself when no resize is needed.
    """
    if not lb.needs_resize:
        return img
    interp = cv2.INTER_AREA if lb.out_h * lb.out_w < lb.src_h * lb.src_w else cv2.INTER_LINEAR
    return cv2.resize(img, (lb.out_w, lb.out_h), interpolation=interp)


def normalize_pair(
    rgb_u8: np.ndarray, thermal_unit: np.ndarray, cfg: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray]:
    """Mean/std-normalize an image pair (no resize): RGB uint8 HxWx3 + thermal float32 HxW in [0, 1]
    -> (rgb float32 3xHxW, thermal float32 1xHxW)."""
    check_rgb(rgb_u8)
    if thermal_unit.ndim != 2 or thermal_unit.shape != rgb_u8.shape[:2]:
        raise ValueError(
            f"thermal_unit must be float HxW matching rgb's {rgb_u8.shape[:2]}, got shape {tuple(thermal_unit.shape)}"
        )
    mean = np.asarray(cfg.rgb_mean, dtype=np.float32) * 255.0
    inv_std = 1.0 / (np.asarray(cfg.rgb_std, dtype=np.float32) * 255.0)
    rgb = ((rgb_u8.astype(np.float32) - mean) * inv_std).transpose(2, 0, 1)
    thermal = (thermal_unit.astype(np.float32) - np.float32(cfg.thermal_mean)) * np.float32(1.0 / cfg.thermal_std)
    return np.ascontiguousarray(rgb), thermal[None]


def blank_normalized(channels: int, h: int, w: int) -> np.ndarray:
    """A blanked modality: zeros in normalized space (= the mean image), float32 CxHxW."""
    return np.zeros((channels, h, w), dtype=np.float32)


def pad_chw(x: np.ndarray, lb: Letterbox) -> np.ndarray:
    """Zero-pad a normalized CxHxW array (H, W = out size) at the bottom/right to the padded size."""
    if lb.pad_h == 0 and lb.pad_w == 0:
        return x
    return np.pad(x, ((0, 0), (0, lb.pad_h), (0, lb.pad_w)))


def preprocess_pair(
    rgb: np.ndarray | None, thermal: np.ndarray | None, cfg: PreprocessConfig
) -> tuple[np.ndarray, np.ndarray, Letterbox]:
    """Full numpy preprocessing of one pair: validate, thermal to [0, 1], letterbox, normalize, pad.

    Either image may be ``None`` (blanked modality), not both. Returns (rgb 3xHpxWp, thermal 1xHpxWp,
    letterbox). The Detector does the same steps with normalization on the device; this is the
    reference for training and tests.
    """
    rgb, thermal = check_pair(rgb, thermal)
    h, w = rgb.shape[:2] if rgb is not None else thermal.shape
    lb = letterbox(h, w, cfg)
    rgb_r = resize_to(rgb, lb) if rgb is not None else np.zeros((lb.out_h, lb.out_w, 3), np.uint8)
    th_r = resize_to(thermal_to_unit(thermal, cfg.thermal), lb) if thermal is not None else None
    rgb_n, th_n = normalize_pair(rgb_r, th_r if th_r is not None else np.zeros(rgb_r.shape[:2], np.float32), cfg)
    if rgb is None:
        rgb_n = blank_normalized(3, lb.out_h, lb.out_w)
    if thermal is None:
        th_n = blank_normalized(1, lb.out_h, lb.out_w)
    return pad_chw(rgb_n, lb), pad_chw(th_n, lb), lb
