"""UTokyo multispectral object-detection dataset (Karasawa et al., ACM MM 2017 Thematic Workshops).

Layout of the released ``ir_det_dataset`` folder (from public code that loads it; the authors' page could
not be read from here)::

    <root>/Images/{rgb,fir,mir,nir}/NAME.png           RGB and FIR 640x480, MIR and NIR 320x256
    <root>/labels/{fir,...}/NAME.txt                    YOLO labels per band: "class cx cy w h", normalized
    <root>/ConvertedImages/{rgb,fir,mir,nir}/NAME.png   the bands converted to one 320x256 frame
    <root>/Annotations_Converted/NAME.xml               VOC labels in that 320x256 frame, with <time>day|night</time>
    (also Annotations_ConvertedSummarized/, and in some copies Annotations/ in the Images/ frame)

``label_source`` (data.label_source): ``fir`` (default: the FIR band's YOLO labels, scaled to the RGB
image), ``rgb`` (``labels/rgb``, where a copy has it), ``voc_converted`` (``Annotations_Converted*/`` with
the ``ConvertedImages/`` pair, the frame those boxes are in; without ``ConvertedImages/`` the boxes are
scaled from the file's ``<size>``, else 320x256, to ``Images/``) or ``voc`` (``Annotations/``, in the
``Images/`` frame). YOLO class indices name ``yolo_class_order[i]`` (data.yolo_classes; the release states
no order: ``UTOKYO_YOLO_CLASSES`` is what public loaders use). Only RGB + FIR are used (FIR is the thermal
band); FIR is resized to the RGB size, parallax between the two cameras is left as is. Day / night comes
from the ``<time>`` tag of the frame's VOC file, where one exists.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path

import cv2

from .base import PairDataset
from .images import read_rgb, read_thermal
from .sample import Sample, targets_from_xyxy
from .voc import read_voc

UTOKYO_YOLO_CLASSES = ("person", "car", "bike", "color_cone", "car_stop", "bump", "hole", "animal")
LABEL_SOURCES = ("fir", "rgb", "voc_converted", "voc")
CONVERTED_FOLDERS = ("Annotations_Converted", "Annotations_ConvertedSummarized")
CONVERTED_SIZE = (320, 256)  # (width, height) of ConvertedImages/ and of Annotations_Converted's boxes
IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp")


def _images_dir(root: Path, converted: bool) -> Path:
    names = ("ConvertedImages",) if converted else ("Images", "images")
    for name in names:
        if (root / name).is_dir():
            return root / name
    raise FileNotFoundError(f"{root} has no {names[0]}/ folder; expected <root>/{names[0]}/{{rgb,fir}}/NAME.png")


def read_yolo_labels(path: Path, width: int, height: int) -> list[tuple[int, list[float]]] | None:
    """(class index, xyxy pixels) per line of a YOLO label file; None when the file does not exist."""
    if not path.is_file():
        return None
    out = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) < 5:
            raise ValueError(f"{path}:{lineno}: expected 'class cx cy w h', got {line!r}")
        cls = int(float(parts[0]))
        cx, cy, bw, bh = (float(v) for v in parts[1:5])
        out.append((cls, [(cx - bw / 2) * width, (cy - bh / 2) * height, (cx + bw / 2) * width, (cy + bh / 2) * height]))
    return out


def _image(folder: Path, stem: str) -> Path | None:
    return next((folder / f"{stem}{e}" for e in IMAGE_EXTS if (folder / f"{stem}{e}").is_file()), None)


class UTokyoDataset(PairDataset):
    """RGB + FIR pairs of the UTokyo release as Sample dicts (boxes in the RGB image).

    Args:
        root: the ``ir_det_dataset`` folder.
        image_list: a file of image stems (``000123`` or ``000123.png`` per line, looked up in the root too);
            None = every RGB image that has a FIR partner.
        class_names: positive classes; other classes (cars, cones, ...) are dropped, not ignore regions.
        label_source: see the module docstring.
        yolo_class_order: class name of each YOLO index.
        min_height: boxes shorter than this (RGB pixels) become ignore regions.
        missing_labels: a frame without a label file is dropped (``skip``), pedestrian-free (``empty``) or an
            error (``error``).
    """

    def __init__(
        self,
        root: str | Path,
        image_list: str | Path | None = None,
        class_names: Sequence[str] = ("person",),
        label_source: str = "fir",
        transforms: Callable[[Sample], Sample] | None = None,
        yolo_class_order: Sequence[str] = UTOKYO_YOLO_CLASSES,
        min_height: float = 0.0,
        missing_labels: str = "skip",
    ) -> None:
        super().__init__(transforms)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"UTokyo dataset root {self.root} does not exist (expected the ir_det_dataset folder)")
        if label_source not in LABEL_SOURCES:
            raise ValueError(f"label_source={label_source!r} must be one of {', '.join(LABEL_SOURCES)}")
        self.class_names = tuple(class_names)
        self.label_source = self.label_kind = label_source
        self.yolo_class_order = tuple(yolo_class_order)
        self.min_height = float(min_height)
        self.label_dir = self._label_dir()
        converted = label_source == "voc_converted" and (self.root / "ConvertedImages").is_dir()
        self.label_frame_is_image = label_source != "voc_converted" or converted
        images = _images_dir(self.root, converted)
        self.rgb_dir, self.fir_dir = images / "rgb", images / "fir"
        for band in (self.rgb_dir, self.fir_dir):
            if not band.is_dir():
                raise FileNotFoundError(f"UTokyo band folder {band} does not exist")
        stems = self._stems(image_list)
        for stem in stems:
            rgb, fir = _image(self.rgb_dir, stem), _image(self.fir_dir, stem)
            if rgb is None or fir is None:
                self.missing_pairs.append(stem)
                self.missing_modality[stem] = "rgb" if rgb is None else "thermal"
                continue
            if missing_labels != "empty" and not self._label_path(stem).is_file():
                if missing_labels == "error":
                    raise FileNotFoundError(f"no label file {self._label_path(stem)} for {stem}; a frame without a label "
                                            "file is not a frame without pedestrians")
                self.unlabelled.append(stem)
                continue
            self.names.append(stem)
            self._pairs.append((rgb, fir))
        if self.missing_pairs:
            first = self.missing_pairs[0]
            warnings.warn(f"UTokyoDataset: {len(self.missing_pairs)} entries lack an RGB or FIR image and are skipped "
                          f"(first: {first}, no {self.missing_modality[first]} image in {self.rgb_dir.parent})",
                          stacklevel=2)

    # ------------------------------------------------------------------ indexing
    def _label_dir(self) -> Path:
        if self.label_source in ("fir", "rgb"):
            folder = self.root / "labels" / self.label_source
        elif self.label_source == "voc":
            folder = self.root / "Annotations"
        else:
            folder = next((self.root / f for f in CONVERTED_FOLDERS if (self.root / f).is_dir()), self.root / CONVERTED_FOLDERS[0])
        if not folder.is_dir():
            present = sorted(p.name for p in self.root.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"UTokyo labels for label_source={self.label_source} expected in {folder}, which does not exist (the root "
                f"has: {', '.join(present)}); choose data.label_source among {', '.join(LABEL_SOURCES)}")
        return folder

    def _stems(self, image_list: str | Path | None) -> list[str]:
        if image_list is None:
            return sorted(p.stem for p in self.rgb_dir.iterdir() if p.suffix.lower() in IMAGE_EXTS)
        list_path = Path(image_list)
        if not list_path.is_file() and (self.root / list_path).is_file():
            list_path = self.root / list_path
        if not list_path.is_file():
            raise FileNotFoundError(f"UTokyo image list {image_list} not found (also looked in {self.root})")
        self.image_list_path = list_path
        return [Path(line.split()[0]).stem for line in list_path.read_text().splitlines() if line.strip()]

    def _label_path(self, stem: str) -> Path:
        return self.label_dir / f"{stem}{'.txt' if self.label_source in ('fir', 'rgb') else '.xml'}"

    @cached_property
    def _voc_folders(self) -> list[Path]:
        return [self.root / f for f in (*CONVERTED_FOLDERS, "Annotations") if (self.root / f).is_dir()]

    def describe_labels(self) -> str:
        return f"{self.label_source} labels in {self.label_dir}"

    def has_labels(self, index: int) -> bool:
        return self._label_path(self.names[index]).is_file()

    def time_of_day(self, index: int) -> str:
        """The ``<time>`` tag of the frame's VOC file (converted or not), else "unknown"."""
        stem = self.names[index]
        for folder in self._voc_folders:
            path = folder / f"{stem}.xml"
            if path.is_file():
                time = read_voc(path).time
                if time in ("day", "night"):
                    return time
        return "unknown"

    # ------------------------------------------------------------------ reading
    def _sizes(self, index: int) -> tuple[tuple[int, int], tuple[int, int]]:
        """((width, height) of the RGB image, of the FIR image), from the files' headers."""
        from .images import image_size

        rgb, fir = self._pairs[index]
        return image_size(rgb), image_size(fir)

    def _objects(self, index: int, rgb_wh: tuple[int, int], fir_wh: tuple[int, int]):
        stem = self.names[index]
        path = self._label_path(stem)
        if self.label_source in ("fir", "rgb"):
            w, h = fir_wh if self.label_source == "fir" else rgb_wh
            raw = read_yolo_labels(path, w, h) or []
            sx, sy = rgb_wh[0] / w, rgb_wh[1] / h  # that band's pixels -> RGB pixels
            return [(self.yolo_class_order[c] if 0 <= c < len(self.yolo_class_order) else f"class{c}",
                     (b[0] * sx, b[1] * sy, b[2] * sx, b[3] * sy), False) for c, b in raw]
        voc = read_voc(path) if path.is_file() else None
        if voc is None:
            return []
        sx = sy = 1.0
        if not self.label_frame_is_image:  # converted boxes on the original images: scale from their frame
            fw, fh = voc.size or CONVERTED_SIZE
            sx, sy = rgb_wh[0] / fw, rgb_wh[1] / fh
        return [(o.name, (o.xyxy[0] * sx, o.xyxy[1] * sy, o.xyxy[2] * sx, o.xyxy[3] * sy), o.difficult)
                for o in voc.objects]

    def targets_at(self, index: int, sizes: tuple[tuple[int, int], tuple[int, int]] | None = None):
        rgb_wh, fir_wh = sizes or self._sizes(index)
        return targets_from_xyxy(self._objects(index, rgb_wh, fir_wh), self.class_names, rgb_wh, self.min_height)

    def load(self, index: int) -> Sample:
        stem = self.names[index]
        rgb_path, fir_path = self._pairs[index]
        rgb = read_rgb(rgb_path)
        fir = read_thermal(fir_path)
        fir_wh = (fir.shape[1], fir.shape[0])
        if fir.shape != rgb.shape[:2]:
            fir = cv2.resize(fir, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        targets = self.targets_at(index, ((rgb.shape[1], rgb.shape[0]), fir_wh))
        return {"rgb": rgb, "thermal": fir, **targets, "image_id": stem, "index": index}
