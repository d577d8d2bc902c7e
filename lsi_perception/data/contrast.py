"""Per-modality person-vs-background contrast of a KAIST-layout dataset (``lsi data stats DIR``).

For every annotated, non-ignored pedestrian the statistic, per modality, is

    contrast = |mean(body) - mean(surround)| / (std(surround) + noise)

with ``body`` the central part of the (RGB-frame) box (middle 40 % of its width, 10-90 % of its height),
``surround`` a ring around the box (half a box width left and right, 15 % of the height above and
below, the box itself excluded), and ``noise`` the image's pixel noise (robust MAD of the image minus
its 3x3 mean). For RGB it is the largest of the three colour channels' values (a red shirt on grey
asphalt stands out in colour, not necessarily in luminance). A value near 0 means the person is invisible in that
modality against its local background; above ~1 it stands out of the clutter. Thermal uses the same
boxes as RGB (the labels are the RGB image's), so misregistration lowers it as a detector would see.
The summary also gives the share of people brighter than their surround in thermal (``thermal_brighter``):
on real automotive frames (RoadScene / FLIR ADAS) it is 99 %; a world where it is far lower teaches that
people are dark in thermal (docs/real_frames.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

MODALITIES = ("rgb", "thermal")


@dataclass
class ContrastStats:
    """Contrast values per (time of day, modality), and per person both modalities side by side."""

    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    pairs: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # time -> [(rgb, thermal)]
    thermal_brighter: dict[str, list[bool]] = field(default_factory=dict)  # time -> body warmer than surround
    images: dict[str, int] = field(default_factory=dict)
    thermal_noise: dict[str, list[float]] = field(default_factory=dict)  # time -> per-image noise sigma (DN)

    def add_image(self, time_of_day: str, thermal_noise: float) -> None:
        for t in (time_of_day, "all"):
            self.images[t] = self.images.get(t, 0) + 1
            self.thermal_noise.setdefault(t, []).append(thermal_noise)

    def add(self, time_of_day: str, rgb: float, thermal: float, thermal_brighter: bool = True) -> None:
        for t in (time_of_day, "all"):
            self.values.setdefault((t, "rgb"), []).append(rgb)
            self.values.setdefault((t, "thermal"), []).append(thermal)
            self.pairs.setdefault(t, []).append((rgb, thermal))
            self.thermal_brighter.setdefault(t, []).append(thermal_brighter)

    def summary(self) -> dict[str, dict[str, float]]:
        """{time: {"rgb_median", "thermal_median", "rgb_p25", ..., "thermal_stronger", "thermal_brighter",
        "thermal_noise", "people", "images"}}; ``thermal_brighter``: the share of people brighter than their
        surround in thermal; ``thermal_noise``: the median per-image thermal pixel noise (``image_noise``, grey
        levels at the dataset's own resolution; real FLIR ADAS frames: about 4)."""
        out: dict[str, dict[str, float]] = {}
        for t, pairs in self.pairs.items():
            arr = np.asarray(pairs, np.float64)
            row: dict[str, float] = {"people": float(len(arr)), "images": float(self.images.get(t, 0))}
            for j, m in enumerate(MODALITIES):
                row[f"{m}_median"] = float(np.median(arr[:, j]))
                row[f"{m}_p25"], row[f"{m}_p75"] = (float(v) for v in np.percentile(arr[:, j], [25, 75]))
                row[f"{m}_washed_out"] = float(np.mean(arr[:, j] < 0.5))
            row["thermal_stronger"] = float(np.mean(arr[:, 1] > arr[:, 0]))
            row["thermal_brighter"] = float(np.mean(self.thermal_brighter.get(t, [True])))
            noise = self.thermal_noise.get(t, self.thermal_noise.get(t.split(" ")[0], []))
            row["thermal_noise"] = float(np.median(noise)) if noise else float("nan")
            out[t] = row
        return out


def image_noise(img: np.ndarray) -> float:
    """Robust pixel-noise sigma: 1.4826 * MAD of (image - its 3x3 mean), rescaled for the mean's share."""
    f = img.astype(np.float32)
    resid = f - cv2.blur(f, (3, 3))
    mad = float(np.median(np.abs(resid - np.median(resid))))
    return 1.4826 * mad * (9.0 / 8.0) ** 0.5


def person_contrast(img: np.ndarray, box: tuple[float, float, float, float], noise: float,
                    signed: bool = False) -> float | None:
    """Contrast of one xywh ``box`` in the single-channel ``img``; None when the box is too small or off-image.
    ``signed``: negative where the body is darker than its surround (the value is otherwise the same)."""
    H, W = img.shape
    x, y, w, h = box
    if w < 2 or h < 4:
        return None
    bx0, bx1 = int(round(x + 0.3 * w)), int(round(x + 0.7 * w))
    by0, by1 = int(round(y + 0.1 * h)), int(round(y + 0.9 * h))
    rx0, rx1 = max(0, int(round(x - 0.5 * w))), min(W, int(round(x + 1.5 * w)))
    ry0, ry1 = max(0, int(round(y - 0.15 * h))), min(H, int(round(y + 1.15 * h)))
    bx0, by0, bx1, by1 = max(bx0, 0), max(by0, 0), min(bx1, W), min(by1, H)
    if bx1 <= bx0 or by1 <= by0:
        return None
    ring = np.ones((ry1 - ry0, rx1 - rx0), bool)
    ix0, iy0 = max(int(round(x)) - rx0, 0), max(int(round(y)) - ry0, 0)
    ring[iy0:max(int(round(y + h)) - ry0, iy0), ix0:max(int(round(x + w)) - rx0, ix0)] = False
    surround = img[ry0:ry1, rx0:rx1][ring].astype(np.float64)
    if surround.size < 8:
        return None
    body = img[by0:by1, bx0:bx1].astype(np.float64)
    value = float((body.mean() - surround.mean()) / (surround.std() + noise + 1e-6))
    return value if signed else abs(value)


def dataset_contrast(root: str | Path, max_images: int | None = None, min_height: float = 0.0) -> ContrastStats:
    """Contrast statistics over every ``annotations/*.json`` split (KAIST evaluation schema) under ``root``.

    Images are read from ``images/<im_name>`` with ``visible``/``lwir`` folders (the KAIST layout); with
    ``max_images`` an even subsample of each split's images is used.
    """
    root = Path(root)
    ann_files = sorted((root / "annotations").glob("*.json"))
    if not ann_files:
        raise FileNotFoundError(f"{root}/annotations/*.json not found: point DIR at a KAIST-layout dataset "
                                "(e.g. one written by python -m lsi_perception.data.synthetic)")
    stats = ContrastStats()
    for path in ann_files:
        data = json.loads(path.read_text())
        images = data.get("images", [])
        if max_images is not None and len(images) > max_images:
            images = [images[int(i)] for i in np.linspace(0, len(images) - 1, max_images)]
        by_image: dict[int, list[dict]] = {}
        for a in data.get("annotations", []):
            by_image.setdefault(a["image_id"], []).append(a)
        for im in images:
            tod = im.get("time_of_day", "unknown")
            set_dir, video, stem = im["im_name"].split("/")
            folder = root / "images" / set_dir / video
            rgb_path = next(iter(sorted((folder / "visible").glob(f"{stem}.*"))), None)
            th_path = next(iter(sorted((folder / "lwir").glob(f"{stem}.*"))), None)
            if rgb_path is None or th_path is None:
                raise FileNotFoundError(f"images of {im['im_name']} missing under {folder}/{{visible,lwir}}")
            rgb = cv2.imread(str(rgb_path), cv2.IMREAD_COLOR)
            th = cv2.imread(str(th_path), cv2.IMREAD_GRAYSCALE)
            channels = [rgb[..., c] for c in range(3)]
            noise_rgb, noise_th = [image_noise(c) for c in channels], image_noise(th)
            stats.add_image(tod, noise_th)
            for a in by_image.get(im["id"], []):
                if a.get("ignore", 0) or a.get("height", a["bbox"][3]) < min_height:
                    continue
                per_channel = [person_contrast(c, tuple(a["bbox"]), n) for c, n in zip(channels, noise_rgb)]
                c_rgb = None if per_channel[0] is None else max(per_channel)
                c_th = person_contrast(th, tuple(a["bbox"]), noise_th, signed=True)
                if c_rgb is not None and c_th is not None:  # a slice ("slice" key) is a group of its own
                    stats.add(f"{tod} {a['slice']}" if "slice" in a else tod, c_rgb, abs(c_th), c_th > 0)
    return stats


def format_summary(summary: dict[str, dict[str, float]]) -> str:
    """A fixed-width table of ``ContrastStats.summary()``."""
    lines = ["time    people images | RGB median [p25-p75] <0.5 | thermal median [p25-p75] <0.5 | thermal stronger"
             " | thermal brighter | thermal noise", "-" * 139]
    for t in ("day", "night", "all", *sorted(k for k in summary if k not in ("day", "night", "all"))):
        if t not in summary:
            continue
        r = summary[t]
        cols = " | ".join(f"{r[f'{m}_median']:6.2f} [{r[f'{m}_p25']:.2f}-{r[f'{m}_p75']:.2f}] {r[f'{m}_washed_out']:4.0%}"
                          for m in MODALITIES)
        lines.append(f"{t:7s} {int(r['people']):6d} {int(r['images']):6d} | {cols} | {r['thermal_stronger']:16.0%} "
                     f"| {r['thermal_brighter']:16.0%} | {r['thermal_noise']:10.2f} DN")
    return "\n".join(lines)
