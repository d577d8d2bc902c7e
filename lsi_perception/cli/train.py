"""``lsi train``: train the detector from a config file (single process, or DDP under ``torchrun``).

    lsi train --config config/train_synthetic.yaml
    lsi train --config config/train_kaist.yaml data.root=/data/kaist runtime.batch_size=16
    lsi train --config config/train_synthetic.yaml --resume runs/synthetic_b0
    torchrun --nproc_per_node 4 -m lsi_perception.cli train --config config/train_kaist.yaml
    lsi train --export-shipped runs/synthetic_b0/best.safetensors   # fp16 copy into models/
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train the RGB-T detector (AdamW, warmup+cosine, AMP, DDP via torchrun, LSI regularizer)",
        description="Train from a YAML config; trailing section.key=value items override it "
                    "(e.g. loss.delta=0 runtime.max_steps=200). Checkpoints go to <runtime.out_dir>/<name>/.",
    )
    parser.add_argument("--config", type=Path, help="training config, e.g. config/train_synthetic.yaml")
    parser.add_argument("--resume", metavar="RUN_DIR_OR_STATE",
                        help="continue a run from its folder (runs/<name>) or its train_state.pt")
    parser.add_argument("--export-shipped", metavar="CHECKPOINT", type=Path,
                        help="instead of training: write CHECKPOINT as the fp16 shipped model (see --export-to)")
    parser.add_argument("--export-to", type=Path, default=None,
                        help="destination of --export-shipped (default models/lsi_pvt_b0_synthetic.safetensors)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.export_shipped is not None:
        from lsi_perception.train.ship import ship_checkpoint

        out = ship_checkpoint(args.export_shipped, args.export_to, command=" ".join(["lsi", *sys.argv[1:]]),
                             overrides=args.overrides)
        print(f"shipped model written to {out} ({out.stat().st_size / 1e6:.1f} MB)")
        return 0
    if args.config is None:
        raise ValueError("give --config PATH (e.g. config/train_synthetic.yaml), or --export-shipped CHECKPOINT")
    from lsi_perception.train.config import load_train_config
    from lsi_perception.train.trainer import Trainer

    cfg = load_train_config(args.config, args.overrides)
    command = " ".join(["lsi", "train", *sys.argv[sys.argv.index("train") + 1:]]) if "train" in sys.argv else None
    metrics = Trainer(cfg, command=command).fit(resume=args.resume)
    if metrics and os.environ.get("RANK", "0") == "0":
        print("final: " + " ".join(f"{k}={v:.2f}" for k, v in metrics.items()))
    return 0
