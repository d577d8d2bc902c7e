"""Normalization constants measured on the training frames (``data.normalization: measure``).

A pass over ``data.norm_stats_frames`` frames spread evenly over the training list measures the
per-channel RGB mean/std (of uint8 / 255) and the thermal mean/std (after the checkpoint's thermal
policy maps it to [0, 1]), pooled over all pixels. The result is cached as JSON keyed by a hash of the
dataset root, the training frame names, the frame count and the thermal policy: next to the data
(``<root>/.lsi_cache/``) when that folder is writable, else in the run folder. The trainer writes the
values into ``preprocess`` before anything is built, so they reach the checkpoint metadata and the
Detector normalizes exactly as training did.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from lsi_perception.config import PreprocessConfig, ThermalPolicy, to_dict
from lsi_perception.imaging import thermal_to_unit

PIXEL_STRIDE = 2  # every 2nd row and column: the statistics of 640x512 frames do not need all pixels


@dataclass
class NormStats:
    rgb_mean: tuple[float, float, float]
    rgb_std: tuple[float, float, float]
    thermal_mean: float
    thermal_std: float
    frames: int

    def apply(self, preprocess: PreprocessConfig) -> PreprocessConfig:
        return replace(preprocess, rgb_mean=tuple(self.rgb_mean), rgb_std=tuple(self.rgb_std),
                       thermal_mean=float(self.thermal_mean), thermal_std=float(self.thermal_std))


def measure_normalization(dataset, frames: int, policy: ThermalPolicy) -> NormStats:
    """Pooled mean/std over ``frames`` evenly spaced frames of ``dataset`` (needs ``load(i)``)."""
    n = len(dataset)
    if n == 0:
        raise ValueError("the training set is empty: no frames to measure normalization on")
    indices = np.unique(np.linspace(0, n - 1, min(frames, n)).round().astype(int))
    rgb_sum, rgb_sq = np.zeros(3), np.zeros(3)
    th_sum = th_sq = 0.0
    pixels = 0
    for i in indices:
        sample = dataset.load(int(i))
        rgb = sample["rgb"][::PIXEL_STRIDE, ::PIXEL_STRIDE].reshape(-1, 3).astype(np.float64) / 255.0
        th = thermal_to_unit(sample["thermal"], policy)[::PIXEL_STRIDE, ::PIXEL_STRIDE].astype(np.float64)
        rgb_sum += rgb.sum(0)
        rgb_sq += (rgb * rgb).sum(0)
        th_sum += float(th.sum())
        th_sq += float((th * th).sum())
        pixels += rgb.shape[0]
    rgb_mean = rgb_sum / pixels
    rgb_std = np.sqrt(np.maximum(rgb_sq / pixels - rgb_mean**2, 0.0))
    th_mean = th_sum / pixels
    th_std = float(np.sqrt(max(th_sq / pixels - th_mean**2, 0.0)))
    if min(rgb_std.min(), th_std) < 1e-3:
        raise ValueError(
            f"measured normalization has a near-zero standard deviation (rgb {rgb_std.round(4).tolist()}, "
            f"thermal {th_std:.4g}) over {len(indices)} frames: are the images blank? Use "
            "data.normalization=config to keep preprocess.*_mean/_std as given"
        )
    return NormStats(tuple(round(float(v), 5) for v in rgb_mean), tuple(round(float(v), 5) for v in rgb_std),
                     round(th_mean, 5), round(th_std, 5), len(indices))


def stats_key(root: str | Path, names: list[str], frames: int, policy: ThermalPolicy) -> str:
    """Hash of what the statistics depend on: dataset root, training frames, frame count, thermal policy."""
    h = hashlib.sha256()
    h.update(str(Path(root).resolve()).encode())
    h.update("\n".join(names).encode())
    h.update(json.dumps([frames, to_dict(policy)], sort_keys=True).encode())
    return h.hexdigest()[:16]


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


def cached_normalization(dataset, root: str | Path, run_dir: Path, frames: int, policy: ThermalPolicy
                         ) -> tuple[NormStats, Path, bool]:
    """(stats, cache file, whether it came from the cache) for the training ``dataset``."""
    key = stats_key(root, list(dataset.names), frames, policy)
    candidates = [Path(root) / ".lsi_cache" / f"norm_stats_{key}.json", run_dir / f"norm_stats_{key}.json"]
    for path in candidates:
        if path.is_file():
            data = json.loads(path.read_text())
            return NormStats(tuple(data["rgb_mean"]), tuple(data["rgb_std"]), data["thermal_mean"],
                             data["thermal_std"], data["frames"]), path, True
    stats = measure_normalization(dataset, frames, policy)
    path = next((p for p in candidates if _writable(p.parent)), candidates[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    tmp.write_text(json.dumps({**asdict(stats), "key": key, "root": str(root)}, indent=1))
    os.replace(tmp, path)
    return stats, path, False
