"""INT8 for the CPU: static quantization of the fp32 ONNX export with ONNX Runtime's quantization tools.

``quantize_int8(fp32_onnx, out, meta, recipe)`` writes a QDQ model (QuantizeLinear / DequantizeLinear
pairs around the quantized nodes; ONNX Runtime fuses them into integer kernels) with

* weights int8, symmetric, per output channel; activations uint8, asymmetric, per tensor;
* activation ranges calibrated (min/max) on ``recipe.calibration_frames`` generated synthetic street
  frames (``data.synthetic``, half day, half night, at ``recipe.calibration_size``), preprocessed
  exactly as the ``Detector`` preprocesses a pair (letterbox to the checkpoint's input size, thermal
  AGC, normalization, padding): no dataset is needed and nothing real is used;
* quantized nodes: every convolution and every matrix multiply with a constant weight (the linear
  layers), except the three output convolutions of the heads (score, IoU, box). Kept in float32: the
  heads' outputs (8-bit box distances would move boxes by about a pixel), the attention's
  activation x activation products and its softmax, LayerNorm, GELU, residual additions and the dense
  decoding. Measured on the shipped model (docs/backends.md, "INT8"): quantizing the additions and
  layout ops as well dropped the detections matched to fp32 from 97-99 % to 92 % and the median
  box IoU from 0.98 to 0.88; quantizing the attention products turned its softmax into a
  QLinearSoftmax that cost more than it saved.

The result is cached next to the fp32 export (``onnx_cache.cached_export`` with precision "int8"),
keyed by the checkpoint, the recipe and the onnxruntime version. INT8 runs on the CPU provider only.
"""
from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lsi_perception.checkpoint import CheckpointMeta

KEEP_FLOAT_NODES = ("/head/score_out/", "/head/iou_out/", "/head/box_out/")  # name fragments of the fp32 export


@dataclass(frozen=True)
class Int8Recipe:
    """How an export is quantized (part of the cache key)."""

    calibration_frames: int = 32
    calibration_size: tuple[int, int] = (512, 640)  # (height, width) of the generated camera frames
    calibration_seed: int = 1000  # drives of the synthetic world used for calibration (not a test split's seed)

    def validate(self) -> None:
        if self.calibration_frames < 1:
            raise ValueError(f"int8 calibration_frames={self.calibration_frames} must be >= 1")
        h, w = self.calibration_size
        if h < 32 or w < 32:
            raise ValueError(f"int8 calibration_size={self.calibration_size} must be at least 32x32 (height, width)")

    def as_key(self) -> dict:
        import onnxruntime

        return {**dataclasses.asdict(self), "recipe": 1, "onnxruntime": onnxruntime.__version__}


def street_frames(n: int, height: int, width: int, seed: int, day_fraction: float = 0.5,
                  frames_per_drive: int = 4) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n`` generated synthetic street frames (rgb uint8 HxWx3, thermal uint8 HxW) with pedestrians,
    in drives of ``frames_per_drive`` consecutive frames."""
    from lsi_perception.data.synthetic import SyntheticConfig, generate_drive, plan_drives

    cfg = SyntheticConfig(frames=n, frames_per_drive=min(frames_per_drive, n), test_fraction=0.0, height=height,
                          width=width, day_fraction=day_fraction, seed=seed)
    for plan in plan_drives(cfg):
        for frame in generate_drive(cfg, plan):
            yield frame.rgb, frame.thermal


def calibration_feeds(meta: CheckpointMeta, recipe: Int8Recipe) -> list[dict[str, np.ndarray]]:
    """The network inputs (batch 1) the calibration runs on: generated frames preprocessed as the
    Detector does."""
    from lsi_perception.imaging import preprocess_pair
    from lsi_perception.onnx_export import INPUT_NAMES

    feeds = []
    for rgb, thermal in street_frames(recipe.calibration_frames, *recipe.calibration_size, seed=recipe.calibration_seed):
        r, t, _ = preprocess_pair(rgb, thermal, meta.preprocess)
        feeds.append({INPUT_NAMES[0]: r[None], INPUT_NAMES[1]: t[None]})
    return feeds


def nodes_to_quantize(model) -> list[str]:
    """Names of the nodes the recipe quantizes (see the module docstring)."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    names = []
    for node in model.graph.node:
        if any(part in node.name for part in KEEP_FLOAT_NODES):
            continue
        if node.op_type == "Conv" or (node.op_type == "MatMul" and node.input[1] in constants):
            names.append(node.name)
    return names


def quantize_int8(fp32_onnx: str | Path, out: str | Path, meta: CheckpointMeta, recipe: Int8Recipe | None = None) -> Path:
    """Write the INT8 (QDQ) model of ``fp32_onnx`` (an ``export_onnx`` file) to ``out``; returns ``out``."""
    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    recipe = recipe or Int8Recipe()
    recipe.validate()
    feeds = calibration_feeds(meta, recipe)

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._it = iter(feeds)

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="lsi_int8_") as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        # ONNX shape inference + ORT's basic graph optimizations (constant folding, no hardware-specific
        # layouts), as the quantization tools recommend. Symbolic shape inference is skipped: it cannot
        # resolve the letterbox-dependent reshapes of the dynamic-size graph, and is not needed for QDQ.
        quant_pre_process(str(fp32_onnx), str(prepared), skip_symbolic_shape=True)
        names = nodes_to_quantize(onnx.load(str(prepared), load_external_data=False))
        if not names:
            raise RuntimeError(f"{fp32_onnx} has no convolution or linear layer to quantize; is it an lsi export?")
        quantize_static(str(prepared), str(out), _Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, nodes_to_quantize=names,
                        calibrate_method=CalibrationMethod.MinMax,
                        extra_options={"ActivationSymmetric": False, "WeightSymmetric": True})
    return out
