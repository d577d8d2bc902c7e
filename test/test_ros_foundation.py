"""Foundation: real messages survive DDS intact, and the installed package exposes what ROS tools need."""
from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

import pytest

from lsi_perception.node_logic.launch_plan import EXECUTABLE, PACKAGE, find_executable

VENV = Path(sys.prefix)


@pytest.mark.ros
def test_image_and_detection_array_roundtrip_over_dds():
    rclpy = pytest.importorskip("rclpy")
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    from lsi_perception.ros.harness import ns_to_time

    image = Image(height=2, width=3, encoding="rgb8", is_bigendian=0, step=9, data=bytes(range(18)))
    image.header.stamp = ns_to_time(1_234_567_890_123)
    image.header.frame_id = "cam_rgb"
    det = Detection2D()
    det.bbox.center.position.x, det.bbox.center.position.y, det.bbox.center.theta = 10.5, 20.25, 0.0
    det.bbox.size_x, det.bbox.size_y = 4.0, 8.0
    hyp = ObjectHypothesisWithPose()
    hyp.hypothesis.class_id, hyp.hypothesis.score = "person", 0.875
    det.results = [hyp]
    array = Detection2DArray(header=image.header, detections=[det])

    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        talker = rclpy.create_node("foundation_talker", context=context)
        listener = rclpy.create_node("foundation_listener", context=context)
        qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
        received: dict[str, object] = {}
        done = threading.Event()

        def keep(key):
            def cb(msg):
                received[key] = msg
                if len(received) == 2:
                    done.set()
            return cb

        listener.create_subscription(Image, "foundation/image", keep("image"), qos)
        listener.create_subscription(Detection2DArray, "foundation/detections", keep("detections"), qos)
        pub_image = talker.create_publisher(Image, "foundation/image", qos)
        pub_dets = talker.create_publisher(Detection2DArray, "foundation/detections", qos)
        executor = SingleThreadedExecutor(context=context)
        executor.add_node(talker)
        executor.add_node(listener)
        deadline = time.monotonic() + 20
        while not done.is_set() and time.monotonic() < deadline:
            if pub_image.get_subscription_count() and pub_dets.get_subscription_count():
                pub_image.publish(image)
                pub_dets.publish(array)
            executor.spin_once(timeout_sec=0.1)
        executor.shutdown()
        talker.destroy_node()
        listener.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)
    assert done.is_set(), f"received only {sorted(received)} within 20 s"
    assert received["image"] == image
    assert received["detections"] == array
    got = received["detections"].detections[0]
    assert (got.results[0].hypothesis.class_id, got.results[0].hypothesis.score) == ("person", 0.875)


def test_installed_executables_and_ament_index():
    for exe in ("lsi_detector", "lsi"):
        for folder in (VENV / "bin", VENV / "lib" / "lsi_perception"):
            path = folder / exe
            assert path.exists() and os.access(path, os.X_OK), f"{path} missing or not executable (run make setup)"
    marker = VENV / "share" / "ament_index" / "resource_index" / "packages" / "lsi_perception"
    assert marker.is_file(), f"ament index marker {marker} missing: `ros2 run lsi_perception ...` cannot find the package"
    assert find_executable(PACKAGE, EXECUTABLE, {"AMENT_PREFIX_PATH": str(VENV)}) is not None


def test_share_dir_is_laid_out_as_colcon_would():
    """ros2 launch walks share/<package> without following folder links (as os.walk does by default): every
    data file must be found that way, the launch file and the DDS profile included."""
    share = VENV / "share" / "lsi_perception"
    found = {str(Path(root, name).relative_to(share)) for root, _, names in os.walk(share) for name in names}
    for needed in ("package.xml", "launch/lsi_detector.launch.py", "config/lsi_detector.yaml",
                   "config/fastdds_large_frames.xml", "rviz/lsi_perception.rviz",
                   "models/lsi_pvt_b0_synthetic.safetensors"):
        assert needed in found, f"{needed} not reachable under {share} without following folder links"
        assert (share / needed).is_file()


def _setup_data_files(repo_root: Path, monkeypatch) -> dict[str, list[str]]:
    """setup.py's data_files as evaluated by running it (setuptools.setup captured, nothing installed)."""
    import runpy

    import setuptools

    captured = {}
    monkeypatch.setattr(setuptools, "setup", lambda **kw: captured.update(kw))
    monkeypatch.chdir(repo_root)
    runpy.run_path(str(repo_root / "setup.py"), run_name="__main__")
    return {folder: list(files) for folder, files in captured["data_files"]}


def test_a_colcon_or_pip_install_carries_the_share_files(repo_root, monkeypatch):
    """A non-editable install (colcon build, pip install .) has only what setup.py's data_files list."""
    installed = {f"{folder}/{Path(f).name}" for folder, files in _setup_data_files(repo_root, monkeypatch).items()
                 for f in files}
    for needed in ("launch/lsi_detector.launch.py", "config/lsi_detector.yaml", "config/fastdds_large_frames.xml",
                   "rviz/lsi_perception.rviz", "models/lsi_pvt_b0_synthetic.safetensors", "package.xml"):
        assert f"share/lsi_perception/{needed}" in installed, needed
