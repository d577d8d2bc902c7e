"""The optimizer and the learning-rate schedule of a training run."""
from __future__ import annotations

import math

import torch

from lsi_perception.train.config import TrainConfig


def build_optimizer(net: torch.nn.Module, cfg: TrainConfig, extra: torch.nn.Module | None = None
                    ) -> torch.optim.AdamW:
    """AdamW with four groups: (backbone | rest) x (decayed weights | no-decay norms and biases).

    ``extra``: trained modules outside the network (a remedy's auxiliary heads), optimized as "rest".
    """
    groups: dict[tuple[bool, bool], list[torch.nn.Parameter]] = {}
    named = list(net.named_parameters()) + ([] if extra is None else
                                            [(f"extra.{n}", p) for n, p in extra.named_parameters()])
    for name, p in named:
        if not p.requires_grad:
            continue
        is_backbone = name.startswith(("rgb_backbone.", "thermal_backbone."))
        decay = p.ndim > 1
        groups.setdefault((is_backbone, decay), []).append(p)
    o = cfg.optim
    param_groups = [
        {"params": params, "lr": o.lr * (o.backbone_lr_mult if is_backbone else 1.0),
         "weight_decay": o.weight_decay if decay else 0.0}
        for (is_backbone, decay), params in sorted(groups.items())
    ]
    return torch.optim.AdamW(param_groups, lr=o.lr, betas=o.betas, weight_decay=o.weight_decay)


def warmup_cosine(total_steps: int, warmup_steps: int, warmup_start: float, min_ratio: float):
    """lr multiplier per step: linear warmup_start -> 1 over warmup_steps, cosine 1 -> min_ratio after."""
    warmup_steps = min(warmup_steps, max(total_steps - 1, 0))

    def factor(step: int) -> float:
        if step < warmup_steps:
            return warmup_start + (1.0 - warmup_start) * step / warmup_steps
        span = max(total_steps - warmup_steps, 1)
        progress = min((step - warmup_steps) / span, 1.0)
        return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor
