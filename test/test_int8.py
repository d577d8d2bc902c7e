"""INT8 on the CPU: the shipped model's export statically quantized (backends/onnx_int8.py) gives the fp32
detections within the stated tolerance, is cached like the fp32 export, and refuses what it cannot do.

Tolerance (stated in docs/backends.md): on generated 640x512 street frames, at least 90 % of the fp32
detections are found by int8 one to one at IoU >= 0.5, with median IoU >= 0.9 and median score
difference <= 0.05 (measured with the default 32-frame calibration: 97-99 %, 0.98, 0.003; this test
calibrates on 6 frames to stay short).
"""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.backends.onnx_cache import ExportSettings, cache_key
from lsi_perception.backends.onnx_int8 import Int8Recipe, nodes_to_quantize
from lsi_perception.bench.synthetic_split import box_agreement
from lsi_perception.inference import Detector
from lsi_perception.resources import default_checkpoint_path

FAST_RECIPE = {"int8_calibration_frames": 6, "int8_calibration_size": [256, 320]}


@pytest.fixture(scope="module")
def shipped():
    path = default_checkpoint_path()
    if not path.is_file():
        pytest.skip(f"no shipped model at {path}")
    return path


@pytest.fixture(scope="module")
def fp32_and_int8(shipped, onnx_cache_dir):
    fp32 = Detector.from_checkpoint(shipped, device="cpu", backend="onnxruntime")
    int8 = Detector.from_checkpoint(shipped, device="cpu", backend="onnxruntime", precision="int8",
                                    backend_options=FAST_RECIPE)
    return fp32, int8


@pytest.fixture(scope="module")
def street():
    from lsi_perception.backends.onnx_int8 import street_frames

    return list(street_frames(6, 512, 640, seed=77, frames_per_drive=3))  # a day and a night drive


def test_int8_gives_the_fp32_detections_within_the_stated_tolerance(fp32_and_int8, street):
    fp32, int8 = fp32_and_int8
    assert int8.precision == "int8" and "int8" in int8.describe()
    ref = [fp32.predict(rgb, th) for rgb, th in street]
    got = [int8.predict(rgb, th) for rgb, th in street]
    agreement = box_agreement(ref, got)
    assert agreement["reference_detections"] >= 10  # a trained model: real detections to compare
    assert agreement["matched_fraction"] >= 0.9, agreement
    assert agreement["median_iou"] >= 0.9 and agreement["median_abs_score_diff"] <= 0.05, agreement


def test_int8_export_is_cached_and_keyed_apart_from_fp32(fp32_and_int8, shipped, onnx_cache_dir):
    fp32, int8 = fp32_and_int8
    path = int8.backend.onnx_path
    assert path != fp32.backend.onnx_path and path.parent == fp32.backend.onnx_path.parent
    stamp = path.stat().st_mtime_ns
    again = Detector.from_checkpoint(shipped, device="cpu", backend="onnxruntime", precision="int8",
                                     backend_options=FAST_RECIPE)
    assert again.backend.onnx_path == path and path.stat().st_mtime_ns == stamp  # loaded, not re-quantized
    base = ExportSettings(opset=17, height=192, width=256)
    keys = {cache_key("d", base), cache_key("d", ExportSettings(17, 192, 256, precision="int8")),
            cache_key("d", ExportSettings(17, 192, 256, precision="int8", int8=Int8Recipe(calibration_frames=8)))}
    assert len(keys) == 3


def test_int8_quantizes_convolutions_and_linear_layers_but_not_the_heads_outputs(fp32_and_int8):
    import onnx

    fp32, int8 = fp32_and_int8
    chosen = nodes_to_quantize(onnx.load(str(fp32.backend.onnx_path)))
    assert any("/head/quality_tower/" in n for n in chosen) and any("/attn/q/MatMul" in n for n in chosen)
    assert not any(part in n for n in chosen for part in ("score_out", "iou_out", "box_out", "/attn/MatMul"))
    ops = {n.op_type for n in onnx.load(str(int8.backend.onnx_path)).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops


def test_int8_through_auto_and_clear_errors(shipped, fp32_and_int8):
    det = Detector.from_checkpoint(shipped, device="cpu", backend="auto", precision="int8",
                                   backend_options=FAST_RECIPE)
    assert det.backend.name == "onnxruntime" and det.precision == "int8" and det.backend_reason.startswith("auto:")
    with pytest.raises(ValueError, match="int8 runs on backend onnxruntime"):
        Detector.from_checkpoint(shipped, device="cpu", backend="torch", precision="int8")
    with pytest.raises(ValueError, match="calibration_frames"):
        Detector.from_checkpoint(shipped, device="cpu", backend="onnxruntime", precision="int8",
                                 backend_options={"int8_calibration_frames": 0})
    rgb, th = np.zeros((64, 80, 3), np.uint8), np.zeros((64, 80), np.uint8)
    assert len(det.predict(rgb, th)) == 0  # a blank pair: no pedestrians, and no crash
