"""Turn a KAIST-layout sequence (real KAIST or a synthetic drive) into a rosbag2 a camera rig would record.

Layout read (see ``lsi_perception.data.kaist``)::

    <root>/images/setXX/VYYY/{visible,lwir}/IZZZZZ.(jpg|png)
    <root>/annotations/*.json                     KAIST COCO-style ground truth (preferred: occlusion,
                                                  height, time of day), or
    <root>/annotations/setXX/VYYY/IZZZZZ.txt      bbGt v3 per frame
    <root>/imageSets/<name>.txt                   optional frame list (``--image-set``)

Each frame becomes an RGB and a thermal message stamped ``frame_number / rate`` after its sequence's start
(KAIST records at 20 Hz; image lists that keep every 20th frame give 1 Hz bags with real stamps).
Sequences follow each other with a one-second gap. The thermal stamp is offset from the RGB stamp by
``thermal_offset`` plus Gaussian ``jitter``, as two free-running cameras would be, so the pairing of the
node is exercised. Ground truth goes to ``/ground_truth`` (see ``bag.convert``); the per-frame image name
and time of day go to the bag's ``custom_data["lsi_perception.frames"]`` so MR can be split by day/night.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm import tqdm

from lsi_perception.data.bbgt import read_bbgt
from lsi_perception.data.images import read_rgb, read_thermal
from lsi_perception.eval.annotations import time_of_day_from_name
from lsi_perception.pipeline.defaults import RGB_TOPIC, THERMAL_TOPIC
from lsi_perception.pipeline.detection_codec import gt_attributes
from lsi_perception.pipeline.stamps import NS_PER_S

from .convert import compressed_image_message, detection_array_message, image_message
from .writer import BagWriter

FRAMES_KEY = "lsi_perception.frames"
_FRAME_NUMBER = re.compile(r"(\d+)$")
_IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg")


@dataclass
class FromDatasetConfig:
    """How a dataset becomes a bag (defaults: KAIST's 20 Hz, a 5 ms thermal lag with 2 ms jitter)."""

    rgb_topic: str = f"/camera/{RGB_TOPIC}"
    thermal_topic: str = f"/camera/{THERMAL_TOPIC}"
    ground_truth_topic: str = "/ground_truth"
    rgb_frame_id: str = "camera_rgb_optical_frame"
    thermal_frame_id: str = "camera_thermal_optical_frame"
    rate_hz: float = 20.0
    thermal_offset_s: float = 0.005
    jitter_s: float = 0.002
    compressed: bool = False  # CompressedImage on <topic>/compressed (JPEG; 16-bit thermal as PNG)
    storage: str = "mcap"
    start_time_s: float = 1_600_000_000.0  # bag time of the first frame
    sequence_gap_s: float = 1.0
    image_set: str | None = None  # imageSets/<name>.txt; None = every frame under images/
    max_frames: int | None = None
    seed: int = 0
    overwrite: bool = False

    def validate(self) -> None:
        if self.rate_hz <= 0:
            raise ValueError(f"rate_hz={self.rate_hz} must be > 0")
        if self.jitter_s < 0:
            raise ValueError(f"jitter_s={self.jitter_s} must be >= 0")
        if abs(self.thermal_offset_s) + 3 * self.jitter_s >= 0.5 / self.rate_hz:
            raise ValueError(
                f"thermal offset {self.thermal_offset_s} s + 3 x jitter {self.jitter_s} s reaches half a frame period "
                f"({0.5 / self.rate_hz:.4f} s at {self.rate_hz} Hz): thermal frames would pair with the wrong RGB frame"
            )


@dataclass
class GroundTruthBox:
    box_xyxy: tuple[float, float, float, float]
    label: str
    occlusion: int
    ignore: bool
    height: float
    track_id: int | None = None  # the person's identity across the sequence, where the annotations give it


@dataclass
class Frame:
    """One image pair of the dataset and its ground truth (``gt`` None = frame not annotated)."""

    name: str  # setXX/VYYY/IZZZZZ
    rgb_path: Path
    thermal_path: Path
    time_of_day: str = "unknown"
    gt: list[GroundTruthBox] | None = None
    stamp_ns: int = 0
    thermal_stamp_ns: int = 0


@dataclass
class FromDatasetResult:
    path: Path
    frames: int
    counts: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0


# --------------------------------------------------------------------------------------------------
# Dataset layout


def _find_image(folder: Path, stem: str) -> Path | None:
    for ext in _IMAGE_EXTENSIONS:
        if (folder / f"{stem}{ext}").is_file():
            return folder / f"{stem}{ext}"
    return None


def list_frames(root: Path, image_set: str | None = None) -> list[Frame]:
    """The dataset's frames in sequence order, with image paths (no ground truth yet)."""
    if not (root / "images").is_dir():
        raise FileNotFoundError(f"{root / 'images'} does not exist: {root} is not a KAIST-layout dataset "
                                "(expected images/setXX/VYYY/{visible,lwir}/)")
    if image_set is not None:
        list_file = root / "imageSets" / f"{image_set}.txt"
        if not list_file.is_file():
            raise FileNotFoundError(f"image set {list_file} does not exist")
        names = [line.split()[0].removesuffix(".jpg").removesuffix(".png")
                 for line in list_file.read_text().splitlines() if line.strip() and not line.startswith("#")]
    else:
        names = sorted(f"{p.parent.parent.parent.name}/{p.parent.parent.name}/{p.stem}"
                       for p in (root / "images").glob("set*/V*/visible/I*") if p.suffix.lower() in _IMAGE_EXTENSIONS)
    frames = []
    for name in names:
        set_name, seq, stem = name.split("/")
        seq_dir = root / "images" / set_name / seq
        rgb, thermal = _find_image(seq_dir / "visible", stem), _find_image(seq_dir / "lwir", stem)
        if rgb is None or thermal is None:
            raise FileNotFoundError(f"frame {name}: missing {'visible' if rgb is None else 'lwir'} image under {seq_dir}")
        frames.append(Frame(name, rgb, thermal))
    if not frames:
        raise FileNotFoundError(f"no frames found under {root / 'images'}")
    return frames


def attach_ground_truth(root: Path, frames: list[Frame]) -> None:
    """Fill ``frame.gt`` and ``frame.time_of_day`` from the COCO JSON files, else from bbGt text files."""
    by_name = {f.name: f for f in frames}
    for json_path in sorted((root / "annotations").glob("*.json")):
        data = json.loads(json_path.read_text())
        index = {}
        for image in data.get("images", []):
            frame = by_name.get(image.get("im_name", ""))
            if frame is not None:
                index[image["id"]] = frame
                frame.gt = []
                frame.time_of_day = image.get("time_of_day", frame.time_of_day)
        categories = {c["id"]: c["name"] for c in data.get("categories", [])}
        for ann in data.get("annotations", []):
            frame = index.get(ann["image_id"])
            if frame is None:
                continue
            x, y, w, h = ann["bbox"]
            frame.gt.append(GroundTruthBox((x, y, x + w, y + h), categories.get(ann.get("category_id", 1), "person"),
                                           int(ann.get("occlusion", 0)), bool(ann.get("ignore", 0)),
                                           float(ann.get("height", h)), ann.get("track_id")))
    for frame in frames:
        if frame.time_of_day not in ("day", "night"):
            frame.time_of_day = time_of_day_from_name(frame.name)
        if frame.gt is not None:
            continue
        txt = root / "annotations" / f"{frame.name}.txt"
        if txt.is_file():
            frame.gt = [GroundTruthBox(o.xyxy, o.label, int(o.occluded), o.ignore, o.box[3]) for o in read_bbgt(txt)]


def assign_stamps(frames: list[Frame], cfg: FromDatasetConfig) -> None:
    """Set each frame's RGB and thermal stamps (see the module docstring)."""
    rng = np.random.default_rng(cfg.seed)
    start_ns = round(cfg.start_time_s * NS_PER_S)
    gap_ns = round(cfg.sequence_gap_s * NS_PER_S)
    seq_start_ns, current_seq, first_number, last_ns = start_ns, None, 0, start_ns
    for frame in frames:
        seq = frame.name.rsplit("/", 1)[0]
        match = _FRAME_NUMBER.search(frame.name)
        number = int(match.group(1)) if match else 0
        if seq != current_seq:
            seq_start_ns = start_ns if current_seq is None else last_ns + gap_ns
            current_seq, first_number = seq, number
        frame.stamp_ns = last_ns = seq_start_ns + round((number - first_number) * NS_PER_S / cfg.rate_hz)
        lag = cfg.thermal_offset_s + (rng.normal(0.0, cfg.jitter_s) if cfg.jitter_s > 0 else 0.0)
        frame.thermal_stamp_ns = frame.stamp_ns + round(lag * NS_PER_S)


# --------------------------------------------------------------------------------------------------
# Writing


def dataset_to_bag(root: str | Path, out: str | Path, cfg: FromDatasetConfig | None = None,
                   progress: bool = True) -> FromDatasetResult:
    """Write the dataset at ``root`` to a new bag at ``out``; returns what was written."""
    cfg = cfg or FromDatasetConfig()
    cfg.validate()
    root = Path(root)
    frames = list_frames(root, cfg.image_set)[: cfg.max_frames]
    attach_ground_truth(root, frames)
    assign_stamps(frames, cfg)

    suffix = "/compressed" if cfg.compressed else ""
    rgb_topic, thermal_topic = cfg.rgb_topic + suffix, cfg.thermal_topic + suffix
    make_image = compressed_image_message if cfg.compressed else image_message
    has_gt = any(f.gt is not None for f in frames)

    @lru_cache(maxsize=4)
    def load(index: int) -> tuple[np.ndarray, np.ndarray]:
        frame = frames[index]
        return read_rgb(frame.rgb_path), read_thermal(frame.thermal_path)

    events = []  # (bag time, topic order, frame index): written in bag-time order
    for i, f in enumerate(frames):
        events += [(f.stamp_ns, 0, i), (f.thermal_stamp_ns, 1, i)]
        if f.gt is not None:
            events.append((f.stamp_ns, 2, i))
    events.sort()

    out = Path(out)
    with BagWriter(out, storage=cfg.storage, overwrite=cfg.overwrite) as bag:
        bag.set_custom_data(FRAMES_KEY, json.dumps(
            [[f.stamp_ns, f.name, f.time_of_day] for f in frames], separators=(",", ":")))
        for stamp, kind, i in tqdm(events, desc=f"writing {out.name}", unit="msg", disable=not progress):
            frame = frames[i]
            if kind == 0:
                bag.write(rgb_topic, stamp, make_image(load(i)[0], stamp, cfg.rgb_frame_id))
            elif kind == 1:
                bag.write(thermal_topic, stamp, make_image(load(i)[1], stamp, cfg.thermal_frame_id))
            else:
                gt = frame.gt or []
                boxes = np.array([g.box_xyxy for g in gt], np.float64).reshape(-1, 4)
                bag.write(cfg.ground_truth_topic, stamp, detection_array_message(
                    stamp, cfg.rgb_frame_id, boxes, [1.0] * len(gt), [g.label for g in gt],
                    [gt_attributes(g.occlusion, g.ignore, g.height, g.track_id) for g in gt]))
        counts = dict(bag.counts)
    duration = (max(e[0] for e in events) - min(e[0] for e in events)) / NS_PER_S
    if not has_gt:
        counts.setdefault(cfg.ground_truth_topic, 0)
    return FromDatasetResult(out, len(frames), counts, duration)
