"""Synthetic RGB-thermal pedestrian drives written in the KAIST layout, for tests, CI, demos and smoke training.

Each drive is a temporally coherent sequence (20 Hz by default): the camera pans slowly along a street,
pedestrians walk (alone or in crowds), parked cars and street-light poles occlude them. The physics
(``WorldPhysics`` in ``synthetic_physics.py``) gives the modality imbalance of real RGB-T driving: by day
RGB is rich and reliable while thermal is near crossover (people within a few kelvin of shaded
surfaces, sun-heated surfaces hotter than people, per-frame AGC, half-resolution optics); at night RGB
is dark, noisy, blooming and blurred while people are 8-15 K warmer than the background. The thermal
camera is misregistered (per-drive offset + depth-dependent parallax); annotations are always in the
RGB frame. Modules: ``synthetic_scene`` (the per-drive simulation), ``synthetic_background`` and
``synthetic_render`` (drawing), ``synthetic_physics`` (constants and camera models).

Output (``generate_dataset``)::

    <root>/images/setXX/VYYY/{visible,lwir}/IZZZZZ.jpg
    <root>/annotations/setXX/VYYY/IZZZZZ.txt        bbGt v3, for KaistDataset(annotation_source="bbgt")
    <root>/annotations/{train,test}.json            KAIST eval schema (im_name, height, occlusion, ignore,
                                                    area, images[].time_of_day) for the evaluator, plus each
                                                    person's track_id (unique in the dataset, kept across
                                                    the frames of its drive) for tracking scores
    <root>/imageSets/{train,test}.txt

KAIST naming: day drives go to set00-02 (train) / set06-08 (test), night drives to set03-05 / set09-11.
Everything is deterministic for a given ``SyntheticConfig`` (drive ``i`` uses the seed ``(seed, i)``).

    python -m lsi_perception.data.synthetic --out /tmp/synth --frames 200 --day-fraction 0.5 --seed 0
"""
from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ..config import to_dict
from .bbgt import BbGtObject, write_bbgt
from .synthetic_physics import WorldPhysics
from .synthetic_render import PERSON_HEIGHT_PER_ROW
from .synthetic_scene import DriveSimulator, SyntheticFrame, SyntheticObject

__all__ = ["SyntheticConfig", "WorldPhysics", "DrivePlan", "SyntheticFrame", "SyntheticObject", "plan_drives",
           "generate_drive", "generate_dataset", "GeneratedDataset"]

RGB_ONLY_SLICE = "rgb_only"  # annotation "slice" value of a pedestrian with no thermal signature
KAIST_CATEGORIES = [{"id": 0, "name": "__ignore__"}, {"id": 1, "name": "person"}, {"id": 2, "name": "cyclist"}]
DAY_SETS = {"train": (0, 1, 2), "test": (6, 7, 8)}
NIGHT_SETS = {"train": (3, 4, 5), "test": (9, 10, 11)}


@dataclass
class SyntheticConfig:
    """Every knob of the generator; defaults give KAIST-like 640x512 frames at 20 Hz."""

    frames: int = 200  # total frames over all drives (train + test)
    frames_per_drive: int = 50
    test_fraction: float = 0.25  # share of drives written to the test split
    height: int = 512
    width: int = 640
    day_fraction: float = 0.5
    seed: int = 0
    fps: float = 20.0
    noise: float = 1.0  # sensor-noise scale (0 = clean images)
    misalignment: tuple[float, float] = (0.0, 0.0)  # fixed thermal camera shift (dx, dy) px relative to RGB
    misalignment_jitter: float = 3.0  # per-drive registration offset, uniform in +-jitter px at 640 px width
    #                                   (plus depth-dependent parallax: physics.parallax_px)
    people_per_frame: float = 6.0  # mean pedestrians in view
    crowd_probability: float = 0.3  # chance that a spawn is a group of 3-7 people
    person_height_range: tuple[float, float] = (20.0, 200.0)  # px at height 512 (scaled with image height)
    tiny_person_fraction: float = 0.1  # people drawn below the range's minimum (become ignore regions)
    cars_per_view: float = 1.5
    poles_per_view: float = 2.0
    pan_speed: float = 1.5  # px/frame (random sign and 50-150% per drive)
    ignore_below_height: float = 20.0  # boxes shorter than this are ignore=1
    min_in_frame_fraction: float = 0.6  # people with less of their silhouette inside the image: ignore=1
    min_visible_fraction: float = 0.1  # people hidden more than this are not annotated at all
    image_format: str = "jpg"  # "jpg" (KAIST) or "png" (lossless)
    jpeg_quality: int = 92
    thermal_radiometric: bool = False  # also write lwir_radiometric/*.png: 16-bit centi-kelvin (FLIR TLinear)
    # By day, the share of pedestrians with no thermal signature (behind glass, which is opaque in LWIR;
    # heat-insulating clothing; thermal crossover): drawn in RGB only, annotated "slice": "rgb_only" (the
    # RGB-only slice, docs/experiment_regime.md). Drawn from its own random stream, so 0 leaves the world as is.
    rgb_only_fraction: float = 0.0
    # The transfer knobs (issue 22; defaults keep the street world as it was). Everything they draw comes
    # from a per-drive stream of its own, so switching one on changes appearance, not the scene's layout.
    # Camera rig, per drive: the horizon's row as a fraction of the image height, and a 1.7 m person's
    # pixel height per row below the horizon (person / camera height: 1.13 at ~1.5 m, 0.85 at 2 m).
    horizon_range: tuple[float, float] = (0.42, 0.42)
    height_per_row_range: tuple[float, float] = (PERSON_HEIGHT_PER_ROW, PERSON_HEIGHT_PER_ROW)
    frontal_fraction: float = 0.0  # share of people walking toward or away from the camera (front / back view)
    figure_variety: bool = False  # hair, bare hands, coats and skirts, bags; per-part thermal (below)
    part_thermal_spread_k: float = 0.0  # with figure_variety: coats up to this much colder, legs +-half of it
    clutter_variety: bool = False  # street furniture: trees, bollards, signs, traffic lights and bins among the poles
    # Share of people who ride a bicycle (side view, 2.5-5 m/s), labelled "person" as FLIR ADAS labels riders
    # (KAIST's "cyclist" is an ignore region, so a box on a rider costs nothing there). Own stream: 0 = as before.
    rider_fraction: float = 0.0
    sensor_jpeg_quality: tuple[int, int] = (0, 0)  # per-frame JPEG round trip of both images (0 = none)
    rgb_color_cast: float = 0.0  # per-drive white-balance gains 1 +- this per channel
    physics: WorldPhysics = field(default_factory=WorldPhysics)  # the world's temperatures, light, cameras

    def validate(self) -> None:
        if self.frames < 1 or self.frames_per_drive < 1:
            raise ValueError("frames and frames_per_drive must be >= 1")
        if not 0.0 <= self.day_fraction <= 1.0 or not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError("day_fraction and test_fraction must be in [0, 1]")
        if not 0.0 <= self.rgb_only_fraction <= 1.0:
            raise ValueError(f"rgb_only_fraction={self.rgb_only_fraction} must be in [0, 1]")
        if self.height < 32 or self.width < 32:
            raise ValueError(f"image size {self.width}x{self.height} is too small (>= 32x32)")
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={self.image_format!r} must be 'jpg' or 'png'")
        lo, hi = self.person_height_range
        if not 0 < lo < hi:
            raise ValueError(f"person_height_range {self.person_height_range} must satisfy 0 < min < max")
        lo, hi = self.horizon_range
        if not 0.1 <= lo <= hi <= 0.8:
            raise ValueError(f"horizon_range {self.horizon_range} must satisfy 0.1 <= low <= high <= 0.8")
        lo, hi = self.height_per_row_range
        if not 0 < lo <= hi:
            raise ValueError(f"height_per_row_range {self.height_per_row_range} must satisfy 0 < low <= high")
        if not 0.0 <= self.frontal_fraction <= 1.0:
            raise ValueError(f"frontal_fraction={self.frontal_fraction} must be in [0, 1]")
        if not 0.0 <= self.rider_fraction <= 1.0:
            raise ValueError(f"rider_fraction={self.rider_fraction} must be in [0, 1]")
        lo, hi = self.sensor_jpeg_quality
        if (lo, hi) != (0, 0) and not 1 <= lo <= hi <= 100:
            raise ValueError(f"sensor_jpeg_quality {self.sensor_jpeg_quality} must be (0, 0) or 1 <= low <= high <= 100")
        if self.part_thermal_spread_k < 0 or not 0 <= self.rgb_color_cast < 1:
            raise ValueError("part_thermal_spread_k must be >= 0 and rgb_color_cast in [0, 1)")
        self.physics.validate()


@dataclass
class DrivePlan:
    """Where a drive goes in the KAIST layout."""

    index: int
    split: str  # "train" | "test"
    is_day: bool
    set_id: int
    video: int
    frames: int

    @property
    def time_of_day(self) -> str:
        return "day" if self.is_day else "night"

    def image_name(self, frame: int) -> str:
        return f"set{self.set_id:02d}/V{self.video:03d}/I{frame:05d}"


def plan_drives(cfg: SyntheticConfig) -> list[DrivePlan]:
    """Split ``cfg.frames`` into drives, assign train/test and day/night, and name them KAIST-style."""
    cfg.validate()
    n = math.ceil(cfg.frames / cfg.frames_per_drive)
    sizes = [cfg.frames_per_drive] * n
    sizes[-1] = cfg.frames - cfg.frames_per_drive * (n - 1)
    n_test = min(n - 1, round(n * cfg.test_fraction)) if n > 1 else 0
    if cfg.test_fraction > 0 and n > 1:
        n_test = max(1, n_test)
    rng = np.random.default_rng([cfg.seed, 7919])
    plans: list[DrivePlan] = []
    counters: dict[tuple[str, bool], int] = {}
    for split, idxs in (("train", range(n - n_test)), ("test", range(n - n_test, n))):
        idxs = list(idxs)
        n_day = round(len(idxs) * cfg.day_fraction)
        day_flags = np.array([True] * n_day + [False] * (len(idxs) - n_day))
        rng.shuffle(day_flags)
        for i, is_day in zip(idxs, day_flags):
            k = counters.get((split, bool(is_day)), 0)
            counters[(split, bool(is_day))] = k + 1
            sets = (DAY_SETS if is_day else NIGHT_SETS)[split]
            plans.append(DrivePlan(i, split, bool(is_day), sets[k % 3], k // 3, sizes[i]))
    return plans


def generate_drive(cfg: SyntheticConfig, plan: DrivePlan, keep_instance_map: bool = False) -> Iterator[SyntheticFrame]:
    """Frames of one drive in order (nothing written to disk): what a demo or bag writer consumes."""
    sim = DriveSimulator(cfg, plan)
    for t in range(plan.frames):
        if t > 0:
            sim.step(t)
        yield sim.render(t, keep_instance_map)


# ---------------------------------------------------------------------------------------------- writing


@dataclass
class GeneratedDataset:
    root: Path
    drives: list[DrivePlan]
    frames: dict[str, int]  # per split
    objects: dict[str, int]  # annotated (non-ignore) pedestrians per split
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return sum(self.frames.values()) / max(self.seconds, 1e-9)


def _coco_skeleton(cfg: SyntheticConfig, split: str) -> dict:
    return {
        "info": {"dataset": "lsi_perception synthetic RGB-T drives", "split": split, "seed": cfg.seed,
                 "fps": cfg.fps, "misalignment": list(cfg.misalignment)},
        "images": [], "annotations": [], "categories": KAIST_CATEGORIES,
    }


def _write_image(path: Path, img: np.ndarray, cfg: SyntheticConfig) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, cfg.jpeg_quality] if cfg.image_format == "jpg" else []
    if not cv2.imwrite(str(path), img, params):
        raise OSError(f"could not write {path}")


WORLD_RECORD = "world.json"  # in the dataset root: the SyntheticConfig it was generated with


def world_record(cfg: SyntheticConfig) -> dict:
    """``cfg`` as the JSON ``generate_dataset`` writes to ``<root>/world.json`` (tuples as lists)."""
    return json.loads(json.dumps(to_dict(cfg)))


def world_differences(root: str | Path, cfg: SyntheticConfig) -> list[str] | None:
    """The knobs (dotted names) in which the world recorded under ``root`` differs from ``cfg``; None when
    ``root`` has no record (generated before worlds were recorded, or not by ``generate_dataset``)."""
    path = Path(root) / WORLD_RECORD
    if not path.is_file():
        return None
    differences: list[str] = []

    def compare(recorded: object, wanted: object, name: str) -> None:
        if isinstance(recorded, dict) and isinstance(wanted, dict):
            for key in sorted(set(recorded) | set(wanted)):
                compare(recorded.get(key), wanted.get(key), f"{name}.{key}" if name else key)
        elif recorded != wanted:
            differences.append(name)

    compare(json.loads(path.read_text()), world_record(cfg), "")
    return differences


def generate_dataset(root: str | Path, cfg: SyntheticConfig | None = None) -> GeneratedDataset:
    """Write a synthetic dataset in the KAIST layout under ``root`` (see the module docstring)."""
    cfg = cfg or SyntheticConfig()
    cfg.validate()
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    plans = plan_drives(cfg)
    coco = {s: _coco_skeleton(cfg, s) for s in ("train", "test")}
    lists: dict[str, list[str]] = {"train": [], "test": []}
    positives = {"train": 0, "test": 0}
    track_ids: dict[tuple[int, int], int] = {}  # (drive, person within it) -> track_id, unique in the dataset
    start = time.perf_counter()
    for plan in plans:
        for frame in generate_drive(cfg, plan):
            name = plan.image_name(frame.index)
            set_dir, video, stem = name.split("/")
            img_dir = root / "images" / set_dir / video
            _write_image(img_dir / "visible" / f"{stem}.{cfg.image_format}", frame.rgb[..., ::-1], cfg)
            _write_image(img_dir / "lwir" / f"{stem}.{cfg.image_format}", frame.thermal, cfg)
            if frame.thermal_radiometric is not None:
                _write_image(img_dir / "lwir_radiometric" / f"{stem}.png", frame.thermal_radiometric,
                             SyntheticConfig(image_format="png"))
            c = coco[plan.split]
            image_id = len(c["images"])
            c["images"].append({"id": image_id, "im_name": name, "height": cfg.height, "width": cfg.width,
                                "time_of_day": plan.time_of_day, "stamp": round(frame.stamp, 6)})
            bbgt = []
            for o in frame.objects:
                x1, y1, x2, y2 = (round(v, 2) for v in o.box)
                w, h = round(x2 - x1, 2), round(y2 - y1, 2)
                c["annotations"].append({
                    "id": len(c["annotations"]), "image_id": image_id, "category_id": 1, "bbox": [x1, y1, w, h],
                    "height": h, "occlusion": o.occlusion, "ignore": int(o.ignore), "area": round(w * h, 2),
                    "track_id": track_ids.setdefault((plan.index, o.track_id), len(track_ids) + 1),
                })
                bbgt.append(BbGtObject("person", (x1, y1, w, h), o.occlusion > 0, (0.0, 0.0, 0.0, 0.0), o.ignore))
                if o.rgb_only:  # only then: a world without the slice writes the same file as before
                    c["annotations"][-1]["slice"] = RGB_ONLY_SLICE
                positives[plan.split] += int(not o.ignore)
            write_bbgt(root / "annotations" / set_dir / video / f"{stem}.txt", bbgt)
            lists[plan.split].append(name)
    seconds = time.perf_counter() - start
    (root / "imageSets").mkdir(exist_ok=True)
    for split in ("train", "test"):
        (root / "imageSets" / f"{split}.txt").write_text("".join(f"{n}\n" for n in lists[split]))
        (root / "annotations" / f"{split}.json").write_text(json.dumps(coco[split]))
    (root / WORLD_RECORD).write_text(json.dumps(world_record(cfg), indent=1))
    return GeneratedDataset(root, plans, {s: len(v) for s, v in lists.items()}, positives, seconds)


def main(argv: list[str] | None = None) -> int:
    defaults = SyntheticConfig()
    ap = argparse.ArgumentParser(prog="python -m lsi_perception.data.synthetic", description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="output dataset root (created)")
    ap.add_argument("--frames", type=int, default=defaults.frames, help="total frames, train + test")
    ap.add_argument("--frames-per-drive", type=int, default=defaults.frames_per_drive)
    ap.add_argument("--test-fraction", type=float, default=defaults.test_fraction)
    ap.add_argument("--day-fraction", type=float, default=defaults.day_fraction)
    ap.add_argument("--seed", type=int, default=defaults.seed)
    ap.add_argument("--size", type=int, nargs=2, metavar=("WIDTH", "HEIGHT"), default=(defaults.width, defaults.height))
    ap.add_argument("--noise", type=float, default=defaults.noise, help="sensor-noise scale (0 = clean)")
    ap.add_argument("--misalignment", type=float, nargs=2, metavar=("DX", "DY"), default=defaults.misalignment,
                    help="thermal camera shift in pixels relative to RGB")
    ap.add_argument("--misalignment-jitter", type=float, default=defaults.misalignment_jitter)
    ap.add_argument("--people", type=float, default=defaults.people_per_frame, help="mean pedestrians in view")
    ap.add_argument("--format", choices=("jpg", "png"), default=defaults.image_format)
    args = ap.parse_args(argv)
    cfg = SyntheticConfig(
        frames=args.frames, frames_per_drive=args.frames_per_drive, test_fraction=args.test_fraction,
        day_fraction=args.day_fraction, seed=args.seed, width=args.size[0], height=args.size[1], noise=args.noise,
        misalignment=tuple(args.misalignment), misalignment_jitter=args.misalignment_jitter,
        people_per_frame=args.people, image_format=args.format,
    )
    try:
        result = generate_dataset(args.out, cfg)
    except ValueError as exc:
        ap.error(str(exc))
    print(f"wrote {sum(result.frames.values())} frames ({result.frames['train']} train, {result.frames['test']} test) "
          f"in {len(result.drives)} drives to {result.root} at {result.frames_per_second:.1f} frames/s; "
          f"{result.objects['train']} + {result.objects['test']} annotated pedestrians")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
