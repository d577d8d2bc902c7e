"""Bag building blocks without a ROS graph: message conversion, dataset -> bag, reading back, salvage."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from lsi_perception.bag.convert import compressed_image_message, detection_array_message, image_message
from lsi_perception.bag.from_dataset import FRAMES_KEY, FromDatasetConfig, dataset_to_bag, list_frames
from lsi_perception.bag.reader import BagReader, BagReadError
from lsi_perception.bag.typestore import DETECTION_2D_ARRAY, IMAGE, typestore
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.pipeline.detection_codec import gt_attributes, read_detection_array
from lsi_perception.pipeline.image_codec import decode_rgb_message, decode_thermal_message

DECODE = {"rgb": decode_rgb_message, "thermal": decode_thermal_message}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drive")
    generate_dataset(root, SyntheticConfig(frames=8, frames_per_drive=4, height=64, width=80, test_fraction=0.5,
                                           image_format="png", seed=1))
    return root


def _roundtrip(msg):
    store = typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


@pytest.mark.parametrize("image,want", [
    (np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8), "rgb"),
    (np.random.default_rng(1).integers(0, 256, (5, 7), dtype=np.uint8), "thermal"),
    (np.random.default_rng(2).integers(0, 65536, (5, 7), dtype=np.uint16), "thermal"),
    (np.random.default_rng(3).normal(300.0, 5.0, (5, 7)).astype(np.float32), "thermal"),
], ids=["rgb8", "mono8", "mono16", "32FC1"])
def test_raw_image_roundtrip_is_exact(image, want):
    msg = _roundtrip(image_message(image, 1_234_567_890_123, "cam"))
    assert msg.header.stamp.sec == 1234 and msg.header.stamp.nanosec == 567_890_123
    np.testing.assert_array_equal(DECODE[want](msg), image)


def test_compressed_thermal_16bit_is_lossless_png():
    thermal = np.random.default_rng(4).integers(0, 65536, (6, 9), dtype=np.uint16)
    msg = compressed_image_message(thermal, 5, "cam")
    assert msg.format.startswith("mono16; png")
    np.testing.assert_array_equal(decode_thermal_message(_roundtrip(msg)), thermal)


def test_detection_array_roundtrip_keeps_boxes_scores_and_gt_attributes():
    boxes = np.array([[10.0, 20.0, 30.0, 80.0], [0.5, 1.5, 4.0, 9.0]])
    msg = _roundtrip(detection_array_message(7, "cam", boxes, [0.9, 0.25], ["person", "people"],
                                             [gt_attributes(2, True, 61.5), gt_attributes(0, False, 7.5)]))
    back = read_detection_array(msg)
    np.testing.assert_allclose(back.boxes, boxes, atol=1e-5)
    np.testing.assert_allclose(back.scores, [0.9, 0.25], atol=1e-6)
    assert back.labels == ["person", "people"] and back.stamp_ns == 7 and back.frame_id == "cam"
    assert back.attributes[0] == {"occlusion": 2.0, "ignore": 1.0, "height": 61.5}


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_from_dataset_writes_pairs_at_the_dataset_rate_with_ground_truth(dataset, tmp_path, storage):
    cfg = FromDatasetConfig(storage=storage, thermal_offset_s=0.004, jitter_s=0.001)
    result = dataset_to_bag(dataset, tmp_path / "bag", cfg, progress=False)
    frames = list_frames(dataset)
    assert result.frames == len(frames) == 8
    with BagReader(tmp_path / "bag") as bag:
        assert bag.topics == {cfg.rgb_topic: IMAGE, cfg.thermal_topic: IMAGE, cfg.ground_truth_topic: DETECTION_2D_ARRAY}
        assert bag.counts == {cfg.rgb_topic: 8, cfg.thermal_topic: 8, cfg.ground_truth_topic: 8}
        by_topic: dict[str, list] = {}
        for m in bag.messages():
            assert m.timestamp == m.msg.header.stamp.sec * 10**9 + m.msg.header.stamp.nanosec  # bag time = stamp
            by_topic.setdefault(m.topic, []).append(m)
        index = json.loads(bag.custom_data[FRAMES_KEY])
    rgb_stamps = np.array([m.timestamp for m in by_topic[cfg.rgb_topic]])
    thermal_stamps = np.array([m.timestamp for m in by_topic[cfg.thermal_topic]])
    within_drive = np.diff(rgb_stamps)[[0, 1, 2, 4, 5, 6]]  # two drives of 4 frames
    assert set(within_drive.tolist()) == {50_000_000}  # 20 Hz
    lag = (thermal_stamps - rgb_stamps) / 1e9
    assert np.all(np.abs(lag - 0.004) < 0.0051)
    assert [name for _, name, _ in index] == [f.name for f in frames]
    assert {tod for _, _, tod in index} <= {"day", "night"}

    coco = json.loads((dataset / "annotations" / "train.json").read_text())
    first_name = coco["images"][0]["im_name"]
    expected = [a for a in coco["annotations"] if a["image_id"] == coco["images"][0]["id"]]
    gt = read_detection_array(by_topic[cfg.ground_truth_topic][[f.name for f in frames].index(first_name)].msg)
    assert len(gt) == len(expected)
    for k, a in enumerate(expected):
        x, y, w, h = a["bbox"]
        np.testing.assert_allclose(gt.boxes[k], [x, y, x + w, y + h], atol=1e-3)
        assert gt.attributes[k]["ignore"] == a["ignore"] and gt.attributes[k]["occlusion"] == a["occlusion"]


def test_offset_reaching_the_next_frame_is_rejected(dataset, tmp_path):
    with pytest.raises(ValueError, match="half a frame period"):
        dataset_to_bag(dataset, tmp_path / "bag", FromDatasetConfig(thermal_offset_s=0.03), progress=False)


def test_missing_bag_and_missing_dataset_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        BagReader(tmp_path / "nope").open()
    with pytest.raises(FileNotFoundError, match="KAIST-layout"):
        dataset_to_bag(tmp_path, tmp_path / "bag", progress=False)


def test_truncated_bag_names_the_file_and_what_was_salvaged(dataset, tmp_path):
    bag = tmp_path / "bag"
    dataset_to_bag(dataset, bag, progress=False)
    damaged = tmp_path / "damaged"
    shutil.copytree(bag, damaged)
    (damaged / "metadata.yaml").unlink()  # a recorder killed before closing the bag
    mcap = damaged / "bag.mcap"
    data = mcap.read_bytes()
    mcap.write_bytes(data[: int(len(data) * 0.6)])  # and its file cut short

    with pytest.raises(BagReadError) as info:
        BagReader(damaged).open()
    text = str(info.value)
    assert str(damaged) in text and "salvaged" in text and "--salvage" in text

    with BagReader(damaged, salvage=True) as reader:
        intact = list(reader.messages())
        assert reader.damage is not None and "truncated" in reader.damage.problem
    assert 0 < len(intact) < 24
    with BagReader(bag) as full:
        reference = list(full.messages())
    for got, want in zip(intact, reference):  # what was salvaged is the bag's prefix, intact
        assert (got.topic, got.timestamp) == (want.topic, want.timestamp)
    np.testing.assert_array_equal(intact[0].msg.data, reference[0].msg.data)
