"""Foundation: real messages survive DDS intact, and the installed package exposes what ROS tools need."""
from __future__ import annotations

import ast
import os
import sys
import threading
import time
from pathlib import Path

import pytest

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
    for item in ("package.xml", "launch", "config", "rviz", "models"):
        assert (VENV / "share" / "lsi_perception" / item).exists()


def _data_file_patterns(repo_root: Path) -> dict[str, list[str]]:
    """setup.py's data_files as {install folder: [source expressions]} (read statically)."""
    tree = ast.parse((repo_root / "setup.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg == "data_files":
            return {ast.literal_eval(t.elts[0]) if isinstance(t.elts[0], ast.Constant) else ast.unparse(t.elts[0]):
                    [ast.unparse(t.elts[1])] for t in node.value.elts}
    raise AssertionError("setup.py has no data_files")


def test_setup_installs_launch_config_models_rviz(repo_root):
    files = _data_file_patterns(repo_root)
    joined = "\n".join(f"{k}: {v}" for k, v in files.items())
    for folder, pattern in (("launch", "launch/*.launch.py"), ("config", "config/*.yaml"),
                            ("models", "models/*.safetensors"), ("rviz", "rviz/*.rviz")):
        assert pattern in joined and f"/{folder}" in joined, f"setup.py does not install {pattern}"
    assert (repo_root / "launch" / "lsi_detector.launch.py").is_file()
    assert (repo_root / "config" / "lsi_detector.yaml").is_file()
    assert (repo_root / "rviz" / "lsi_perception.rviz").is_file()


def test_launch_file_references_existing_things(repo_root):
    """Statically (launch_ros has no wheel here): the executables and files it names exist."""
    source = (repo_root / "launch" / "lsi_detector.launch.py").read_text()
    tree = ast.parse(source)
    constants = {t.id: n.value.value for n in ast.walk(tree) if isinstance(n, ast.Assign)
                 for t in n.targets if isinstance(t, ast.Name) and isinstance(n.value, ast.Constant)}
    assert constants["PACKAGE"] == "lsi_perception"
    exe = constants["EXECUTABLE"]
    assert (VENV / "lib" / "lsi_perception" / exe).exists(), f"launch file runs {exe}, not installed"
    assert f"{exe} = lsi_perception." in (repo_root / "setup.py").read_text().replace('f"', "").replace(
        "{PACKAGE}", "lsi_perception")
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    assert {"lsi_detector.yaml", "lsi_perception.rviz"} <= strings
    # arguments the issue promises
    for arg in ("params_file", "checkpoint", "device", "namespace", "use_sim_time", "rgb_topic", "thermal_topic", "rviz"):
        assert f'DeclareLaunchArgument("{arg}"' in source, arg
    # rviz2 is an external executable: declared as a dependency instead
    assert "<exec_depend>rviz2</exec_depend>" in (repo_root / "package.xml").read_text()
