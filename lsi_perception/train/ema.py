"""Exponential moving average of the weights (``optim.ema_decay > 0``).

After every optimizer step ``ema.update(net)`` moves each floating-point tensor of the averaged copy
toward the network's: ``avg = d * avg + (1 - d) * w`` with ``d = decay * (1 - exp(-updates / tau))``,
so early averages (d near 0) follow the fast-changing weights instead of the random start. Integer
buffers (BatchNorm counters) are copied. The trainer validates and saves the averaged weights; the
averaged weights are what ``last``/``best.safetensors`` hold, the network's own weights and the update
count go into the train state, so ``--resume`` continues both exactly.
"""
from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import nn


class ModelEMA:
    """Averaged copy ``module`` (eval mode, no gradients) of a network."""

    def __init__(self, net: nn.Module, decay: float, tau: float = 2000.0) -> None:
        if not 0.0 < decay < 1.0 or tau <= 0:
            raise ValueError(f"EMA decay {decay} must be in (0, 1) and tau {tau} > 0")
        self.module = copy.deepcopy(net).eval().requires_grad_(False)
        self.decay, self.tau = float(decay), float(tau)
        self.updates = 0

    def current_decay(self) -> float:
        return self.decay * (1.0 - math.exp(-self.updates / self.tau))

    @torch.no_grad()
    def update(self, net: nn.Module) -> None:
        self.updates += 1
        d = self.current_decay()
        live = net.state_dict()
        for name, avg in self.module.state_dict().items():
            value = live[name].detach()
            if avg.is_floating_point():
                avg.mul_(d).add_(value.to(avg.dtype), alpha=1.0 - d)
            else:
                avg.copy_(value)

    def state_dict(self) -> dict[str, Any]:
        """The counters (plain numbers); the averaged weights are saved as the run's checkpoints."""
        return {"updates": self.updates, "decay": self.decay, "tau": self.tau}

    def load_state_dict(self, state: dict[str, Any], weights: dict[str, torch.Tensor]) -> None:
        """Restore from ``state_dict()`` and the averaged ``weights`` (a checkpoint's state dict)."""
        self.module.load_state_dict(weights)
        self.updates = int(state["updates"])
