"""The whole launch file under real launch + launch_ros, wherever they import (a ROS 2 distro: `colcon test`).

launch_ros has no wheel on the package index, so in the pip venv these tests skip; what the launch file
decides is tested everywhere in test_launch_plan.py. On a distro:

    colcon build --packages-select lsi_perception && colcon test --packages-select lsi_perception \
        --pytest-args -k launch && colcon test-result --verbose

Each case starts ``launch/lsi_detector.launch.py`` in its own process group as ``ros2 launch`` does
(LaunchService), with a random checkpoint so the node starts fast, and inspects the running node over DDS.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

pytest.importorskip("launch_ros", reason="launch_ros has no pip wheel; runs where a ROS 2 distro is installed")
rclpy = pytest.importorskip("rclpy")

from lsi_perception.node_logic.launch_plan import find_executable  # noqa: E402

pytestmark = pytest.mark.ros

LAUNCH_FILE = Path(__file__).resolve().parent.parent / "launch" / "lsi_detector.launch.py"
# Runs the launch file the way `ros2 launch` does: LaunchService handles SIGINT/SIGTERM and its exit code.
DRIVER = """
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
arguments = [tuple(a.split(":=", 1)) for a in sys.argv[2:]]
service = LaunchService()
service.include_launch_description(LaunchDescription([
    IncludeLaunchDescription(PythonLaunchDescriptionSource(sys.argv[1]), launch_arguments=arguments)]))
sys.exit(service.run())
"""


class LaunchRun:
    """A launch in its own process group, its output collected as it comes."""

    def __init__(self, *arguments: str) -> None:
        self.proc = subprocess.Popen([sys.executable, "-c", DRIVER, str(LAUNCH_FILE), *arguments],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                     start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    @property
    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float = 120.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not in the launch output:\n{self.output[-4000:]}")
            time.sleep(0.1)

    def signal_group(self, signum: int) -> None:
        os.killpg(self.proc.pid, signum)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.signal_group(signal.SIGKILL)
        return self.proc.wait()


@pytest.fixture
def launch_args(random_checkpoint):
    return [f"checkpoint:={random_checkpoint}", "device:=cpu"]


def _get_parameters(node, fqn: str, names: list[str]) -> list:
    from rcl_interfaces.srv import GetParameters

    client = node.create_client(GetParameters, f"{fqn}/get_parameters")
    assert client.wait_for_service(timeout_sec=30), f"{fqn}/get_parameters not available"
    future = client.call_async(GetParameters.Request(names=names))
    from rclpy.executors import SingleThreadedExecutor

    executor = SingleThreadedExecutor(context=node.context)
    executor.add_node(node)
    executor.spin_until_future_complete(future, timeout_sec=30)
    executor.shutdown()
    return future.result().values


def _subscribed_topics(node, name: str, namespace: str, timeout: float = 30.0) -> set[str]:
    """The topics the remote node subscribes to, once discovery has shown it (and its subscriptions)."""
    deadline = time.monotonic() + timeout
    topics: set[str] = set()
    while time.monotonic() < deadline:
        if (name, namespace) in node.get_node_names_and_namespaces():
            topics = {t for t, _ in node.get_subscriber_names_and_types_by_node(name, namespace)}
            if len(topics) > 2:  # the inputs besides the lifecycle and parameter-event topics
                return topics
        time.sleep(0.2)
    return topics


def test_namespace_params_remaps_rviz_absent_then_sigint_twice(launch_args, tmp_path):
    params = tmp_path / "vehicle.yaml"
    params.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"slop": 0.0421, "warmup_iterations": 1}}}))
    rviz_installed = find_executable("rviz2", "rviz2", os.environ) is not None
    run = LaunchRun(*launch_args, "namespace:=robot1", f"params_file:={params}", "rgb_topic:=/cam/color/image_raw",
                    "thermal_topic:=/flir/image", "rviz:=false" if rviz_installed else "rviz:=true")
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        run.wait_for("active: /cam/color/image_raw + /flir/image -> /robot1/detections")
        if not rviz_installed:
            assert "rviz2 is not installed" in run.output
        node = rclpy.create_node("launch_test_probe", context=context)
        slop, warmup = _get_parameters(node, "/robot1/lsi_detector", ["slop", "warmup_iterations"])
        assert (slop.double_value, warmup.integer_value) == (0.0421, 1)
        assert {"/cam/color/image_raw", "/flir/image"} <= _subscribed_topics(node, "lsi_detector", "/robot1")
        node.destroy_node()

        run.signal_group(signal.SIGINT)  # as a container runtime or a service manager stops the group
        time.sleep(0.3)
        run.signal_group(signal.SIGINT)  # a second one while the node shuts down
        assert run.proc.wait(timeout=60) == 0, run.output[-4000:]
    finally:
        rclpy.try_shutdown(context=context)
        run.stop()
    assert "process has died" not in run.output, run.output[-4000:]
    assert "process has finished cleanly" in run.output


def _node_pid(run: LaunchRun) -> int:
    match = re.search(r"\[lsi_detector-1\]: process started with pid \[(\d+)\]", run.output)
    assert match, run.output[-4000:]
    return int(match.group(1))


def _gone(pid: int, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().split(")")[-1].split()[0] == "Z":  # exited, not yet reaped
                    return True
        except FileNotFoundError:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("target", ["group", "launch_only"])
def test_sigterm_leaves_no_detector_running(launch_args, target):
    """SIGTERM to the group (systemd, docker stop): the node exits 0 by itself. SIGTERM to the launch process
    only: launch exits at once without stopping its children (upstream behaviour); the node follows it."""
    run = LaunchRun(*launch_args, f"namespace:={target}")
    try:
        run.wait_for(f"active: /{target}/rgb/image_raw + /{target}/thermal/image_raw -> /{target}/detections")
        pid = _node_pid(run)
        if target == "group":
            run.signal_group(signal.SIGTERM)
        else:
            run.proc.send_signal(signal.SIGTERM)
        run.proc.wait(timeout=60)
        assert _gone(pid), f"lsi_detector (pid {pid}) still running after the launch ended"
    finally:
        run.stop()
    assert "process has died" not in run.output, run.output[-4000:]


def test_ros2_launch_finds_the_installed_launch_file():
    api = pytest.importorskip("ros2launch.api", reason="ros2launch (the `ros2 launch` command) not installed")
    path = api.get_share_file_path_from_package(package_name="lsi_perception", file_name="lsi_detector.launch.py")
    assert Path(path).is_file()
