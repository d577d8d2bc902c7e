"""Pascal-VOC XML label files, as LLVIP, FLIR-aligned and UTokyo release them.

    <annotation><size><width>1280</width><height>1024</height></size> [<time>night</time>]
      <object><name>person</name><bndbox><xmin>..</xmin><ymin>..</ymin><xmax>..</xmax><ymax>..</ymax></bndbox>
      [<difficult>0</difficult>]</object> ...</annotation>

Boxes are read as given, ``[xmin, xmax) x [ymin, ymax)`` in pixels (width ``xmax - xmin``), as the
datasets' own converters read them; no 1-pixel VOC offset is applied. ``<time>`` (UTokyo) is the frame's
day / night tag.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class VocObject:
    name: str
    xyxy: tuple[float, float, float, float]
    difficult: bool = False


@dataclass
class VocFile:
    """One file: its objects, the ``<size>`` it states ((width, height) or None) and its ``<time>`` tag."""

    objects: list[VocObject] = field(default_factory=list)
    size: tuple[int, int] | None = None
    time: str | None = None


def read_voc(path: str | Path) -> VocFile:
    """Parse one VOC XML file; malformed XML or a box without numbers is a ValueError naming the file."""
    path = Path(path)
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ValueError(f"{path} is not valid XML: {exc}") from exc
    out = VocFile()
    size = root.find("size")
    if size is not None:
        try:
            out.size = (int(float(size.findtext("width") or 0)), int(float(size.findtext("height") or 0)))
        except ValueError:
            out.size = None
        if out.size is not None and min(out.size) <= 0:
            out.size = None
    time = (root.findtext("time") or "").strip().lower()
    out.time = time or None
    for k, obj in enumerate(root.iter("object")):
        name, box = (obj.findtext("name") or "").strip(), obj.find("bndbox")
        if not name or box is None:
            continue
        try:
            xyxy = tuple(float(box.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
        except ValueError as exc:
            raise ValueError(f"{path}: object {k} ({name}) has a non-numeric box: {exc}") from exc
        difficult = (obj.findtext("difficult") or "0").strip() not in ("", "0")
        out.objects.append(VocObject(name, xyxy, difficult))  # type: ignore[arg-type]
    return out


class VocPairDataset:
    """Mixin for datasets of registered RGB + thermal image files with one VOC file per frame (LLVIP,
    FLIR-aligned). Subclasses fill ``names``, ``_pairs`` and ``_labels`` (the VOC path of each frame) and
    set ``class_names``, ``min_height``; frames whose VOC file is missing are handled by ``missing_labels``
    (``skip``: dropped and listed in ``unlabelled``; ``empty``: no pedestrians; ``error``)."""

    label_kind = "voc"
    names: list[str]
    _pairs: list[tuple[Path, Path]]
    _labels: list[Path]
    class_names: tuple[str, ...]
    min_height: float

    def _add_frame(self, name: str, rgb: Path | None, thermal: Path | None, label: Path, missing_labels: str) -> None:
        if rgb is None or thermal is None:
            self.missing_pairs.append(name)  # type: ignore[attr-defined]
            self.missing_modality[name] = "rgb" if rgb is None else "thermal"  # type: ignore[attr-defined]
            return
        if not label.is_file() and missing_labels != "empty":
            if missing_labels == "error":
                raise FileNotFoundError(f"no label file {label} for {name}; a frame without a label file is not a "
                                        "frame without pedestrians (missing_labels: skip drops such frames)")
            self.unlabelled.append(name)  # type: ignore[attr-defined]
            return
        self.names.append(name)
        self._pairs.append((rgb, thermal))
        self._labels.append(label)

    def _restrict_extra(self, kept: list[int]) -> None:
        self._labels = [self._labels[i] for i in kept]

    def has_labels(self, index: int) -> bool:
        return self._labels[index].is_file()

    def voc_file(self, index: int) -> VocFile:
        path = self._labels[index]
        return read_voc(path) if path.is_file() else VocFile()

    def targets_at(self, index: int, image_size: tuple[int, int] | None = None):
        from .sample import targets_from_xyxy

        voc = self.voc_file(index)
        objects = [(o.name, o.xyxy, o.difficult) for o in voc.objects]
        return targets_from_xyxy(objects, self.class_names, image_size or voc.size, self.min_height)

    def describe_labels(self) -> str:
        folder = self._labels[0].parent if self._labels else "?"
        return f"voc labels in {folder}"
