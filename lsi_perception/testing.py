"""Helpers for tests and tools that need "a checkpoint" or "an image pair" without training or data.

    path = make_random_checkpoint(tmp_path / "rand.safetensors")   # untrained b0, 128x160 input
    rgb, thermal = synthetic_pair(128, 160, seed=0)

The random checkpoint's score threshold is low enough that its (meaningless) outputs still give
detections, so pipelines can be checked end to end.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lsi_perception.checkpoint import CheckpointMeta, collect_provenance, save_checkpoint
from lsi_perception.config import InferenceConfig, ModelConfig, PreprocessConfig

TEST_INPUT_SIZE = (128, 160)  # (height, width): small enough for fast CPU tests


def make_random_checkpoint(path: str | Path, model: ModelConfig | None = None,
                           preprocess: PreprocessConfig | None = None, inference: InferenceConfig | None = None,
                           seed: int = 0, dtype: torch.dtype | None = None, trained_on: str | None = None) -> Path:
    """Write an untrained (seeded, reproducible) detector checkpoint and return its path.

    Defaults: pvt_v2_b0, class "person", letterbox to 128x160, score_threshold 0.01 and at most 20
    detections per image (an untrained head scores about 0.07 everywhere). ``trained_on`` (a data.kind,
    e.g. "synthetic") records the training data that ``lsi train`` would, for the synthetic-only WARN.
    """
    from lsi_perception.model import build_model

    model = model or ModelConfig(pretrained_path=None, allow_download=False)
    preprocess = preprocess or PreprocessConfig(input_size=TEST_INPUT_SIZE)
    inference = inference or InferenceConfig(score_threshold=0.01, max_detections=20)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = build_model(model)
    provenance = collect_provenance(dataset="none (random init)", epochs=0, seed=seed)
    if trained_on is not None:
        from lsi_perception.training_data import training_data_for_kind

        provenance["training_data"] = training_data_for_kind(trained_on).to_dict()
    meta = CheckpointMeta(model=model, preprocess=preprocess, inference=inference, provenance=provenance)
    return save_checkpoint(path, net, meta, dtype=dtype)


def synthetic_pair(height: int = 128, width: int = 160, seed: int = 0, thermal_dtype: type = np.uint8
                   ) -> tuple[np.ndarray, np.ndarray]:
    """A random but structured RGB (uint8 HxWx3) + thermal (HxW, ``thermal_dtype``) pair: smooth
    background plus a few warm, upright "pedestrian" rectangles present in both modalities."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    base = 0.35 + 0.2 * np.sin(xx / max(width, 1) * 6.0 + rng.uniform(0, 6)) * np.cos(yy / max(height, 1) * 4.0)
    rgb = np.repeat(base[..., None], 3, axis=2) * rng.uniform(0.7, 1.0, size=3)
    thermal = base * 0.5
    for _ in range(3):
        h = int(rng.integers(max(4, height // 8), max(5, height // 3)))
        w = max(2, h // 2)
        y0 = int(rng.integers(0, max(1, height - h)))
        x0 = int(rng.integers(0, max(1, width - w)))
        rgb[y0:y0 + h, x0:x0 + w] = rng.uniform(0.1, 0.9, size=3)
        thermal[y0:y0 + h, x0:x0 + w] = 0.85
    rgb = np.clip(rgb + rng.normal(0, 0.02, rgb.shape), 0, 1)
    thermal = np.clip(thermal + rng.normal(0, 0.02, thermal.shape), 0, 1)
    rgb_u8 = (rgb * 255).astype(np.uint8)
    if thermal_dtype == np.uint16:
        return rgb_u8, (20000 + thermal * 10000).astype(np.uint16)
    if thermal_dtype == np.float32:
        return rgb_u8, (280.0 + thermal * 30.0).astype(np.float32)
    return rgb_u8, (thermal * 255).astype(np.uint8)
