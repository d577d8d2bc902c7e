"""Batching Sample dicts into network tensors with the same normalization the Detector uses."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..config import PreprocessConfig
from ..imaging import normalize_pair, thermal_to_unit
from .sample import Sample


@dataclass
class Batch:
    """A training/eval batch.

    rgb: float32 [B, 3, H, W] normalized; thermal: float32 [B, 1, H, W] normalized;
    targets: per image dict(boxes float32 [N, 4] xyxy network pixels, labels int64 [N], ignore bool [N]);
    image_ids: KAIST-style names; meta: per-image extras (e.g. the Letterbox, for mapping boxes back).
    """

    rgb: torch.Tensor
    thermal: torch.Tensor
    targets: list[dict[str, torch.Tensor]]
    image_ids: list[str]
    meta: list[dict[str, Any]]

    def to(self, device: torch.device | str, non_blocking: bool = True) -> Batch:
        return Batch(
            self.rgb.to(device, non_blocking=non_blocking),
            self.thermal.to(device, non_blocking=non_blocking),
            [{k: v.to(device, non_blocking=non_blocking) for k, v in t.items()} for t in self.targets],
            self.image_ids,
            self.meta,
        )

    def pin_memory(self) -> Batch:
        """Called by DataLoader(pin_memory=True)."""
        return Batch(self.rgb.pin_memory(), self.thermal.pin_memory(),
                     [{k: v.pin_memory() for k, v in t.items()} for t in self.targets], self.image_ids, self.meta)

    def __len__(self) -> int:
        return self.rgb.shape[0]


def collate_samples(samples: list[Sample], preprocess: PreprocessConfig) -> Batch:
    """Stack samples (already the same size, e.g. after ``ResizePad``) into a normalized ``Batch``.

    Use with ``functools.partial(collate_samples, preprocess=cfg)`` as a DataLoader ``collate_fn``.
    """
    if not samples:
        raise ValueError("collate_samples got an empty list")
    shapes = {s["rgb"].shape[:2] for s in samples}
    if len(shapes) != 1:
        raise ValueError(
            f"samples have different sizes {sorted(shapes)}; add a ResizePad transform so a batch can be stacked"
        )
    rgbs, ths, targets, meta = [], [], [], []
    for s in samples:
        rgb_n, th_n = normalize_pair(s["rgb"], thermal_to_unit(s["thermal"], preprocess.thermal), preprocess)
        rgbs.append(rgb_n)
        ths.append(th_n)
        targets.append({
            "boxes": torch.from_numpy(np.asarray(s["boxes"], np.float32).reshape(-1, 4)),
            "labels": torch.from_numpy(np.asarray(s["labels"], np.int64)),
            "ignore": torch.from_numpy(np.asarray(s["ignore"], bool)),
        })
        meta.append({k: v for k, v in s.items() if k not in ("rgb", "thermal", "boxes", "labels", "ignore")})
    return Batch(
        torch.from_numpy(np.stack(rgbs)), torch.from_numpy(np.stack(ths)), targets,
        [str(s["image_id"]) for s in samples], meta,
    )
