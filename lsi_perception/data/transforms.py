"""Paired transforms on Sample dicts: geometry applied identically to RGB, thermal and boxes; photometry per modality.

Every transform is a callable ``Sample -> Sample`` that returns a new dict (inputs are not modified).
Randomness comes from a ``random.Random`` (the stdlib generator, which PyTorch reseeds in every
DataLoader worker); pass ``rng`` for reproducible tests.

    train_tf = build_train_transforms(preprocess)   # flip, fit to the inference scale, jitter, crop, pad
"""
from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence

import cv2
import numpy as np

from ..config import PreprocessConfig
from ..imaging import letterbox, resize_to
from .sample import PER_BOX_KEYS, Sample, empty_targets


def _copy(sample: Sample) -> Sample:
    return dict(sample)


def _resize_pair(sample: Sample, out_h: int, out_w: int) -> Sample:
    """Resize both images to out_h x out_w and scale the boxes with them."""
    s = _copy(sample)
    h, w = sample["rgb"].shape[:2]
    interp = cv2.INTER_AREA if out_h * out_w < h * w else cv2.INTER_LINEAR
    s["rgb"] = cv2.resize(sample["rgb"], (out_w, out_h), interpolation=interp)
    s["thermal"] = cv2.resize(sample["thermal"], (out_w, out_h), interpolation=interp)
    boxes = sample["boxes"].copy()
    boxes[:, 0::2] *= out_w / w
    boxes[:, 1::2] *= out_h / h
    s["boxes"] = boxes
    return s


class Compose:
    def __init__(self, transforms: Sequence[Callable[[Sample], Sample]]) -> None:
        self.transforms = list(transforms)

    def __call__(self, sample: Sample) -> Sample:
        for t in self.transforms:
            sample = t(sample)
        return sample

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"


class FeaturelessPair:
    """With probability ``p``, a "no scene" negative: both images replaced by featureless content and every
    box dropped (the image id and size are kept).

    A camera pair can deliver frames with nothing in them: a lens cap, a dark tunnel, a sensor that has not
    finished its flat-field correction, a saturated frame. Without such frames in training nothing pins the
    network's score on them; a model trained only on street scenes scored 0.53 on an all-black pair (its
    threshold 0.55, its INT8 export 0.56). Each modality gets its own level (uniform over the image's
    range), half the time a smooth vertical ramp of up to a quarter of that range, and Gaussian noise of
    0-3 % of the range.
    """

    def __init__(self, p: float = 0.0, rng: random.Random | None = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"FeaturelessPair p={p} must be a probability in [0, 1]")
        self.p, self.rng = p, rng or random

    def _featureless(self, img: np.ndarray) -> np.ndarray:
        top = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
        h, w = img.shape[:2]
        x = np.full((h, w), self.rng.uniform(0.0, top), np.float32)
        if self.rng.random() < 0.5:
            x += np.linspace(-0.5, 0.5, h, dtype=np.float32)[:, None] * self.rng.uniform(-0.25, 0.25) * top
        sigma = self.rng.uniform(0.0, 0.03) * top
        if sigma > 0:
            noise = np.random.default_rng(self.rng.getrandbits(32)).normal(0.0, sigma, (h, w))
            x += noise.astype(np.float32)
        if img.ndim == 3:
            x = np.repeat(x[:, :, None], img.shape[2], axis=2)
        return np.clip(x, 0, top).astype(img.dtype)

    def __call__(self, sample: Sample) -> Sample:
        if self.p <= 0.0 or self.rng.random() >= self.p:
            return sample
        s = _copy(sample)
        s["rgb"], s["thermal"] = self._featureless(sample["rgb"]), self._featureless(sample["thermal"])
        s.update(empty_targets())
        return s


class RandomHorizontalFlip:
    """Mirror both images and the boxes with probability ``p``."""

    def __init__(self, p: float = 0.5, rng: random.Random | None = None) -> None:
        self.p, self.rng = p, rng or random

    def __call__(self, sample: Sample) -> Sample:
        if self.rng.random() >= self.p:
            return sample
        s = _copy(sample)
        w = sample["rgb"].shape[1]
        s["rgb"] = np.ascontiguousarray(sample["rgb"][:, ::-1])
        s["thermal"] = np.ascontiguousarray(sample["thermal"][:, ::-1])
        boxes = sample["boxes"].copy()
        boxes[:, [0, 2]] = w - sample["boxes"][:, [2, 0]]
        s["boxes"] = boxes
        return s


class RandomScale:
    """Resize the pair by a factor drawn uniformly from [min_scale, max_scale] (scale jitter)."""

    def __init__(self, min_scale: float = 0.75, max_scale: float = 1.25, rng: random.Random | None = None) -> None:
        if not 0 < min_scale <= max_scale:
            raise ValueError(f"RandomScale needs 0 < min_scale <= max_scale, got {min_scale}, {max_scale}")
        self.min_scale, self.max_scale, self.rng = min_scale, max_scale, rng or random

    def __call__(self, sample: Sample) -> Sample:
        f = self.rng.uniform(self.min_scale, self.max_scale)
        h, w = sample["rgb"].shape[:2]
        return _resize_pair(sample, max(1, round(h * f)), max(1, round(w * f)))


class RandomCrop:
    """Cut a ``size`` = (height, width) window at a random position (zero-padding images that are smaller).

    Boxes are clipped to the window; a box keeping less than ``min_visible`` of its area is dropped,
    and one cut to less than ``ignore_below_visible`` becomes an ignore region (a half person at the
    edge is a poor positive but must not be a negative either).
    """

    def __init__(self, size: tuple[int, int], min_visible: float = 0.25, ignore_below_visible: float = 0.6,
                 rng: random.Random | None = None) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.min_visible, self.ignore_below_visible = min_visible, ignore_below_visible
        self.rng = rng or random

    def __call__(self, sample: Sample) -> Sample:
        ch, cw = self.size
        h, w = sample["rgb"].shape[:2]
        y0 = self.rng.randint(0, max(0, h - ch))
        x0 = self.rng.randint(0, max(0, w - cw))
        s = _copy(sample)
        for key in ("rgb", "thermal"):
            img = sample[key]
            out = np.zeros((ch, cw) + img.shape[2:], img.dtype)
            part = img[y0:y0 + ch, x0:x0 + cw]
            out[: part.shape[0], : part.shape[1]] = part
            s[key] = out
        boxes = sample["boxes"] - np.array([x0, y0, x0, y0], np.float32)
        return _clip_boxes(s, boxes, (0, 0, min(cw, w - x0), min(ch, h - y0)), self.min_visible,
                           self.ignore_below_visible)


def _clip_boxes(s: Sample, boxes: np.ndarray, window: tuple[float, float, float, float], min_visible: float,
                ignore_below_visible: float) -> Sample:
    """Clip moved ``boxes`` to ``window`` (x0, y0, x1, y1, where image content is) and apply the
    visibility rule: drop a box keeping less than ``min_visible`` of its area, make one keeping less
    than ``ignore_below_visible`` an ignore region. Writes boxes, labels and ignore into ``s``."""
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    clipped = boxes.copy()
    clipped[:, 0::2] = clipped[:, 0::2].clip(window[0], window[2])
    clipped[:, 1::2] = clipped[:, 1::2].clip(window[1], window[3])
    kept_area = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    visible = np.where(area > 0, kept_area / np.maximum(area, 1e-6), 0.0)
    keep = visible >= min_visible
    s["boxes"] = clipped[keep].astype(np.float32)
    for key in PER_BOX_KEYS:
        if key in s:
            s[key] = s[key][keep]
    s["ignore"] = s["ignore"] | (visible[keep] < ignore_below_visible)
    return s


class RandomResizedCrop:
    """Cut a random window and resize it to ``size`` = (height, width), both images alike.

    The window's area is ``uniform(*area)`` times the output area and its aspect ratio the output's
    times a log-uniform factor from ``ratio``; a window larger than the image zooms out (zero fill),
    a smaller one zooms in. Placed so it overlaps the image as much as it can, at random. Boxes move
    with the images and follow ``RandomCrop``'s visibility rule.
    """

    def __init__(self, size: tuple[int, int], area: tuple[float, float] = (0.25, 4.0),
                 ratio: tuple[float, float] = (0.8, 1.2), min_visible: float = 0.25,
                 ignore_below_visible: float = 0.6, rng: random.Random | None = None) -> None:
        if not (0 < area[0] <= area[1] and 0 < ratio[0] <= ratio[1]):
            raise ValueError(f"RandomResizedCrop needs 0 < low <= high for area {area} and ratio {ratio}")
        self.size = (int(size[0]), int(size[1]))
        self.area, self.ratio = area, ratio
        self.min_visible, self.ignore_below_visible = min_visible, ignore_below_visible
        self.rng = rng or random

    def __call__(self, sample: Sample) -> Sample:
        oh, ow = self.size
        h, w = sample["rgb"].shape[:2]
        window_area = self.rng.uniform(*self.area) * oh * ow
        aspect = (ow / oh) * math.exp(self.rng.uniform(math.log(self.ratio[0]), math.log(self.ratio[1])))
        cw, ch = math.sqrt(window_area * aspect), math.sqrt(window_area / aspect)
        x0 = self.rng.uniform(min(0.0, w - cw), max(0.0, w - cw))
        y0 = self.rng.uniform(min(0.0, h - ch), max(0.0, h - ch))
        sx, sy = ow / cw, oh / ch
        matrix = np.array([[sx, 0.0, -x0 * sx], [0.0, sy, -y0 * sy]], np.float32)
        s = _copy(sample)
        for key in ("rgb", "thermal"):
            s[key] = cv2.warpAffine(sample[key], matrix, (ow, oh), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        scale = np.array([sx, sy, sx, sy], np.float32)
        boxes = (np.asarray(sample["boxes"], np.float32).reshape(-1, 4) - np.array([x0, y0, x0, y0], np.float32)) * scale
        window = (max(0.0, -x0 * sx), max(0.0, -y0 * sy), min(float(ow), (w - x0) * sx), min(float(oh), (h - y0) * sy))
        return _clip_boxes(s, boxes, window, self.min_visible, self.ignore_below_visible)


class ModalityShift:
    """Move the thermal image by up to ``max_shift`` pixels in x and y (uniform integers, zero fill)
    against the RGB image, whose frame the boxes stay in: the small misregistration of real rigs."""

    def __init__(self, max_shift: int, rng: random.Random | None = None) -> None:
        self.max_shift, self.rng = int(max_shift), rng or random

    def __call__(self, sample: Sample) -> Sample:
        m = self.max_shift
        dx, dy = self.rng.randint(-m, m), self.rng.randint(-m, m)
        if dx == 0 and dy == 0:
            return sample
        th = sample["thermal"]
        h, w = th.shape[:2]
        out = np.zeros_like(th)
        out[max(dy, 0):h + min(dy, 0), max(dx, 0):w + min(dx, 0)] = th[max(-dy, 0):h - max(dy, 0), max(-dx, 0):w - max(dx, 0)]
        s = _copy(sample)
        s["thermal"] = out
        return s


class ResizePad:
    """Letterbox to the network input of ``PreprocessConfig`` and pad bottom/right to a fixed size.

    The resize is ``imaging.letterbox`` (what the Detector does at inference), so training and
    deployment see pedestrians at the same scale. The pad goes to ``input_size`` rounded up to
    ``pad_multiple`` so every sample in a batch has the same shape (with ``input_size=None`` only the
    rounding is applied, and batches need same-size images).
    """

    def __init__(self, preprocess: PreprocessConfig) -> None:
        self.preprocess = preprocess

    def _target(self, lb_h: int, lb_w: int) -> tuple[int, int]:
        m = max(1, int(self.preprocess.pad_multiple))
        if self.preprocess.input_size is None:
            return lb_h + (-lb_h % m), lb_w + (-lb_w % m)
        th, tw = self.preprocess.input_size
        return th + (-th % m), tw + (-tw % m)

    def __call__(self, sample: Sample) -> Sample:
        h, w = sample["rgb"].shape[:2]
        lb = letterbox(h, w, self.preprocess)
        s = _copy(sample)
        rgb = resize_to(sample["rgb"], lb)
        thermal = resize_to(sample["thermal"], lb)
        ph, pw = self._target(lb.out_h, lb.out_w)
        s["rgb"] = cv2.copyMakeBorder(rgb, 0, ph - lb.out_h, 0, pw - lb.out_w, cv2.BORDER_CONSTANT, value=0)
        s["thermal"] = cv2.copyMakeBorder(thermal, 0, ph - lb.out_h, 0, pw - lb.out_w, cv2.BORDER_CONSTANT, value=0)
        s["boxes"] = lb.to_network(sample["boxes"])
        s["letterbox"] = lb
        return s


class PhotometricJitter:
    """Random brightness/contrast (and, for RGB, saturation) change of one modality only.

    Applying independent jitter to each modality keeps the network from relying on a fixed
    brightness relation between the two cameras. Works for uint8 and uint16 thermal images.
    """

    def __init__(self, modality: str, brightness: float = 0.2, contrast: float = 0.2, saturation: float = 0.2,
                 p: float = 0.8, rng: random.Random | None = None) -> None:
        if modality not in ("rgb", "thermal"):
            raise ValueError(f"PhotometricJitter modality {modality!r} must be 'rgb' or 'thermal'")
        self.modality, self.brightness, self.contrast = modality, brightness, contrast
        self.saturation, self.p, self.rng = saturation, p, rng or random

    def __call__(self, sample: Sample) -> Sample:
        if self.rng.random() >= self.p:
            return sample
        img = sample[self.modality]
        top = float(np.iinfo(img.dtype).max) if np.issubdtype(img.dtype, np.integer) else 1.0
        x = img.astype(np.float32)
        c = 1.0 + self.rng.uniform(-self.contrast, self.contrast)
        b = self.rng.uniform(-self.brightness, self.brightness) * top
        mean = float(x.mean())
        x = (x - mean) * c + mean + b
        if self.modality == "rgb" and self.saturation > 0:
            gray = x.mean(axis=2, keepdims=True)
            x = gray + (x - gray) * (1.0 + self.rng.uniform(-self.saturation, self.saturation))
        s = _copy(sample)
        s[self.modality] = np.clip(x, 0, top).astype(img.dtype)
        return s


class FitToInput:
    """Resize the pair (and its boxes) by the letterbox factor the Detector will use, without padding.

    Scale jitter and crops that follow then happen at deployment scale: with 640x512 frames and a
    320x256 input, a pedestrian is trained at the size the network sees at inference, not twice as large.
    """

    def __init__(self, preprocess: PreprocessConfig) -> None:
        self.preprocess = preprocess

    def __call__(self, sample: Sample) -> Sample:
        h, w = sample["rgb"].shape[:2]
        lb = letterbox(h, w, self.preprocess)
        if not lb.needs_resize:
            return sample
        s = _copy(sample)
        s["rgb"] = resize_to(sample["rgb"], lb)
        s["thermal"] = resize_to(sample["thermal"], lb)
        s["boxes"] = lb.to_network(np.asarray(sample["boxes"], np.float32)).astype(np.float32)
        return s


def build_train_transforms(preprocess: PreprocessConfig, scale_range: tuple[float, float] = (0.8, 1.25),
                           flip_p: float = 0.5, *, resized_crop_area: tuple[float, float] | None = None,
                           resized_crop_ratio: tuple[float, float] = (0.8, 1.2), modality_shift: int = 0,
                           rgb_jitter: tuple[float, float, float] = (0.2, 0.2, 0.2),
                           thermal_jitter: tuple[float, float] = (0.2, 0.2), jitter_p: float = 0.8,
                           featureless_p: float = 0.0) -> Compose:
    """The training pipeline: (featureless "no scene" negative with probability ``featureless_p``) -> flip -> fit to the inference scale -> (random-resized crop to the input
    size, or scale jitter + crop) -> thermal shift -> letterbox/pad -> per-modality photometric jitter
    (``rgb_jitter`` = brightness, contrast, saturation; ``thermal_jitter`` = brightness offset, contrast
    gain; each applied with probability ``jitter_p``)."""
    steps: list[Callable[[Sample], Sample]] = [FeaturelessPair(featureless_p)] if featureless_p > 0 else []
    steps += [RandomHorizontalFlip(flip_p), FitToInput(preprocess)]
    if resized_crop_area is not None:
        if preprocess.input_size is None:
            raise ValueError("a random-resized crop needs preprocess.input_size")
        steps.append(RandomResizedCrop(tuple(preprocess.input_size), resized_crop_area, resized_crop_ratio))
    else:
        steps.append(RandomScale(*scale_range))
        if preprocess.input_size is not None:
            steps.append(RandomCrop(tuple(preprocess.input_size)))
    if modality_shift > 0:
        steps.append(ModalityShift(modality_shift))
    b, c, sat = rgb_jitter
    steps += [ResizePad(preprocess), PhotometricJitter("rgb", b, c, sat, p=jitter_p),
              PhotometricJitter("thermal", thermal_jitter[0], thermal_jitter[1], 0.0, p=jitter_p)]
    return Compose(steps)


def build_eval_transforms(preprocess: PreprocessConfig) -> Compose:
    return Compose([ResizePad(preprocess)])
