"""lsi bench model's accuracy part: the synthetic test split of a training config, box agreement, and the MR
rows every arm gets (on a tiny generated split with the session's random checkpoint)."""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.bench.model import _fp32_partner, _score_on_split
from lsi_perception.bench.synthetic_split import box_agreement, synthetic_test_split
from lsi_perception.inference import Detections, Detector


@pytest.fixture(scope="module")
def tiny_config(tmp_path_factory):
    path = tmp_path_factory.mktemp("cfg") / "train_tiny.yaml"
    path.write_text("data:\n  kind: synthetic\n  synthetic:\n    frames: 6\n    frames_per_drive: 2\n"
                    "    test_fraction: 0.34\n    height: 128\n    width: 160\n    seed: 5\n")
    return path


def test_the_split_is_the_configs_test_drives_with_annotations(tiny_config):
    split = synthetic_test_split(tiny_config)
    assert split.drives == 1 and len(split.frames) == 2 and split.image_height == 128
    names = [name for name, _, _ in split.frames]
    assert list(split.annotations.im_names) == names and names[0].startswith("set")
    _, rgb, thermal = split.frames[0]
    assert rgb.shape == (128, 160, 3) and rgb.dtype == np.uint8 and thermal.shape == (128, 160)
    assert len(split.annotations.gt_boxes) > 0
    assert len(synthetic_test_split(tiny_config, max_drives=1).frames) == 2


def test_a_config_without_synthetic_data_is_refused(tmp_path):
    path = tmp_path / "kaist.yaml"
    path.write_text("data:\n  kind: kaist\n  root: /nowhere\n")
    with pytest.raises(ValueError, match="data.kind: synthetic"):
        synthetic_test_split(path)


def test_box_agreement_matches_one_to_one():
    def dets(boxes, scores):
        return Detections(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(scores, np.float32),
                          np.zeros(len(scores), np.int64))

    ref = [dets([[0, 0, 10, 20], [50, 50, 60, 70]], [0.9, 0.8]), dets([], [])]
    other = [dets([[1, 0, 10, 20], [0, 0, 10, 21]], [0.85, 0.7]), dets([[5, 5, 6, 6]], [0.6])]
    a = box_agreement(ref, other)
    assert a["matched_fraction"] == 0.5 and a["reference_detections"] == 2 and a["detections"] == 3
    # the reference box takes its best-overlapping partner (IoU 200/210), not the higher-scoring one (180/200)
    assert a["median_iou"] == pytest.approx(200 / 210) and a["median_abs_score_diff"] == pytest.approx(0.2, abs=1e-6)


def test_every_arm_gets_mr_and_agreement_rows(tiny_config, random_checkpoint):
    assert _fp32_partner(["torch fp32", "ort cpu fp32", "ort cpu int8"]) == [0, 1, 1]
    split = synthetic_test_split(tiny_config)
    arms = [("torch fp32", Detector.from_checkpoint(random_checkpoint, device="cpu")),
            ("ort cpu fp32", Detector.from_checkpoint(random_checkpoint, device="cpu", backend="onnxruntime"))]
    rows = _score_on_split(arms, split)
    assert [r["arm"] for r in rows] == ["torch fp32", "ort cpu fp32"]
    assert rows[0]["mr_reasonable_all"] == pytest.approx(rows[1]["mr_reasonable_all"])
    assert rows[1]["agreement_vs_first"]["matched_fraction"] == 1.0 and rows[1]["e2e_median_ms"] > 0
