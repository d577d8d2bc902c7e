"""``lsi predict``: run the detector over RGB + thermal image folders (pairs matched by name) or two videos.

    lsi predict --rgb LLVIP/visible/test --thermal LLVIP/infrared/test --out pred/
    lsi predict --rgb kaist/images --thermal kaist/images --naming kaist \\
                --annotations test/data/kaist/KAIST_annotation.json.xz --out pred/
    lsi predict --rgb FLIR_aligned/JPEGImages --thermal FLIR_aligned/JPEGImages --naming flir --out pred/
    lsi predict --rgb drive_rgb.mp4 --thermal drive_thermal.mp4 --out pred/

Writes ``results.txt`` (KAIST), ``results.json`` (COCO), ``images.json`` (the image index, without
``--annotations``), ``overlays/`` and, with ``--track``, ``tracks.txt`` (``lsi eval --mot``); every pair goes through the node's ``pipeline.PairProcessor``
(see lsi_perception/predict/).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lsi_perception.cli.detector_options import add_detector_arguments, build_detector, homography


def register(subparsers: argparse._SubParsersAction) -> None:
    from lsi_perception.predict.sources import NAMING_PRESETS

    p = subparsers.add_parser(
        "predict", help="detect on RGB + thermal image folders or videos -> KAIST txt, COCO JSON, overlays",
        description="Pair RGB and thermal images by name (or two videos by frame index), run each pair through the "
                    "node's per-pair pipeline (decode, thermal -> RGB homography, Detector) and write KAIST and COCO "
                    "results files and overlay images. Pairs the node would skip are counted, not written.")
    p.add_argument("--rgb", type=Path, required=True, help="RGB image folder, or an RGB video file")
    p.add_argument("--thermal", type=Path, required=True, help="thermal image folder (may be the same folder), or a video")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--naming", default="same", choices=sorted(NAMING_PRESETS),
                   help="how pairs are named: " + "; ".join(f"{k}: {r} + {t}" for k, (r, t) in NAMING_PRESETS.items())
                   + " (default: same)")
    p.add_argument("--rgb-pattern", default=None, help="custom RGB file pattern, e.g. '{name}_RGB.{ext}' (overrides --naming)")
    p.add_argument("--thermal-pattern", default=None, help="custom thermal file pattern, e.g. '{name}_IR.{ext}'")
    p.add_argument("--annotations", type=Path, default=None,
                   help="a KAIST-schema annotation JSON (.xz ok) whose image ids the results use, so `lsi eval "
                        "--annotations FILE --results OUT/results.txt` scores them")
    p.add_argument("--no-overlays", action="store_true", help="do not write overlay images")
    p.add_argument("--max-pairs", type=int, default=None, help="stop after this many pairs")
    p.add_argument("--track", action="store_true", help="track pedestrians as the node's tracking:=true does (track "
                   "ids on the overlays, tracks.txt for lsi eval --mot); pairs are stamped from the frame number that "
                   "ends their name, at --fps; each sequence (the name without its last part) is a new timeline")
    p.add_argument("--fps", type=float, default=20.0, help="with --track: the frame rate of the frame numbers "
                   "(default %(default)s, KAIST's)")
    add_detector_arguments(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from itertools import islice

    from lsi_perception.eval import load_annotations
    from lsi_perception.pipeline.processor import PairProcessor
    from lsi_perception.pipeline.tracking import PairTracker
    from lsi_perception.predict.runner import run_predict
    from lsi_perception.predict.sources import NAMING_PRESETS, VideoPairs, is_video, pair_folders
    from lsi_perception.predict.tracking import TrackStage, TracksWriter
    from lsi_perception.predict.writers import OverlayWriter, ResultsWriter

    videos = is_video(args.rgb), is_video(args.thermal)
    if any(videos) and not all(videos):
        raise ValueError("--rgb and --thermal must both be folders or both be video files")
    if all(videos):
        source = VideoPairs(args.rgb, args.thermal)
        keys = None
    else:
        rgb_pattern, thermal_pattern = NAMING_PRESETS[args.naming]
        source = pair_folders(args.rgb, args.thermal, args.rgb_pattern or rgb_pattern,
                              args.thermal_pattern or thermal_pattern)
        keys = [key for key, _, _ in source.pairs]
    if args.max_pairs is not None and args.max_pairs < 1:
        raise ValueError(f"--max-pairs {args.max_pairs} must be >= 1")
    total = len(source) if args.max_pairs is None else min(len(source), args.max_pairs)
    if keys is not None:
        keys = keys[:total]
    print(source.describe(), file=sys.stderr)
    annotations = load_annotations(args.annotations) if args.annotations is not None else None
    processor_homography = homography(args)
    detector, checkpoint = build_detector(args)
    sinks = [ResultsWriter(args.out, detector.class_names, annotations, keys)]  # keys checked before any work
    if not args.no_overlays:
        sinks.append(OverlayWriter(args.out))
    processor = PairProcessor(detector, processor_homography, tracker=PairTracker() if args.track else None)
    stages = [TrackStage(processor, args.fps)] if args.track else []
    if args.track:
        sinks.append(TracksWriter(args.out, sinks[0]))
    pairs = islice(source, total)
    summary = run_predict(pairs, processor, sinks, stages=stages, total=total)
    print(f"{summary.detected} of {summary.pairs} pairs detected ({summary.detections} detections), "
          f"{summary.pairs_per_second:.2f} pairs/s with {detector.describe()} ({checkpoint.name})")
    if summary.skipped:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(summary.skipped_by_kind.items()))
        print(f"skipped {len(summary.skipped)} pairs that cannot give trustworthy detections (no output for them; "
              f"{kinds}); first: {summary.skipped[0][0]}: {summary.skipped[0][2]}")
    for what, path in summary.written.items():
        print(f"  {what}: {path}")
    return 0 if summary.detected else 1
