"""What the trainer checks and measures on the training set before building anything else (rank 0):
the data check (``datacheck.py``: every split read as training reads it, counted, refused when it would
train on nothing), and (with ``data.normalization: measure``) the normalization constants, which replace
``preprocess``'s so the checkpoint carries them. Also the one-line advice on the backbone learning rate.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_dataset
from lsi_perception.train.datacheck import check_data
from lsi_perception.train.norm_stats import cached_normalization


def prepare_training_set(cfg: TrainConfig, run_dir: Path, log: Callable[[str], None]
                         ) -> tuple[TrainConfig, dict[str, Any]]:
    """(cfg with the normalization to train with, facts for the checkpoint provenance).

    Raises ValueError when the data check finds a problem (see ``datacheck.py``).
    """
    data = cfg.data
    info: dict[str, Any] = {}
    check = check_data(cfg)
    log(check.report())
    check.raise_for_problems()
    train_cov = check.splits[0].coverage
    info["label_coverage"] = {k: v for k, v in dataclasses.asdict(train_cov).items()
                              if k not in ("first_unlabelled", "first_missing")}
    dataset = build_dataset(data, "train", cfg.model.class_names, None)
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
