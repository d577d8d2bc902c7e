"""The PyTorch backend: the module itself, eager or torch.compile'd, fp32 or under fp16/bf16 autocast."""
from __future__ import annotations

import gc

import torch
from torch import nn

from lsi_perception.device import autocast, resolve_device, resolve_precision
from lsi_perception.model.postprocess import dense_predictions


class TorchBackend:
    """Runs an ``LSIDetectorNet`` + ``dense_predictions`` in PyTorch (see ``backends.NetworkBackend``).

    On CUDA the model runs channels_last under autocast by default; on CPU in fp32. ``compile`` may be
    True or a torch.compile mode ("reduce-overhead" = CUDA graphs).
    """

    name = "torch"

    def __init__(self, model: nn.Module, iou_map_power: float, device: str | torch.device = "auto",
                 precision: str = "auto", channels_last: bool | None = None, compile: bool | str = False) -> None:
        self.device = resolve_device(device)
        self.precision = resolve_precision(precision, self.device)
        self.channels_last = (self.device.type == "cuda") if channels_last is None else bool(channels_last)
        self.iou_map_power = float(iou_map_power)
        model = model.eval().to(self.device)
        if self.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self._model: nn.Module | None = model
        self._forward = torch.compile(model, mode=compile if isinstance(compile, str) else None) if compile else model
        self.compiled = bool(compile)

    @property
    def released(self) -> bool:
        return self._model is None

    @property
    def model(self) -> nn.Module:
        if self._model is None:
            raise RuntimeError("this Detector was released; build a new one with Detector.from_checkpoint")
        return self._model

    def maps(self, rgb: torch.Tensor, thermal: torch.Tensor) -> dict:
        """The raw output maps (score/iou logits, box ltrb, stride), synchronized on CUDA."""
        self.model  # noqa: B018  (raises when released)
        with torch.inference_mode(), self._autocast():
            out = self._forward(rgb, thermal)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return out

    def dense(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.model  # noqa: B018
        with torch.inference_mode():
            with self._autocast():
                out = self._forward(rgb, thermal)
            scores, boxes = dense_predictions(out, self.iou_map_power)
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        return scores, boxes

    def describe(self) -> str:
        extra = (" channels_last" if self.channels_last else "") + (" compiled" if self.compiled else "")
        return f"torch on {self.device} {self.precision}{extra}"

    def release(self) -> None:
        self._model = None
        self._forward = None
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    def _autocast(self):
        return autocast(self.precision, self.device)
