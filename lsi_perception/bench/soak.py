"""``lsi bench soak``: the ``lsi_detector`` executable under sustained overload, in its own process.

The node runs as a separate process (``python -m lsi_perception.ros.main``, what ``ros2 run`` starts);
this process measures the node's closed-loop rate, then publishes RGB + thermal pairs at
``--rate-multiplier`` times that rate for ``--seconds`` and reports, per ``--window``:

* the node process's resident memory (RSS, from /proc: Linux only),
* end-to-end latency p50 / p95 / max as a camera would see it (publish -> Detection2DArray received),
* pairs published and answered, and the node's own ``queue_dropped`` counter (latest pair wins: at 2x
  its rate the node should answer about half and drop the rest, with latency staying bounded).

Never pass/fail: the numbers are for the reader (memory flat? latency flat? drops counted?).
"""
from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from lsi_perception.child_processes import tied_child_env


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the overload phase")
    parser.add_argument("--rate-multiplier", type=float, default=2.0, help="publish at this multiple of the node's rate")
    parser.add_argument("--window", type=float, default=10.0, help="report every this many seconds")
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: a random pvt_v2_b0 checkpoint")
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--device", default="auto")


def rss_mb(pid: int) -> float:
    """Resident memory of process ``pid`` in MiB (NaN where /proc is not available)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def _start_node(ckpt: Path, device: str, namespace: str) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "lsi_perception.ros.main", "--ros-args", "-r", f"__ns:={namespace}",
           "-p", f"checkpoint:={ckpt}", "-p", f"device:={device}", "-p", "warmup_iterations:=2",
           "-p", "diagnostics_period:=0.5"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=tied_child_env())


def _stop_node(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _latest_diagnostics(client, name: str) -> dict[str, str]:
    """The key -> value pairs of the node's latest status, plus its level and message."""
    statuses = client.diagnostics_for(name)
    if not statuses:
        return {}
    last = statuses[-1]
    return {"level": str(last.level[0] if isinstance(last.level, bytes) else last.level), "message": last.message,
            **{kv.key: kv.value for kv in last.values}}


def _percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


def run(args: argparse.Namespace) -> dict:
    from rclpy.executors import SingleThreadedExecutor

    from lsi_perception.config import PreprocessConfig
    from lsi_perception.ros.harness import DetectorClient, image_msg, ros_context
    from lsi_perception.testing import make_random_checkpoint, synthetic_pair

    h, w = args.height, args.width
    namespace = "/soak"
    with tempfile.TemporaryDirectory() as tmp, ros_context():
        ckpt = args.checkpoint or make_random_checkpoint(Path(tmp) / "rand.safetensors",
                                                         preprocess=PreprocessConfig(input_size=(h, w)))
        node = _start_node(ckpt, args.device, namespace)
        client = DetectorClient("lsi_soak_client", namespace=namespace, overlay=False)
        executor = SingleThreadedExecutor()
        executor.add_node(client)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        try:
            client.wait_for_subscribers(timeout=120)
            images = [synthetic_pair(h, w, seed=i) for i in range(8)]
            sent: dict[int, float] = {}
            stamp = [1_000_000_000]

            def publish(i: int) -> None:
                rgb, th = images[i % len(images)]
                stamp[0] += 1_000_000  # 1 ms apart: unique, increasing
                rm, tm = image_msg(rgb, "rgb8", stamp[0]), image_msg(th, "mono8", stamp[0])
                sent[stamp[0]] = time.perf_counter()
                client.publish_pair(rm, tm, stamp[0])

            # closed loop: the node's own rate
            per_pair = []
            for i in range(12):
                t0 = time.perf_counter()
                publish(i)
                client.wait_for_detections(i + 1, timeout=120)
                per_pair.append(time.perf_counter() - t0)
            node_s = statistics.median(per_pair[2:])
            interval = node_s / args.rate_multiplier
            print(f"bench soak: node answers a pair in {node_s * 1e3:.1f} ms (closed loop, median); publishing every "
                  f"{interval * 1e3:.1f} ms ({args.rate_multiplier:g}x) for {args.seconds:g} s, node pid {node.pid}")
            baseline = len(client.detections)
            windows = []
            start = time.perf_counter()
            next_window, published, i = start + args.window, 0, 0
            window_from = (start, baseline, 0)
            while True:
                now = time.perf_counter()
                if now >= next_window or now - start >= args.seconds:
                    windows.append(_window(client, sent, window_from, now, published, node.pid, namespace, start))
                    print("  " + "  ".join(f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}"
                                           for k, v in windows[-1].items()))
                    window_from = (now, len(client.detections), published)
                    next_window += args.window
                    if now - start >= args.seconds:
                        break
                publish(i)
                published += 1
                i += 1
                time.sleep(max(0.0, start + published * interval - time.perf_counter()))
            time.sleep(max(1.0, 3 * node_s))  # let the last pair come out, and one more diagnostics period
            answered = len(client.detections) - baseline
            diag = _latest_diagnostics(client, f"{namespace.strip('/')}/lsi_detector")
        finally:
            _stop_node(node)
            executor.shutdown(timeout_sec=2.0)
            client.destroy_node()

    result = {
        "image": f"{w}x{h}", "device": args.device, "seconds": args.seconds, "rate_multiplier": args.rate_multiplier,
        "node_closed_loop_ms": node_s * 1e3, "published": sum(wd["published"] for wd in windows),
        "answered": answered, "node_queue_dropped": int(diag.get("queue_dropped", -1)),
        "node_sync_unpaired": max(int(diag.get("sync_unpaired_rgb", 0)), int(diag.get("sync_unpaired_thermal", 0))),
        "node_errors": sum(int(diag.get(f"{k}_errors", 0)) for k in ("decode", "alignment", "inference")),
        "rss_mb_first_window": windows[0]["rss_mb"], "rss_mb_last_window": windows[-1]["rss_mb"],
        "rss_mb_max": max(wd["rss_mb"] for wd in windows),
        "latency_ms_p95_per_window": [wd["latency_ms_p95"] for wd in windows],
        "latency_ms_max": max(wd["latency_ms_max"] for wd in windows),
        "windows": windows, "node_diagnostics": diag,
    }
    # every published pair is answered, dropped by latest-pair-wins, unpaired (its partner lost on the way), or
    # an error; the rest never reached the node (best-effort transport under overload)
    result["unaccounted"] = (result["published"] - answered - result["node_queue_dropped"]
                             - result["node_sync_unpaired"] - result["node_errors"])
    print(f"bench soak: published {result['published']}, answered {answered}, node queue_dropped "
          f"{result['node_queue_dropped']}, unaccounted {result['unaccounted']}; RSS {result['rss_mb_first_window']:.0f} -> {result['rss_mb_last_window']:.0f} MB "
          f"(max {result['rss_mb_max']:.0f}); latency p95 per window "
          + ", ".join(f"{v:.0f}" for v in result["latency_ms_p95_per_window"]) + f" ms (max {result['latency_ms_max']:.0f})")
    return result


def _window(client, sent: dict[int, float], window_from: tuple[float, int, int], now: float, published: int,
            pid: int, namespace: str, start: float) -> dict:
    from lsi_perception.pipeline.stamps import stamp_to_ns

    t0, first, published0 = window_from
    with client._cond:
        new = list(client.detections[first:])
    latencies = [(t - sent[stamp_to_ns(m.header.stamp)]) * 1e3 for t, m in new if stamp_to_ns(m.header.stamp) in sent]
    diag = _latest_diagnostics(client, f"{namespace.strip('/')}/lsi_detector")
    return {"t_s": now - start, "rss_mb": rss_mb(pid), "published": published - published0, "answered": len(new),
            "latency_ms_p50": _percentile(latencies, 50), "latency_ms_p95": _percentile(latencies, 95),
            "latency_ms_max": max(latencies) if latencies else float("nan"),
            "node_queue_dropped": diag.get("queue_dropped", "?"), "node_output_rate_hz": diag.get("output_rate_hz", "?")}
