"""Scoring one trained run on the test split: detections with each input variant, MR, modality information.

Input variants (what the network is fed at test time):

- ``both``: both images (a single-modality model always gets its unused input blanked with zeros);
- ``rgb_zero`` / ``thermal_zero``: that modality replaced by the normalized-space zero image (what the
  Detector feeds for a missing image);
- ``rgb_mean`` / ``thermal_mean``: replaced by the mean training image of that modality (a "typical"
  image with no pedestrian evidence: it keeps the input statistics the network was trained on).
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from lsi_perception.checkpoint import load_checkpoint
from lsi_perception.config import InferenceConfig
from lsi_perception.data.collate import collate_samples
from lsi_perception.data.transforms import build_eval_transforms
from lsi_perception.eval import evaluate as evaluate_detections
from lsi_perception.eval import xyxy_to_xywh
from lsi_perception.losses.config import LossConfig
from lsi_perception.losses.lsi import LSIRegularizer
from lsi_perception.model import build_model, decode
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_dataset, build_val_loader
from lsi_perception.train.engine import VALIDATION_PROTOCOL, reasonable_setting

VARIANTS = ("both", "rgb_zero", "rgb_mean", "thermal_zero", "thermal_mean")
# The fixed estimator behind the reported I_vis / I_th (descriptive only; same for every run).
INFO_ESTIMATOR = LossConfig(lsi_estimator="fisher", lsi_functional="decision", lsi_topk=32, lsi_samples=1,
                            lsi_images=0)
INFO_NOISE_SEED = 0

Substitute = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


def mean_images(cfg: TrainConfig, count: int) -> tuple[Tensor, Tensor]:
    """Mean normalized RGB [1, 3, H, W] and thermal [1, 1, H, W] over up to ``count`` training images."""
    dataset = build_dataset(cfg.data, "train", cfg.model.class_names, build_eval_transforms(cfg.preprocess))
    idx = np.linspace(0, len(dataset) - 1, min(count, len(dataset))).astype(int)  # type: ignore[arg-type]
    rgb_sum, th_sum = None, None
    for start in range(0, len(idx), 16):
        batch = collate_samples([dataset[int(i)] for i in idx[start:start + 16]], cfg.preprocess)
        rs, ts = batch.rgb.sum(0, keepdim=True), batch.thermal.sum(0, keepdim=True)
        rgb_sum = rs if rgb_sum is None else rgb_sum + rs
        th_sum = ts if th_sum is None else th_sum + ts
    assert rgb_sum is not None and th_sum is not None
    return rgb_sum / len(idx), th_sum / len(idx)


def substitutions(means: tuple[Tensor, Tensor], unused: str | None) -> dict[str, Substitute]:
    """The input variants as functions of a batch; ``unused`` is the modality a single-modality model never sees."""
    rgb_mean, th_mean = means

    def make(rgb_fill: str | None, th_fill: str | None) -> Substitute:
        def apply(rgb: Tensor, th: Tensor) -> tuple[Tensor, Tensor]:
            if rgb_fill == "zero" or unused == "rgb":
                rgb = torch.zeros_like(rgb)
            elif rgb_fill == "mean":
                rgb = rgb_mean.expand_as(rgb)
            if th_fill == "zero" or unused == "thermal":
                th = torch.zeros_like(th)
            elif th_fill == "mean":
                th = th_mean.expand_as(th)
            return rgb, th
        return apply

    return {"both": make(None, None), "rgb_zero": make("zero", None), "rgb_mean": make("mean", None),
            "thermal_zero": make(None, "zero"), "thermal_mean": make(None, "mean")}


@torch.no_grad()
def predict(net: torch.nn.Module, loader: Iterable, inference: InferenceConfig, substitute: Substitute,
            device: torch.device | None = None) -> dict[str, np.ndarray]:
    """{image_id: float32 [N, 5] x, y, w, h, score} in original-image pixels for one input variant
    (``substitute`` works on CPU batches; the network runs on ``device``, default CPU)."""
    net.eval()
    out: dict[str, np.ndarray] = {}
    for batch in loader:
        rgb, thermal = substitute(batch.rgb, batch.thermal)
        if device is not None:
            rgb, thermal = rgb.to(device), thermal.to(device)
        for image_id, dets, meta in zip(batch.image_ids, decode(net(rgb, thermal), inference), batch.meta):
            boxes = meta["letterbox"].to_original(dets["boxes"].float().cpu().numpy())
            xywh = xyxy_to_xywh(boxes)
            scores = dets["scores"].float().cpu().numpy()[:, None]
            out[image_id] = np.concatenate([xywh, scores], 1).astype(np.float32)
    return out


def modality_information(net, loader, annotations, substitute: Substitute, max_images: int = 64,
                         device: torch.device | None = None) -> dict[str, float]:
    """Mean I_vis, I_th per time of day with the fixed estimator and noise seed (``INFO_ESTIMATOR``), on
    an even subset of about ``max_images`` test images (every k-th batch)."""
    generator = torch.Generator(device=device or "cpu").manual_seed(INFO_NOISE_SEED)
    regularizer = LSIRegularizer(INFO_ESTIMATOR, generator=generator)
    tod = dict(zip(annotations.im_names, annotations.time_of_day))
    sums: dict[str, list[float]] = {}
    net.eval()
    stride = max(1, math.ceil(len(loader) * loader.batch_size / max_images))
    for b, batch in enumerate(loader):
        if b % stride:
            continue
        rgb, thermal = substitute(batch.rgb, batch.thermal)
        if device is not None:
            rgb, thermal = rgb.to(device), thermal.to(device)
        with torch.no_grad():
            vis, th = net.extract_features(rgb, thermal)
        times = [tod.get(i, "unknown") for i in batch.image_ids]
        for t in sorted(set(times)):
            keep = [k for k, x in enumerate(times) if x == t]
            _, stats = regularizer(net, [v[keep] for v in vis], [x[keep] for x in th])
            for key in (t, "all"):
                acc = sums.setdefault(key, [0.0, 0.0, 0.0])
                acc[0] += stats["I_vis"] * len(keep)
                acc[1] += stats["I_th"] * len(keep)
                acc[2] += len(keep)
    out = {}
    for key, (iv, it, n) in sums.items():
        out[f"I_vis_{key}"], out[f"I_th_{key}"] = iv / n, it / n
        out[f"ratio_{key}"] = (iv / it) if it > 0 else float("inf")
    return out


def score_run(run_cfg: TrainConfig, test_root: Path, means: tuple[Tensor, Tensor], unused: str | None,
              min_height: float, detections_path: Path) -> dict:
    """Score ``runs/.../best.safetensors`` on the test split: MR per variant and time, informations.

    The raw detections of every variant go to ``detections_path`` (npz) for the drive bootstrap.
    """
    weights, meta = load_checkpoint(run_cfg.run_dir / "best.safetensors")
    net = build_model(meta.model)
    net.load_state_dict(weights)
    test_cfg = dataclasses.replace(run_cfg, data=dataclasses.replace(
        run_cfg.data, val_root=str(test_root), val_list="train.txt", val_annotations="annotations/train.json",
        val_max_images=None))
    loader, annotations = build_val_loader(test_cfg, torch.device("cpu"))
    inference = dataclasses.replace(meta.inference, score_threshold=run_cfg.runtime.eval_score_threshold)
    setting = reasonable_setting(min_height)
    subs = substitutions(means, unused)
    row: dict = {"step": meta.provenance.get("step"), "val_metrics": meta.provenance.get("metrics", {}), "mr": {}}
    variants: dict[str, dict[str, np.ndarray]] = {}
    for variant, substitute in subs.items():
        dets = variants[variant] = predict(net, loader, inference, substitute)
        result = evaluate_detections(annotations, dets, settings=(setting,), protocol=VALIDATION_PROTOCOL)
        row["mr"][variant] = {t: float(v) for t, v in result.mr["reasonable"].items()}
    row["information"] = modality_information(net, loader, annotations, subs["both"])
    save_detections(detections_path, variants)
    return row


def save_detections(path: Path, variants: dict[str, dict[str, np.ndarray]]) -> None:
    """{variant: {image name: [N, 5]}} -> one npz (``load_detections`` reads a variant back)."""
    saved: dict[str, np.ndarray] = {}
    for variant, dets in variants.items():
        names = sorted(dets)
        saved[f"{variant}__names"] = np.array(names)
        saved[f"{variant}__counts"] = np.array([len(dets[n]) for n in names], np.int64)
        saved[f"{variant}__dets"] = (np.concatenate([dets[n] for n in names]) if names
                                     else np.zeros((0, 5), np.float32))
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **saved)


def load_detections(path: Path, variant: str) -> dict[str, np.ndarray]:
    """The detections of one variant saved by ``score_run``."""
    data = np.load(path)
    names, counts, dets = data[f"{variant}__names"], data[f"{variant}__counts"], data[f"{variant}__dets"]
    starts = np.concatenate([[0], np.cumsum(counts)])
    return {str(n): dets[starts[i]:starts[i + 1]] for i, n in enumerate(names)}
