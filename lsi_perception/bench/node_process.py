"""``lsi bench node --cross-process``: the node as its own process, frames from the bench process.

The deployment case: a camera driver (here this process) publishes 640x512 rgb8 + mono16 pairs, the
``lsi_detector`` executable runs in another process, and the detections come back over DDS. Closed
loop: one pair in flight, the next published when the previous one's Detection2DArray arrived.
Interleaved with it, pair by pair (alternating which goes first), the same pairs go through a bare
``Detector.predict`` in this process, so both arms share the machine's load; the figure of merit is bare / node per pair (1.0 =
the node costs nothing on top of the model), as a ratio of medians and, steadier under a swinging
load, from the median of the per-pair differences (``ratio_paired``).

Where the node's time goes is read from the node's own /diagnostics (medians over the run): its
inference (``Detector.predict`` inside the node), its own decode + publish, and its end_to_end (pair
complete in the sync callback -> detections published, so including the wait for the inference
thread). The rest of the round trip is transport both ways plus the executor wake-ups. A third arm, also
interleaved, sends the same pairs to ``bench/echo_node.py`` (same topics and QoS, no model, replies
with the header): its round trip is the floor of moving these images across processes.

Large frames between processes need a Fast DDS shared-memory segment larger than the default 512 KB:
``config/fastdds_large_frames.xml`` is set for both processes (``lsi_perception.dds``) unless
DDS was configured by the user or ``--no-dds-profile`` is given.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from lsi_perception.child_processes import tied_child_env
from lsi_perception.dds import PROFILE_VARIABLES, use_large_frames_profile
from lsi_perception.pipeline.defaults import RGB_TOPIC, THERMAL_TOPIC

NODE_NAMESPACE = "/bench_xp"
ECHO_NAMESPACE = "/bench_echo"


def _node_command(checkpoint: Path, args: argparse.Namespace) -> list[str]:
    params = {"checkpoint": str(checkpoint), "device": args.device, "backend": args.backend,
              "warmup_iterations": 3, "worker_queue_depth": 1}
    cmd = [sys.executable, "-c", "import sys; from lsi_perception.ros.main import main; sys.exit(main())",
           "--ros-args", "-r", f"__ns:={NODE_NAMESPACE}"]
    for key, value in params.items():
        cmd += ["-p", f"{key}:={value}"]
    return cmd


def _parse_env(pairs: list[str]) -> dict[str, str]:
    out = {}
    for item in pairs:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--node-env {item!r} must be KEY=VALUE")
        out[key] = value
    return out


def _timed(fn, *args) -> float:
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def _echo_client(namespace: str):
    """Publishers like DetectorClient's, to the echo node, and a record of its replies (perf_counter times)."""
    from rclpy.node import Node
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from std_msgs.msg import Header

    node = Node("lsi_bench_echo_client", namespace=namespace)
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    node.rgb_pub = node.create_publisher(Image, RGB_TOPIC, reliable)
    node.thermal_pub = node.create_publisher(Image, THERMAL_TOPIC, reliable)
    node.cond, node.replies = threading.Condition(), []

    def on_echo(msg: Header) -> None:
        with node.cond:
            node.replies.append(time.perf_counter())
            node.cond.notify_all()

    node.create_subscription(Header, "echo", on_echo, QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE))
    return node


def _echo_round_trip(echo, rgb_msg, thermal_msg, timeout: float) -> float | None:
    before = len(echo.replies)
    t0 = time.perf_counter()
    echo.rgb_pub.publish(rgb_msg)
    echo.thermal_pub.publish(thermal_msg)
    with echo.cond:
        if not echo.cond.wait_for(lambda: len(echo.replies) > before, timeout):
            return None
    return echo.replies[-1] - t0


def _round_trip(client, rgb_msg, thermal_msg, timeout: float) -> float | None:
    """Publish one pair and wait for its detections: seconds from publish to arrival, None if lost."""
    from lsi_perception.pipeline.stamps import stamp_to_ns

    before = len(client.detections)
    t0 = time.perf_counter()
    client.publish_pair(rgb_msg, thermal_msg, stamp_to_ns(rgb_msg.header.stamp))
    if not client.wait_until(lambda: len(client.detections) > before, timeout):
        return None
    return client.detections[-1][0] - t0


def _latest_node_values(client) -> dict[str, str]:
    statuses = client.diagnostics_for(f"{NODE_NAMESPACE.lstrip('/')}/lsi_detector")
    return {kv.key: kv.value for kv in statuses[-1].values} if statuses else {}


def run_cross_process(args: argparse.Namespace) -> dict:
    from lsi_perception.cpu_threads import prefer_passive_omp_wait

    prefer_passive_omp_wait()  # this process as the node does it (ros/main.py): before torch is imported
    if args.dds_profile:  # this process and the node's: before rclpy creates a participant
        use_large_frames_profile()
    base_env = dict(os.environ)
    node_env = {**base_env, **_parse_env(args.node_env)}
    import numpy as np
    import rclpy
    import torch
    from rclpy.executors import SingleThreadedExecutor

    from lsi_perception.bench.model import street_frames
    from lsi_perception.inference import Detector
    from lsi_perception.resources import default_checkpoint_path
    from lsi_perception.ros.harness import DetectorClient, image_msg

    checkpoint = args.checkpoint or default_checkpoint_path()
    h, w = args.height, args.width

    if args.threads:
        torch.set_num_threads(args.threads)
    frames = street_frames(args.pairs, h, w, "mono16")
    msgs = [(image_msg(rgb, "rgb8", (i + 1) * 100_000_000), image_msg(th, "mono16", (i + 1) * 100_000_000))
            for i, (rgb, th) in enumerate(frames)]
    detector = Detector.from_checkpoint(checkpoint, device=args.device, backend=args.backend)
    for rgb, th in frames[:3]:
        detector.predict(rgb, th)
    log = open(Path(args.out) / "bench_node_process.log", "w")  # noqa: SIM115 (closed below)
    node_env = tied_child_env(node_env)  # both end with this process, however it ends
    node = subprocess.Popen(_node_command(checkpoint, args), env=node_env, stdout=log, stderr=subprocess.STDOUT)
    echo_proc = subprocess.Popen([sys.executable, "-m", "lsi_perception.bench.echo_node", "--ros-args", "-r",
                                  f"__ns:={ECHO_NAMESPACE}"], env=node_env, stdout=log, stderr=subprocess.STDOUT)
    rclpy.init()
    client = DetectorClient("lsi_bench_publisher", namespace=NODE_NAMESPACE, overlay=False)
    echo = _echo_client(ECHO_NAMESPACE)
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    executor.add_node(echo)
    spin = threading.Thread(target=executor.spin, daemon=True)
    spin.start()
    bare, node_ms, echo_ms, lost = [], [], [], 0
    try:
        client.wait_for_subscribers(timeout=args.start_timeout)
        if not client.wait_until(lambda: bool(client.label_info), args.start_timeout):
            raise RuntimeError(f"the node did not become active within {args.start_timeout} s; see {log.name}")
        deadline = time.monotonic() + args.start_timeout
        while echo.rgb_pub.get_subscription_count() == 0 or echo.thermal_pub.get_subscription_count() == 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the echo node did not subscribe within {args.start_timeout} s; see {log.name}")
            time.sleep(0.05)
        warm = 3
        for i in range(args.pairs + warm):
            rm, tm = msgs[i % len(msgs)]
            rgb, th = frames[i % len(frames)]
            stamp = (i + 1) * 100_000_000
            rm.header.stamp = tm.header.stamp = type(rm.header.stamp)(sec=stamp // 10**9, nanosec=stamp % 10**9)
            # Rotate which arm goes first, so none always runs right after another process worked.
            arms = {"bare": (_timed, (detector.predict, rgb, th)),
                    "node": (_round_trip, (client, rm, tm, args.frame_timeout)),
                    "echo": (_echo_round_trip, (echo, rm, tm, args.frame_timeout))}
            order = list(arms)[i % 3:] + list(arms)[:i % 3]
            t = {name: arms[name][0](*arms[name][1]) for name in order}
            if i < warm:
                continue
            if t["node"] is None:
                lost += 1
                continue
            bare.append(t["bare"] * 1e3)
            node_ms.append(t["node"] * 1e3)
            if t["echo"] is not None:
                echo_ms.append(t["echo"] * 1e3)
        time.sleep(1.2)  # one more diagnostics period (1 s), so its window holds the last pairs
        values = _latest_node_values(client)
    finally:
        executor.shutdown(timeout_sec=2.0)
        client.destroy_node()
        echo.destroy_node()
        rclpy.try_shutdown()
        for proc in (node, echo_proc):
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        log.close()

    def med(xs: list[float]) -> float:
        return statistics.median(xs) if xs else float("nan")

    node_inf = float(values.get("inference_ms_p50", "nan"))
    node_own = float(values.get("node_overhead_ms_p50", "nan"))
    node_e2e = float(values.get("end_to_end_ms_p50", "nan"))
    result = {
        "mode": "cross-process", "device": str(detector.device), "backend": detector.describe(),
        "image": f"{w}x{h} rgb8 + mono16", "pairs": args.pairs, "arrived": len(node_ms), "lost": lost,
        "dds_profile": next((node_env[v] for v in PROFILE_VARIABLES if node_env.get(v)), "none (Fast DDS defaults)"),
        "node_env": _parse_env(args.node_env), "bench_torch_threads": torch.get_num_threads(),
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "libgomp default"),
        "bare_predict_ms_p50": med(bare), "node_round_trip_ms_p50": med(node_ms),
        "ratio_bare_over_node": med(bare) / med(node_ms) if node_ms else float("nan"),
        # Paired: each pair's node time minus the bare time measured right next to it; steadier than the
        # difference of medians when the machine's load swings during the run.
        "node_minus_bare_ms_p50_paired": med([n - b for b, n in zip(bare, node_ms)]),
        "ratio_paired": med(bare) / (med(bare) + med([n - b for b, n in zip(bare, node_ms)])) if node_ms else float("nan"),
        "node_inference_ms_p50": node_inf, "node_own_decode_publish_ms_p50": node_own,
        "node_sync_to_publish_ms_p50": node_e2e,
        "node_queue_wait_ms_p50": node_e2e - node_inf - node_own,
        "transport_and_wakeups_ms_p50": med(node_ms) - node_e2e,
        "echo_round_trip_ms_p50": med(echo_ms), "echo_arrived": len(echo_ms),
        "node_inference_minus_bare_ms": node_inf - med(bare),
        "bare_ms": [round(x, 2) for x in bare], "node_ms": [round(x, 2) for x in node_ms],
        "echo_ms": [round(x, 2) for x in echo_ms],
    }
    print(f"bench node, cross-process ({result['backend']}, {result['image']}, {args.pairs} pairs, "
          f"{len(node_ms)} arrived; node log {log.name})")
    for key, value in result.items():
        if key not in ("bare_ms", "node_ms", "echo_ms"):
            print(f"  {key:34s} {value:.2f}" if isinstance(value, float) else f"  {key:34s} {value}")
    if node_ms:
        print(f"  spread: bare p90 {np.percentile(bare, 90):.1f} ms, node p90 {np.percentile(node_ms, 90):.1f} ms")
    return result
