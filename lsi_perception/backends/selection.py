"""``backend="auto"``: the fastest backend that gives the torch backend's boxes on this machine, and why.

The rule (``choose_backend``), from what was measured (docs/backends.md):

* precision int8: onnxruntime on the CPU (the only place INT8 exists);
* precision bf16: torch (ONNX Runtime has no bf16 path here);
* CPU: onnxruntime's CPU provider: the same detections as torch (boxes within 1e-4 px on the shipped
  model) in about half the time on 2 cores;
* CUDA: onnxruntime with the TensorRT provider when TensorRT is installed, else with the CUDA provider,
  else torch (``pip install .[gpu]`` brings onnxruntime-gpu, ``.[tensorrt]`` TensorRT). A TensorRT
  provider that fails to start falls back to the CUDA provider, then to torch. Not measured here: no
  GPU was available (README, "GPU table");
* onnxruntime not installed: torch.

``Detector.from_checkpoint(..., backend="auto")`` applies the choice; when the onnxruntime backend then
fails to start (export error, provider that does not load) or, in fp32 on the CPU, does not reproduce
torch's dense outputs on a check pair, it falls back to torch and says why in ``Detector.backend_reason``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class BackendChoice:
    """What ``backend="auto"`` runs: ``backend`` (torch | onnxruntime), extra ``options`` for it (the
    onnxruntime provider) and the ``reason``, one line for logs."""

    backend: str
    reason: str
    options: dict[str, Any] = field(default_factory=dict)


def onnxruntime_providers() -> list[str] | None:
    """The execution providers of the installed onnxruntime, or None when it does not import."""
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    return list(ort.get_available_providers())


def tensorrt_present() -> bool:
    """Whether the TensorRT runtime the TensorRT provider links (libnvinfer.so.10) can be loaded: the
    ``tensorrt-cu13-libs`` wheel (requirements/tensorrt.txt) or a system TensorRT on the library path.
    onnxruntime-gpu lists its TensorRT provider whether or not TensorRT is installed."""
    import ctypes
    import importlib.util

    if importlib.util.find_spec("tensorrt_libs") is not None:
        return True
    try:
        ctypes.CDLL("libnvinfer.so.10")
    except OSError:
        return False
    return True


def choose_backend(device: str | torch.device = "auto", precision: str = "auto", provider: str = "auto",
                   providers: list[str] | None | bool = True, tensorrt: bool | None = None) -> BackendChoice:
    """The backend for ``device`` / ``precision`` (see the module docstring). ``provider``: an onnxruntime
    provider the caller asked for (not "auto"), which then decides. ``providers``: the onnxruntime
    providers to assume (None = onnxruntime missing; True = ask the installed one); ``tensorrt``: whether
    TensorRT is installed (None = ``tensorrt_present()``). Whether ``device`` exists is checked when the
    backend is built, not here."""
    if providers is True:
        providers = onnxruntime_providers()
    if precision == "int8":
        if providers is None:
            raise RuntimeError("precision int8 needs onnxruntime (pip install onnxruntime); torch has no int8 path here")
        return BackendChoice("onnxruntime", "int8 runs on onnxruntime's CPU provider only", {"provider": "cpu"})
    if precision == "bf16":
        return BackendChoice("torch", "bf16 is a torch-backend precision")
    if providers is None:
        return BackendChoice("torch", "onnxruntime is not installed (pip install onnxruntime for about 2x on CPU)")
    if provider != "auto":
        return BackendChoice("onnxruntime", f"execution_provider {provider} was asked for", {"provider": provider})
    on_cuda = torch.cuda.is_available() if str(device) == "auto" else torch.device(device).type == "cuda"
    if not on_cuda:
        return BackendChoice("onnxruntime", "CPU: onnxruntime's CPU provider gives torch's boxes in about half the time",
                             {"provider": "cpu"})
    if "TensorrtExecutionProvider" in providers and (tensorrt_present() if tensorrt is None else tensorrt):
        return BackendChoice("onnxruntime", "CUDA: onnxruntime's TensorRT provider with TensorRT installed (fp16 engine)",
                             {"provider": "tensorrt"})
    if "CUDAExecutionProvider" in providers:
        return BackendChoice("onnxruntime", "CUDA: onnxruntime's CUDA provider (TensorRT not installed)",
                             {"provider": "cuda"})
    return BackendChoice("torch", "CUDA: this onnxruntime has no CUDA provider (pip install .[gpu] for onnxruntime-gpu)")
