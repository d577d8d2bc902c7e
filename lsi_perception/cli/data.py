"""``lsi data {check,gt,stats,roadscene}``: dataset tools.

    lsi data check --dataset kaist /data/kaist-cvpr15          # read a root exactly as training will
    lsi data check --dataset utokyo /data/ir_det_dataset data.label_source=voc_converted
    lsi data gt --dataset llvip /data/LLVIP --split test --out llvip_test.json   # labels -> lsi eval's schema
    lsi data stats data/experiment/test --max-images 200 [--json stats.json]
    lsi data roadscene ~/RoadScene --boxes SSD_ADAS/training.csv SSD_ADAS/validation.csv SSD_ADAS/video.csv \
        --out roadscene_eval                                   # real frames + FLIR person boxes, for evaluation

``check`` builds the train / validation / test splits with the training code itself (the dataset's recipe,
``config/train_<dataset>.yaml``, with ``data.root=ROOT`` and any ``section.key=value`` overrides), prints
frames per split, boxes per class, ignore regions, occlusion levels, missing partners and label files, and
exits 1 naming the fix when something would train on nothing. ``lsi train`` runs the same check first.
``stats``: see ``lsi_perception/data/contrast.py``; it tells whether a (synthetic) world has the modality
imbalance it claims: RGB should stand out by day, thermal at night. ``roadscene``: a labelled real RGB-thermal
evaluation set from RoadScene's registered pairs and FLIR ADAS v1 person boxes (``lsi_perception/data/roadscene.py``;
docs/real_frames.md scores a model on it).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

DATASETS = ("kaist", "utokyo", "llvip", "flir")  # layouts as downloaded (the synthetic world is generated)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("data", help="dataset tools: check (read a root as training will), gt (labels -> "
                                                "evaluation JSON), stats (per-modality contrast by time of day)")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    for name, helptext in (("check", "read a dataset root exactly as training will; count it; refuse it when it would "
                                     "train on nothing"),
                           ("gt", "write a split's own labels as a KAIST-schema JSON for lsi eval (MR or --metric ap)")):
        p = sub.add_parser(name, help=helptext, description=helptext)
        p.add_argument("root", type=Path, metavar="ROOT", help="the dataset folder as downloaded")
        p.add_argument("--dataset", required=True, choices=DATASETS, help="which layout (and recipe) ROOT has")
        p.add_argument("--config", type=Path, default=None,
                       help="training config to read the data settings from (default: config/train_<dataset>.yaml)")
        p.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. data.train_annotations=paired")
        if name == "check":
            p.add_argument("--json", type=Path, default=None, help="also write the counts and problems as JSON")
            p.set_defaults(func=run_check)
        else:
            p.add_argument("--split", default="test", choices=("train", "val", "test"), help="which split (default test)")
            p.add_argument("--out", type=Path, required=True, help="JSON file to write")
            p.set_defaults(func=run_gt)
    stats = sub.add_parser("stats", help="person-vs-background contrast per modality, by time of day",
                           description=__doc__.split("\n\n")[0])
    stats.add_argument("root", type=Path, metavar="DIR", help="KAIST-layout dataset root (annotations/*.json)")
    stats.add_argument("--max-images", type=int, default=None, help="even subsample of each split's images")
    stats.add_argument("--min-height", type=float, default=0.0, help="skip pedestrians shorter than this (px)")
    stats.add_argument("--json", type=Path, default=None, help="also write the summary as JSON")
    stats.set_defaults(func=run_stats)
    road = sub.add_parser("roadscene", help="real evaluation frames: RoadScene pairs + FLIR ADAS v1 person boxes -> "
                                            "visible/, infrared/, gt.json (evaluation only, never training)",
                          description="Join RoadScene's registered RGB / thermal crops with FLIR ADAS v1 person "
                                      "boxes (full-frame thermal pixels) by frame name: locate each crop in its "
                                      "full thermal frame, cut that region, move the boxes onto it. Writes "
                                      "visible/*.png, infrared/*.png (lsi predict --naming same), gt.json (lsi "
                                      "eval) and mapping.json (each frame's fit, every frame left out and why).")
    road.add_argument("root", type=Path, metavar="ROADSCENE",
                      help="hanna-xu/RoadScene checkout (infrared/, cropinfrared/, crop_HR_visible/)")
    road.add_argument("--boxes", type=Path, nargs="+", required=True, metavar="CSV",
                      help="FLIR ADAS v1 box CSVs: image_name,class_id,xmin,xmax,ymin,ymax (class 1 = person)")
    road.add_argument("--out", type=Path, required=True, help="folder to write")
    road.add_argument("--min-match", type=float, default=0.8,
                      help="drop a frame whose crop correlates below this with its full thermal frame (default 0.8)")
    road.add_argument("--min-visible", type=float, default=0.5,
                      help="a box less inside the region than this becomes an ignore region (default 0.5)")
    road.set_defaults(func=run_roadscene)


def _config(args: argparse.Namespace):
    from lsi_perception.resources import config_path
    from lsi_perception.train.config import load_train_config

    path = args.config or config_path(f"train_{args.dataset}.yaml")
    cfg = load_train_config(path, [*args.overrides, f"data.root={args.root}"])
    if cfg.data.kind != args.dataset:
        raise ValueError(f"{path} is a {cfg.data.kind} config, not {args.dataset}: give --config of that dataset")
    return cfg


def run_check(args: argparse.Namespace) -> int:
    from lsi_perception.train.datacheck import check_data

    result = check_data(_config(args))
    print(result.report())
    if args.json is not None:
        args.json.write_text(json.dumps(result.to_json(), indent=1) + "\n")
    return 1 if result.problems else 0


def run_gt(args: argparse.Namespace) -> int:
    from lsi_perception.train.data import build_dataset, ground_truth_document, prepare_dataset

    cfg = _config(args)
    prepare_dataset(cfg.data, cfg.model.class_names)
    if args.split == "test" and cfg.data.test_list is None:
        raise ValueError("the config has no data.test_list; give --split train/val or data.test_list=...")
    doc = ground_truth_document(build_dataset(cfg.data, args.split, cfg.model.class_names, None))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc) + "\n")
    print(f"wrote {args.out}: {len(doc['images'])} images, {len(doc['annotations'])} boxes "
          f"({sum(a['ignore'] for a in doc['annotations'])} ignore regions)")
    return 0


def run_stats(args: argparse.Namespace) -> int:
    from lsi_perception.data.contrast import dataset_contrast, format_summary

    if not args.root.is_dir():
        raise FileNotFoundError(f"{args.root} is not a folder: give the dataset root (with annotations/ and images/)")
    summary = dataset_contrast(args.root, args.max_images, args.min_height).summary()
    if not summary:
        raise ValueError(f"no annotated, non-ignored pedestrians found under {args.root}")
    print(f"person-vs-background contrast |mean(body) - mean(surround)| / (std(surround) + noise) in {args.root}")
    print(format_summary(summary))
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2))
    return 0


def run_roadscene(args: argparse.Namespace) -> int:
    from lsi_perception.data.roadscene import build_roadscene_eval

    report = build_roadscene_eval(args.root, args.boxes, args.out, args.min_match, args.min_visible)
    print(report.summary())
    print(f"score a model: lsi predict --rgb {args.out}/visible --thermal {args.out}/infrared "
          f"--annotations {args.out}/gt.json --out PRED && lsi eval --annotations {args.out}/gt.json "
          f"--results PRED/results.txt --protocol strict --breakdown 0.55")
    return 0
