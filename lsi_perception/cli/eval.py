"""``lsi eval``: KAIST log-average miss rate (and COCO AP) of one or more results files, as a table, JSON and a
plot; ``--mot``: tracking scores (HOTA, MOTA, IDF1, ID switches) of tracks files (``eval/mot.py``).

    lsi eval --annotations KAIST_annotation.json --results MBNet_result.txt MLPD_result.txt \\
             --plot curves.png --json -
    lsi eval --metric ap --annotations llvip_test.json --results pred/results.json     # AP50, AP50:95 (pycocotools)

Results files are txt (``image_id,x,y,w,h,score``, 1-based image ids) or COCO result JSON (0-based), plain
or .gz/.xz/.bz2. With ``--json -`` the JSON goes to stdout and the table to stderr, so the output can be piped.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    from lsi_perception.eval import DEFAULT_PROTOCOL, PROTOCOLS, SETTINGS

    parser = subparsers.add_parser(
        "eval",
        help="KAIST log-average miss rate (MR^-2) of detection results files; --mot: tracking scores of tracks files",
        description="Evaluate detection results with the KAIST multispectral benchmark protocol: MR^-2 (%) "
        "for Reasonable, Reasonable small, Reasonable occ heavy, All, Near/Medium/Far and the occlusion settings, "
        "on all/day/night images.",
    )
    parser.add_argument("--annotations", type=Path, required=True, help="COCO-style KAIST annotation JSON (.gz/.xz ok)")
    parser.add_argument("--results", type=Path, nargs="+", required=True, metavar="RESULTS",
                        help="results files (txt image_id,x,y,w,h,score with 1-based ids, or COCO result JSON; "
                        ".gz/.xz ok); each is named by its file stem (by its file name where two stems are equal)")
    parser.add_argument("--metric", choices=("mr", "ap", "both"), default="mr",
                        help="mr: KAIST log-average miss rate MR^-2 (default); ap: COCO AP50:95 / AP50 / AP75 by "
                        "pycocotools (LLVIP, FLIR and most RGB-T papers outside KAIST); both")
    parser.add_argument("--protocol", choices=[p.name for p in PROTOCOLS], default=DEFAULT_PROTOCOL,
                        help="; ".join(f"{p.name}: {p.rule}" for p in PROTOCOLS).replace("%", "%%")
                        + f" (default: {DEFAULT_PROTOCOL}, the figures published KAIST papers report)")
    parser.add_argument("--plot", type=Path, metavar="PNG", help="draw the FPPI / miss-rate curves of every results file")
    parser.add_argument("--plot-setting", default="reasonable", choices=[s.name for s in SETTINGS],
                        help="setting to plot (default: reasonable)")
    parser.add_argument("--json", metavar="OUT|-", help="write {protocol, protocol_rule, results: {name: {setting: "
                        "{all, day, night}}}} to a file, or '-' for stdout")
    parser.add_argument("--caltech-height-filter", action="store_true",
                        help="ignore unmatched detections more than 1.25x outside a setting's height range "
                        "(Caltech toolbox); off by default, as in the KAIST reference evaluator")
    parser.add_argument("--breakdown", type=float, metavar="SCORE",
                        help="also say where the errors come from for detections scoring >= SCORE (the operating "
                        "point, e.g. the model's score_threshold): pedestrians found / loosely boxed (IoU 0.3-0.5) "
                        "/ missed, detections true / duplicate / loose / on people out of scope / on background, "
                        "and the median box-size bias, by time of day and for isolated vs crowded pedestrians "
                        "(Reasonable setting; lsi_perception/eval/breakdown.py)")
    parser.add_argument("--mot", action="store_true",
                        help="score pedestrian tracks instead (TrackEval: HOTA, MOTA, IDF1, ID switches): RESULTS are "
                        "tracks files (image_id,x,y,w,h,score,track_id; lsi bag detect --track --tracks) and the "
                        "annotations must carry track_id (lsi_perception/eval/mot.py)")
    parser.add_argument("--mot-setting", default="all", choices=[s.name for s in SETTINGS],
                        help="with --mot: the KAIST setting whose pedestrians count (others are distractors; default all)")
    parser.set_defaults(func=run)


def result_names(paths: list[Path]) -> list[str]:
    """Each results file's name: its stem, or its file name where two stems are equal (MLPD_result.txt/.json)."""
    from lsi_perception.eval.files import logical_name

    full = [logical_name(path) for path in paths]
    duplicates = sorted({name for name in full if full.count(name) > 1})
    if duplicates:
        raise ValueError(f"results files share the name(s) {', '.join(duplicates)}; results are keyed by file name, rename one")
    stems = [Path(name).stem for name in full]
    return [stem if stems.count(stem) == 1 else name for stem, name in zip(stems, full)]


def run(args: argparse.Namespace) -> int:
    from lsi_perception.eval import (
        CALTECH_DETECTION_HEIGHT_EXPANSION,
        evaluate,
        get_protocol,
        load_annotations,
        load_results,
    )
    from lsi_perception.eval.ap import average_precision, format_ap_table
    from lsi_perception.eval.breakdown import error_breakdown, format_breakdown
    from lsi_perception.eval.report import format_table

    if args.mot:
        return run_mot(args)
    if args.breakdown is not None and not 0.0 <= args.breakdown <= 1.0:
        raise ValueError(f"--breakdown {args.breakdown}: a score threshold in [0, 1], e.g. the model's 0.55")
    names = result_names(args.results)
    protocol = get_protocol(args.protocol)
    ann = load_annotations(args.annotations)
    expansion = CALTECH_DETECTION_HEIGHT_EXPANSION if args.caltech_height_filter else None
    detections = {name: load_results(path, ann) for name, path in zip(names, args.results)}
    want_mr, want_ap = args.metric in ("mr", "both"), args.metric in ("ap", "both")
    if not want_mr and (args.plot or args.breakdown is not None):
        raise ValueError("--plot and --breakdown describe the miss-rate curve: use --metric mr or both")
    results = {
        name: evaluate(ann, dets, detection_height_expansion=expansion, protocol=protocol)
        for name, dets in detections.items()
    } if want_mr else {}
    ap_results = {name: average_precision(ann, dets) for name, dets in detections.items()} if want_ap else {}
    breakdowns = {} if args.breakdown is None else {
        name: error_breakdown(ann, dets, args.breakdown) for name, dets in detections.items()
    }

    table_stream = sys.stderr if args.json == "-" else sys.stdout
    if results:
        print(format_table(results), file=table_stream)
    if ap_results:
        print(format_ap_table(ap_results), file=table_stream)
    for name, breakdown in breakdowns.items():
        print("\n" + format_breakdown(name, breakdown), file=table_stream)
    if args.json:
        document = {}
        if results:
            document = {"protocol": protocol.name, "protocol_rule": protocol.rule,
                        "results": {name: result.to_json() for name, result in results.items()}}
        if ap_results:
            document["ap"] = {name: result.to_json() for name, result in ap_results.items()}
        if breakdowns:
            document["breakdown"] = {name: b.to_json() for name, b in breakdowns.items()}
        _write_json(args.json, document, "figures", table_stream)
    if args.plot:
        from lsi_perception.eval.plot import plot_curves

        path = plot_curves(results, args.plot, setting=args.plot_setting)
        print(f"FPPI / miss-rate curves written to {path}", file=table_stream)
    return 0


def run_mot(args: argparse.Namespace) -> int:
    """``lsi eval --mot``: tracking scores of each tracks file, as a table and optionally JSON."""
    from lsi_perception.eval import load_annotations
    from lsi_perception.eval.mot import evaluate_mot, format_mot_table, load_tracks

    names = result_names(args.results)
    ann = load_annotations(args.annotations)
    results = {name: evaluate_mot(ann, load_tracks(path, ann), args.mot_setting) for name, path in zip(names, args.results)}
    table_stream = sys.stderr if args.json == "-" else sys.stdout
    print(format_mot_table(results), file=table_stream)
    if args.json:
        _write_json(args.json, {"results": {name: r.to_json() for name, r in results.items()}}, "tracking scores",
                    table_stream)
    return 0


def _write_json(target: str, document: dict, what: str, table_stream) -> None:
    """``document`` as JSON to stdout (``target`` "-") or to the file ``target``, saying so on ``table_stream``."""
    payload = json.dumps(document, indent=2)
    if target == "-":
        print(payload)
        return
    out = Path(target)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(payload + "\n")
    print(f"{what} written to {out}", file=table_stream)
