"""Scoring for the regime experiment: the existing per-variant scoring plus MR on the RGB-only slice and the rest.

``score_regime_run`` scores a trained run (or probe) like ``experiment.scoring.score_run`` (each input
variant, all / day / night, modality information) and adds ``row["slices"][subset][variant]`` for the
annotation slices (``eval/slices.py``): "rgb_only" (pedestrians with no thermal signature; the
others ignored) and "rest". The RGB-only slice exists by day only, so its figure is the "day" entry
(FPPI per day image). ``score_late_fusion`` does the same for the box fusion of two runs' detections.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from torch import Tensor

from lsi_perception.eval import evaluate as evaluate_detections
from lsi_perception.eval import load_annotations
from lsi_perception.eval.late_fusion import fuse_detections
from lsi_perception.eval.slices import read_slices, slice_views
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.engine import VALIDATION_PROTOCOL, reasonable_setting
from lsi_perception.train.experiment.scoring import VARIANTS, load_detections, save_detections, score_run

TEST_ANNOTATIONS = Path("annotations") / "train.json"  # each split is written as its own "train" split


def test_annotations(test_root: Path):
    """(annotations, per-GT slice labels) of the test split."""
    path = Path(test_root) / TEST_ANNOTATIONS
    ann = load_annotations(path)
    return ann, read_slices(path, ann)


def slice_scores(test_root: Path, detections_path: Path, min_height: float, variants=VARIANTS) -> dict:
    """{subset: {variant: {all, day, night}}} for every slice of the test annotations and "rest"."""
    ann, labels = test_annotations(test_root)
    setting = reasonable_setting(min_height)
    saved = np.load(detections_path)
    out: dict[str, dict[str, dict[str, float]]] = {}
    for variant in variants:
        if f"{variant}__names" not in saved:
            continue
        dets = load_detections(detections_path, variant)
        for subset, view in slice_views(ann, labels).items():
            result = evaluate_detections(view, dets, settings=(setting,), protocol=VALIDATION_PROTOCOL)
            out.setdefault(subset, {})[variant] = {t: float(v) for t, v in result.mr["reasonable"].items()}
    return out


def score_regime_run(run_cfg: TrainConfig, test_root: Path, means: tuple[Tensor, Tensor], unused: str | None,
                     min_height: float, detections_path: Path) -> dict:
    row = score_run(run_cfg, test_root, means, unused, min_height, detections_path)
    row["slices"] = slice_scores(test_root, detections_path, min_height)
    return row


def score_late_fusion(rgb_detections: Path, thermal_detections: Path, test_root: Path, min_height: float,
                      detections_path: Path, iou: float) -> dict:
    """Fuse the two single-modality runs' test detections ("both" variant) and score the result."""
    fused = fuse_detections(load_detections(rgb_detections, "both"), load_detections(thermal_detections, "both"), iou)
    save_detections(detections_path, {"both": fused})
    ann, _ = test_annotations(test_root)
    result = evaluate_detections(ann, fused, settings=(reasonable_setting(min_height),), protocol=VALIDATION_PROTOCOL)
    return {"mr": {"both": {t: float(v) for t, v in result.mr["reasonable"].items()}},
            "slices": slice_scores(test_root, detections_path, min_height, ("both",))}
