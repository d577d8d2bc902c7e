"""``lsi bench eval``: wall time of the KAIST MR^-2 evaluator on the conformance data (one process).

Every results file of the folder is evaluated on all ten settings x all / day / night, with the given
protocol, ``--repeats`` times; the table gives the median and worst time per file and, where the folder has
``reference_mr.json``, the largest difference from the reference evaluator's figures.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

# The repository's copy of the benchmark files (test/data/kaist/, xz-compressed); present in a source checkout.
_REPO_KAIST_DIR = Path(__file__).resolve().parents[2] / "test" / "data" / "kaist"
_RESULT_PATTERNS = ("*_result.txt", "*_result.json", "*_result.txt.*", "*_result.json.*")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from lsi_perception.eval import DEFAULT_PROTOCOL, PROTOCOLS

    parser.add_argument("--kaist-dir", type=Path, default=_REPO_KAIST_DIR,
                        help="folder with KAIST_annotation.json[.xz], *_result.{txt,json}[.xz] and optionally "
                        "reference_mr.json (default: the repository's test/data/kaist)")
    parser.add_argument("--protocol", choices=[p.name for p in PROTOCOLS], default=DEFAULT_PROTOCOL,
                        help=f"evaluation protocol (default: {DEFAULT_PROTOCOL})")
    parser.add_argument("--repeats", type=int, default=10, help="timed evaluations per results file")


def run(args: argparse.Namespace) -> dict:
    from lsi_perception.eval import SETTINGS, TIMES, evaluate, load_annotations, load_results
    from lsi_perception.eval.files import logical_name

    ann_path = _first_existing(args.kaist_dir, ("KAIST_annotation.json", "KAIST_annotation.json.xz"))
    results_paths = sorted({p for pattern in _RESULT_PATTERNS for p in args.kaist_dir.glob(pattern)})
    if ann_path is None or not results_paths:
        raise FileNotFoundError(
            f"{args.kaist_dir} lacks KAIST_annotation.json[.xz] or *_result.{{txt,json}}[.xz]: pass --kaist-dir "
            "with the KAIST conformance files (a source checkout has them in test/data/kaist)")
    reference_path = args.kaist_dir / "reference_mr.json"
    reference = json.loads(reference_path.read_text()) if reference_path.is_file() else {}
    if args.protocol != "reference":
        reference = {}  # the reference figures are the reference protocol's

    t0 = time.perf_counter()
    ann = load_annotations(ann_path)
    load_ms = (time.perf_counter() - t0) * 1e3
    rows = {}
    for path in results_paths:
        name = logical_name(path)
        dets = load_results(path, ann)
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            result = evaluate(ann, dets, protocol=args.protocol)
            times.append((time.perf_counter() - t0) * 1e3)
        expected = reference.get(name, {})
        diffs = [abs(result.mr[s.name][t] - expected[f"{s.reference_label}/{t}"])
                 for s in SETTINGS for t in TIMES if f"{s.reference_label}/{t}" in expected]
        rows[name] = {"detections": sum(len(v) for v in dets.values()), "median_ms": statistics.median(times),
                      "max_ms": max(times), "reasonable_all": result.mr["reasonable"]["all"],
                      "figures_compared": len(diffs), "max_abs_diff_vs_reference": max(diffs) if diffs else None}
    print(f"KAIST test set: {ann.num_images} images, annotations loaded in {load_ms:.1f} ms; {args.protocol} protocol, "
          f"{len(SETTINGS)} settings x {len(TIMES)} subsets per evaluation")
    print(f"{'results file':<18} {'dets':>7} {'median ms':>10} {'max ms':>8} {'MR reasonable':>14} {'max |diff| vs reference':>24}")
    for name, r in rows.items():
        diff = "n/a" if r["max_abs_diff_vs_reference"] is None else \
            f"{r['max_abs_diff_vs_reference']:.5f} ({r['figures_compared']} figures)"
        print(f"{name:<18} {r['detections']:>7} {r['median_ms']:>10.1f} {r['max_ms']:>8.1f} "
              f"{r['reasonable_all']:>13.2f}% {diff:>24}")
    return {"annotations_load_ms": load_ms, "protocol": args.protocol, "settings": [s.name for s in SETTINGS],
            "results": rows}


def _first_existing(folder: Path, names: tuple[str, ...]) -> Path | None:
    return next((folder / n for n in names if (folder / n).is_file()), None)
