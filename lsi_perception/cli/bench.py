"""``lsi bench {model,train,node,eval,soak,gpu,all}``: benchmarks that print a table and write JSON (never pass/fail).

Each benchmark lives in ``lsi_perception/bench/<name>.py`` with ``add_arguments(parser)`` and
``run(args) -> dict``; this module only wires them into the CLI and writes the JSON.
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from lsi_perception.bench import BenchmarkUnavailable

BENCHMARKS = ("model", "train", "node", "eval")
SEPARATE = ("soak", "gpu")  # only on request, not part of ``all``: long-running (soak), needs CUDA (gpu)


def _load(name: str):
    return importlib.import_module(f"lsi_perception.bench.{name}")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bench", help="benchmarks: model latency/memory, train step, node overhead, evaluator speed")
    sub = parser.add_subparsers(dest="bench", metavar="BENCH")
    for name in (*BENCHMARKS, *SEPARATE, "all"):
        p = sub.add_parser(name, help=f"run the {name} benchmark" if name != "all" else "run every benchmark")
        p.add_argument("--out", type=Path, default=Path("bench_out"), help="folder for the JSON results")
        if name != "all":
            try:
                _load(name).add_arguments(p)
            except ModuleNotFoundError:
                pass
        p.set_defaults(func=_run, bench=name)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


def _run(args: argparse.Namespace) -> int:
    names = BENCHMARKS if args.bench == "all" else (args.bench,)
    if "node" in names and getattr(args, "dds_profile", True):  # frames over DDS: the package's Fast DDS profile, chosen before any rclpy.init
        from lsi_perception.dds import use_large_frames_profile

        print(use_large_frames_profile().description, file=sys.stderr)
    args.out.mkdir(parents=True, exist_ok=True)
    status = 0
    for name in names:
        try:
            module = _load(name)
        except ModuleNotFoundError as exc:
            print(f"bench {name}: not available in this checkout ({exc})", file=sys.stderr)
            status = 1
            continue
        if args.bench == "all":
            sub = argparse.ArgumentParser()
            module.add_arguments(sub)
            margs = sub.parse_args([])
            margs.out = args.out
        else:
            margs = args
        try:
            result = module.run(margs)
        except BenchmarkUnavailable as exc:  # e.g. gpu without CUDA: say why
            print(f"bench {name}: {exc}", file=sys.stderr)
            status = 1
            continue
        path = args.out / f"bench_{name}.json"
        path.write_text(json.dumps(result, indent=2))
        print(f"bench {name}: results written to {path}")
    return status
