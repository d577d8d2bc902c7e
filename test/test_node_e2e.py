"""The lsi_detector node over real DDS: pairing, outputs equal to Detector.predict, input variants."""
from __future__ import annotations

import random

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from lsi_perception.inference import Detector  # noqa: E402
from lsi_perception.pipeline.detection_codec import read_detection_array  # noqa: E402
from lsi_perception.pipeline.stamps import stamp_to_ns  # noqa: E402
from lsi_perception.ros.harness import (  # noqa: E402
    DetectorClient,
    compressed_msg,
    image_msg,
    node_parameters,
    running_detector,
)
from lsi_perception.testing import synthetic_pair  # noqa: E402

pytestmark = [pytest.mark.ros, pytest.mark.usefixtures("ros_module")]
MS = 1_000_000
H, W = 128, 160


@pytest.fixture(scope="module")
def detector(random_checkpoint):
    return Detector.from_checkpoint(random_checkpoint, device="cpu")


def assert_same_detections(msg, expected, atol=1e-2):
    got = read_detection_array(msg)
    assert len(got) == len(expected) > 0
    np.testing.assert_allclose(got.boxes, expected.boxes, atol=atol)
    np.testing.assert_allclose(got.scores, expected.scores, atol=1e-4)
    assert got.labels == expected.names()


def test_one_detection_array_per_matched_pair_with_rgb_stamp(random_checkpoint, detector):
    rng = random.Random(0)
    images = [synthetic_pair(H, W, seed=i) for i in range(30)]
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1), namespace="/e2e") as (_, client):
        sent = []
        for i, (rgb, thermal) in enumerate(images):
            base = (1_000 + i * 100) * MS
            if i in (5, 20):  # unmatched singles, far (50 ms) from every other stamp
                client.rgb_pub.publish(image_msg(rgb, "rgb8", base - 50 * MS))
            if i == 12:
                client.thermal_pub.publish(image_msg(thermal, "mono8", base - 50 * MS))
            rgb_stamp = base + rng.randint(-10, 10) * MS
            client.publish_pair(rgb, thermal, rgb_stamp, base + rng.randint(-10, 10) * MS, frame_id="cam_rgb")
            sent.append(rgb_stamp)
            client.wait_for_detections(i + 1, timeout=30)  # publish slower than inference
        msgs = client.wait_for_detections(30, timeout=5)
        client.wait_until(lambda: False, timeout=0.5)  # nothing extra arrives late
        assert len(client.detections) == 30
    assert [stamp_to_ns(m.header.stamp) for m in msgs] == sent
    assert all(m.header.frame_id == "cam_rgb" for m in msgs)
    for m, (rgb, thermal) in zip(msgs[:6], images[:6]):
        assert_same_detections(m, detector.predict(rgb, thermal))


def test_onnxruntime_backend_publishes_the_torch_detections(random_checkpoint, detector):
    images = [synthetic_pair(H, W, seed=60 + i, thermal_dtype=np.uint16) for i in range(3)]
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1, backend="onnxruntime", execution_provider="cpu"),
                          namespace="/ort") as (node, client):
        assert node.detector.backend.name == "onnxruntime"
        for i, (rgb, thermal) in enumerate(images):
            client.publish_pair(rgb, thermal, (1_000 + i * 100) * MS)
            client.wait_for_detections(i + 1, timeout=30)
        msgs = client.wait_for_detections(3, timeout=5)
    for m, (rgb, thermal) in zip(msgs, images):
        boxes = read_detection_array(m).boxes
        expected = detector.predict(rgb, thermal)
        assert len(boxes) == len(expected) > 0  # near-tied random scores may swap ranks: compare as sets
        np.testing.assert_allclose(np.unique(np.round(boxes, 2), axis=0), np.unique(np.round(expected.boxes, 2), axis=0),
                                   atol=1e-2)


def test_compressed_input(random_checkpoint, detector):
    rgb, thermal16 = synthetic_pair(H, W, seed=40, thermal_dtype=np.uint16)
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1, image_transport="compressed"), namespace="/comp", compressed=True) as (_, client):
        client.publish_pair(compressed_msg(rgb, "png", 5 * MS), compressed_msg(thermal16, "png", 5 * MS), 5 * MS)
        msg = client.wait_for_detections(1, timeout=30)[0]
        client.publish_pair(compressed_msg(rgb, "jpeg", 6 * MS), compressed_msg(thermal16, "png", 6 * MS), 6 * MS)
        assert len(client.wait_for_detections(2, timeout=30)) == 2
    assert_same_detections(msg, detector.predict(rgb, thermal16))  # png is lossless, 16-bit kept


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_16bit_and_radiometric_thermal(random_checkpoint, detector, dtype):
    rgb, thermal = synthetic_pair(H, W, seed=41, thermal_dtype=dtype)
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1), namespace=f"/t{np.dtype(dtype).itemsize}") as (_, client):
        client.publish_pair(image_msg(np.ascontiguousarray(rgb[:, :, ::-1]), "bgr8", 7 * MS),
                            image_msg(thermal, "mono16" if dtype == np.uint16 else "32FC1", 7 * MS,
                                      step=W * np.dtype(dtype).itemsize + 8, big_endian=True), 7 * MS)
        msg = client.wait_for_detections(1, timeout=30)[0]
    assert_same_detections(msg, detector.predict(rgb, thermal))


def test_homography_warped_thermal_of_another_size(random_checkpoint, detector):
    import cv2

    rgb, thermal = synthetic_pair(H, W, seed=42)
    small = cv2.resize(thermal, (W // 2, H // 2), interpolation=cv2.INTER_AREA)
    homography = [2.0, 0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 1.0]
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1, thermal_to_rgb_homography=homography), namespace="/homog") as (_, client):
        client.publish_pair(rgb, small, 8 * MS)
        msg = client.wait_for_detections(1, timeout=30)[0]
    warped = cv2.warpPerspective(small, np.array(homography).reshape(3, 3), (W, H), flags=cv2.INTER_LINEAR)
    assert_same_detections(msg, detector.predict(rgb, warped))


def test_label_info_is_latched(random_checkpoint):
    with running_detector(node_parameters(random_checkpoint, warmup_iterations=1), namespace="/labels") as (_, client):
        late = DetectorClient("late_joiner", namespace="/labels")
        executor = rclpy.executors.SingleThreadedExecutor()
        executor.add_node(late)
        for _ in range(50):
            executor.spin_once(timeout_sec=0.1)
            if late.label_info:
                break
        executor.shutdown()
        late.destroy_node()
    assert [(c.class_id, c.class_name) for c in late.label_info[0].class_map] == [(0, "person")]
