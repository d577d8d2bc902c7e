"""ONNX export of the detector: network + dense decoding, WITHOUT NMS.

The exported graph maps normalized inputs to per-location candidates:

    inputs   rgb     float32 [B, 3, H, W]   normalized (imaging.normalize_pair), H and W multiples of 32
             thermal float32 [B, 1, H, W]
    outputs  scores  float32 [B, N, C]      ranking score score^(1-p) * iou^p, N = (H/stride) * (W/stride)
             boxes   float32 [B, N, 4]      xyxy in network-input pixels (undo the letterbox to get image pixels)

NMS stays outside the graph: ONNX NonMaxSuppression is not class-wise in the way torchvision's is, its
support differs between runtimes (TensorRT, OpenVINO), and thresholds should stay runtime-tunable.
Apply ``lsi_perception.model.postprocess.select_detections`` (threshold, top-k, class-wise NMS) or the
runtime's own NMS to the outputs. Batch, height and width are dynamic axes. The checkpoint metadata
(preprocessing, class names, thresholds) is copied into the ONNX model's metadata_props under
``lsi_perception.meta`` so a runtime needs only the .onnx file.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from lsi_perception.checkpoint import META_KEY, CheckpointMeta, build_model_from_checkpoint
from lsi_perception.config import DEFAULT_INPUT_SIZE
from lsi_perception.model.postprocess import dense_predictions, select_detections

DEFAULT_OPSET = 17
INPUT_NAMES = ("rgb", "thermal")
OUTPUT_NAMES = ("scores", "boxes")


class DenseDetector(nn.Module):
    """The network followed by ``dense_predictions`` (the part of decoding before NMS).

    With ``half`` the (already .half()'d) network runs in fp16 between float32 inputs and float32
    outputs, so an fp16 graph has the same interface as an fp32 one.
    """

    def __init__(self, net: nn.Module, iou_map_power: float, half: bool = False) -> None:
        super().__init__()
        self.net = net
        self.iou_map_power = float(iou_map_power)
        self.half_precision = half

    def forward(self, rgb: torch.Tensor, thermal: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.half_precision:
            rgb, thermal = rgb.half(), thermal.half()
        outputs = self.net(rgb, thermal)
        return dense_predictions(outputs, self.iou_map_power)


def export_size(meta: CheckpointMeta, height: int | None = None, width: int | None = None) -> tuple[int, int]:
    """Trace size: the given height/width, else the checkpoint's input size padded as the Detector pads it
    (e.g. 192x240 -> 192x256); must be multiples of 32."""
    h, w = meta.preprocess.input_size or DEFAULT_INPUT_SIZE
    h, w = -(-h // 32) * 32, -(-w // 32) * 32
    h, w = height or h, width or w
    if h % 32 or w % 32:
        raise ValueError(f"export size {h}x{w} must be a multiple of 32 in both dimensions")
    return h, w


def export_onnx(checkpoint: str | Path, out: str | Path, opset: int = DEFAULT_OPSET, dynamic: bool = True,
                height: int | None = None, width: int | None = None, precision: str = "fp32") -> Path:
    """Export ``checkpoint`` to ``out`` (.onnx); see the module docstring for inputs and outputs.

    The trace runs at ``height`` x ``width`` (default: the checkpoint's input size); with ``dynamic``
    the batch and spatial axes stay symbolic, so any multiple of 32 works at run time. ``precision``
    "fp16" stores the network in fp16 (inputs and outputs stay float32; for GPU runtimes; the trace
    runs on CUDA, so it needs a CUDA device).
    """
    import onnx

    if precision not in ("fp32", "fp16"):
        raise ValueError(f"precision={precision!r} must be 'fp32' or 'fp16' for an ONNX export")
    net, meta = build_model_from_checkpoint(checkpoint)
    model = DenseDetector(net, meta.inference.iou_map_power, half=precision == "fp16").eval()
    device = torch.device("cpu")
    if precision == "fp16":
        if not torch.cuda.is_available():
            raise RuntimeError("an fp16 ONNX export traces the network on CUDA, and CUDA is not available; "
                               "export fp32 (TensorRT can still run it in fp16)")
        device = torch.device("cuda")
        model = model.to(device).half()
    h, w = export_size(meta, height, width)
    example = (torch.zeros(1, 3, h, w, device=device), torch.zeros(1, 1, h, w, device=device))
    dynamic_axes = None
    if dynamic:
        dynamic_axes = {
            "rgb": {0: "batch", 2: "height", 3: "width"},
            "thermal": {0: "batch", 2: "height", 3: "width"},
            "scores": {0: "batch", 1: "locations"},
            "boxes": {0: "batch", 1: "locations"},
        }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape checks frozen at trace time, by design
        # The TorchScript-based exporter is deprecated in favour of dynamo=True, which needs onnxscript
        # (not a dependency here); it still produces the graph we test.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, example, str(out), input_names=list(INPUT_NAMES), output_names=list(OUTPUT_NAMES),
                          dynamic_axes=dynamic_axes, opset_version=opset, dynamo=False)
    proto = onnx.load(str(out))
    entry = proto.metadata_props.add()
    entry.key, entry.value = META_KEY, meta.to_json()
    entry = proto.metadata_props.add()
    entry.key, entry.value = "lsi_perception.outputs", "scores [B,N,C] ranking score; boxes [B,N,4] xyxy network-input pixels; no NMS"
    onnx.save(proto, str(out))
    return out


def read_onnx_meta(path: str | Path) -> CheckpointMeta:
    """The checkpoint metadata an ``export_onnx`` file carries (ValueError when it has none)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    props = {p.key: p.value for p in proto.metadata_props}
    if META_KEY not in props:
        raise ValueError(f"{path} has no {META_KEY} metadata: export it with `lsi export` (or give the .safetensors)")
    return CheckpointMeta.from_json(props[META_KEY], source=str(path))


def onnx_parity(onnx_path: str | Path, checkpoint: str | Path, height: int, width: int, batch: int = 1,
                seed: int = 0) -> dict[str, float]:
    """Run the ONNX file (onnxruntime, CPU) and PyTorch on the same random synthetic pairs; return the
    max abs differences of dense scores and boxes, and of the boxes/scores kept after the same NMS
    (inf when the kept sets differ in size)."""
    import onnxruntime as ort

    from lsi_perception.imaging import preprocess_pair
    from lsi_perception.testing import synthetic_pair

    net, meta = build_model_from_checkpoint(checkpoint)
    rgbs, ths = [], []
    for i in range(batch):
        r, t, _ = preprocess_pair(*synthetic_pair(height, width, seed=seed + i), meta.preprocess)
        rgbs.append(r)
        ths.append(t)
    rgb, th = np.stack(rgbs), np.stack(ths)
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    o_scores, o_boxes = session.run(list(OUTPUT_NAMES), {"rgb": rgb, "thermal": th})
    with torch.inference_mode():
        t_scores, t_boxes = DenseDetector(net, meta.inference.iou_map_power)(torch.from_numpy(rgb), torch.from_numpy(th))
    o_dets = select_detections(torch.from_numpy(o_scores), torch.from_numpy(o_boxes), meta.inference)
    t_dets = select_detections(t_scores, t_boxes, meta.inference)
    same_count = all(len(a["scores"]) == len(b["scores"]) for a, b in zip(o_dets, t_dets))
    det_box = max((float((a["boxes"] - b["boxes"]).abs().max()) for a, b in zip(o_dets, t_dets) if len(a["scores"])),
                  default=0.0)
    det_score = max((float((a["scores"] - b["scores"]).abs().max()) for a, b in zip(o_dets, t_dets) if len(a["scores"])),
                    default=0.0)
    return {
        "dense_scores": float(np.abs(o_scores - t_scores.numpy()).max()),
        "dense_boxes": float(np.abs(o_boxes - t_boxes.numpy()).max()),
        "detections": float(sum(len(d["scores"]) for d in t_dets)),
        "det_boxes": det_box if same_count else float("inf"),
        "det_scores": det_score if same_count else float("inf"),
    }
