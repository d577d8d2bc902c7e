"""``lsi demo``: synthetic drive -> rosbag2 -> the real lsi_detector node over DDS -> demo_out/."""
from __future__ import annotations

import argparse
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"--size {text!r} must be WIDTHxHEIGHT, e.g. 640x512") from exc
    return w, h


def register(subparsers: argparse._SubParsersAction) -> None:
    from lsi_perception.backends import BACKEND_CHOICES
    from lsi_perception.demo import DemoConfig

    d = DemoConfig()
    p = subparsers.add_parser(
        "demo", help="end-to-end demo: synthetic drive, bag, lsi_detector node over DDS, outputs in demo_out/",
        description="Generate a short synthetic drive (day + night), play it as a rosbag2 to the real lsi_detector "
                    "node, record its detections, and write a detections bag, an annotated GIF, a contact sheet and "
                    "summary.json (MR on the synthetic ground truth, latency, throughput).")
    p.add_argument("--out", type=Path, default=d.out_dir, help="output folder (default %(default)s)")
    p.add_argument("--checkpoint", type=Path, default=None, help="model to run (default: the shipped model)")
    p.add_argument("--frames", type=int, default=d.frames_per_drive, help="frames per drive; one day + one night drive")
    p.add_argument("--size", type=_size, default=(d.width, d.height), metavar="WxH", help="image size (default 640x512)")
    p.add_argument("--rate", type=float, default=d.rate,
                   help="playback speed factor (default %(default)s: 1 pair/s, which 2 CPU cores keep up with)")
    p.add_argument("--device", default=d.device, help="node device: auto | cpu | cuda | cuda:N")
    p.add_argument("--backend", default=d.backend, choices=BACKEND_CHOICES,
                   help="node backend (default auto: the fastest here, named in lsi_detector.log)")
    p.add_argument("--tiny", action="store_true", help="smoke-test setting: 3 frames per drive of 160x128, rate 0.2")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--world", default=d.world,
                   help="the drives' world: 'plain' (default, the default world) or a training config whose "
                        "data.synthetic knobs to use (a path or a file in config/, e.g. train_synthetic_warm_mid.yaml: "
                        "the shipped model's world)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from lsi_perception.demo import DemoConfig, describe, run_demo

    frames, (width, height), rate = args.frames, args.size, args.rate
    if args.tiny:
        frames, width, height, rate = 3, 160, 128, 0.2
    cfg = DemoConfig(out_dir=args.out, checkpoint=args.checkpoint, frames_per_drive=frames, width=width,
                     height=height, rate=rate, device=args.device, backend=args.backend, seed=args.seed,
                     world=args.world)
    summary = run_demo(cfg)
    print(describe(summary))
    return 0
