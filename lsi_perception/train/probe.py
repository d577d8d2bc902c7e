"""A linear-probe-style check of what one modality's backbone learnt: fresh fusion + neck + heads trained on a
trained model's *frozen* backbones, with the other modality blanked.

The imbalance literature's first test (OGM-GE; Du et al., "modality laziness"): the weak modality's
encoder inside the fused model, given a head of its own, detects worse than the same modality trained
alone. Blanking an input of the fused model answers a different question (the fused head never saw a
blank input), so the probe retrains the head and keeps the backbone. ``train_probe(checkpoint, cfg,
out_dir, steps, modality="rgb")``: the checkpoint's two backbones are copied into a freshly initialized
network and frozen; fusion, neck and heads train for ``steps`` steps (AdamW, warmup + cosine, the run's
optimizer settings) with the other modality always blank, as a single-modality model trains; the final
weights go to ``<out_dir>/best.safetensors`` (no checkpoint selection), ready for the same scoring as a
trained run.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import torch

from lsi_perception.checkpoint import CheckpointMeta, load_checkpoint, save_checkpoint
from lsi_perception.losses.criterion import build_criterion
from lsi_perception.model import build_model
from lsi_perception.train.config import TrainConfig
from lsi_perception.train.data import build_train_loader
from lsi_perception.train.distributed import DistInfo, resolve_device
from lsi_perception.train.engine import (
    AmpSettings,
    LoopState,
    StepContext,
    TrainingObjective,
    train_one_epoch,
)
from lsi_perception.train.optim import build_optimizer, warmup_cosine
from lsi_perception.train.rng import seed_everything

BACKBONE_PREFIXES = ("rgb_backbone.", "thermal_backbone.")
PROBE_FILE = "best.safetensors"


def train_probe(checkpoint: Path, cfg: TrainConfig, out_dir: Path, steps: int, modality: str = "rgb") -> Path:
    """Train a probe on ``checkpoint``'s frozen backbones; ``cfg`` gives data, optimizer and seed. Returns the
    probe's checkpoint path (reused when it exists)."""
    if modality not in ("rgb", "thermal"):
        raise ValueError(f"probe modality={modality!r} must be 'rgb' or 'thermal'")
    out = Path(out_dir) / PROBE_FILE
    if out.is_file():
        return out
    weights, meta = load_checkpoint(checkpoint)
    seed_everything(cfg.runtime.seed)
    net = build_model(meta.model)
    missing = net.load_state_dict({k: v for k, v in weights.items() if k.startswith(BACKBONE_PREFIXES)}, strict=False)
    if any(k.startswith(BACKBONE_PREFIXES) for k in missing.missing_keys):
        raise ValueError(f"{checkpoint} lacks backbone weights the network needs: {missing.missing_keys[:3]} ...")
    for backbone in (net.rgb_backbone, net.thermal_backbone):
        backbone.requires_grad_(False)
    augment = dataclasses.replace(cfg.data.augment, modality=modality, modality_dropout=0.0)
    cfg = dataclasses.replace(cfg, model=meta.model, preprocess=meta.preprocess,
                              data=dataclasses.replace(cfg.data, augment=augment),
                              runtime=dataclasses.replace(cfg.runtime, max_steps=steps))
    device = resolve_device(cfg.runtime.device, 0)
    net.to(device)
    loader, sampler = build_train_loader(cfg, DistInfo(), device)
    objective = TrainingObjective(net, build_criterion(cfg.loss, meta.model.num_classes, net.stride), None, 0.0)
    optimizer = build_optimizer(net, cfg)
    s = cfg.schedule
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_cosine(steps, s.warmup_steps, s.warmup_start,
                                                                           s.min_lr_ratio))
    blank = {"rgb": "thermal", "thermal": "rgb"}[modality]
    ctx = StepContext(objective, optimizer, scheduler, torch.amp.GradScaler(device.type, enabled=False),
                      AmpSettings(device_type=device.type), device, cfg.optim.grad_clip, cfg.runtime.log_every,
                      steps, 0.0, blank)
    state = LoopState()
    tic = time.perf_counter()
    while state.step < steps:
        sampler.set_epoch(state.epoch)
        train_one_epoch(ctx, loader, state)
        state.epoch += 1
        state.epoch_step = 0
    provenance = {"probe_of": str(checkpoint), "modality": modality, "step": state.step, "seed": cfg.runtime.seed,
                  "frozen": list(BACKBONE_PREFIXES), "seconds": time.perf_counter() - tic}
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out, net, CheckpointMeta(model=meta.model, preprocess=meta.preprocess, inference=meta.inference,
                                             provenance=provenance))
    return out
