"""RoadScene + FLIR ADAS v1 person boxes -> a labelled real RGB-thermal evaluation set (evaluation only).

RoadScene (Xu et al., hanna-xu/RoadScene) holds 221 registered visible / infrared pairs from FLIR ADAS v1
drives, without labels::

    <roadscene>/infrared/FLIR_XXXXX.png          the full 640x512 thermal frame, as FLIR recorded it
    <roadscene>/cropinfrared/FLIR_XXXXX.jpg      a region of it, downscaled (about 1/1.12 - 1/1.24)
    <roadscene>/crop_HR_visible/FLIR_XXXXX.jpg   the RGB frame registered to that thermal crop

FLIR ADAS v1 person boxes for those frames are published as CSV rows
``image_name,class_id,xmin,xmax,ymin,ymax`` in thermal pixels of the full frame (class 1 is person; 2
bicycle, 3 car, 17/18 dog). This module joins the two by frame name:

1. ``locate_crop`` finds where ``cropinfrared`` lies in the full thermal frame: template matching
   (normalized cross-correlation) over an isotropic scale, then per-axis scales around the best one.
   A frame whose best match correlates below ``min_match`` is dropped (the crop is not a plain region of
   that frame), and the report says so.
2. The output thermal image is that region cut from the lossless full frame (``infrared/*.png``, not the
   JPEG crop); the RGB image is ``crop_HR_visible`` resized onto the region (it is registered to the crop,
   hence to the region). Boxes move by the region's origin; a box less than ``min_visible`` inside the
   region becomes an ignore region, one wholly outside is dropped.
3. Frames the CSVs do not list have no labels and are left out; frames they list without a person are
   kept (people-free frames count their false detections).

Output, in the layout ``lsi predict --naming same`` reads, with the ground truth in the schema of
``lsi eval``::

    <out>/visible/FLIR_XXXXX.png   <out>/infrared/FLIR_XXXXX.png   <out>/gt.json   <out>/mapping.json

Time of day is not tagged (FLIR records none, and RoadScene's RGB is brightened, so a brightness rule
misfiles dusk frames): ``lsi eval`` reports the ``all`` column. The real images stay outside the repo:
their licence allows non-commercial research use only; this module only reads them where the user put them.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2
import numpy as np

PERSON_CLASS_ID = 1  # FLIR ADAS v1: 1 person, 2 bicycle, 3 car, 17/18 dog
FOLDERS = ("infrared", "cropinfrared", "crop_HR_visible")
CSV_COLUMNS = ("image_name", "class_id", "xmin", "xmax", "ymin", "ymax")
COARSE_SCALES = tuple(round(0.70 + 0.02 * i, 2) for i in range(34))  # 0.70 .. 1.36: crop size -> region size
FINE_STEPS = tuple(round(-0.02 + 0.005 * i, 3) for i in range(9))    # per-axis refinement around the best


@dataclass(frozen=True)
class CropFit:
    """Where a thermal crop lies in its full frame: region = full[y0:y0+height, x0:x0+width], which the
    crop shows downscaled by (scale_x, scale_y) = region size / crop size."""

    x0: int
    y0: int
    width: int
    height: int
    scale_x: float
    scale_y: float
    score: float  # normalized cross-correlation of the best match, -1..1


@dataclass(frozen=True)
class PersonBox:
    """One FLIR person box, in full-frame thermal pixels (x1, y1, x2, y2)."""

    x1: float
    y1: float
    x2: float
    y2: float


@dataclass
class BuildReport:
    """What ``build_roadscene_eval`` wrote, and every frame it left out with the reason."""

    out_dir: str
    frames: int = 0
    people: int = 0
    people_50px: int = 0
    ignore_regions: int = 0
    frames_without_people: int = 0
    dropped: dict[str, str] = field(default_factory=dict)
    fits: dict[str, dict] = field(default_factory=dict)

    def summary(self) -> str:
        reasons: dict[str, int] = {}
        for reason in self.dropped.values():
            key = reason.split(":")[0]
            reasons[key] = reasons.get(key, 0) + 1
        left = ", ".join(f"{n} {why}" for why, n in sorted(reasons.items())) or "none"
        return (f"wrote {self.frames} RoadScene pairs to {self.out_dir}: {self.people} person boxes "
                f"({self.people_50px} of 50 px or more), {self.ignore_regions} ignore regions, "
                f"{self.frames_without_people} frames without people; left out: {left}")


def read_person_boxes(csv_paths: Iterable[str | Path]) -> dict[str, list[PersonBox]]:
    """Frame name (no extension) -> its person boxes, for every frame the CSVs list (an empty list for a
    frame listed only with other classes). A frame listed in two files is refused: the name would not say
    which recording it is."""
    frames: dict[str, list[PersonBox]] = {}
    owner: dict[str, Path] = {}
    for path in map(Path, csv_paths):
        if not path.is_file():
            raise FileNotFoundError(f"box file {path} not found: give the FLIR ADAS v1 CSVs "
                                    "(image_name,class_id,xmin,xmax,ymin,ymax), e.g. SSD_ADAS/training.csv")
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in CSV_COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise ValueError(f"{path} lacks the columns {missing}; expected a header "
                                 f"{','.join(CSV_COLUMNS)} (FLIR ADAS v1 boxes in thermal pixels)")
            for line, row in enumerate(reader, start=2):
                name = Path(row["image_name"].strip()).stem
                if name in owner and owner[name] != path:
                    raise ValueError(f"frame {name} is listed in both {owner[name]} and {path}; give each "
                                     "recording's boxes once")
                owner[name] = path
                boxes = frames.setdefault(name, [])
                try:
                    class_id = int(row["class_id"])
                    x1, x2, y1, y2 = (float(row[k]) for k in ("xmin", "xmax", "ymin", "ymax"))
                except (TypeError, ValueError) as exc:
                    raise ValueError(f"{path}:{line}: {exc}; every row needs integer class_id and numeric "
                                     "xmin,xmax,ymin,ymax") from exc
                if class_id == PERSON_CLASS_ID and x2 > x1 and y2 > y1:
                    boxes.append(PersonBox(x1, y1, x2, y2))
    return frames


def locate_crop(full: np.ndarray, crop: np.ndarray) -> CropFit:
    """Best placement of ``crop`` (a downscaled region of ``full``; both single-channel) in ``full``."""
    full_f, crop_f = full.astype(np.float32), crop.astype(np.float32)
    fit: CropFit | None = None

    def match(scale_x: float, scale_y: float) -> CropFit | None:
        width, height = round(crop_f.shape[1] * scale_x), round(crop_f.shape[0] * scale_y)
        if not (8 <= width <= full_f.shape[1] and 8 <= height <= full_f.shape[0]):
            return None
        template = cv2.resize(crop_f, (width, height), interpolation=cv2.INTER_LINEAR)
        scores = cv2.matchTemplate(full_f, template, cv2.TM_CCOEFF_NORMED)
        _, best, _, (x0, y0) = cv2.minMaxLoc(scores)
        return CropFit(int(x0), int(y0), width, height, scale_x, scale_y, float(best))

    for scale in COARSE_SCALES:
        candidate = match(scale, scale)
        if candidate is not None and (fit is None or candidate.score > fit.score):
            fit = candidate
    if fit is None:
        raise ValueError(f"a {crop.shape[1]}x{crop.shape[0]} crop fits no scale of a {full.shape[1]}x"
                         f"{full.shape[0]} frame")
    coarse = fit
    for dx in FINE_STEPS:
        for dy in FINE_STEPS:
            candidate = match(round(coarse.scale_x + dx, 3), round(coarse.scale_y + dy, 3))
            if candidate is not None and candidate.score > fit.score:
                fit = candidate
    return fit


def boxes_in_region(boxes: Sequence[PersonBox], fit: CropFit, min_visible: float) -> tuple[list, list]:
    """(people, ignore regions) as [x, y, w, h] in region pixels: a box at least ``min_visible`` inside the
    region is a person (clipped), one partly inside an ignore region, one outside is dropped."""
    people, ignore = [], []
    for box in boxes:
        x1, y1 = max(box.x1 - fit.x0, 0.0), max(box.y1 - fit.y0, 0.0)
        x2, y2 = min(box.x2 - fit.x0, float(fit.width)), min(box.y2 - fit.y0, float(fit.height))
        if x2 <= x1 or y2 <= y1:
            continue
        inside = (x2 - x1) * (y2 - y1) / ((box.x2 - box.x1) * (box.y2 - box.y1))
        (people if inside >= min_visible else ignore).append([x1, y1, x2 - x1, y2 - y1])
    return people, ignore


def _read(path: Path, flags: int) -> np.ndarray:
    image = cv2.imread(str(path), flags)
    if image is None:
        raise ValueError(f"{path} is not a readable image (corrupt or truncated download?); fetch it again")
    return image


def build_roadscene_eval(roadscene_root: str | Path, csv_paths: Sequence[str | Path], out_dir: str | Path,
                         min_match: float = 0.8, min_visible: float = 0.5) -> BuildReport:
    """Write the labelled RoadScene evaluation set (see the module docstring) and return its report."""
    root, out = Path(roadscene_root), Path(out_dir)
    missing = [f for f in FOLDERS if not (root / f).is_dir()]
    if missing:
        raise FileNotFoundError(f"{root} has no {', '.join(missing)} folder(s): give the RoadScene checkout "
                                f"(hanna-xu/RoadScene with {', '.join(FOLDERS)})")
    if not csv_paths:
        raise ValueError("no box files given: pass the FLIR ADAS v1 CSVs with --boxes")
    if not 0.0 < min_visible <= 1.0:
        raise ValueError(f"min_visible must be in (0, 1], got {min_visible}")
    labels = read_person_boxes(csv_paths)
    names = sorted(p.stem for p in (root / "infrared").glob("*.png"))
    if not names:
        raise FileNotFoundError(f"{root / 'infrared'} holds no .png frames")
    for sub in ("visible", "infrared"):
        (out / sub).mkdir(parents=True, exist_ok=True)
    report = BuildReport(str(out))
    images, annotations = [], []
    for name in names:
        if name not in labels:
            report.dropped[name] = "unlabelled: no box file lists this frame"
            continue
        crop_path, rgb_path = root / "cropinfrared" / f"{name}.jpg", root / "crop_HR_visible" / f"{name}.jpg"
        if not crop_path.is_file() or not rgb_path.is_file():
            report.dropped[name] = "incomplete: no cropinfrared or crop_HR_visible image"
            continue
        full = _read(root / "infrared" / f"{name}.png", cv2.IMREAD_GRAYSCALE)
        fit = locate_crop(full, _read(crop_path, cv2.IMREAD_GRAYSCALE))
        report.fits[name] = asdict(fit)
        if fit.score < min_match:
            report.dropped[name] = f"unregistered: best crop match {fit.score:.3f} < {min_match}"
            continue
        thermal = full[fit.y0:fit.y0 + fit.height, fit.x0:fit.x0 + fit.width]
        rgb = cv2.resize(_read(rgb_path, cv2.IMREAD_COLOR), (fit.width, fit.height), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(out / "infrared" / f"{name}.png"), thermal)
        cv2.imwrite(str(out / "visible" / f"{name}.png"), rgb)
        image_id = len(images)
        images.append({"id": image_id, "im_name": name, "width": fit.width, "height": fit.height})
        people, ignore = boxes_in_region(labels[name], fit, min_visible)
        for bbox, flag in [(b, 0) for b in people] + [(b, 1) for b in ignore]:
            annotations.append({"id": len(annotations), "image_id": image_id, "category_id": 1,
                                "bbox": [round(v, 2) for v in bbox], "height": round(bbox[3], 2),
                                "occlusion": 0, "ignore": flag})
        report.frames += 1
        report.people += len(people)
        report.people_50px += sum(b[3] >= 50 for b in people)
        report.ignore_regions += len(ignore)
        report.frames_without_people += not people
    if not images:
        raise ValueError(f"no RoadScene frame was both labelled and registered ({len(report.dropped)} left out, "
                         f"e.g. {next(iter(report.dropped.items()), ('', ''))}); check the --boxes files")
    doc = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    (out / "gt.json").write_text(json.dumps(doc) + "\n")
    (out / "mapping.json").write_text(json.dumps(asdict(report), indent=1) + "\n")
    return report
