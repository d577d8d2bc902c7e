"""``lsi bench node``: what the ROS node adds on top of ``Detector.predict`` (never pass/fail).

Three measurements on the same images and model:
  bare     ``Detector.predict`` called directly, per pair (median ms).
  node     the real lsi_detector over DDS, closed loop: publish a pair, wait for its Detection2DArray
           (median ms per pair and pairs/s), plus the node's own decode + publish time from its counters.
  plumbing decode + sync + message building without the model (median ms): the node's fixed cost.
Goal: the node adds under 5% to per-pair time and under 3 ms of its own.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

GOAL_RELATIVE = 0.05
GOAL_OWN_MS = 3.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--checkpoint", type=Path, default=None, help="default: a random pvt_v2_b0 checkpoint")
    parser.add_argument("--height", type=int, default=None, help="default 256 in-process, 512 cross-process")
    parser.add_argument("--width", type=int, default=None, help="default 320 in-process, 640 cross-process")
    parser.add_argument("--pairs", type=int, default=30, help="timed pairs per measurement")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backend", default="torch", choices=("torch", "onnxruntime"), help="Detector backend (both arms)")
    parser.add_argument("--cross-process", action="store_true",
                        help="the node as its own process (lsi_detector), 640x512 rgb8 + mono16 frames from this one; "
                             "see lsi_perception/bench/node_process.py")
    parser.add_argument("--node-env", action="append", default=[], metavar="KEY=VALUE",
                        help="cross-process: extra environment of the node process (e.g. OMP_NUM_THREADS=1)")
    parser.add_argument("--threads", type=int, default=None,
                        help="cross-process: torch threads of this (publishing) process (node: --node-env OMP_NUM_THREADS=N)")
    parser.add_argument("--no-dds-profile", dest="dds_profile", action="store_false",
                        help="cross-process: keep Fast DDS defaults (512 KB shared-memory segment) instead of "
                             "config/fastdds_large_frames.xml")
    parser.add_argument("--frame-timeout", type=float, default=10.0, help="cross-process: seconds before a pair counts as lost")
    parser.add_argument("--start-timeout", type=float, default=180.0, help="cross-process: seconds for the node to come up")


def _median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def run(args: argparse.Namespace) -> dict:
    cross = getattr(args, "cross_process", False)
    args.height = args.height or (512 if cross else 256)
    args.width = args.width or (640 if cross else 320)
    if cross:
        from lsi_perception.bench.node_process import run_cross_process

        return run_cross_process(args)

    from lsi_perception.config import PreprocessConfig
    from lsi_perception.inference import Detector
    from lsi_perception.pipeline.processor import PairProcessor
    from lsi_perception.pipeline.stamps import stamp_to_ns
    from lsi_perception.pipeline.sync import ApproximateTimePolicy
    from lsi_perception.ros.decoding import message_to_array
    from lsi_perception.ros.harness import image_msg, ros_context, running_detector
    from lsi_perception.ros.messages import detections_to_msg
    from lsi_perception.testing import make_random_checkpoint, synthetic_pair

    h, w = args.height, args.width
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = args.checkpoint or make_random_checkpoint(Path(tmp) / "rand.safetensors",
                                                         preprocess=PreprocessConfig(input_size=(h, w)))
        images = [synthetic_pair(h, w, seed=i) for i in range(args.pairs)]
        detector = Detector.from_checkpoint(ckpt, device=args.device, backend=args.backend)
        for rgb, th in images[:3]:
            dets = detector.predict(rgb, th)  # warm-up; its detections feed the message-building cost below
        msgs = [(image_msg(rgb, "rgb8", (i + 1) * 100_000_000), image_msg(th, "mono8", (i + 1) * 100_000_000))
                for i, (rgb, th) in enumerate(images)]
        plumbing = []
        processor = PairProcessor(detector, to_array=message_to_array)
        policy = ApproximateTimePolicy(2, 10, 25_000_000)
        for rm, tm in msgs:
            t0 = time.perf_counter()
            policy.add(0, stamp_to_ns(rm.header.stamp), rm)
            [(r, t)] = policy.add(1, stamp_to_ns(tm.header.stamp), tm)
            processor.decode(r, t)
            detections_to_msg(r.header, dets.boxes, dets.scores, dets.names())
            plumbing.append(time.perf_counter() - t0)

        bare, node_times = [], []
        with ros_context(), running_detector({"checkpoint": str(ckpt), "device": args.device, "backend": args.backend,
                                              "warmup_iterations": 3},
                                             namespace="/bench", overlay=False) as (node, client):
            node_total = 0.0
            for i, ((rgb, th), (rm, tm)) in enumerate(zip(images, msgs)):
                # Interleaved so both see the same machine load (shared cores are noisy).
                t0 = time.perf_counter()
                detector.predict(rgb, th)
                bare.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                client.publish_pair(rm, tm, stamp_to_ns(rm.header.stamp))
                client.wait_for_detections(i + 1, timeout=60)
                node_times.append(client.detections[i][0] - t0)
                node_total += time.perf_counter() - t0
            total = node_total
            own_p50, own_p95 = node._latency["node_overhead"].percentiles(50, 95)
            inf_p50, _ = node._latency["inference"].percentiles(50, 95)
            device = str(node.detector.device)

    bare_ms, node_ms = _median_ms(bare), _median_ms(node_times)
    result = {
        "device": device, "image": f"{w}x{h}", "pairs": args.pairs,
        "bare_predict_ms_p50": bare_ms, "node_per_pair_ms_p50": node_ms, "node_pairs_per_s": args.pairs / total,
        "node_added_ms": node_ms - bare_ms, "node_added_relative": (node_ms - bare_ms) / bare_ms,
        "node_inference_ms_p50": inf_p50, "node_own_decode_publish_ms_p50": own_p50,
        "node_own_decode_publish_ms_p95": own_p95, "plumbing_decode_sync_msg_ms_p50": _median_ms(plumbing),
        "goal": f"added < {GOAL_RELATIVE:.0%} and own < {GOAL_OWN_MS} ms",
    }
    result["goal_met"] = bool(result["node_added_relative"] < GOAL_RELATIVE and own_p50 < GOAL_OWN_MS)
    print(f"bench node ({device}, {w}x{h}, {args.pairs} pairs)")
    for key, value in result.items():
        print(f"  {key:34s} {value:.3f}" if isinstance(value, float) else f"  {key:34s} {value}")
    return result
