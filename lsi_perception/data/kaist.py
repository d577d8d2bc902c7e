"""KAIST multispectral pedestrian dataset (and anything written in its layout, e.g. the synthetic drives).

Layout of the download (``kaist-cvpr15``)::

    <root>/images/setXX/VYYY/visible/IZZZZZ.jpg             RGB frame
    <root>/images/setXX/VYYY/lwir/IZZZZZ.jpg                thermal frame, registered to the RGB one
    <root>/annotations-xml-new-sanitized/setXX/VYYY/IZZZZZ.xml   labels (also annotations-xml-new/, -xml-15/)
    <root>/imageSets/train-all-02.txt                       one ``setXX/VYYY/IZZZZZ`` per line (CRLF ok)

plus, where users add them, ``annotations/`` (bbGt, or KAIST-Paired ``setXX/VYYY/{visible,lwir}/``) and
``annotations_paired/``. Labels may also come from a COCO-style JSON in the KAIST evaluation schema, e.g.
the improved test annotations (``KAIST_annotation.json``, xz copy in test/data/kaist/). Formats and how
a folder's format is recognised: ``kaist_labels.py``.

Labels not in ``class_names`` (``people``, ``person?``, ``cyclist``, ...) become ignore regions, as do
objects flagged ``ignore`` and, if ``min_height`` is set, boxes shorter than it. Occlusion levels (0/1/2)
are kept (``Sample["occlusion"]``), for the evaluator's settings.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from lsi_perception.eval.annotations import time_of_day_from_name

from .base import PairDataset
from .images import read_rgb, read_thermal
from .kaist_labels import LabelObject, resolve_labels, split_name
from .sample import Sample, make_targets

IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg")
ANNOTATION_SOURCES = ("auto", "xml", "bbgt", "paired")  # or a label folder, or a KAIST-schema JSON file
MISSING_LABEL_POLICIES = ("empty", "skip", "error")  # a frame without a label file: no pedestrians | dropped | error


def read_image_list(path: str | Path) -> list[str]:
    """Image names (``setXX/VYYY/IZZZZZ``) from a KAIST image-set file; blank lines and ``#`` comments skipped.

    Extensions and a leading ``images/`` are stripped, so lists written by other tools also work.
    """
    names = []
    for raw in Path(path).read_text(encoding="utf-8", errors="replace").splitlines():  # LF or CRLF
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split()[0].replace("\\", "/")
        for ext in IMAGE_EXTENSIONS + (".txt",):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
        names.append(name.removeprefix("images/"))
    return names


def _find_image(folder: Path, stem: str) -> Path | None:
    for ext in IMAGE_EXTENSIONS:
        p = folder / f"{stem}{ext}"
        if p.is_file():
            return p
    return None


class KaistDataset(PairDataset):
    """RGB-thermal pairs with person boxes; ``__getitem__`` returns a Sample dict (see ``data/sample.py``).

    Args:
        root: dataset root holding ``images/`` (and ``annotations/`` for bbGt labels).
        image_list: image-set file; a bare name (``test-all-20.txt``) is also looked up in
            ``<root>/imageSets/``.
        class_names: positive classes; labels ``person``-like map to their index.
        annotation_source: ``"auto"`` (the first label folder of the download found, its format
            detected), ``"xml"`` (annotations-xml-new-sanitized), ``"bbgt"``, ``"paired"`` (KAIST-Paired),
            a label folder, or a KAIST-schema JSON file (``kaist_labels.resolve_labels``).
        transforms: callable Sample -> Sample (see ``data/transforms.py``).
        min_height: boxes shorter than this (pixels) become ignore regions (0 keeps all).
        paired_root, paired_target: where paired labels live (default ``<root>/annotations_paired``) and
            which box is learnt (``visible`` | ``lwir`` | ``mean`` | ``union``).
        missing_labels: a frame without a label file counts as pedestrian-free (``empty``, for test
            sets whose JSON lists only some images), is dropped (``skip``, listed in ``unlabelled``) or
            is an error (``error``).
    """

    def __init__(
        self,
        root: str | Path,
        image_list: str | Path,
        class_names: Sequence[str] = ("person",),
        annotation_source: str | Path = "auto",
        transforms: Callable[[Sample], Sample] | None = None,
        min_height: float = 0.0,
        paired_root: str | Path | None = None,
        paired_target: str = "visible",
        missing_labels: str = "empty",
    ) -> None:
        super().__init__(transforms)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"KAIST dataset root {self.root} does not exist; point it at the folder holding images/ "
                "(or generate a synthetic one: python -m lsi_perception.data.synthetic --out DIR)"
            )
        if missing_labels not in MISSING_LABEL_POLICIES:
            raise ValueError(f"missing_labels={missing_labels!r} must be one of {', '.join(MISSING_LABEL_POLICIES)}")
        self.class_names = tuple(class_names)
        self.min_height = float(min_height)
        list_path = Path(image_list)
        if not list_path.is_file() and (self.root / "imageSets" / list_path).is_file():
            list_path = self.root / "imageSets" / list_path
        if not list_path.is_file():
            raise FileNotFoundError(f"image list {image_list} not found (also looked in {self.root / 'imageSets'})")
        self.image_list_path = list_path
        self.labels = resolve_labels(self.root, annotation_source, paired_root, paired_target)
        self.annotation_mode = self.label_kind = self.labels.kind
        self.missing_labels = missing_labels
        self.list_entries = 0
        self._index_images(read_image_list(list_path))

    # ------------------------------------------------------------------ indexing

    def _index_images(self, names: list[str]) -> None:
        missing = self.missing_pairs
        self.list_entries = len(names)
        for name in names:
            set_id, video, frame = split_name(name)
            folder = self.root / "images" / set_id / video
            rgb = _find_image(folder / "visible", frame)
            th = _find_image(folder / "lwir", frame)
            if rgb is None or th is None:
                missing.append(name)
                self.missing_modality[name] = "rgb" if rgb is None else "thermal"
                continue
            if self.missing_labels != "empty" and self.labels.objects(name) is None:
                if self.missing_labels == "error":
                    raise FileNotFoundError(
                        f"no label file for {name} ({self.labels.kind} labels); a frame without a label file is "
                        "not a frame without pedestrians. Fix the labels, or pass missing_labels='skip' (drop "
                        "such frames) or 'empty' (count them as pedestrian-free)"
                    )
                self.unlabelled.append(name)
                continue
            self.names.append(name)
            self._pairs.append((rgb, th))
        if missing:
            warnings.warn(
                f"KaistDataset: {len(missing)} of {len(names)} entries in {self.image_list_path} have no image "
                f"pair and are skipped (first: {self.root / 'images' / missing[0]}, no "
                f"{'visible' if self.missing_modality[missing[0]] == 'rgb' else 'lwir'} image)",
                stacklevel=3,
            )

    def describe_labels(self) -> str:
        return self.labels.describe()

    # ------------------------------------------------------------------ reading
    def _objects(self, name: str) -> list[LabelObject]:
        """Every object of image ``name`` (none without a label file)."""
        objects = self.labels.objects(name)
        return [] if objects is None else objects

    def targets(self, name: str) -> dict[str, np.ndarray]:
        """boxes (xyxy), labels, ignore and occlusion (0/1/2) of image ``name``; no image is read."""
        boxes, labels, ignore, occlusion = [], [], [], []
        for (x, y, w, h), label, ign, occ in self._objects(name):
            if w <= 0 or h <= 0:
                continue
            is_class = label in self.class_names
            boxes.append([x, y, x + w, y + h])
            labels.append(self.class_names.index(label) if is_class else 0)
            ignore.append(ign or not is_class or h < self.min_height)
            occlusion.append(occ)
        return make_targets(boxes, labels, ignore, occlusion)

    def targets_at(self, index: int) -> dict[str, np.ndarray]:
        return self.targets(self.names[index])

    def has_labels(self, index: int) -> bool:
        return self.labels.objects(self.names[index]) is not None

    def time_of_day(self, index: int) -> str:
        """KAIST's set-number rule (set00-02, 06-08 day; 03-05, 09-11 night)."""
        return time_of_day_from_name(self.names[index])

    def load(self, index: int) -> Sample:
        """The untransformed sample at ``index`` (raises UnreadableImageError for a corrupt file)."""
        rgb_path, th_path = self._pairs[index]
        rgb = read_rgb(rgb_path)
        thermal = read_thermal(th_path)
        if thermal.shape != rgb.shape[:2]:
            raise ValueError(
                f"{th_path} is {thermal.shape[1]}x{thermal.shape[0]} but {rgb_path} is "
                f"{rgb.shape[1]}x{rgb.shape[0]}; KAIST pairs must be registered to the same size"
            )
        name = self.names[index]
        return {"rgb": rgb, "thermal": thermal, **self.targets(name), "image_id": name, "index": index}
