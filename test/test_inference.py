"""Detector: the one entry point from image pair to detections in RGB pixel coordinates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lsi_perception.checkpoint import build_model_from_checkpoint
from lsi_perception.imaging import preprocess_pair
from lsi_perception.inference import Detections, Detector
from lsi_perception.model import decode
from lsi_perception.testing import synthetic_pair


@pytest.fixture(scope="module")
def detector(random_checkpoint):
    return Detector.from_checkpoint(random_checkpoint, device="cpu")


def test_predict_returns_typed_detections_inside_the_image(detector):
    rgb, th = synthetic_pair(128, 160, seed=1)
    det = detector.predict(rgb, th)
    assert isinstance(det, Detections) and len(det) > 0
    assert det.boxes.dtype == np.float32 and det.boxes.shape == (len(det), 4)
    assert det.scores.dtype == np.float32 and det.class_ids.dtype == np.int64
    assert det.class_names == ("person",) and set(det.names()) == {"person"}
    assert np.all(det.boxes[:, 0] >= 0) and np.all(det.boxes[:, 2] <= 160)
    assert np.all(det.boxes[:, 1] >= 0) and np.all(det.boxes[:, 3] <= 128)
    assert np.all(np.diff(det.scores) <= 0)
    np.testing.assert_allclose(det.to_xywh()[:, 2:], det.boxes[:, 2:] - det.boxes[:, :2])
    assert set(detector.last_timings_ms) == {"preprocess", "model", "decode", "total"}
    assert detector.device == torch.device("cpu") and detector.precision == "fp32"


def test_matches_the_reference_pipeline_with_resize(detector, random_checkpoint):
    """Detector == numpy preprocessing -> net -> decode -> letterbox back (here a 2x downscale)."""
    rgb, th = synthetic_pair(256, 320, seed=2, thermal_dtype=np.uint16)
    det = detector.predict(rgb, th)
    net, meta = build_model_from_checkpoint(random_checkpoint)
    rgb_n, th_n, lb = preprocess_pair(rgb, th, meta.preprocess)
    assert lb.scale == 0.5
    with torch.inference_mode():
        out = net(torch.from_numpy(rgb_n)[None], torch.from_numpy(th_n)[None])
    (ref,) = decode(out, meta.inference)
    np.testing.assert_allclose(det.boxes, lb.to_original(ref["boxes"].numpy()), atol=0.05)
    np.testing.assert_allclose(det.scores, ref["scores"].numpy(), atol=1e-4)


def test_bgr_order_and_thermal_layouts_agree(detector):
    rgb, th = synthetic_pair(128, 160, seed=3)
    ref = detector.predict(rgb, th)
    for got in (detector.predict(np.ascontiguousarray(rgb[:, :, ::-1]), th, rgb_order="bgr"),
                detector.predict(rgb, th[..., None])):
        np.testing.assert_array_equal(got.boxes, ref.boxes)
        np.testing.assert_array_equal(got.scores, ref.scores)


def test_batch_equals_single_even_with_mixed_sizes(detector):
    a = synthetic_pair(128, 160, seed=4)
    b = synthetic_pair(100, 130, seed=5, thermal_dtype=np.float32)
    batch = detector.predict_batch([a[0], b[0]], [a[1], b[1]])
    for pair, got in zip((a, b), batch):
        single = detector.predict(*pair)
        np.testing.assert_allclose(got.boxes, single.boxes, atol=1e-3)
        np.testing.assert_allclose(got.scores, single.scores, atol=1e-5)
    assert np.all(batch[1].boxes[:, 2] <= 130) and np.all(batch[1].boxes[:, 3] <= 100)
    assert detector.predict_batch([], []) == []


def test_blanked_modality_runs(detector):
    rgb, th = synthetic_pair(128, 160, seed=6)
    assert isinstance(detector.predict(rgb, None), Detections)
    assert isinstance(detector.predict(None, th), Detections)


def test_runtime_thresholds_apply(random_checkpoint):
    det = Detector.from_checkpoint(random_checkpoint, device="cpu")
    rgb, th = synthetic_pair(128, 160, seed=7)
    assert det.update_inference(max_detections=3).max_detections == 3
    assert len(det.predict(rgb, th)) == 3
    det.update_inference(score_threshold=1.0)
    empty = det.predict(rgb, th)
    assert len(empty) == 0 and empty.boxes.shape == (0, 4) and empty.names() == []


def test_settings_change_only_through_the_validated_setter(random_checkpoint):
    det = Detector.from_checkpoint(random_checkpoint, device="cpu")
    before = det.inference
    det.inference.score_threshold = 0.99  # a copy: changes nothing
    assert det.inference == before
    with pytest.raises(ValueError, match="score_threshold"):
        det.update_inference(score_threshold=1.5)
    with pytest.raises(ValueError, match="unknown key"):
        det.update_inference(nms_threshold=0.5)
    with pytest.raises(ValueError, match="iou_map_power"):
        det.update_inference(iou_map_power=0.9)
    assert det.inference == before  # a rejected change leaves everything as it was


def test_construction_overrides_apply_to_preprocessing_and_post_processing(random_checkpoint):
    rgb, th = synthetic_pair(128, 160, seed=7)
    base = Detector.from_checkpoint(random_checkpoint, device="cpu")
    det = Detector.from_checkpoint(random_checkpoint, device="cpu", inference={"max_detections": 2},
                                   preprocess={"input_size": [96, 128], "rgb_mean": [0.2, 0.2, 0.2]})
    assert det.inference.max_detections == 2 and det.preprocess.input_size == (96, 128)
    assert det.meta.preprocess == base.meta.preprocess  # the checkpoint's own settings are untouched
    same_size = Detector.from_checkpoint(random_checkpoint, device="cpu", inference={"max_detections": 2},
                                         preprocess={"input_size": [96, 128]})
    # the RGB normalization in use is the overridden one (cached at construction from the settings given)
    assert not np.allclose(det.predict(rgb, th).scores, same_size.predict(rgb, th).scores)
    with pytest.raises(ValueError, match="input_size"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", preprocess={"input_size": [8, 8]})


@pytest.mark.parametrize("rgb, thermal, match", [
    (np.zeros((128, 160, 3), np.float32), np.zeros((128, 160), np.uint8), "uint8"),
    (np.zeros((128, 160), np.uint8), np.zeros((128, 160), np.uint8), "HxWx3"),
    (np.zeros((128, 160, 3), np.uint8), np.zeros((128, 160), np.int16), "uint8, uint16 or float32"),
    (np.zeros((128, 160, 3), np.uint8), np.zeros((120, 160), np.uint8), "same size"),
    (None, None, "both None"),
])
def test_bad_images_raise_clear_value_errors(detector, rgb, thermal, match):
    with pytest.raises(ValueError, match=match):
        detector.predict(rgb, thermal)


def test_bad_arguments(detector, random_checkpoint):
    rgb, th = synthetic_pair(64, 64)
    with pytest.raises(ValueError, match="rgb_order"):
        detector.predict(rgb, th, rgb_order="rgba")
    with pytest.raises(ValueError, match="2 rgb images but 1"):
        detector.predict_batch([rgb, rgb], [th])
    with pytest.raises(ValueError, match="fp16"):
        Detector.from_checkpoint(random_checkpoint, device="cpu", precision="fp16")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-CUDA error path")
def test_explicit_cuda_without_cuda_is_an_error_not_a_fallback(random_checkpoint):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        Detector.from_checkpoint(random_checkpoint, device="cuda")


def test_release_frees_and_refuses_further_use(random_checkpoint):
    det = Detector.from_checkpoint(random_checkpoint, device="cpu")
    det.release()
    with pytest.raises(RuntimeError, match="released"):
        det.predict(*synthetic_pair(64, 64))


def test_dense_maps_expose_the_raw_outputs(detector):
    rgb, th = synthetic_pair(128, 160, seed=8)
    maps, (lb,) = detector.dense_maps([rgb], [th])
    assert maps["score_logits"].shape == (1, 1, 32, 40) and maps["stride"] == 4
    assert maps["box_ltrb"].dtype == torch.float32 and lb.padded_h == 128


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("precision, channels_last, atol", [
    ("fp32", False, 2e-3), ("fp16", True, 2e-2), ("bf16", True, 5e-2),
])
def test_cuda_precisions_match_cpu(random_checkpoint, detector, precision, channels_last, atol):
    gpu = Detector.from_checkpoint(random_checkpoint, device="cuda", precision=precision, channels_last=channels_last)
    rgb, th = synthetic_pair(128, 160, seed=9, thermal_dtype=np.uint16)
    ref, _ = detector.dense_maps([rgb], [th])
    got, _ = gpu.dense_maps([rgb], [th])
    torch.testing.assert_close(torch.sigmoid(got["score_logits"]), torch.sigmoid(ref["score_logits"]), atol=atol, rtol=0)
    torch.testing.assert_close(torch.sigmoid(got["iou_logits"]), torch.sigmoid(ref["iou_logits"]), atol=atol, rtol=0)
    torch.testing.assert_close(got["box_ltrb"], ref["box_ltrb"], atol=0.5, rtol=atol)
    assert len(gpu.predict(rgb, th)) > 0
    before = torch.cuda.memory_allocated()
    gpu.release()
    assert torch.cuda.memory_allocated() < before
