"""``lsi bag {from-dataset,play,detect,info}``: rosbag2 tools that need no ROS distro (rosbags + rclpy)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lsi_perception.cli.detector_options import (
    add_detector_arguments,
    build_detector,
    describe_detector,
    homography,
)
from lsi_perception.pipeline.defaults import OVERLAY_TOPIC


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bag", help="rosbag2 tools: dataset -> bag, play with /clock, offline detection")
    sub = parser.add_subparsers(dest="bag_command", metavar="ACTION")
    _add_from_dataset(sub)
    _add_play(sub)
    _add_detect(sub)
    _add_info(sub)
    parser.set_defaults(func=lambda args: (parser.print_help(), 2)[1])


# --------------------------------------------------------------------------------------------------
def _add_from_dataset(sub) -> None:
    from lsi_perception.bag.from_dataset import FromDatasetConfig

    d = FromDatasetConfig()
    p = sub.add_parser("from-dataset", help="KAIST-layout sequence (real or synthetic) -> rosbag2",
                       description="Write a KAIST-layout dataset as a camera rig would record it: RGB and thermal "
                                   "images at the dataset's rate, plus ground truth on /ground_truth.")
    p.add_argument("root", type=Path, help="dataset root (holding images/setXX/VYYY/{visible,lwir}/)")
    p.add_argument("--out", type=Path, required=True, help="bag folder to create")
    p.add_argument("--image-set", default=d.image_set, help="use imageSets/NAME.txt (default: every frame)")
    p.add_argument("--max-frames", type=int, default=d.max_frames, help="stop after this many frames")
    p.add_argument("--rate", type=float, default=d.rate_hz, help="camera rate in Hz (default %(default)s, KAIST)")
    p.add_argument("--thermal-offset", type=float, default=d.thermal_offset_s,
                   help="thermal stamp minus RGB stamp, seconds (default %(default)s)")
    p.add_argument("--jitter", type=float, default=d.jitter_s, help="std-dev of extra thermal stamp jitter, s")
    p.add_argument("--compressed", action="store_true", help="CompressedImage on <topic>/compressed (JPEG/PNG)")
    p.add_argument("--storage", choices=("mcap", "sqlite3"), default=d.storage)
    p.add_argument("--rgb-topic", default=d.rgb_topic)
    p.add_argument("--thermal-topic", default=d.thermal_topic)
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the stamp jitter")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.set_defaults(func=_run_from_dataset)


def _run_from_dataset(args: argparse.Namespace) -> int:
    from lsi_perception.bag.from_dataset import FromDatasetConfig, dataset_to_bag

    cfg = FromDatasetConfig(rgb_topic=args.rgb_topic, thermal_topic=args.thermal_topic, rate_hz=args.rate,
                            thermal_offset_s=args.thermal_offset, jitter_s=args.jitter, compressed=args.compressed,
                            storage=args.storage, image_set=args.image_set, max_frames=args.max_frames,
                            seed=args.seed, overwrite=args.overwrite)
    result = dataset_to_bag(args.root, args.out, cfg)
    counts = ", ".join(f"{t}: {n}" for t, n in result.counts.items())
    print(f"wrote {result.path} ({result.frames} frames, {result.duration_s:.2f} s of bag time): {counts}")
    return 0


# --------------------------------------------------------------------------------------------------
def _add_play(sub) -> None:
    from lsi_perception.bag.player import PlayConfig

    d = PlayConfig()
    p = sub.add_parser("play", help="publish a bag's topics with /clock through rclpy",
                       description="Play a rosbag2 through rclpy with /clock from bag time, for machines without "
                                   "`ros2 bag play` (on a ROS distro, `ros2 bag play --clock` is equivalent). Run "
                                   "consumers with use_sim_time:=true.")
    p.add_argument("bag", type=Path)
    p.add_argument("--rate", type=float, default=d.rate, help="playback speed factor (default %(default)s)")
    p.add_argument("--loop", action="store_true", help="start again at the end, until Ctrl-C")
    p.add_argument("--start", type=float, default=d.start_s, help="skip the first S seconds of the bag")
    p.add_argument("--topics", nargs="+", default=None, help="play only these topics")
    p.add_argument("--no-clock", action="store_true", help="do not publish /clock")
    p.add_argument("--wait-for-subscribers", type=float, default=d.wait_for_subscribers_s, metavar="SECONDS",
                   help="wait up to SECONDS for the image topics to have subscribers before starting")
    p.add_argument("--salvage", action="store_true", help="play the intact part of a damaged bag")
    p.set_defaults(func=_run_play)


def _run_play(args: argparse.Namespace) -> int:
    from lsi_perception.bag.player import PlayConfig, run_player
    from lsi_perception.dds import use_large_frames_profile

    print(use_large_frames_profile().description, file=sys.stderr)  # before rclpy.init: the player writes frames
    cfg = PlayConfig(rate=args.rate, loop=args.loop, start_s=args.start, clock=not args.no_clock,
                     topics=tuple(args.topics) if args.topics else None,
                     wait_for_subscribers_s=args.wait_for_subscribers, salvage=args.salvage)
    stats = run_player(args.bag, cfg)
    counts = ", ".join(f"{t}: {n}" for t, n in sorted(stats.published.items()))
    print(f"played {args.bag}: {sum(stats.published.values())} messages ({counts}), {stats.clock_messages} /clock, "
          f"{stats.bag_s:.2f} s of bag time in {stats.wall_s:.2f} s")
    return 0


# --------------------------------------------------------------------------------------------------
def _add_detect(sub) -> None:
    from lsi_perception.bag.detect import DetectConfig

    d = DetectConfig()
    p = sub.add_parser("detect", help="run the detector over a bag offline; write Detection2DArray to a new bag",
                       description="Pair RGB and thermal images with the node's approximate-time policy, decode, "
                                   "register and detect them with the node's own per-pair pipeline as fast as the "
                                   "hardware allows (pairs the node would skip are skipped and counted), write the "
                                   "detections to OUT_BAG, and print the KAIST MR table when the bag holds "
                                   "/ground_truth.")
    p.add_argument("bag", type=Path)
    p.add_argument("--out", type=Path, required=True, help="bag folder to create for the detections")
    p.add_argument("--results", type=Path, default=None, help="also write a KAIST results txt (needs ground truth)")
    p.add_argument("--overlay", action="store_true", help=f"also write annotated RGB images on /{OVERLAY_TOPIC}")
    p.add_argument("--track", action="store_true", help="track pedestrians as the node's tracking:=true does "
                   "(Detection2D.id = track id); with identities in /ground_truth, print HOTA / MOTA / IDF1 too")
    p.add_argument("--tracks", type=Path, default=None, metavar="TXT", help="with --track: also write the tracks "
                   "(image_id,x,y,w,h,score,track_id) for lsi eval --mot (needs ground truth)")
    p.add_argument("--rgb-topic", default=d.rgb_topic)
    p.add_argument("--thermal-topic", default=d.thermal_topic)
    p.add_argument("--slop", type=float, default=d.slop_s, help="pairing tolerance in seconds (node default)")
    p.add_argument("--queue-size", type=int, default=d.queue_size, help="pairing queue per topic (node default)")
    add_detector_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    p.add_argument("--salvage", action="store_true", help="process the intact part of a damaged bag")
    p.set_defaults(func=_run_detect)


def _run_detect(args: argparse.Namespace) -> int:
    from lsi_perception.bag.detect import DetectConfig, detect_bag
    from lsi_perception.node_logic.node_config import NodeConfig

    NodeConfig(slop=args.slop, queue_size=args.queue_size).validate()  # the node's checks
    args.thermal_to_rgb_homography = homography(args)
    detector, checkpoint = build_detector(args)
    print(f"detector: {describe_detector(detector)}")
    cfg = DetectConfig(rgb_topic=args.rgb_topic, thermal_topic=args.thermal_topic, slop_s=args.slop,
                       queue_size=args.queue_size, thermal_to_rgb_homography=tuple(args.thermal_to_rgb_homography),
                       overlay_topic=f"/{OVERLAY_TOPIC}" if args.overlay else None,
                       overwrite=args.overwrite, salvage=args.salvage, track=args.track)
    if args.tracks is not None and not args.track:
        raise ValueError("--tracks needs --track (tracks are written only when pedestrians are tracked)")
    result = detect_bag(args.bag, detector, args.out, cfg)
    unpaired = result.rgb_messages - result.pairs
    print(f"wrote {result.out}: {result.pairs} Detection2DArray on {cfg.output_topic} from {result.rgb_messages} RGB / "
          f"{result.thermal_messages} thermal images ({unpaired} RGB images unpaired), "
          f"{result.pairs_per_second:.2f} pairs/s with {detector.describe()}")
    if result.skipped:
        kinds = ", ".join(f"{kind}: {n}" for kind, n in sorted(result.skipped_by_kind.items()))
        print(f"skipped {len(result.skipped)} pairs that cannot give trustworthy detections (no output for them; "
              f"{kinds}); first: {result.skipped[0][2]}")
    if result.eval_result is not None:
        from lsi_perception.eval.report import format_table

        print(format_table({Path(str(checkpoint)).stem: result.eval_result}))
        if args.results is not None:
            _write_results(args.results, result)
            print(f"results written to {args.results}")
        if result.mot_result is not None:
            from lsi_perception.eval.mot import format_mot_table

            print(format_mot_table({Path(str(checkpoint)).stem: result.mot_result}))
        elif args.track:
            print("/ground_truth has no identities (track=): no tracking scores", file=sys.stderr)
        if args.tracks is not None:
            _write_tracks(args.tracks, result)
            print(f"tracks written to {args.tracks}")
    elif args.results is not None or args.tracks is not None:
        print("no /ground_truth in the bag: --results / --tracks skipped", file=sys.stderr)
    return 0


def _write_results(path: Path, result) -> None:
    """KAIST txt results (1-based image index in ground-truth stamp order), in the evaluator's own format."""
    from lsi_perception.bag.ground_truth import detections_by_image, ground_truth_annotations
    from lsi_perception.eval import write_results_txt

    ann = ground_truth_annotations(result.ground_truth, result.frames, result.image_size)
    write_results_txt(path, ann, detections_by_image(result.ground_truth, result.detections))


def _write_tracks(path: Path, result) -> None:
    """Tracks txt (1-based image index in ground-truth stamp order, as ``--results``) for ``lsi eval --mot``."""
    from lsi_perception.bag.ground_truth import ground_truth_annotations, tracks_by_image
    from lsi_perception.eval.mot import write_tracks_txt

    ann = ground_truth_annotations(result.ground_truth, result.frames, result.image_size)
    write_tracks_txt(path, ann, tracks_by_image(result.ground_truth, result.detections))


# --------------------------------------------------------------------------------------------------
def _add_info(sub) -> None:
    p = sub.add_parser("info", help="topics, types, counts and time span of a bag (salvage report if damaged)")
    p.add_argument("bag", type=Path)
    p.set_defaults(func=_run_info)


def _run_info(args: argparse.Namespace) -> int:
    from lsi_perception.bag.reader import BagReader

    with BagReader(args.bag, salvage=True) as reader:
        span = (reader.end_time - reader.start_time) / 1e9 if reader.end_time else 0.0
        print(f"bag {args.bag}: {sum(reader.counts.values())} messages over {span:.3f} s")
        for topic, typ in sorted(reader.topics.items()):
            print(f"  {topic:40s} {typ:36s} {reader.counts.get(topic, 0)}")
        if reader.damage is not None:
            print(f"WARNING: {reader.damage.describe()}")
            return 1
    return 0
