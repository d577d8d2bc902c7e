"""FLIR-aligned (the registered subset of FLIR ADAS v1 released by Zhang et al., ICIP 2020): 4,128 training
and 1,013 validation pairs, 640x512, classes person, bicycle / bike, car (and a few dog labels).

Layout as downloaded::

    <root>/JPEGImages/FLIR_XXXXX_RGB.jpg             RGB, registered to the thermal frame
    <root>/JPEGImages/FLIR_XXXXX_PreviewData.jpeg    thermal
    <root>/Annotations/FLIR_XXXXX_PreviewData.xml    VOC boxes in the thermal frame (= the registered RGB's)
    <root>/align_train.txt, align_validation.txt     image lists (also found in ImageSets/Main/ or ImageSets/)

List lines may read ``FLIR_00258``, ``FLIR_00258_PreviewData`` or carry an extension; the frame name is
``FLIR_00258``. An RGB image of another size than its thermal partner is resized to the thermal size
(the frame the boxes are in). There is no day / night tag in the files.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from pathlib import Path

import cv2

from .base import PairDataset
from .images import read_rgb, read_thermal
from .sample import Sample
from .voc import VocPairDataset

_SUFFIXES = re.compile(r"(_PreviewData|_RGB)?(\.(jpe?g|png|xml))?$", re.IGNORECASE)
LIST_FOLDERS = ("", "ImageSets/Main", "ImageSets")


def frame_name(line: str) -> str:
    """``FLIR_00258_PreviewData.jpeg`` (or ``..._RGB.jpg``, ``FLIR_00258``) -> ``FLIR_00258``."""
    return _SUFFIXES.sub("", Path(line.strip().split()[0]).name)


def _first(*paths: Path) -> Path | None:
    return next((p for p in paths if p.is_file()), None)


def find_list(root: Path, name: str | Path) -> Path:
    for folder in LIST_FOLDERS:
        candidate = Path(name) if Path(name).is_absolute() else root / folder / name
        if candidate.is_file():
            return candidate
    if Path(name).is_file():
        return Path(name)
    raise FileNotFoundError(f"FLIR-aligned image list {name} not found in {root}, {root / 'ImageSets/Main'} or "
                            f"{root / 'ImageSets'} (the download has align_train.txt and align_validation.txt)")


class FlirAlignedDataset(VocPairDataset, PairDataset):
    def __init__(self, root: str | Path, image_list: str | Path = "align_train.txt",
                 class_names: Sequence[str] = ("person",), transforms: Callable[[Sample], Sample] | None = None,
                 min_height: float = 0.0, missing_labels: str = "skip") -> None:
        PairDataset.__init__(self, transforms)
        self.root = Path(root)
        for sub in ("JPEGImages", "Annotations"):
            if not (self.root / sub).is_dir():
                raise FileNotFoundError(f"FLIR-aligned root {self.root} has no {sub}/ folder; expected JPEGImages/ "
                                        "(FLIR_XXXXX_RGB.jpg + FLIR_XXXXX_PreviewData.jpeg) and Annotations/")
        self.class_names, self.min_height, self._labels = tuple(class_names), float(min_height), []
        self.image_list_path = find_list(self.root, image_list)
        images, ann = self.root / "JPEGImages", self.root / "Annotations"
        lines = self.image_list_path.read_text(encoding="utf-8", errors="replace").splitlines()
        for name in dict.fromkeys(frame_name(line) for line in lines if line.strip()):
            rgb = _first(images / f"{name}_RGB.jpg", images / f"{name}_RGB.jpeg", images / f"{name}_RGB.png")
            thermal = _first(images / f"{name}_PreviewData.jpeg", images / f"{name}_PreviewData.jpg",
                             images / f"{name}_PreviewData.png")
            label = _first(ann / f"{name}_PreviewData.xml", ann / f"{name}.xml") or ann / f"{name}_PreviewData.xml"
            self._add_frame(name, rgb, thermal, label, missing_labels)

    def load(self, index: int) -> Sample:
        rgb_path, th_path = self._pairs[index]
        rgb, thermal = read_rgb(rgb_path), read_thermal(th_path)
        if rgb.shape[:2] != thermal.shape:
            rgb = cv2.resize(rgb, (thermal.shape[1], thermal.shape[0]), interpolation=cv2.INTER_AREA)
        targets = self.targets_at(index, (thermal.shape[1], thermal.shape[0]))
        return {"rgb": rgb, "thermal": thermal, **targets, "image_id": self.names[index], "index": index}
