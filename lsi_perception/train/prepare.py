"""What the trainer checks and measures on the training set before building anything else (rank 0):
the label-coverage report and its plausibility errors, the held-out validation videos, and (with
``data.normalization: measure``) the normalization constants, which replace ``preprocess``'s so the
checkpoint carries them. Also the one-line advice on the backbone learning rate.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsi_perception.data.coverage import check_coverage, label_coverage
from lsi_perception.data.kaist import KaistDataset
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_dataset, held_out_videos
from lsi_perception.train.norm_stats import cached_normalization


def prepare_training_set(cfg: TrainConfig, run_dir: Path, log: Callable[[str], None]
                         ) -> tuple[TrainConfig, dict[str, Any]]:
    """(cfg with the normalization to train with, facts for the checkpoint provenance).

    Raises ValueError when the label coverage is implausible (see ``data/coverage.py``).
    """
    data = cfg.data
    info: dict[str, Any] = {}
    dataset = build_dataset(data, "train", cfg.model.class_names, None)
    held = held_out_videos(data)
    if held:
        log(f"validation: {len(held)} video(s) held out of {data.train_list}: {', '.join(sorted(held))}")
    if isinstance(dataset, KaistDataset):
        coverage = label_coverage(dataset)
        log(coverage.report())
        check_coverage(coverage, data.max_unlabelled_fraction, data.missing_labels)
        info["label_coverage"] = {k: v for k, v in dataclasses.asdict(coverage).items() if k != "first_unlabelled"}
    if data.normalization == "measure":
        stats, path, cached = cached_normalization(dataset, data.root, run_dir, data.norm_stats_frames,
                                                   cfg.preprocess.thermal)
        log(f"normalization {'from ' if cached else 'measured on '}{stats.frames} training frames "
            f"{'(cache ' + str(path) + ')' if cached else '(cached in ' + str(path) + ')'}: "
            f"rgb mean {list(stats.rgb_mean)} std {list(stats.rgb_std)}, "
            f"thermal mean {stats.thermal_mean} std {stats.thermal_std}")
        cfg = dataclasses.replace(cfg, preprocess=stats.apply(cfg.preprocess))
        info["normalization"] = {"measured_on_frames": stats.frames, "cache": str(path)}
    else:
        info["normalization"] = "config"
    return cfg, info


def backbone_lr_advice(cfg: TrainConfig, backbone_init: str) -> str | None:
    """A warning when the backbone learning-rate multiplier does not suit the initialization."""
    mult = cfg.optim.backbone_lr_mult
    if backbone_init.startswith("random") and mult < 1.0:
        return (f"backbones start from random weights but optim.backbone_lr_mult={mult}: a lower backbone lr "
                "only makes sense for pretrained weights; consider optim.backbone_lr_mult=1")
    return None
