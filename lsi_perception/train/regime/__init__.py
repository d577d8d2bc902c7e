"""The neglect-regime experiment: does LSI help a fused model that neglects a useful modality?

    make experiment-regime                                # = --scale cpu, 2 CPU cores (docs/experiment_regime.md)
    python -m lsi_perception.train.regime --scale gpu     # one GPU (config/experiment_regime_gpu.yaml)
    python -m lsi_perception.train.regime --report-only   # rewrite the doc from finished runs

Design (``config/experiment_regime_*.yaml``, ``RegimeConfig``): a profile of the synthetic world where
thermal is the easy cue by day and by night and a slice of people has no thermal signature (rare in
training, a large part of the test set, annotated so it is scored alone). Diagnostics first, every seed:
RGB-only, thermal-only and delta = 0 models, probes on frozen backbones, and the declared neglect rule
(``regime/diagnostics.py``). Only when delta = 0 neglects RGB by that rule: the remedy arms (LSI in
both forms, modality dropout, OGM-GE, unimodal heads, late fusion), hyperparameters chosen on
validation, paired differences against delta = 0 with the existing experiment's effect rule and drive
bootstrap. Runs are cached (a rerun skips finished ones) and ``jobs`` of them train at once.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from lsi_perception.config import load_yaml_config
from lsi_perception.resources import share_dir
from lsi_perception.train.regime.config import RegimeConfig, RegimeRun

__all__ = ["RegimeConfig", "RegimeRun", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lsi_perception.train.regime", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", choices=("cpu", "gpu"), default="cpu",
                        help="config/experiment_regime_<scale>.yaml (default cpu)")
    parser.add_argument("--config", type=Path, default=None, help="an experiment YAML instead of --scale's")
    parser.add_argument("--report-only", action="store_true", help="only rewrite the report from finished runs")
    parser.add_argument("--max-runs", type=int, default=None, help="start at most this many new runs")
    parser.add_argument("overrides", nargs="*", help="key=value overrides, e.g. jobs=1 train.runtime.max_steps=50")
    args = parser.parse_args(argv)
    path = args.config or share_dir() / "config" / f"experiment_regime_{args.scale}.yaml"
    cfg = load_yaml_config(RegimeConfig, path, args.overrides)
    command = " ".join(["python -m lsi_perception.train.regime", *(argv if argv is not None else sys.argv[1:])])

    from lsi_perception.train.regime.report import write_report
    from lsi_perception.train.regime.runner import RegimeExperiment

    experiment = RegimeExperiment(cfg, command)

    def report() -> None:
        print(f"[regime] report: {write_report(experiment)}", flush=True)

    tic = time.perf_counter()
    if not args.report_only:
        experiment.run(args.max_runs, on_result=report)
    report()
    print(f"[regime] {time.perf_counter() - tic:.0f} s", flush=True)
    return 0
