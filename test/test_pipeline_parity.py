"""The node and ``lsi bag detect`` give identical detections for the same bag: both run
``pipeline.PairProcessor``, so registration (``thermal_to_rgb_homography``) and the skipping of corrupt
frames agree too. The bag's own messages (CDR bytes) are published to a live node over DDS."""
from __future__ import annotations

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.serialization import deserialize_message  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

from lsi_perception.bag.convert import image_message  # noqa: E402
from lsi_perception.bag.detect import DetectConfig, detect_bag  # noqa: E402
from lsi_perception.bag.reader import BagReader  # noqa: E402
from lsi_perception.bag.typestore import IMAGE, typestore  # noqa: E402
from lsi_perception.bag.writer import BagWriter  # noqa: E402
from lsi_perception.inference import Detector  # noqa: E402
from lsi_perception.pipeline.detection_codec import read_detection_array  # noqa: E402
from lsi_perception.pipeline.stamps import stamp_to_ns  # noqa: E402
from lsi_perception.ros.harness import ros_context, running_detector, wait_for  # noqa: E402
from lsi_perception.testing import synthetic_pair  # noqa: E402

pytestmark = pytest.mark.ros
MS = 1_000_000
H, W = 96, 128  # RGB; the thermal camera has half the resolution and the homography scales it up
SCALE_2 = (2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0)
RGB_TOPIC, THERMAL_TOPIC = "/cam/rgb/image_raw", "/cam/thermal/image_raw"
FRAMES = 6
CONSTANT_THERMAL, TRUNCATED_RGB = 2, 4  # a closed shutter and a cut-off message


def _write_bag(path) -> None:
    with BagWriter(path) as writer:
        for i in range(FRAMES):
            rgb, thermal = synthetic_pair(H, W, seed=40 + i, thermal_dtype=np.uint16)
            thermal = thermal[::2, ::2].copy()
            if i == CONSTANT_THERMAL:
                thermal[:] = 3000
            stamp = (1_000 + 100 * i) * MS
            rgb_msg = image_message(rgb, stamp, "cam_rgb")
            if i == TRUNCATED_RGB:
                rgb_msg.data = rgb_msg.data[: len(rgb_msg.data) // 2]
            writer.write(RGB_TOPIC, stamp, rgb_msg)
            writer.write(THERMAL_TOPIC, stamp + MS, image_message(thermal, stamp + 2 * MS, "cam_thermal"))


def _bag_messages_as_rclpy(path) -> list[tuple[str, Image]]:
    store = typestore()
    with BagReader(path) as reader:
        return [(m.topic, deserialize_message(bytes(store.serialize_cdr(m.msg, IMAGE)), Image))
                for m in reader.messages([RGB_TOPIC, THERMAL_TOPIC])]


def test_node_and_bag_detect_give_identical_detections_with_homography_and_corrupt_frames(random_checkpoint, tmp_path):
    bag = tmp_path / "rig_bag"
    _write_bag(bag)

    offline = detect_bag(bag, Detector.from_checkpoint(random_checkpoint, device="cpu"), tmp_path / "out",
                         DetectConfig(thermal_to_rgb_homography=SCALE_2), progress=False)
    assert offline.pairs == FRAMES - 2 and offline.skipped_by_kind == {"decode": 2}
    skipped_stamps = {stamp for stamp, _, _ in offline.skipped}
    assert skipped_stamps == {(1_000 + 100 * i) * MS for i in (CONSTANT_THERMAL, TRUNCATED_RGB)}

    params = {"checkpoint": str(random_checkpoint), "device": "cpu", "warmup_iterations": 0, "backend": "torch",
              "thermal_to_rgb_homography": list(SCALE_2)}  # the offline Detector's backend: same pipeline, same numbers
    with ros_context(), running_detector(params, namespace="/parity", overlay=False) as (node, client):
        for topic, msg in _bag_messages_as_rclpy(bag):  # bag order, one pair at a time
            (client.rgb_pub if topic == RGB_TOPIC else client.thermal_pub).publish(msg)
            if topic == THERMAL_TOPIC:
                done = len(client.detections) + sum(node.error_counts.values())
                wait_for(lambda d=done: len(client.detections) + sum(node.error_counts.values()) > d, timeout=30)
        online = {stamp_to_ns(m.header.stamp): read_detection_array(m) for _, m in list(client.detections)}
        errors = node.error_counts

    assert {k: v for k, v in errors.items() if v} == offline.skipped_by_kind
    assert sorted(online) == sorted(offline.detections)
    assert skipped_stamps.isdisjoint(online)
    for stamp, got in online.items():
        want = offline.detections[stamp]
        assert len(got) == len(want) > 0
        assert got.labels == want.labels and got.frame_id == want.frame_id == "cam_rgb"
        np.testing.assert_allclose(got.boxes, want.boxes, rtol=0, atol=1e-5)
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-7)
