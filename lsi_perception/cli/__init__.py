"""The ``lsi`` command: train, eval, bag, export, bench, demo, data, predict, calibrate, diagnose.

Each subcommand lives in its own module here and exposes ``register(subparsers)``, which adds an
argparse parser whose ``func`` default takes the parsed namespace and returns an exit code. Modules keep
heavy imports (torch, rclpy) inside their run functions so ``lsi --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import signal
import sys

SUBCOMMAND_MODULES = ("train", "eval", "bag", "export", "bench", "demo", "data", "predict", "calibrate", "diagnose")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsi",
        description="RGB + thermal pedestrian detection: training, KAIST evaluation, rosbag tools, export, benchmarks, demo.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # subcommand not built in this checkout
            raise
        module.register(subparsers)
    return parser


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    from lsi_perception.child_processes import exit_with_parent
    from lsi_perception.cpu_threads import prefer_passive_omp_wait

    # SIGTERM unwinds like Ctrl-C, so what a command holds (a ROS context and its DDS shared memory, the
    # processes it started, a half-written file) is released on the way out; with LSI_EXIT_WITH_PARENT set,
    # the death of the parent is such a SIGTERM.
    signal.signal(signal.SIGTERM, _interrupt)
    exit_with_parent()
    prefer_passive_omp_wait()  # before anything imports torch: no spinning OpenMP threads on shared cores
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except (FileNotFoundError, ValueError) as exc:
        print(f"lsi {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
