"""``lsi diagnose CHECKPOINT DATA``: does a trained detector use both modalities? (``train/diagnose.py``)

    lsi diagnose runs/kaist_b0/best.safetensors /data/kaist --list test-all-20.txt \\
        --annotations /data/kaist/KAIST_annotation.json --json diagnosis.json

MR with each modality blanked (zeros and mean image), MR per annotation slice (a "slice" key per
pedestrian) and on the rest, and the Fisher information ratio I_vis / I_th per time of day.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "diagnose", help="per-modality diagnostics of a checkpoint: blanking, per-slice MR, I_vis / I_th",
        description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a .safetensors checkpoint")
    parser.add_argument("data", type=Path, metavar="DATA",
                        help="KAIST-layout dataset root (images/setXX/VYYY/{visible,lwir}/, imageSets/, annotations/)")
    parser.add_argument("--list", default="test.txt", help="image-set file (bare names are looked up in "
                        "DATA/imageSets/; default test.txt)")
    parser.add_argument("--annotations", default=None, help="KAIST-schema JSON (default DATA/annotations/<list>.json)")
    parser.add_argument("--min-height", type=float, default=None,
                        help="Reasonable height floor in px (default 55 scaled to the images' height)")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=0, help="data-loading processes (default 0)")
    parser.add_argument("--json", type=Path, default=None, help="also write every figure as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from lsi_perception.train.diagnose import diagnose, format_diagnosis

    if not args.checkpoint.is_file():
        raise FileNotFoundError(f"checkpoint {args.checkpoint} does not exist")
    result = diagnose(args.checkpoint, args.data, args.list, args.annotations, args.min_height, args.device,
                      args.batch_size, args.workers)
    print(format_diagnosis(result))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result.to_json(), indent=2) + "\n")
        print(f"written to {args.json}")
    return 0
