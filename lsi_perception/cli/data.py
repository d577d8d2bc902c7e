"""``lsi data stats DIR``: per-modality person-vs-background contrast of a dataset, by time of day.

    lsi data stats data/experiment/test --max-images 200 [--json stats.json]

See ``lsi_perception/data/contrast.py`` for the statistic. It tells whether a (synthetic) world has the
modality imbalance it claims: RGB should stand out by day, thermal at night.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="dataset tools: stats (per-modality contrast by time of day)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    stats = sub.add_parser("stats", help="person-vs-background contrast per modality, by time of day",
                           description=__doc__.split("\n\n")[0])
    stats.add_argument("root", type=Path, metavar="DIR", help="KAIST-layout dataset root (annotations/*.json)")
    stats.add_argument("--max-images", type=int, default=None, help="even subsample of each split's images")
    stats.add_argument("--min-height", type=float, default=0.0, help="skip pedestrians shorter than this (px)")
    stats.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")
    stats.set_defaults(func=run_stats)


def run_stats(args: argparse.Namespace) -> int:
    from lsi_perception.data.contrast import dataset_contrast, format_summary

    if not args.root.is_dir():
        raise FileNotFoundError(f"{args.root} is not a folder: give the dataset root (with annotations/ and images/)")
    summary = dataset_contrast(args.root, args.max_images, args.min_height).summary()
    if not summary:
        raise ValueError(f"no annotated, non-ignored pedestrians found under {args.root}")
    print(f"person-vs-background contrast |mean(body) - mean(surround)| / (std(surround) + noise) in {args.root}")
    print(format_summary(summary))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0
