"""``lsi diagnose``: does a trained RGB-T detector use both modalities? Per-modality diagnostics on a labelled set.

For one checkpoint and one KAIST-layout dataset (images + a KAIST-schema annotation JSON) it measures

- MR^-2 (Reasonable, all / day / night) with both inputs and with each modality blanked, as zeros (what
  the Detector feeds for a missing image) and as the mean image of the diagnosed set (a typical image
  with no pedestrian evidence, closer to what the network saw in training);
- the same on every annotation slice (a ``"slice"`` key per pedestrian, e.g. the synthetic world's
  ``rgb_only``: people with no thermal signature) and on the rest, each scored alone (the others
  ignored; ``eval/slices.py``);
- the functional Fisher information of each modality, I_vis / I_th, per time of day (the LSI
  regularizer's estimator, fixed settings and noise seed: ``experiment/scoring.py``).

How to read it (the neglect-regime experiment's checks, docs/experiment_regime.md): if blanking RGB
barely moves MR while blanking thermal destroys it, and the model fails on a slice only RGB can see,
it neglects RGB. Blanked inputs are out of distribution for a model never trained without them, so a
large rise can also mean co-dependence rather than use; a probe (``train/probe.py``) separates the two.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from lsi_perception.checkpoint import load_checkpoint
from lsi_perception.eval import evaluate as evaluate_detections
from lsi_perception.eval.slices import read_slices, slice_views
from lsi_perception.model import build_model
from lsi_perception.train.config import DataConfig, RuntimeConfig, TrainConfig
from lsi_perception.train.data import build_val_loader, val_annotations_path
from lsi_perception.train.engine import VALIDATION_PROTOCOL, reasonable_setting
from lsi_perception.train.experiment.scoring import VARIANTS, modality_information, predict, substitutions

TIMES = ("all", "day", "night")
KAIST_REASONABLE_HEIGHT = 55.0  # px at KAIST's 512 rows


@dataclass
class Diagnosis:
    """What ``diagnose`` measured (MR in percent; NaN where a subset has no pedestrians)."""

    checkpoint: str
    data: str
    images: int
    min_height: float
    mr: dict[str, dict[str, float]]  # variant -> time -> MR
    slices: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)  # subset -> variant -> time
    information: dict[str, float] = field(default_factory=dict)  # I_vis_<t>, I_th_<t>, ratio_<t>

    def to_json(self) -> dict:
        return dataclasses.asdict(self)


def diagnose(checkpoint: str | Path, data_root: str | Path, image_list: str = "test.txt",
             annotations: str | None = None, min_height: float | None = None, device: str = "cpu",
             batch_size: int = 8, workers: int = 0, mean_images: int = 200) -> Diagnosis:
    """Run every diagnostic (see the module docstring) of ``checkpoint`` on ``data_root``.

    ``image_list``: an image-set file (a bare name is looked up in ``<root>/imageSets/``);
    ``annotations``: the KAIST-schema JSON (default ``<root>/annotations/<list stem>.json``);
    ``min_height``: Reasonable's height floor (default KAIST's 55 px scaled to the images' height).
    """
    root = Path(data_root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder: give a KAIST-layout dataset root (images/, imageSets/, "
                                "annotations/)")
    weights, meta = load_checkpoint(checkpoint)
    if meta.preprocess.input_size is None:
        raise ValueError(f"{checkpoint} letterboxes to the native size (preprocess.input_size null): diagnose "
                         "batches images, give it a checkpoint trained at a fixed input_size")
    data = DataConfig(kind="kaist", root=str(root), val_root=str(root), val_list=image_list, val_annotations=annotations)
    cfg = dataclasses.replace(TrainConfig(), model=meta.model, preprocess=meta.preprocess, data=data,
                              runtime=RuntimeConfig(batch_size=batch_size, workers=workers, device=device))
    ann_path = val_annotations_path(cfg.data)
    if ann_path is None:
        raise FileNotFoundError(f"no annotation JSON for {image_list} under {root}/annotations: pass --annotations "
                                "(the KAIST-schema file with heights, occlusion and time of day)")
    dev = torch.device(device)
    net = build_model(meta.model)
    net.load_state_dict(weights)
    net.to(dev).eval()
    loader, ann = build_val_loader(cfg, dev)
    if min_height is None:
        min_height = KAIST_REASONABLE_HEIGHT * float(np.median(ann.image_sizes[:, 1])) / 512.0
    setting = reasonable_setting(min_height)
    means = _mean_inputs(loader, mean_images)
    subs = substitutions(means, None)
    views = slice_views(ann, read_slices(ann_path, ann))
    inference = dataclasses.replace(meta.inference, score_threshold=min(meta.inference.score_threshold, 0.01))
    out = Diagnosis(str(checkpoint), str(ann_path), len(ann.im_names), float(min_height), {})
    for variant in VARIANTS:
        dets = predict(net, loader, inference, subs[variant], dev)
        result = evaluate_detections(ann, dets, settings=(setting,), protocol=VALIDATION_PROTOCOL)
        out.mr[variant] = {t: float(result.mr["reasonable"][t]) for t in TIMES}
        for subset, view in views.items():
            result = evaluate_detections(view, dets, settings=(setting,), protocol=VALIDATION_PROTOCOL)
            out.slices.setdefault(subset, {})[variant] = {t: float(result.mr["reasonable"][t]) for t in TIMES}
    out.information = modality_information(net, loader, ann, subs["both"], device=dev)
    return out


def _mean_inputs(loader, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean normalized RGB and thermal input over the first ``count`` images of ``loader``."""
    rgb_sum = th_sum = None
    seen = 0
    for batch in loader:
        rs, ts = batch.rgb.sum(0, keepdim=True), batch.thermal.sum(0, keepdim=True)
        rgb_sum = rs if rgb_sum is None else rgb_sum + rs
        th_sum = ts if th_sum is None else th_sum + ts
        seen += batch.rgb.shape[0]
        if seen >= count:
            break
    if rgb_sum is None or th_sum is None:
        raise ValueError("the diagnosed image list is empty")
    return rgb_sum / seen, th_sum / seen


def _cell(v: float) -> str:
    return "  n/a" if v is None or math.isnan(v) else f"{v:5.1f}"


def format_diagnosis(d: Diagnosis) -> str:
    """A plain-text report: MR per input variant and subset, the change when each modality is blanked,
    and the information ratio."""
    lines = [f"checkpoint {d.checkpoint}", f"data {d.data} ({d.images} images; Reasonable from {d.min_height:.1f} px)",
             "", "MR^-2 %        all   day night   (lower is better)"]
    subsets = {"every pedestrian": d.mr, **{f"slice {k}": v for k, v in d.slices.items()}}
    for title, table in subsets.items():
        lines.append(f"[{title}]")
        for variant in VARIANTS:
            row = table.get(variant, {})
            lines.append(f"  {variant:13s} " + " ".join(_cell(row.get(t, float('nan'))) for t in TIMES))
    lines += ["", "change when a modality is blanked (MR points, mean image / zeros; all images):"]
    for title, table in subsets.items():
        base = table["both"]["all"]
        rgb = (table["rgb_mean"]["all"] - base, table["rgb_zero"]["all"] - base)
        th = (table["thermal_mean"]["all"] - base, table["thermal_zero"]["all"] - base)
        lines.append(f"  {title}: RGB {rgb[0]:+.1f} / {rgb[1]:+.1f}, thermal {th[0]:+.1f} / {th[1]:+.1f}")
    info = d.information
    ratios = ", ".join(f"{t} {info[f'ratio_{t}']:.2f}" for t in TIMES if f"ratio_{t}" in info)
    lines += ["", f"Fisher information ratio I_vis / I_th (> 1: RGB moves the decisions more): {ratios or 'n/a'}"]
    return "\n".join(lines)
