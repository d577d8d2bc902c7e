"""Where and in which precision torch runs: one resolution for the Detector and the Trainer.

* ``resolve_device("auto" | "cpu" | "cuda" | "cuda:N")``: auto = CUDA when available, else CPU; an
  explicit CUDA device that is absent is an error naming the fix.
* ``resolve_precision("auto" | "fp32" | "fp16" | "bf16", device)``: auto = bf16 on CUDA GPUs that support
  it, else fp16 on CUDA, fp32 on CPU; fp16 needs CUDA (CPU autocast has no fp16 kernels worth using).
* ``autocast(precision, device)``: the matching ``torch.autocast`` context (disabled for fp32).
"""
from __future__ import annotations

import torch

PRECISIONS = ("auto", "fp32", "fp16", "bf16")
AUTOCAST_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16}


def resolve_device(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU. ``local_rank`` (a torchrun process) picks ``cuda:<rank>``
    for a CUDA device given without index. A CUDA device that is not present is a RuntimeError."""
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise RuntimeError(f"device {str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError(f"device {str(device)!r} requested but CUDA is not available; use device 'cpu' or 'auto'")
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise RuntimeError(f"device {str(device)!r} requested but only {torch.cuda.device_count()} CUDA device(s) exist")
    elif dev.type != "cpu":
        raise RuntimeError(f"device {str(device)!r} is not supported; use 'auto', 'cpu' or 'cuda[:N]'")
    return dev


def resolve_precision(precision: str, device: torch.device) -> str:
    """``"auto"`` -> bf16 on CUDA GPUs that support it, else fp16 on CUDA, fp32 on CPU."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision={precision!r} must be one of {', '.join(PRECISIONS)}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise ValueError("precision fp16 needs a CUDA device; use fp32 (or bf16) on CPU")
    return precision


def autocast(precision: str, device: torch.device):
    """The ``torch.autocast`` context of a resolved ``precision`` on ``device`` (disabled for fp32)."""
    if precision == "fp32":
        return torch.autocast(device.type, enabled=False)
    return torch.autocast(device.type, dtype=AUTOCAST_DTYPES[precision])
