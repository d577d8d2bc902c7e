"""Dataset -> bag -> ``bag detect`` gives exactly what ``Detector.predict`` gives on the dataset's images,
and the MR it reports is the evaluator's on the same detections. No ROS graph needed."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lsi_perception.bag.detect import DetectConfig, detect_bag
from lsi_perception.bag.from_dataset import FromDatasetConfig, dataset_to_bag, list_frames
from lsi_perception.bag.reader import BagReader
from lsi_perception.bag.typestore import DETECTION_2D_ARRAY
from lsi_perception.data.images import read_rgb, read_thermal
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.inference import Detector
from lsi_perception.testing import make_random_checkpoint


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drive")
    generate_dataset(root, SyntheticConfig(frames=6, frames_per_drive=3, height=96, width=128, test_fraction=0.5,
                                           image_format="png", seed=3))
    return root


@pytest.fixture(scope="module")
def detector(tmp_path_factory) -> Detector:
    return Detector.from_checkpoint(make_random_checkpoint(tmp_path_factory.mktemp("ckpt") / "rand.safetensors"),
                                    device="cpu")


@pytest.mark.parametrize("compressed", [False, True], ids=["raw", "compressed"])
def test_bag_detect_matches_detector_predict(dataset, detector, tmp_path, compressed):
    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(compressed=compressed), progress=False)
    result = detect_bag(bag, detector, tmp_path / "out_bag", progress=False)

    frames = list_frames(dataset)
    assert result.pairs == len(frames) == result.rgb_messages == result.thermal_messages
    with BagReader(tmp_path / "out_bag") as out:
        assert out.topics == {"/detections": DETECTION_2D_ARRAY}
        arrays = [m.msg for m in out.messages()]
    assert len(arrays) == len(frames)
    for frame, array in zip(frames, arrays):
        rgb, thermal = read_rgb(frame.rgb_path), read_thermal(frame.thermal_path)
        if compressed:  # the bag holds JPEG: compare with what the node would decode
            import cv2

            rgb = cv2.cvtColor(cv2.imdecode(cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                                                         [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_COLOR),
                               cv2.COLOR_BGR2RGB)
            thermal = cv2.imdecode(cv2.imencode(".jpg", thermal, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], cv2.IMREAD_UNCHANGED)
        expected = detector.predict(rgb, thermal)
        assert len(array.detections) == len(expected) > 0
        got = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2,
                         d.bbox.center.position.x + d.bbox.size_x / 2, d.bbox.center.position.y + d.bbox.size_y / 2]
                        for d in array.detections])
        np.testing.assert_allclose(got, expected.boxes, atol=1e-3)
        np.testing.assert_allclose([d.results[0].hypothesis.score for d in array.detections], expected.scores, atol=1e-6)
        assert {d.results[0].hypothesis.class_id for d in array.detections} == {"person"}
        assert array.header.frame_id == "camera_rgb_optical_frame"


def test_bag_detect_cli_onnxruntime_backend_gives_the_torch_detections(dataset, random_checkpoint, tmp_path):
    from lsi_perception.cli import main as lsi_main

    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(), progress=False)
    assert lsi_main(["bag", "detect", str(bag), "--checkpoint", str(random_checkpoint), "--out", str(tmp_path / "out"),
                     "--device", "cpu", "--backend", "onnxruntime", "--execution-provider", "cpu"]) == 0
    with BagReader(tmp_path / "out") as out:
        arrays = [m.msg for m in out.messages()]
    torch_det = Detector.from_checkpoint(random_checkpoint, device="cpu")
    frames = list_frames(dataset)
    assert len(arrays) == len(frames)
    for frame, array in zip(frames, arrays):
        expected = torch_det.predict(read_rgb(frame.rgb_path), read_thermal(frame.thermal_path))
        assert len(array.detections) == len(expected) > 0
        got = np.array([[d.bbox.center.position.x - d.bbox.size_x / 2, d.bbox.center.position.y - d.bbox.size_y / 2]
                        for d in array.detections])
        # Random weights score many boxes within float noise of each other: compare as sets (near-ties may swap).
        np.testing.assert_allclose(np.unique(got, axis=0), np.unique(expected.boxes[:, :2], axis=0), atol=1e-3)


def test_bag_detect_reports_mr_from_ground_truth(dataset, detector, tmp_path):
    from lsi_perception.eval import evaluate, load_annotations

    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(image_set="test"), progress=False)
    result = detect_bag(bag, detector, tmp_path / "out_bag", progress=False)
    assert result.eval_result is not None and len(result.ground_truth) == result.pairs

    # Same detections through the evaluator with the dataset's own annotation file: same MR.
    ann = load_annotations(dataset / "annotations" / "test.json")
    names = {stamp: name for stamp, name, _ in result.frames}
    by_name = {names[stamp]: dets.to_xywh_score() for stamp, dets in result.detections.items()}
    assert result.eval_result.protocol == "strict"  # a frame without detections misses its pedestrians
    reference = evaluate(ann, by_name, protocol="strict")
    for setting in ("reasonable", "all"):
        for time in ("all", "day", "night"):
            a, b = result.eval_result.mr[setting][time], reference.mr[setting][time]
            assert (np.isnan(a) and np.isnan(b)) or a == pytest.approx(b, abs=1e-9), (setting, time)


def test_unpairable_topics_are_a_clear_error(dataset, detector, tmp_path):
    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(rgb_topic="/cam_a/image", thermal_topic="/cam_b/image", max_frames=2),
                   progress=False)
    with pytest.raises(ValueError, match="--rgb-topic"):
        detect_bag(bag, detector, tmp_path / "out_bag", progress=False)
    result = detect_bag(bag, detector, tmp_path / "out_bag2", DetectConfig(rgb_topic="/cam_a/image",
                                                                           thermal_topic="/cam_b/image"),
                        progress=False)
    assert result.pairs == 2


def test_constant_thermal_frame_is_skipped_and_reported_not_published_as_nobody(dataset, detector, tmp_path):
    import shutil

    import cv2

    copy = tmp_path / "drive"
    shutil.copytree(dataset, copy)
    frames = list_frames(copy)
    shutter = read_thermal(frames[1].thermal_path)
    cv2.imwrite(str(frames[1].thermal_path), np.full_like(shutter, 128))  # the camera's shutter closed (FFC)
    dataset_to_bag(copy, tmp_path / "in_bag", FromDatasetConfig(), progress=False)
    result = detect_bag(tmp_path / "in_bag", detector, tmp_path / "out_bag", progress=False)
    assert result.pairs == len(frames) - 1
    [(stamp, kind, why)] = result.skipped
    assert kind == "decode" and "constant" in why and stamp not in result.detections
    assert result.skipped_by_kind == {"decode": 1}


def test_bag_detect_cli_registers_with_the_homography_and_writes_evaluator_results(dataset, random_checkpoint, tmp_path,
                                                                                  capsys):
    from lsi_perception.bag.ground_truth import ground_truth_annotations
    from lsi_perception.cli import main as lsi_main
    from lsi_perception.eval import load_results

    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(image_set="test"), progress=False)
    common = ["bag", "detect", str(bag), "--checkpoint", str(random_checkpoint), "--device", "cpu"]
    singular = ["--thermal-to-rgb-homography", *["0"] * 9]
    assert lsi_main([*common, "--out", str(tmp_path / "bad"), *singular]) == 2
    assert "singular" in capsys.readouterr().err
    # a 2x zoom of thermal: nothing is skipped (warped to the RGB size), and the detections differ from identity
    zoom = ["--thermal-to-rgb-homography", "2", "0", "0", "0", "2", "0", "0", "0", "1"]
    results = tmp_path / "dets.txt"
    assert lsi_main([*common, "--out", str(tmp_path / "out"), "--results", str(results), *zoom]) == 0
    assert "skipped" not in capsys.readouterr().out
    result = detect_bag(bag, Detector.from_checkpoint(random_checkpoint, device="cpu"), tmp_path / "again",
                        DetectConfig(thermal_to_rgb_homography=(2, 0, 0, 0, 2, 0, 0, 0, 1)), progress=False)
    identity = detect_bag(bag, Detector.from_checkpoint(random_checkpoint, device="cpu"), tmp_path / "identity",
                          progress=False)
    some = next(iter(result.detections))
    assert not np.array_equal(result.detections[some].scores, identity.detections[some].scores)
    # the results file is the evaluator's own format, read back to the same detections
    ann = ground_truth_annotations(result.ground_truth, result.frames, result.image_size)
    back = load_results(results, ann)
    for index, stamp in enumerate(sorted(result.ground_truth)):
        np.testing.assert_allclose(back[index], result.detections[stamp].to_xywh_score(), atol=1e-4)


def test_bag_detect_track_writes_track_ids_and_scores_them_against_the_ground_truth_identities(dataset, detector,
                                                                                               tmp_path):
    from lsi_perception.bag.ground_truth import ground_truth_annotations
    from lsi_perception.pipeline.detection_codec import read_detection_array

    bag = tmp_path / "in_bag"
    dataset_to_bag(dataset, bag, FromDatasetConfig(), progress=False)
    result = detect_bag(bag, detector, tmp_path / "out_bag", DetectConfig(track=True), progress=False)
    ann = ground_truth_annotations(result.ground_truth, result.frames, result.image_size)
    assert (ann.gt_track_ids >= 1).any()  # from-dataset carried the synthetic track_id into /ground_truth
    with BagReader(tmp_path / "out_bag") as out:
        ids = [i for m in out.messages() for i in read_detection_array(m.msg).ids]
    assert ids and all(i == "" or i.isdigit() for i in ids) and any(i.isdigit() for i in ids)
    assert result.mot_result is not None and result.mot_result.scores["all"]["gt_ids"] >= 1

    untracked = detect_bag(bag, detector, tmp_path / "plain_bag", progress=False)
    assert untracked.mot_result is None
    assert all(not i for arr in untracked.detections.values() for i in arr.ids)
