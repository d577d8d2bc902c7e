"""``lsi bag play`` and the recorder over real DDS: stamps and /clock are the bag's, and what the recorder
writes reads back with rosbags. The player runs as its own process, exactly as users run it."""
from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from lsi_perception.bag.from_dataset import FromDatasetConfig, dataset_to_bag
from lsi_perception.bag.reader import BagReader
from lsi_perception.bag.typestore import DETECTION_2D_ARRAY
from lsi_perception.data.synthetic import SyntheticConfig, generate_dataset
from lsi_perception.pipeline.detection_codec import read_detection_array

rclpy = pytest.importorskip("rclpy")
pytestmark = pytest.mark.ros

CFG = FromDatasetConfig(thermal_offset_s=0.004, jitter_s=0.0)


@pytest.fixture(scope="module")
def bag(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("drive")
    generate_dataset(root, SyntheticConfig(frames=10, frames_per_drive=10, height=48, width=64, test_fraction=0.0,
                                           image_format="png", seed=2))
    return dataset_to_bag(root, tmp_path_factory.mktemp("bags") / "drive", CFG, progress=False).path


@pytest.fixture()
def ros_node():
    from rclpy.executors import SingleThreadedExecutor

    context = rclpy.Context()
    rclpy.init(context=context)
    node = rclpy.create_node("bag_test_listener", context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    yield node
    executor.shutdown()
    node.destroy_node()
    rclpy.shutdown(context=context)
    thread.join(timeout=5)


def _bag_stamps(bag: Path, topic: str) -> list[int]:
    with BagReader(bag) as reader:
        return [m.timestamp for m in reader.messages([topic])]


def _play(bag: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lsi_perception.cli", "bag", "play", str(bag),
                           "--wait-for-subscribers", "15", *args],
                          capture_output=True, text=True, timeout=timeout)


def _listen(node, received: dict[str, list], clock: list[tuple[float, int]]):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image

    qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    for topic in (CFG.rgb_topic, CFG.thermal_topic):
        node.create_subscription(Image, topic, lambda m, t=topic: received[t].append(
            (time.monotonic(), m.header.stamp.sec * 10**9 + m.header.stamp.nanosec)), qos)
    node.create_subscription(Clock, "/clock", lambda m: clock.append(
        (time.monotonic(), m.clock.sec * 10**9 + m.clock.nanosec)), QoSProfile(depth=100))


def test_player_publishes_bag_stamps_with_clock_at_the_requested_rate(bag, ros_node):
    received: dict[str, list] = {CFG.rgb_topic: [], CFG.thermal_topic: []}
    clock: list[tuple[float, int]] = []
    _listen(ros_node, received, clock)
    proc = _play(bag, "--rate", "0.5")
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.3)

    for topic in (CFG.rgb_topic, CFG.thermal_topic):
        assert [s for _, s in received[topic]] == _bag_stamps(bag, topic)  # every message, in order, same stamps
    # Paced at half speed: each gap between arrivals is about twice the gap between bag stamps. The median of
    # the ratios, not the first-to-last span: one late delivery (DDS matching the first sample, a loaded CI
    # machine) bunches a few arrivals together and shortens the span, but moves the median little. A player
    # at full speed gives ratios near 1.
    rgb = received[CFG.rgb_topic]
    ratios = [(b[0] - a[0]) / ((b[1] - a[1]) / 1e9) for a, b in zip(rgb, rgb[1:]) if b[1] > a[1]]
    assert len(ratios) >= 4 and 1.6 <= statistics.median(ratios) <= 2.6, ratios

    clock_values = [c for _, c in clock]
    assert clock_values == sorted(clock_values), "/clock went backwards"
    all_stamps = _bag_stamps(bag, CFG.rgb_topic) + _bag_stamps(bag, CFG.thermal_topic)
    assert min(all_stamps) <= clock_values[0] and clock_values[-1] == max(all_stamps)
    # /clock is published just before each message with the message's bag time, and ticks in between.
    assert set(all_stamps) <= set(clock_values)
    assert len(clock_values) > len(all_stamps)


def test_player_start_skips_the_beginning(bag, ros_node):
    received: dict[str, list] = {CFG.rgb_topic: [], CFG.thermal_topic: []}
    clock: list[tuple[float, int]] = []
    _listen(ros_node, received, clock)
    stamps = _bag_stamps(bag, CFG.rgb_topic)
    proc = _play(bag, "--rate", "5", "--start", "0.2", "--topics", CFG.rgb_topic)
    assert proc.returncode == 0, proc.stderr
    time.sleep(0.3)
    expected = [s for s in stamps if s >= stamps[0] + 200_000_000]
    assert [s for _, s in received[CFG.rgb_topic]] == expected and received[CFG.thermal_topic] == []
    assert min(c for _, c in clock) >= stamps[0] + 200_000_000


def test_recorder_output_reads_back_with_rosbags(ros_node, tmp_path):
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    from lsi_perception.bag.recorder import BagRecorder

    arrivals = []
    recorder = BagRecorder(ros_node, {"/detections": DETECTION_2D_ARRAY}, tmp_path / "rec", on_message=arrivals.append)
    pub = ros_node.create_publisher(Detection2DArray, "/detections", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    deadline = time.monotonic() + 10
    while pub.get_subscription_count() == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    sent = []
    for i in range(3):
        msg = Detection2DArray()
        msg.header.stamp.sec, msg.header.frame_id = 100 + i, "cam"
        for k in range(i):
            det = Detection2D()
            det.bbox.center.position.x, det.bbox.center.position.y = 10.0 * k + 5, 20.0
            det.bbox.size_x, det.bbox.size_y = 4.0, 8.0
            hyp = ObjectHypothesisWithPose()
            hyp.hypothesis.class_id, hyp.hypothesis.score = "person", 0.5 + 0.1 * k
            det.results.append(hyp)
            msg.detections.append(det)
        pub.publish(msg)
        sent.append(msg)
    while len(arrivals) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    recorder.close()

    assert len(arrivals) == 3
    with BagReader(tmp_path / "rec") as reader:
        assert reader.topics == {"/detections": DETECTION_2D_ARRAY}
        back = [read_detection_array(m.msg) for m in reader.messages()]
    assert [b.stamp_ns for b in back] == [(100 + i) * 10**9 for i in range(3)]
    assert [len(b) for b in back] == [0, 1, 2]
    np.testing.assert_allclose(back[2].boxes, [[3, 16, 7, 24], [13, 16, 17, 24]])
    np.testing.assert_allclose(back[2].scores, [0.5, 0.6], atol=1e-6)
