"""Detector backends: onnxruntime (CPU provider) gives the torch backend's detections; clear errors;
the ONNX export cache is keyed by checkpoint content and settings."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lsi_perception.backends.onnx_cache import ExportSettings, cache_key, cached_export
from lsi_perception.backends.onnxruntime_backend import OrtOptions, available_providers
from lsi_perception.inference import Detections, Detector
from lsi_perception.testing import synthetic_pair

BOX_TOL_PX = 1e-3


@pytest.fixture(scope="module")
def onnx_cache(onnx_cache_dir):
    return onnx_cache_dir  # the session's: the bag and node tests reuse the export


@pytest.fixture(scope="module")
def pair_of_detectors(random_checkpoint, onnx_cache):
    torch_det = Detector.from_checkpoint(random_checkpoint, device="cpu")
    ort_det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="onnxruntime",
                                       backend_options={"cache_dir": str(onnx_cache)})
    return torch_det, ort_det


def _canonical(d: Detections) -> np.ndarray:
    """Rows (class, x1, y1, x2, y2) in a fixed order: an untrained head scores many boxes within 1e-7 of
    each other, so float noise may swap the rank of near-ties without changing the set."""
    rows = np.column_stack([d.class_ids.astype(np.float64), d.boxes.astype(np.float64)])
    return rows[np.lexsort(rows.T[::-1])]


def assert_same_detections(a: Detections, b: Detections) -> None:
    assert len(a) == len(b)
    np.testing.assert_allclose(_canonical(b), _canonical(a), atol=BOX_TOL_PX, rtol=0)
    np.testing.assert_allclose(np.sort(b.scores), np.sort(a.scores), atol=1e-5, rtol=0)


@pytest.mark.parametrize("height, width, thermal_dtype", [
    (128, 160, np.uint8), (256, 320, np.uint16), (100, 130, np.float32), (512, 640, np.uint16),
])
def test_onnxruntime_boxes_match_torch_within_a_thousandth_of_a_pixel(pair_of_detectors, height, width, thermal_dtype):
    torch_det, ort_det = pair_of_detectors
    for seed in range(2):
        rgb, th = synthetic_pair(height, width, seed=seed, thermal_dtype=thermal_dtype)
        ref = torch_det.predict(rgb, th)
        got = ort_det.predict(rgb, th)
        assert len(ref) > 0
        assert_same_detections(ref, got)


def test_onnxruntime_batches_blanks_and_runtime_thresholds_like_torch(pair_of_detectors):
    torch_det, ort_det = pair_of_detectors
    a, b = synthetic_pair(128, 160, seed=4), synthetic_pair(100, 130, seed=5)
    for ref, got in zip(torch_det.predict_batch([a[0], b[0]], [a[1], b[1]]),
                        ort_det.predict_batch([a[0], b[0]], [a[1], b[1]])):
        assert_same_detections(ref, got)
    assert_same_detections(torch_det.predict(a[0], None), ort_det.predict(a[0], None))
    assert_same_detections(torch_det.predict(None, a[1]), ort_det.predict(None, a[1]))
    ort_det.update_inference(max_detections=3)
    try:
        assert len(ort_det.predict(*a)) == 3
    finally:
        ort_det.update_inference(max_detections=torch_det.inference.max_detections)
    assert set(ort_det.last_timings_ms) == {"preprocess", "model", "decode", "total"}
    assert ort_det.device == torch.device("cpu") and ort_det.precision == "fp32"
    assert "CPUExecutionProvider" in ort_det.describe()


def test_export_is_cached_and_an_exported_onnx_file_loads_directly(pair_of_detectors, random_checkpoint, onnx_cache):
    _, ort_det = pair_of_detectors
    exports = list(onnx_cache.glob("*.onnx"))
    assert ort_det.backend.onnx_path in exports
    again = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="onnxruntime",
                                     backend_options={"cache_dir": str(onnx_cache)})
    assert again.backend.onnx_path == ort_det.backend.onnx_path and list(onnx_cache.glob("*.onnx")) == exports
    direct = Detector.from_checkpoint(ort_det.backend.onnx_path, device="cpu", backend="onnxruntime")
    assert direct.class_names == ort_det.class_names and direct.inference == ort_det.inference
    rgb, th = synthetic_pair(128, 160, seed=9)
    assert_same_detections(ort_det.predict(rgb, th), direct.predict(rgb, th))


def test_cache_key_follows_checkpoint_content_and_export_settings():
    s = ExportSettings(opset=17, height=128, width=160)
    assert cache_key("a" * 64, s) == cache_key("a" * 64, ExportSettings(opset=17, height=128, width=160))
    assert len({cache_key("a" * 64, s), cache_key("b" * 64, s), cache_key("a" * 64, ExportSettings(18, 128, 160)),
                cache_key("a" * 64, ExportSettings(17, 128, 160, precision="fp16"))}) == 4


def test_cache_falls_back_next_to_the_checkpoint_and_rehashes_changed_content(tmp_path, monkeypatch):
    calls = []

    def fake_export(checkpoint, out, **kwargs):
        calls.append(kwargs)
        out.write_bytes(b"onnx")
        return out

    monkeypatch.setattr("lsi_perception.onnx_export.export_onnx", fake_export)
    blocked = tmp_path / "not_a_dir"
    blocked.write_text("a file where the cache directory should be")
    monkeypatch.setenv("LSI_PERCEPTION_CACHE_DIR", str(blocked))
    ckpt = tmp_path / "model.safetensors"
    ckpt.write_bytes(b"weights v1")
    settings = ExportSettings(opset=17, height=128, width=160)
    first = cached_export(ckpt, settings)
    assert first.parent == tmp_path / ".lsi_onnx_cache" and first.read_bytes() == b"onnx"
    assert cached_export(ckpt, settings) == first and len(calls) == 1
    ckpt.write_bytes(b"weights v2")  # retrained in place: a new export, never the stale one
    assert cached_export(ckpt, settings) != first and len(calls) == 2
    assert not list((tmp_path / ".lsi_onnx_cache").glob(".*.tmp"))
    with pytest.raises(FileNotFoundError, match="not found"):
        cached_export(tmp_path / "missing.safetensors", settings)


def test_clear_errors(random_checkpoint, pair_of_detectors, onnx_cache):
    opts = {"cache_dir": str(onnx_cache)}
    with pytest.raises(ValueError, match="backend='tensorflow' is not known; choose one of auto, torch, onnxruntime"):
        Detector.from_checkpoint(random_checkpoint, backend="tensorflow")
    with pytest.raises(ValueError, match="fp16.*GPU provider"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", precision="fp16", backend="onnxruntime",
                                 backend_options=opts)
    with pytest.raises(ValueError, match="bf16 is torch-backend only"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", precision="bf16", backend="onnxruntime")
    with pytest.raises(ValueError, match="unknown onnxruntime backend option.*'threads'.*intra_op_num_threads"):
        Detector.from_checkpoint(random_checkpoint, backend="onnxruntime", backend_options={"threads": 2})
    with pytest.raises(ValueError, match="provider='gpu' must be one of auto, cpu, cuda, tensorrt"):
        OrtOptions.from_mapping({"provider": "gpu"})
    with pytest.raises(ValueError, match="torch backend only"):
        Detector.from_checkpoint(random_checkpoint, backend="onnxruntime", compile=True)
    with pytest.raises(ValueError, match="unknown torch backend option"):
        Detector.from_checkpoint(random_checkpoint, backend="torch", backend_options={"provider": "cpu"})
    with pytest.raises(ValueError, match="runs on a GPU but device is 'cpu'"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", backend="onnxruntime",
                                 backend_options={**opts, "provider": "tensorrt"})
    with pytest.raises(ValueError, match="dense_maps needs backend='torch'"):
        pair_of_detectors[1].dense_maps(*[[x] for x in synthetic_pair(64, 64)])


@pytest.mark.skipif("TensorrtExecutionProvider" in available_providers(), reason="checks the missing-provider error")
def test_missing_provider_names_the_available_ones(random_checkpoint):
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            Detector.from_checkpoint(random_checkpoint, device="cuda", backend="onnxruntime")
    with pytest.raises(RuntimeError, match=r"TensorrtExecutionProvider is not available.*available: .*CPUExecutionProvider"):
        Detector.from_checkpoint(random_checkpoint, device="auto", backend="onnxruntime",
                                 backend_options={"provider": "tensorrt"})


def test_release_refuses_further_use(random_checkpoint, onnx_cache):
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", backend="onnxruntime",
                                   backend_options={"cache_dir": str(onnx_cache)})
    det.release()
    with pytest.raises(RuntimeError, match="released"):
        det.predict(*synthetic_pair(64, 64))
