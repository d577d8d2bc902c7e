"""Where KAIST-layout labels come from: per-frame bbGt files (e.g. the sanitized training labels),
paired per-modality bbGt files (KAIST-Paired), or a COCO-style JSON in the KAIST evaluation schema.

Every source answers ``objects(name)`` with a list of ``((x, y, w, h), label, ignore)`` or **None when
the frame has no label file**: a missing file is not the same as "no pedestrians", and the dataset
decides what to do with such frames (``missing_labels``).

Paired labels (Zhang et al., ICCV 2019, "Weakly aligned cross-modal learning") annotate each person in
the visible and in the thermal image separately. Accepted file places, under ``paired_root``::

    <paired_root>/setXX/VYYY/{visible,lwir}/IZZZZZ.txt
    <paired_root>/{visible,lwir}/setXX/VYYY/IZZZZZ.txt
    <paired_root>/{visible,lwir}/setXX_VYYY_IZZZZZ.txt

``paired_target`` picks the box the detector learns: ``visible``, ``lwir``, ``mean`` (the average of
the two boxes of a pair, x, y, w, h each) or ``union`` (the box around both). Objects are paired by
their order in the two files; extra objects of either file are kept as they are.
"""
from __future__ import annotations

import json
from pathlib import Path

from .bbgt import read_bbgt

Objects = list[tuple[list[float], str, bool]]
MODALITIES = ("visible", "lwir")
PAIRED_TARGETS = ("visible", "lwir", "mean", "union")


def split_name(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 3:
        raise ValueError(f"image name {name!r} is not of the form setXX/VYYY/IZZZZZ")
    return parts[0], parts[1], parts[2]


def _read(path: Path) -> Objects:
    return [(list(o.box), o.label, o.ignore) for o in read_bbgt(path)]


class BbgtLabels:
    """One bbGt file per frame under ``<root>/annotations``."""

    kind = "bbgt"

    def __init__(self, root: Path) -> None:
        self.base = root / "annotations"
        if not self.base.is_dir():
            raise FileNotFoundError(f"bbGt labels expected under {self.base}, which does not exist")

    def file(self, name: str) -> Path | None:
        set_id, video, frame = split_name(name)
        folder = self.base / set_id / video
        for candidate in (folder / f"{frame}.txt", folder / "visible" / f"{frame}.txt",
                          self.base / f"{set_id}_{video}_{frame}.txt"):
            if candidate.is_file():
                return candidate
        return None

    def objects(self, name: str) -> Objects | None:
        path = self.file(name)
        return None if path is None else _read(path)


class PairedLabels:
    """KAIST-Paired: a visible and a lwir bbGt file per frame (see the module docstring)."""

    kind = "paired"

    def __init__(self, paired_root: Path, target: str = "visible") -> None:
        if target not in PAIRED_TARGETS:
            raise ValueError(f"paired_target={target!r} must be one of {', '.join(PAIRED_TARGETS)}")
        if not paired_root.is_dir():
            raise FileNotFoundError(
                f"paired labels expected under {paired_root}, which does not exist; unpack the KAIST-Paired "
                "annotations there (see docs/kaist.md) or set data.paired_root"
            )
        self.root, self.target = paired_root, target

    def file(self, name: str, modality: str) -> Path | None:
        set_id, video, frame = split_name(name)
        for candidate in (self.root / set_id / video / modality / f"{frame}.txt",
                          self.root / modality / set_id / video / f"{frame}.txt",
                          self.root / modality / f"{set_id}_{video}_{frame}.txt"):
            if candidate.is_file():
                return candidate
        return None

    def modality_objects(self, name: str, modality: str) -> Objects | None:
        path = self.file(name, modality)
        return None if path is None else _read(path)

    def objects(self, name: str) -> Objects | None:
        vis, lwir = self.modality_objects(name, "visible"), self.modality_objects(name, "lwir")
        if vis is None or lwir is None:
            return None  # a frame counts as labelled only when both modalities are
        if self.target in MODALITIES:
            return vis if self.target == "visible" else lwir
        out: Objects = []
        for (bv, label, ign_v), (bl, _, ign_l) in zip(vis, lwir):
            if self.target == "mean":
                box = [(a + b) / 2.0 for a, b in zip(bv, bl)]
            else:
                x0, y0 = min(bv[0], bl[0]), min(bv[1], bl[1])
                x1, y1 = max(bv[0] + bv[2], bl[0] + bl[2]), max(bv[1] + bv[3], bl[1] + bl[3])
                box = [x0, y0, x1 - x0, y1 - y0]
            out.append((box, label, ign_v or ign_l))
        n = min(len(vis), len(lwir))
        return out + vis[n:] + lwir[n:]


class JsonLabels:
    """A COCO-style JSON in the KAIST evaluation schema (``images[].im_name``, ``annotations[].bbox``)."""

    kind = "json"

    def __init__(self, path: Path) -> None:
        data = json.loads(path.read_text())
        if "images" not in data or "annotations" not in data:
            raise ValueError(f"{path} is not a COCO-style annotation file (needs 'images' and 'annotations')")
        cat_names = {c["id"]: c["name"] for c in data.get("categories", [])}
        id_to_name = {img["id"]: img.get("im_name", img.get("file_name", "")) for img in data["images"]}
        self._objects: dict[str, Objects] = {n: [] for n in id_to_name.values()}
        for ann in data["annotations"]:
            name = id_to_name.get(ann["image_id"])
            if name is not None:
                label = cat_names.get(ann.get("category_id", 1), "person")
                self._objects[name].append((list(ann["bbox"]), label, bool(ann.get("ignore", 0))))

    def objects(self, name: str) -> Objects | None:
        return self._objects.get(name)


class NoLabels:
    """Images only (no ``annotations/`` folder): every frame is unlabelled."""

    kind = "none"

    def objects(self, name: str) -> Objects | None:
        return None
