"""UTokyo multispectral object-detection dataset (Karasawa et al., ACM MM 2017 Thematic Workshops).

Assumed layout of the released ``ir_det_dataset`` folder (see data/README.md for the sources)::

    <root>/Images/{rgb,fir,mir,nir}/NNNNNN.png     one file per band; RGB and FIR are 640x480
    <root>/labels/{rgb,fir,...}/NNNNNN.txt         YOLO labels per band: "class cx cy w h" (normalized)
    <root>/Annotations/NNNNNN.xml                  Pascal-VOC labels (names bike/car/car_stop/color_cone/person)
    <root>/train.txt, <root>/val.txt ...           optional image lists (one stem per line)

Only RGB + FIR are used (FIR is the thermal band). The release's RGB and FIR frames are not pixel-
registered; the FIR image is resized to the RGB size and the boxes are those of ``label_source``'s band
(default the RGB labels). Classes other than ``class_names`` are dropped (cars are not ignore regions).
"""
from __future__ import annotations

import warnings
import xml.etree.ElementTree as ET
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2
import numpy as np

from .base import PairDataset
from .images import read_rgb, read_thermal
from .sample import Sample, make_targets

# Class index order of the YOLO label files, as used by public loaders of the release (not stated by
# the authors; checked visually by others). Override with ``yolo_class_order`` if your copy differs.
UTOKYO_YOLO_CLASSES = ("person", "car", "bike", "color_cone", "car_stop", "bump", "hole", "animal")
LABEL_SOURCES = ("rgb", "fir", "voc")


def _images_dir(root: Path) -> Path:
    for name in ("Images", "images"):
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"{root} has no Images/ folder; expected <root>/Images/{{rgb,fir}}/NNNNNN.png")


def read_yolo_labels(path: Path, width: int, height: int) -> list[tuple[int, list[float]]]:
    """(class index, xyxy pixels) per line of a YOLO label file; a missing file means no objects."""
    if not path.is_file():
        return []
    out = []
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5:
            raise ValueError(f"{path}:{lineno}: expected 'class cx cy w h', got {line!r}")
        cls = int(float(parts[0]))
        cx, cy, bw, bh = (float(v) for v in parts[1:5])
        out.append((cls, [(cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height]))
    return out


def read_voc_labels(path: Path) -> list[tuple[str, list[float]]]:
    """(class name, xyxy pixels) per ``object`` of a Pascal-VOC XML file; a missing file means no objects."""
    if not path.is_file():
        return []
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid XML: {exc}") from exc
    out = []
    for obj in root.iter("object"):
        name, box = obj.findtext("name"), obj.find("bndbox")
        if name is None or box is None:
            continue
        xyxy = [float(box.findtext(k) or 0.0) for k in ("xmin", "ymin", "xmax", "ymax")]
        out.append((name.strip(), xyxy))
    return out


class UTokyoDataset(PairDataset):
    """RGB + FIR pairs of the UTokyo release as Sample dicts (boxes in the RGB image).

    Args:
        root: the ``ir_det_dataset`` folder.
        image_list: a file of image stems (``000123`` or ``000123.png`` per line); None = every RGB image
            that has a FIR partner.
        class_names: positive classes (names as in ``UTOKYO_YOLO_CLASSES``).
        label_source: ``"rgb"`` / ``"fir"`` (YOLO labels of that band) or ``"voc"`` (Annotations/*.xml).
        yolo_class_order: class name of each YOLO index.
        min_height: boxes shorter than this (RGB pixels) become ignore regions.
    """

    def __init__(
        self,
        root: str | Path,
        image_list: str | Path | None = None,
        class_names: Sequence[str] = ("person",),
        label_source: str = "rgb",
        transforms: Callable[[Sample], Sample] | None = None,
        yolo_class_order: Sequence[str] = UTOKYO_YOLO_CLASSES,
        min_height: float = 0.0,
    ) -> None:
        super().__init__(transforms)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"UTokyo dataset root {self.root} does not exist (expected the ir_det_dataset folder)")
        if label_source not in LABEL_SOURCES:
            raise ValueError(f"label_source={label_source!r} must be one of {LABEL_SOURCES}")
        self.class_names = tuple(class_names)
        self.label_source = label_source
        self.yolo_class_order = tuple(yolo_class_order)
        self.min_height = float(min_height)
        images = _images_dir(self.root)
        self.rgb_dir, self.fir_dir = images / "rgb", images / "fir"
        if image_list is None:
            stems = sorted(p.stem for p in self.rgb_dir.glob("*.png"))
        else:
            list_path = Path(image_list)
            if not list_path.is_file() and (self.root / list_path).is_file():
                list_path = self.root / list_path
            if not list_path.is_file():
                raise FileNotFoundError(f"UTokyo image list {image_list} not found (also looked in {self.root})")
            stems = [Path(line.split()[0]).stem for line in list_path.read_text().splitlines() if line.strip()]
        self.names: list[str] = []
        missing = []
        for stem in stems:
            if (self.rgb_dir / f"{stem}.png").is_file() and (self.fir_dir / f"{stem}.png").is_file():
                self.names.append(stem)
            else:
                missing.append(stem)
        if missing:
            warnings.warn(f"UTokyoDataset: {len(missing)} entries lack an RGB or FIR image and are skipped "
                          f"(first: {self.rgb_dir / missing[0]}.png)", stacklevel=2)

    def __len__(self) -> int:
        return len(self.names)

    def _objects(self, stem: str, rgb_hw: tuple[int, int], fir_hw: tuple[int, int]) -> list[tuple[str, list[float]]]:
        if self.label_source == "voc":
            return read_voc_labels(self.root / "Annotations" / f"{stem}.xml")
        h, w = rgb_hw if self.label_source == "rgb" else fir_hw
        raw = read_yolo_labels(self.root / "labels" / self.label_source / f"{stem}.txt", w, h)
        sx, sy = rgb_hw[1] / w, rgb_hw[0] / h  # FIR labels -> RGB pixels
        return [(self.yolo_class_order[c] if 0 <= c < len(self.yolo_class_order) else f"class{c}",
                 [b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy]) for c, b in raw]

    def load(self, index: int) -> Sample:
        stem = self.names[index]
        rgb = read_rgb(self.rgb_dir / f"{stem}.png")
        fir = read_thermal(self.fir_dir / f"{stem}.png")
        fir_hw = fir.shape[:2]
        if fir.shape != rgb.shape[:2]:
            fir = cv2.resize(fir, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        boxes, labels, ignore = [], [], []
        h_img, w_img = rgb.shape[:2]
        for name, (x1, y1, x2, y2) in self._objects(stem, rgb.shape[:2], fir_hw):
            if name not in self.class_names:
                continue
            x1, x2 = float(np.clip(x1, 0, w_img)), float(np.clip(x2, 0, w_img))
            y1, y2 = float(np.clip(y1, 0, h_img)), float(np.clip(y2, 0, h_img))
            if x2 <= x1 or y2 <= y1:
                continue
            boxes.append([x1, y1, x2, y2])
            labels.append(self.class_names.index(name))
            ignore.append(y2 - y1 < self.min_height)
        return {"rgb": rgb, "thermal": fir, **make_targets(boxes, labels, ignore), "image_id": stem, "index": index}
