"""KAIST multispectral pedestrian dataset (and anything written in its layout, e.g. the synthetic drives).

Layout::

    <root>/images/setXX/VYYY/visible/IZZZZZ.jpg     RGB frame
    <root>/images/setXX/VYYY/lwir/IZZZZZ.jpg        thermal frame, registered to the RGB one
    <root>/annotations/setXX/VYYY/IZZZZZ.txt        bbGt v3 labels (sanitized training labels)
    <root>/imageSets/train-all-02.txt               one ``setXX/VYYY/IZZZZZ`` per line

Test labels can come instead from a COCO-style JSON in the KAIST evaluation schema (``images[].im_name``,
``annotations[].bbox`` x/y/w/h, ``ignore``), e.g. ``KAIST_annotation.json`` (xz copy in test/data/kaist/).

Labels not in ``class_names`` (``people``, ``person?``, ``cyclist``, ...) become ignore regions, as do
objects flagged ``ignore`` and, if ``min_height`` is set, boxes shorter than it.
"""
from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from .base import PairDataset
from .bbgt import read_bbgt
from .images import read_rgb, read_thermal
from .sample import Sample, make_targets

IMAGE_EXTENSIONS = (".jpg", ".png", ".jpeg")
ANNOTATION_SOURCES = ("auto", "bbgt", "json")


def read_image_list(path: str | Path) -> list[str]:
    """Image names (``setXX/VYYY/IZZZZZ``) from a KAIST image-set file; blank lines and ``#`` comments skipped.

    Extensions and a leading ``images/`` are stripped, so lists written by other tools also work.
    """
    names = []
    for raw in Path(path).read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split()[0].replace("\\", "/")
        for ext in IMAGE_EXTENSIONS + (".txt",):
            if name.lower().endswith(ext):
                name = name[: -len(ext)]
        names.append(name.removeprefix("images/"))
    return names


def _split_name(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 3:
        raise ValueError(f"image name {name!r} is not of the form setXX/VYYY/IZZZZZ")
    return parts[0], parts[1], parts[2]


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
        annotation_source: ``"auto"`` (bbGt files if ``<root>/annotations/`` exists), ``"bbgt"``, or the
            path of a COCO-style JSON in the KAIST eval schema.
        transforms: callable Sample -> Sample (see ``data/transforms.py``).
        min_height: boxes shorter than this (pixels) become ignore regions (0 keeps all).
    """

    def __init__(
        self,
        root: str | Path,
        image_list: str | Path,
        class_names: Sequence[str] = ("person",),
        annotation_source: str | Path = "auto",
        transforms: Callable[[Sample], Sample] | None = None,
        min_height: float = 0.0,
    ) -> None:
        super().__init__(transforms)
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(
                f"KAIST dataset root {self.root} does not exist; point it at the folder holding images/ "
                "(or generate a synthetic one: python -m lsi_perception.data.synthetic --out DIR)"
            )
        self.class_names = tuple(class_names)
        self.min_height = float(min_height)
        list_path = Path(image_list)
        if not list_path.is_file() and (self.root / "imageSets" / list_path).is_file():
            list_path = self.root / "imageSets" / list_path
        if not list_path.is_file():
            raise FileNotFoundError(f"image list {image_list} not found (also looked in {self.root / 'imageSets'})")
        self.image_list_path = list_path
        self._json_objects: dict[str, list[tuple[list[float], str, bool]]] | None = None
        self.annotation_mode = self._resolve_annotation_source(annotation_source)
        self.names: list[str] = []
        self._pairs: list[tuple[Path, Path]] = []
        self._index_images(read_image_list(list_path))

    # ------------------------------------------------------------------ indexing
    def _resolve_annotation_source(self, source: str | Path) -> str:
        src = str(source)
        if src == "auto":
            return "bbgt" if (self.root / "annotations").is_dir() else "none"
        if src == "bbgt":
            if not (self.root / "annotations").is_dir():
                raise FileNotFoundError(f"annotation_source='bbgt' but {self.root / 'annotations'} does not exist")
            return "bbgt"
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(
                f"annotation_source {source!r} is neither 'auto', 'bbgt' nor an existing COCO-style JSON file"
            )
        self._json_objects = self._load_json(path)
        return "json"

    def _index_images(self, names: list[str]) -> None:
        missing: list[str] = []
        for name in names:
            set_id, video, frame = _split_name(name)
            folder = self.root / "images" / set_id / video
            rgb = _find_image(folder / "visible", frame)
            th = _find_image(folder / "lwir", frame)
            if rgb is None or th is None:
                missing.append(str(folder / ("visible" if rgb is None else "lwir") / frame))
                continue
            self.names.append(name)
            self._pairs.append((rgb, th))
        if missing:
            warnings.warn(
                f"KaistDataset: {len(missing)} of {len(names)} entries in {self.image_list_path} have no image "
                f"pair and are skipped (first: {missing[0]}.jpg|png)",
                stacklevel=3,
            )

    def _load_json(self, path: Path) -> dict[str, list[tuple[list[float], str, bool]]]:
        data = json.loads(path.read_text())
        if "images" not in data or "annotations" not in data:
            raise ValueError(f"{path} is not a COCO-style annotation file (needs 'images' and 'annotations')")
        cat_names = {c["id"]: c["name"] for c in data.get("categories", [])}
        id_to_name = {img["id"]: img.get("im_name", img.get("file_name", "")) for img in data["images"]}
        objects: dict[str, list[tuple[list[float], str, bool]]] = {n: [] for n in id_to_name.values()}
        for ann in data["annotations"]:
            name = id_to_name.get(ann["image_id"])
            if name is None:
                continue
            label = cat_names.get(ann.get("category_id", 1), "person")
            objects[name].append((list(ann["bbox"]), label, bool(ann.get("ignore", 0))))
        return objects

    # ------------------------------------------------------------------ reading
    def _objects(self, name: str) -> list[tuple[list[float], str, bool]]:
        """(x, y, w, h), label, ignore flag for every object of image ``name``."""
        if self.annotation_mode == "json":
            assert self._json_objects is not None
            return self._json_objects.get(name, [])
        if self.annotation_mode == "none":
            return []
        set_id, video, frame = _split_name(name)
        base = self.root / "annotations" / set_id / video
        for candidate in (base / f"{frame}.txt", base / "visible" / f"{frame}.txt",
                          self.root / "annotations" / f"{set_id}_{video}_{frame}.txt"):
            if candidate.is_file():
                return [(list(o.box), o.label, o.ignore) for o in read_bbgt(candidate)]
        return []  # KAIST ships no file for frames without objects

    def targets(self, name: str) -> dict[str, np.ndarray]:
        boxes, labels, ignore = [], [], []
        for (x, y, w, h), label, ign in self._objects(name):
            if w <= 0 or h <= 0:
                continue
            is_class = label in self.class_names
            boxes.append([x, y, x + w, y + h])
            labels.append(self.class_names.index(label) if is_class else 0)
            ignore.append(ign or not is_class or h < self.min_height)
        return make_targets(boxes, labels, ignore)

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

    def __len__(self) -> int:
        return len(self.names)
