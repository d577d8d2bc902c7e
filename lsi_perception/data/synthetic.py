"""Synthetic RGB-thermal pedestrian drives written in the KAIST layout, for tests, CI, demos and smoke training.

Each drive is a temporally coherent sequence (20 Hz by default): the camera pans slowly along a street,
pedestrians walk (alone or in crowds), parked cars and street-light poles occlude them. Day drives have
clear RGB and a thermal image in which sun-heated walls and asphalt can wash people out; night drives
have dark, noisy RGB (street lights, lit windows, headlights) and a thermal image that still shows
people warm. The thermal camera can be shifted against the RGB one (``misalignment``); annotations are
always in the RGB frame.

Output (``generate_dataset``)::

    <root>/images/setXX/VYYY/{visible,lwir}/IZZZZZ.jpg
    <root>/annotations/setXX/VYYY/IZZZZZ.txt        bbGt v3, for KaistDataset(annotation_source="bbgt")
    <root>/annotations/{train,test}.json            KAIST eval schema (im_name, height, occlusion, ignore,
                                                    area, images[].time_of_day) for the evaluator
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

from .bbgt import BbGtObject, write_bbgt
from .synthetic_render import (
    Background,
    Car,
    FrameLayers,
    Pedestrian,
    Pole,
    SceneLayout,
    draw_car,
    draw_person,
    draw_pole,
    render_background,
)

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
    misalignment: tuple[float, float] = (0.0, 0.0)  # thermal camera shift (dx, dy) px relative to RGB
    misalignment_jitter: float = 0.0  # extra per-drive random shift, uniform in +-jitter px
    people_per_frame: float = 6.0  # mean pedestrians in view
    crowd_probability: float = 0.3  # chance that a spawn is a group of 3-7 people
    person_height_range: tuple[float, float] = (20.0, 200.0)  # px at height 512 (scaled with image height)
    tiny_person_fraction: float = 0.1  # people drawn below the range's minimum (become ignore regions)
    cars_per_view: float = 1.5
    poles_per_view: float = 2.0
    hot_wall_probability: float = 0.35  # by day, chance a building wall is as warm as people
    pan_speed: float = 1.5  # px/frame (random sign and 50-150% per drive)
    ignore_below_height: float = 20.0  # boxes shorter than this are ignore=1
    min_in_frame_fraction: float = 0.6  # people with less of their silhouette inside the image: ignore=1
    min_visible_fraction: float = 0.1  # people hidden more than this are not annotated at all
    image_format: str = "jpg"  # "jpg" (KAIST) or "png" (lossless)
    jpeg_quality: int = 92

    def validate(self) -> None:
        if self.frames < 1 or self.frames_per_drive < 1:
            raise ValueError("frames and frames_per_drive must be >= 1")
        if not 0.0 <= self.day_fraction <= 1.0 or not 0.0 <= self.test_fraction <= 1.0:
            raise ValueError("day_fraction and test_fraction must be in [0, 1]")
        if self.height < 32 or self.width < 32:
            raise ValueError(f"image size {self.width}x{self.height} is too small (>= 32x32)")
        if self.image_format not in ("jpg", "png"):
            raise ValueError(f"image_format={self.image_format!r} must be 'jpg' or 'png'")
        lo, hi = self.person_height_range
        if not 0 < lo < hi:
            raise ValueError(f"person_height_range {self.person_height_range} must satisfy 0 < min < max")


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


@dataclass
class SyntheticObject:
    """One annotated pedestrian in a frame (RGB-image coordinates)."""

    track_id: int
    box: tuple[float, float, float, float]  # xyxy, clipped to the image
    height: float
    occlusion: int  # 0 none, 1 partial (<= 50 % hidden), 2 heavy
    ignore: bool
    visible_fraction: float
    instance_id: int = 0  # value of this person's pixels in SyntheticFrame.instance_map


@dataclass
class SyntheticFrame:
    rgb: np.ndarray  # uint8 HxWx3 RGB
    thermal: np.ndarray  # uint8 HxW
    objects: list[SyntheticObject]
    index: int  # frame number within the drive
    stamp: float  # seconds since the drive started
    time_of_day: str
    instance_map: np.ndarray | None = field(default=None, repr=False)  # uint16 HxW, RGB frame


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


# ---------------------------------------------------------------------------------------------- simulation


class DriveSimulator:
    """State of one drive: background, occluders and walking people; ``render(t)`` draws frame t."""

    def __init__(self, cfg: SyntheticConfig, plan: DrivePlan) -> None:
        self.cfg, self.plan = cfg, plan
        self.rng = np.random.default_rng([cfg.seed, plan.index])
        self.layout = SceneLayout.for_size(cfg.height, cfg.width)
        self.scale = cfg.height / 512.0
        rng = self.rng
        self.pan = cfg.pan_speed * self.scale * rng.uniform(0.5, 1.5) * (1 if rng.random() < 0.5 else -1)
        travel = int(abs(self.pan) * plan.frames) + 2
        self.pano_width = cfg.width + travel
        self.start_offset = 0.0 if self.pan >= 0 else float(travel - 1)
        jitter = cfg.misalignment_jitter
        self.shift = (cfg.misalignment[0] + rng.uniform(-jitter, jitter), cfg.misalignment[1] + rng.uniform(-jitter, jitter))
        self.poles = self._make_poles()
        self.cars = self._make_cars()
        self.background: Background = render_background(
            rng, self.layout, self.pano_width, plan.is_day, self.poles, cfg.hot_wall_probability
        )
        self.ambient_temp = 120.0 if plan.is_day else 75.0
        self.people: list[Pedestrian] = []
        self.next_track = 1
        # Noise banks (pre-drawn once per drive; a random window of one is used per frame).
        rgb_sigma = cfg.noise * (2.5 if plan.is_day else 9.0)
        th_sigma = cfg.noise * 2.0
        self._noise_rgb = [self._noise((cfg.height, cfg.width + 32, 3), rgb_sigma) for _ in range(2)]
        self._noise_th = [self._noise((cfg.height, cfg.width + 32), th_sigma) for _ in range(2)]
        for _ in range(self._poisson(cfg.people_per_frame)):
            self._spawn(anywhere=True)

    # ---- setup
    def _noise(self, shape: tuple[int, ...], sigma: float) -> np.ndarray:
        return np.clip(self.rng.normal(0.0, sigma, shape), -127, 127).astype(np.int16)

    def _poisson(self, mean: float) -> int:
        return int(self.rng.poisson(max(mean, 0.0)))

    def _make_poles(self) -> list[Pole]:
        lay, rng = self.layout, self.rng
        count = self._poisson(self.cfg.poles_per_view * self.pano_width / self.cfg.width)
        poles = []
        for _ in range(count):
            foot = lay.sidewalk_front + rng.uniform(-1.0, 1.0) * self.scale
            person_h = lay.person_height_at(foot, 1.0)
            poles.append(Pole(x=rng.uniform(0, self.pano_width), foot_y=foot, height=2.6 * person_h,
                              width=max(1.5, 0.06 * person_h),
                              temp=rng.uniform(120, 150) if self.plan.is_day else rng.uniform(65, 80)))
        return poles

    def _make_cars(self) -> list[Car]:
        lay, rng, day = self.layout, self.rng, self.plan.is_day
        count = self._poisson(self.cfg.cars_per_view * self.pano_width / self.cfg.width)
        cars = []
        for _ in range(count):
            foot = lay.sidewalk_front + rng.uniform(0.02, 0.16) * self.cfg.height
            person_h = lay.person_height_at(foot, 1.0)
            height = 0.85 * person_h
            running = rng.random() < 0.4
            sunny_hot = day and rng.random() < 0.4
            body_temp = rng.uniform(175, 205) if sunny_hot else (rng.uniform(110, 135) if day else rng.uniform(70, 90))
            cars.append(Car(
                x=rng.uniform(-height, self.pano_width), foot_y=foot, length=2.6 * height, height=height,
                body_rgb=tuple(int(c) for c in rng.integers(30, 230, 3)), body_temp=body_temp,
                engine_temp=rng.uniform(205, 240) if running else body_temp + 5,
                faces_right=bool(rng.random() < 0.5), headlights_on=running and not day,
            ))
        return cars

    def _random_person(self, x: float, foot_y: float, vx_sign: float, stature: float | None = None) -> Pedestrian:
        rng = self.rng
        day = self.plan.is_day
        skin = tuple(int(v) for v in np.array([224, 172, 140]) * rng.uniform(0.45, 1.05))
        shirt = tuple(int(v) for v in rng.integers(15, 240, 3))
        pants = tuple(int(v) for v in rng.integers(10, 140, 3))
        speed = rng.uniform(0.012, 0.03)  # fraction of own height per frame (about 0.5-1.4 m/s at 20 Hz)
        return Pedestrian(
            track_id=self.next_track, x=x, foot_y=foot_y,
            stature=float(stature if stature is not None else rng.uniform(0.9, 1.1)),
            vx=vx_sign * speed, vy=rng.normal(0.0, 0.0015) * self.cfg.height,
            phase=rng.uniform(0, 2 * np.pi), phase_rate=0.45 + 12.0 * speed,
            skin_rgb=skin, shirt_rgb=shirt, pants_rgb=pants,
            skin_temp=rng.uniform(190, 212) if day else rng.uniform(200, 225),
            clothing_insulation=rng.uniform(0.1, 0.8),
        )

    def _sample_height(self) -> float:
        lo, hi = (v * self.scale for v in self.cfg.person_height_range)
        if self.rng.random() < self.cfg.tiny_person_fraction:
            return float(self.rng.uniform(0.5 * lo, lo))
        return float(np.exp(self.rng.uniform(np.log(lo), np.log(hi))))

    def _spawn(self, anywhere: bool, view_x: float = 0.0) -> None:
        rng, cfg = self.rng, self.cfg
        group = int(rng.integers(3, 8)) if rng.random() < cfg.crowd_probability else 1
        height = self._sample_height()
        stature = rng.uniform(0.9, 1.1)
        foot = self.layout.foot_y_for_height(height, stature)
        direction = 1.0 if rng.random() < 0.5 else -1.0
        if anywhere:
            x = view_x + rng.uniform(0, cfg.width)
        else:  # enter from the side the person walks away from
            x = view_x - 0.3 * height if direction > 0 else view_x + cfg.width + 0.3 * height
        for k in range(group):
            st = stature * rng.uniform(0.93, 1.07)
            fy = foot + rng.normal(0, 0.012) * cfg.height * (k > 0)
            px = x - direction * k * rng.uniform(0.15, 0.45) * height
            self.people.append(self._random_person(px, fy, direction, st))
            self.next_track += 1

    # ---- per frame
    def view_x(self, t: int) -> float:
        return self.start_offset + self.pan * t

    def step(self, t: int) -> None:
        """Advance everyone one frame, drop people who left the view, spawn newcomers."""
        view = self.view_x(t)
        lay = self.layout
        for p in self.people:
            h = lay.person_height_at(p.foot_y, p.stature)
            p.x += p.vx * h
            p.foot_y = float(np.clip(p.foot_y + p.vy, lay.horizon + 2, self.cfg.height * 0.98))
            p.phase += p.phase_rate
        margin = 0.5 * self.cfg.width
        self.people = [p for p in self.people if view - margin < p.x < view + self.cfg.width + margin]
        if len(self.people) < self.cfg.people_per_frame and self.rng.random() < 0.15:
            self._spawn(anywhere=False, view_x=view)

    def render(self, t: int, keep_instance_map: bool = False) -> SyntheticFrame:
        cfg, lay, day = self.cfg, self.layout, self.plan.is_day
        H, W = cfg.height, cfg.width
        view = self.view_x(t)
        x0 = int(round(view))
        x0 = min(max(x0, 0), self.pano_width - W)
        frac = view - x0  # sub-pixel part of the pan, applied to foreground objects
        bg = self.background
        layers = FrameLayers(bg.rgb[:, x0:x0 + W].copy(), bg.thermal[:, x0:x0 + W].copy(),
                             np.zeros((H, W), np.uint16))
        light = bg.light[:, x0:x0 + W]

        def light_at(x: float, y: float) -> float:
            return float(light[int(np.clip(y, 0, H - 1)), int(np.clip(x, 0, W - 1))]) if not day else 1.0

        # Far-to-near drawing order over every foreground object.
        items: list[tuple[float, int, object]] = []
        items += [(p.foot_y, 0, p) for p in self.people]
        items += [(c.foot_y, 1, c) for c in self.cars]
        items += [(q.foot_y, 2, q) for q in self.poles]
        items.sort(key=lambda it: (it[0], it[1]))
        drawn = []
        for n, (_, kind, obj) in enumerate(items):
            if kind == 0:
                p: Pedestrian = obj  # type: ignore[assignment]
                h = lay.person_height_at(p.foot_y, p.stature)
                x = p.x - view
                if h < 2 or x < -h or x > W + h:
                    continue
                drawn.append(draw_person(layers, p, x, h, max(0.12, light_at(x, p.foot_y)), self.ambient_temp, n + 1))
            elif kind == 1:
                c: Car = obj  # type: ignore[assignment]
                x = c.x - x0 - frac
                if x + c.length >= 0 and x <= W:
                    draw_car(layers, c, x, max(0.15, light_at(x + c.length / 2, c.foot_y)), day)
            else:
                q: Pole = obj  # type: ignore[assignment]
                x = q.x - x0 - frac
                if -q.width <= x <= W + q.width:
                    draw_pole(layers, q, x, max(0.2, light_at(x, q.foot_y)), day)

        objects = self._annotate(layers, drawn)
        rgb, thermal = self._camera_effects(layers.rgb, layers.thermal, t)
        return SyntheticFrame(rgb, thermal, objects, t, t / cfg.fps, self.plan.time_of_day,
                              layers.instance_map if keep_instance_map else None)

    def _annotate(self, layers: FrameLayers, drawn: list) -> list[SyntheticObject]:
        cfg = self.cfg
        H, W = cfg.height, cfg.width
        counts = np.bincount(layers.instance_map.ravel(), minlength=len(drawn) + 2)
        objects = []
        for d in drawn:
            if d.area_in_frame == 0:
                continue
            visible = int(counts[d.instance_id]) if d.instance_id < len(counts) else 0
            vis_frac = visible / d.area_in_frame
            if vis_frac < cfg.min_visible_fraction:
                continue
            x1, y1, x2, y2 = d.box
            box = (max(0.0, x1), max(0.0, y1), min(float(W), x2), min(float(H), y2))
            height = box[3] - box[1]
            hidden = 1.0 - vis_frac
            occlusion = 0 if hidden < 0.1 else (1 if hidden <= 0.5 else 2)
            ignore = height < cfg.ignore_below_height or d.area_in_frame / d.area < cfg.min_in_frame_fraction
            objects.append(SyntheticObject(d.track_id, box, height, occlusion, bool(ignore), vis_frac, d.instance_id))
        return objects

    def _camera_effects(self, rgb: np.ndarray, thermal: np.ndarray, t: int) -> tuple[np.ndarray, np.ndarray]:
        cfg = self.cfg
        H, W = cfg.height, cfg.width
        # Thermal optics: soft edges, then the thermal camera's offset against the RGB one.
        sigma = 0.6 + 0.8 * (H / 512.0)
        thermal = cv2.GaussianBlur(thermal, (0, 0), sigma)
        dx, dy = self.shift
        if dx or dy:
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            thermal = cv2.warpAffine(thermal, m, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if cfg.noise > 0:
            k = int(self.rng.integers(0, 2))
            off = int(self.rng.integers(0, 32))
            rgb = np.clip(rgb.astype(np.int16) + self._noise_rgb[k][:, off:off + W], 0, 255).astype(np.uint8)
            thermal = np.clip(thermal.astype(np.int16) + self._noise_th[k][:, off:off + W], 0, 255).astype(np.uint8)
        return rgb, thermal


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
    start = time.perf_counter()
    for plan in plans:
        for frame in generate_drive(cfg, plan):
            name = plan.image_name(frame.index)
            set_dir, video, stem = name.split("/")
            img_dir = root / "images" / set_dir / video
            _write_image(img_dir / "visible" / f"{stem}.{cfg.image_format}", frame.rgb[..., ::-1], cfg)
            _write_image(img_dir / "lwir" / f"{stem}.{cfg.image_format}", frame.thermal, cfg)
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
                    "track_id": o.track_id,
                })
                bbgt.append(BbGtObject("person", (x1, y1, w, h), o.occlusion > 0, (0.0, 0.0, 0.0, 0.0), o.ignore))
                positives[plan.split] += int(not o.ignore)
            write_bbgt(root / "annotations" / set_dir / video / f"{stem}.txt", bbgt)
            lists[plan.split].append(name)
    seconds = time.perf_counter() - start
    (root / "imageSets").mkdir(exist_ok=True)
    for split in ("train", "test"):
        (root / "imageSets" / f"{split}.txt").write_text("".join(f"{n}\n" for n in lists[split]))
        (root / "annotations" / f"{split}.json").write_text(json.dumps(coco[split]))
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
