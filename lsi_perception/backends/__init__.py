"""Network backends of the ``Detector``: the only backend-specific step of inference.

The ``Detector`` preprocesses a batch (``lsi_perception.inference``), hands normalized tensors to a
backend, and decodes what comes back with the shared ``select_detections`` (threshold, top-k,
class-wise NMS) and letterbox mapping. A backend runs the network and the dense part of decoding:

    scores, boxes = backend.dense(rgb, thermal)
    # rgb [B, 3, H, W], thermal [B, 1, H, W] float32 normalized, on backend.device (H, W multiples of 32)
    # scores [B, N, C] ranking score, boxes [B, N, 4] xyxy network-input pixels, float32, same device

Backends (``BACKENDS``):

* ``torch``: the PyTorch module (CPU or CUDA, autocast fp16/bf16, channels_last, torch.compile).
* ``onnxruntime``: the same checkpoint exported to ONNX (``lsi_perception.onnx_export``, cached by content
  hash) and run by ONNX Runtime with the CPU, CUDA or TensorRT execution provider; precision int8 on the
  CPU runs the export statically quantized (``onnx_int8``).

``auto`` (``BACKEND_CHOICES``, the node's and ``lsi bag detect``'s default) picks one of them for the
machine (``selection.choose_backend``) and says why.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import torch

from lsi_perception.device import PRECISIONS

BACKENDS = ("torch", "onnxruntime")
BACKEND_CHOICES = ("auto", *BACKENDS)  # auto: backends.selection decides
ORT_PROVIDERS = ("auto", "cpu", "cuda", "tensorrt")  # onnxruntime execution providers (auto: cuda on a CUDA device)
INFERENCE_PRECISIONS = (*PRECISIONS, "int8")  # int8: onnxruntime on the CPU only


class NetworkBackend(Protocol):
    """What the ``Detector`` needs from a backend (see the module docstring)."""

    name: str
    device: torch.device
    precision: str
    channels_last: bool  # whether the Detector should build its input batch in channels_last memory format
    released: bool

    def dense(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Normalized batch -> (scores [B, N, C], boxes [B, N, 4]) float32 on ``device``."""
        ...

    def describe(self) -> str:
        """One line for logs: backend, device/provider, precision."""
        ...

    def release(self) -> None:
        """Free the network (and GPU memory); ``dense`` refuses to run afterwards."""
        ...


def check_backend_name(name: str) -> str:
    """Return ``name`` if it is a known backend or "auto", else raise ValueError listing them."""
    if name not in BACKEND_CHOICES:
        raise ValueError(f"backend={name!r} is not known; choose one of {', '.join(BACKEND_CHOICES)}")
    return name
