"""The lsi_detector executable over DDS between separate processes, as on a vehicle.

Three processes besides pytest: a plain rclpy camera rig publishing 640x512 rgb8 + mono16 pairs at
sensor-data QoS (best effort) with the shipped Fast DDS profile, the ``lsi_detector`` executable (which
selects the profile itself), and a default-configured probe (no DDS configuration at all) that must
still discover the node and receive its detections. Counts come from the node's own diagnostics.
"""
from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from lsi_perception.dds import (  # noqa: E402
    BUILTIN_TRANSPORTS_VARIABLE,
    PROFILE_VARIABLES,
    package_profile_path,
    profile_variable,
    ros_distro,
)
from lsi_perception.resources import detector_command  # noqa: E402

pytestmark = pytest.mark.ros
PROCS = Path(__file__).resolve().parent / "procs"
PAIRS, RATE_HZ = 100, 10.0
DISCOVERY_GRACE_S = 20.0  # after its first diagnostics, how long the probe may take to see the node in the graph


def _default_dds_env() -> dict[str, str]:
    """This environment without any DDS configuration: what a user's shell or RViz would have."""
    env = dict(os.environ)
    for name in (*PROFILE_VARIABLES, BUILTIN_TRANSPORTS_VARIABLE):
        env.pop(name, None)
    return env


class Probe:
    """detections_probe.py in its own process; its JSON events arrive on a queue."""

    def __init__(self, namespace: str, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(PROCS / "detections_probe.py"), "--namespace", namespace],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, env=env)
        self.events: queue.Queue[dict] = queue.Queue()
        self.discovered = False
        self.last_diagnostics: dict | None = None
        self.other_output: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                self.other_output.append(line)
                continue
            self.events.put(event)

    def wait_for(self, accept, timeout: float) -> dict:
        """The first event (after those already seen) for which ``accept(event)`` is true."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self.discovered |= event["event"] == "discovered"
            if event["event"] == "diagnostics":
                self.last_diagnostics = event
            if accept(event):
                return event
        raise AssertionError(f"probe: no matching event in {timeout} s; last diagnostics {self.last_diagnostics}; "
                             f"other output {''.join(self.other_output)[-2000:]}")

    def drain(self) -> None:
        """Forget the events printed so far (diagnostics from before the last action)."""
        while True:
            try:
                event = self.events.get_nowait()
            except queue.Empty:
                return
            self.discovered |= event["event"] == "discovered"

    def wait_until_settled(self, timeout: float) -> dict:
        """Diagnostics whose counters account for every pair and stay the same over two consecutive reports."""
        previous: list[dict] = []

        def settled_twice(event: dict) -> bool:
            if event["event"] != "diagnostics" or not _settled(event):
                previous.clear()
                return False
            same = bool(previous) and _counters(previous[0]) == _counters(event)
            previous[:] = [event]
            return same

        return self.wait_for(settled_twice, timeout)

    def finish(self) -> dict:
        self.proc.stdin.close()
        return self.wait_for(lambda e: e["event"] == "done", timeout=30)


def _counters(event: dict) -> tuple:
    v = event["values"]
    return (event["detections"], *(v[k] for k in ("rgb_received", "thermal_received", "paired", "published")))


def _settled(event: dict) -> bool:
    """Every pair the node formed is accounted for: published, dropped (latest pair wins) or an error."""
    v = event["values"]
    accounted = int(v["published"]) + int(v["queue_dropped"]) + sum(
        int(v[k]) for k in ("decode_errors", "alignment_errors", "inference_errors"))
    return int(v["paired"]) > 0 and accounted == int(v["paired"]) and event["detections"] == int(v["published"])


def test_camera_frames_reach_the_node_across_processes(random_checkpoint, tmp_path):
    namespace = "/vehicle"
    env = _default_dds_env()
    node_log = tmp_path / "lsi_detector.log"
    command = detector_command()
    with node_log.open("w") as log:
        node = subprocess.Popen(
            [*command, "--ros-args", "-r", f"__ns:={namespace}", "-p", f"checkpoint:={random_checkpoint}",
             "-p", "device:=cpu", "-p", "warmup_iterations:=1", "-p", "diagnostics_period:=0.5"],
            stdout=log, stderr=subprocess.STDOUT, env=env)
    probe = Probe(namespace, env)
    try:
        probe.wait_for(lambda e: e["event"] == "diagnostics" and e["values"]["state"] == "active", timeout=180)
        # The graph (node names) and topic matching are discovered separately, and the probe polls the graph
        # every 0.2 s: under load the first diagnostics can arrive before the node's name does.
        if not probe.discovered:
            try:
                probe.wait_for(lambda e: e["event"] == "discovered", timeout=DISCOVERY_GRACE_S)
            except AssertionError as exc:
                raise AssertionError("the default-configured probe got diagnostics but never saw the node in the "
                                     f"graph within {DISCOVERY_GRACE_S} s") from exc

        camera_env = {**env, profile_variable(ros_distro()): str(package_profile_path())}
        camera = subprocess.run([sys.executable, str(PROCS / "camera_pair_publisher.py"), "--namespace", namespace,
                                 "--pairs", str(PAIRS), "--rate", str(RATE_HZ)],
                                capture_output=True, text=True, env=camera_env, timeout=180)
        assert camera.returncode == 0, camera.stdout + camera.stderr
        assert json.loads(camera.stdout.splitlines()[-1])["published"] == PAIRS

        probe.drain()
        final = probe.wait_until_settled(timeout=90)
        done = probe.finish()
    finally:
        if probe.proc.poll() is None:
            probe.proc.kill()
        node.send_signal(signal.SIGINT)
        node_rc = node.wait(timeout=60)
    values = final["values"]
    received = (int(values["rgb_received"]), int(values["thermal_received"]))
    print(f"published {PAIRS} pairs; node received rgb/thermal {received}, paired {values['paired']}, "
          f"published {values['published']}, dropped (latest pair wins) {values['queue_dropped']}; "
          f"probe received {done['detections']} detection arrays")
    assert min(received) >= 0.99 * PAIRS, f"frames lost between processes: {received} of {PAIRS}"
    assert int(values["paired"]) >= 0.99 * PAIRS
    # every pair not dropped by latest-pair-wins was answered, and the default-configured probe got each answer
    assert int(values["published"]) + int(values["queue_dropped"]) == int(values["paired"])
    assert done["detections"] == int(values["published"]) > 0
    output = node_log.read_text()
    assert node_rc == 0, output[-3000:]
    assert "DDS: Fast DDS profile" in output and "deprecated" not in output, output[-3000:]
    # backend auto (the default) runs the fastest backend here and says which and why
    assert "with onnxruntime CPUExecutionProvider on cpu fp32" in output and "(auto: CPU:" in output, output[-3000:]


def test_leftover_topic_parameter_warns_with_the_remap_and_sigint_exits_zero(tmp_path):
    """rgb_topic was a parameter before topics became remaps: a params file still setting it gets a warning
    naming the remap instead of being ignored silently."""
    params = tmp_path / "old.yaml"
    params.write_text("/**:\n  ros__parameters:\n    rgb_topic: /cam/color/image_raw\n    autostart: false\n")
    command = detector_command()
    node = subprocess.Popen([*command, "--ros-args", "--params-file", str(params)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=_default_dds_env())
    lines = []
    try:
        for line in node.stdout:
            lines.append(line)
            if "DDS:" in line:  # logged after the parameters were read
                break
        node.send_signal(signal.SIGINT)
        rc = node.wait(timeout=30)
    finally:
        if node.poll() is None:
            node.kill()
    output = "".join(lines) + node.stdout.read()
    assert "rgb_topic:=/cam/color/image_raw is ignored" in output
    assert "-r rgb/image_raw:=/cam/color/image_raw" in output
    assert rc == 0, output
