"""``lsi bench eval``: wall time of the KAIST MR^-2 evaluator on the conformance data (one process)."""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lsi_perception.resources import share_dir


def _default_kaist_dir() -> Path:
    return share_dir().parent / "shared" / "kaist_eval"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kaist-dir", type=Path, default=_default_kaist_dir(),
                        help="folder with KAIST_annotation.json and *_result.txt (default: ../shared/kaist_eval)")
    parser.add_argument("--repeats", type=int, default=10, help="timed evaluations per results file")


def run(args: argparse.Namespace) -> dict:
    from lsi_perception.eval import evaluate, load_annotations, load_results

    ann_path = args.kaist_dir / "KAIST_annotation.json"
    if not ann_path.is_file():
        raise FileNotFoundError(f"{ann_path} not found: pass --kaist-dir with the KAIST conformance files")
    t0 = time.perf_counter()
    ann = load_annotations(ann_path)
    load_ms = (time.perf_counter() - t0) * 1e3
    rows = {}
    for path in sorted(args.kaist_dir.glob("*_result.txt")):
        dets = load_results(path, ann)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = evaluate(ann, dets)
            times.append((time.perf_counter() - t0) * 1e3)
        n = sum(len(v) for v in dets.values())
        rows[path.stem] = {"detections": n, "median_ms": statistics.median(times), "max_ms": max(times),
                           "reasonable_all": result.mr["reasonable"]["all"]}
    print(f"KAIST test set: {len(ann.im_names)} images, annotations loaded in {load_ms:.1f} ms")
    print(f"{'results file':<16} {'dets':>7} {'median ms':>10} {'max ms':>8} {'MR reasonable':>14}")
    for name, r in rows.items():
        print(f"{name:<16} {r['detections']:>7} {r['median_ms']:>10.1f} {r['max_ms']:>8.1f} {r['reasonable_all']:>13.2f}%")
    return {"annotations_load_ms": load_ms, "results": rows, "all_settings_per_call": True}
