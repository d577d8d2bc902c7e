"""The modality-imbalance experiment: does LSI keep both modalities useful when the training data favour one?

    make experiment                                          # = --scale cpu, about 60 min on 2 CPU cores
    python -m lsi_perception.train.experiment --scale gpu    # one GPU (config/experiment_gpu.yaml)
    python -m lsi_perception.train.experiment --report-only  # rewrite the doc from finished runs

Design (``config/experiment_*.yaml``, ``ExperimentConfig``): synthetic RGB-T drives with real modality
imbalance, training 90 % day; a validation split for checkpoint and delta selection; a test split of
>= 40 drives, half day and half night, with its own seed. Arms, each with the same seeds: delta = 0,
LSI (delta chosen on val), modality dropout; plus the calibration's RGB-only and thermal-only models
(first seed). Each run is scored on the test split with both modalities and with each blanked (zeros
and mean image); statistics over seeds and a bootstrap over test drives; the report goes to
``docs/experiment.md``. Runs are cached: a rerun skips finished ones.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lsi_perception.config import load_yaml_config
from lsi_perception.resources import share_dir
from lsi_perception.train.experiment.config import ExperimentConfig, RunSpec
from lsi_perception.train.experiment.runner import Experiment

__all__ = ["ExperimentConfig", "RunSpec", "Experiment", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsi_perception.train.experiment",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("cpu", "gpu"), default="cpu",
                        help="config/experiment_<scale>.yaml (default cpu)")
    parser.add_argument("--config", type=Path, default=None, help="an experiment YAML instead of --scale's")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report from finished runs")
    parser.add_argument("--max-runs", type=int, default=None, help="stop after this many new runs")
    parser.add_argument("--note", type=Path, default=None, help="a markdown file appended to the report")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. train.runtime.max_steps=50")
    args = parser.parse_args(argv)
    path = args.config or share_dir() / "config" / f"experiment_{args.scale}.yaml"
    cfg = load_yaml_config(ExperimentConfig, path, args.overrides)
    command = " ".join(["python -m lsi_perception.train.experiment", *(argv if argv is not None else sys.argv[1:])])
    experiment = Experiment(cfg, command)
    note = args.note.read_text() if args.note else ""

    from lsi_perception.train.experiment.report import write_report

    def report() -> None:
        out = write_report(experiment, note)
        print(f"[experiment] report: {out}", flush=True)

    tic = time.perf_counter()
    if not args.report_only:
        experiment.run(args.max_runs, on_result=report)
    report()
    print(f"[experiment] {time.perf_counter() - tic:.0f} s", flush=True)
    return 0
