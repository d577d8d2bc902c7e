"""Where KAIST-layout labels come from, and which format a label folder holds.

Formats (each a label source answering ``objects(name)`` with a list of ``LabelObject`` or **None when the
frame has no label file**: a missing file is not "no pedestrians"; the dataset decides, ``missing_labels``):

- ``xml``: the KAIST download's per-frame XML (``annotations-xml-new-sanitized/``, ``annotations-xml-new/``,
  ``annotations-xml-15/``: ``setXX/VYYY/IZZZZZ.xml``), each ``<object>`` with ``<name>`` (person, people,
  cyclist, person?), ``<bndbox><x><y><w><h>`` and ``<occlusion>`` 0 none / 1 partial / 2 heavy.
- ``bbgt``: Caltech bbGt text, one file per frame (the original devkit; ``setXX/VYYY/IZZZZZ.txt`` or flat
  ``setXX_VYYY_IZZZZZ.txt``; a folder with ``visible/`` or ``lwir/`` sub-folders is paired, never bbGt). Its occlusion field is a flag; a
  flagged box is heavy (2) when its visible box covers under half of it, else partial (1).
- ``paired``: KAIST-Paired (Zhang et al., ICCV 2019, AR-CNN), a bbGt file per modality:
  ``setXX/VYYY/{visible,lwir}/IZZZZZ.txt`` (as released), ``{visible,lwir}/setXX/VYYY/IZZZZZ.txt`` or
  ``{visible,lwir}/setXX_VYYY_IZZZZZ.txt``. ``paired_target`` picks the box learnt: ``visible``, ``lwir``,
  ``mean`` (the average of a pair's two boxes) or ``union``; objects pair by their order in the two files.
- ``json``: a COCO-style JSON in the KAIST evaluation schema (``images[].im_name``, ``annotations[].bbox``,
  ``occlusion``, ``ignore``), e.g. the improved test annotations (``KAIST_annotation.json``, .xz too).

``detect_format(folder)`` tells xml / paired / bbgt apart from the files, so a paired folder is never read
as bbGt (which would silently take its ``visible/`` half only) and an XML folder never as nothing.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import NamedTuple

from lsi_perception.eval.files import read_text

from .bbgt import BbGtObject, read_bbgt

MODALITIES = ("visible", "lwir")
PAIRED_TARGETS = ("visible", "lwir", "mean", "union")
LABEL_FORMATS = ("xml", "bbgt", "paired", "json")
# Folders of the KAIST download and of common additions, in the order ``auto`` tries them.
AUTO_FOLDERS = ("annotations-xml-new-sanitized", "annotations", "annotations_paired", "annotations-xml-new",
                "annotations-xml-15")
SANITIZED_XML = "annotations-xml-new-sanitized"
OCCLUSION_LEVELS = (0, 1, 2)  # none, partial (<= 50 % hidden), heavy (> 50 %)


class LabelObject(NamedTuple):
    """One annotated object: ``box`` (x, y, w, h) pixels, its label, ignore flag and occlusion 0/1/2."""

    box: list[float]
    label: str
    ignore: bool
    occlusion: int = 0


Objects = list[LabelObject]


def split_name(name: str) -> tuple[str, str, str]:
    parts = name.split("/")
    if len(parts) != 3:
        raise ValueError(f"image name {name!r} is not of the form setXX/VYYY/IZZZZZ")
    return parts[0], parts[1], parts[2]


def bbgt_occlusion(obj: BbGtObject) -> int:
    """0/1/2 from a bbGt object: its occlusion field when it says 2, else the flag with the visible box."""
    if not obj.occluded:
        return 0
    if obj.occlusion_value >= 2:
        return 2
    x, y, w, h = obj.box
    vw, vh = obj.visible_box[2], obj.visible_box[3]
    if w > 0 and h > 0 and vw > 0 and vh > 0:
        return 2 if (vw * vh) / (w * h) < 0.5 else 1
    return 1


def _read_bbgt(path: Path) -> Objects:
    return [LabelObject(list(o.box), o.label, o.ignore, bbgt_occlusion(o)) for o in read_bbgt(path)]


def parse_kaist_xml(text: str, source: str = "<xml>") -> Objects:
    """The objects of one KAIST XML label file (``<bndbox>`` as x/y/w/h, or VOC xmin/ymin/xmax/ymax)."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise ValueError(f"{source} is not valid XML ({exc}); a KAIST label file has <annotation><object>...") from exc
    out: Objects = []
    for k, obj in enumerate(root.iter("object")):
        name, box = (obj.findtext("name") or "").strip(), obj.find("bndbox")
        if not name or box is None:
            raise ValueError(f"{source}: object {k} has no <name> or no <bndbox>")
        try:
            if box.find("w") is not None:
                x, y, w, h = (float(box.findtext(t) or "nan") for t in ("x", "y", "w", "h"))
            else:
                x0, y0, x1, y1 = (float(box.findtext(t) or "nan") for t in ("xmin", "ymin", "xmax", "ymax"))
                x, y, w, h = x0, y0, x1 - x0, y1 - y0
            occlusion = int(float(obj.findtext("occlusion") or 0))
        except ValueError as exc:
            raise ValueError(f"{source}: object {k} ({name}) has a non-numeric box or occlusion: {exc}") from exc
        if occlusion not in OCCLUSION_LEVELS:
            raise ValueError(f"{source}: object {k} ({name}) has occlusion {occlusion}, expected 0, 1 or 2")
        out.append(LabelObject([x, y, w, h], name, False, occlusion))
    return out


def detect_format(folder: Path) -> str | None:
    """"xml", "paired" or "bbgt" from what ``folder`` holds (None: no label file found)."""
    if any(folder.glob("set*/V*/*.xml")) or any(folder.glob("*.xml")):
        return "xml"
    if any(folder.glob("set*/V*/visible")) or any(folder.glob("set*/V*/lwir")) or \
            (folder / "visible").is_dir() or (folder / "lwir").is_dir():
        return "paired"  # with one modality only it is a half-unpacked paired release: never bbGt
    if any(folder.glob("set*/V*/*.txt")) or any(folder.glob("set*_V*_*.txt")):
        return "bbgt"
    return None


class _FolderLabels:
    kind = ""
    suffix = ".txt"

    def __init__(self, folder: Path) -> None:
        if not folder.is_dir():
            raise FileNotFoundError(f"{self.kind} labels expected under {folder}, which does not exist")
        self.base = folder

    def file(self, name: str) -> Path | None:
        set_id, video, frame = split_name(name)
        for candidate in (self.base / set_id / video / f"{frame}{self.suffix}",
                          self.base / f"{set_id}_{video}_{frame}{self.suffix}"):
            if candidate.is_file():
                return candidate
        return None

    def read(self, path: Path) -> Objects:  # pragma: no cover - abstract
        raise NotImplementedError

    def objects(self, name: str) -> Objects | None:
        path = self.file(name)
        return None if path is None else self.read(path)

    def describe(self) -> str:
        return f"{self.kind} labels in {self.base}"


class BbgtLabels(_FolderLabels):
    """One bbGt file per frame (e.g. ``<root>/annotations``). A KAIST-Paired folder is refused."""

    kind = "bbgt"

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        if detect_format(folder) == "paired":
            raise ValueError(
                f"{folder} holds KAIST-Paired labels (setXX/VYYY/{{visible,lwir}}/), not one bbGt file per frame: read "
                f"as bbGt only the visible half would be used. Set data.train_annotations=paired (and "
                f"data.paired_root={folder} if it is not found by itself)")

    def read(self, path: Path) -> Objects:
        return _read_bbgt(path)


class XmlLabels(_FolderLabels):
    """One KAIST XML file per frame (e.g. ``<root>/annotations-xml-new-sanitized``)."""

    kind = "xml"
    suffix = ".xml"

    def read(self, path: Path) -> Objects:
        return parse_kaist_xml(path.read_text(encoding="utf-8", errors="replace"), str(path))


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

    def describe(self) -> str:
        return f"paired labels in {self.root} (target box: {self.target})"

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
        return None if path is None else _read_bbgt(path)

    def objects(self, name: str) -> Objects | None:
        vis, lwir = self.modality_objects(name, "visible"), self.modality_objects(name, "lwir")
        if vis is None or lwir is None:
            return None  # a frame counts as labelled only when both modalities are
        if self.target in MODALITIES:
            return vis if self.target == "visible" else lwir
        out: Objects = []
        for v, t in zip(vis, lwir):
            bv, bl = v.box, t.box
            if self.target == "mean":
                box = [(a + b) / 2.0 for a, b in zip(bv, bl)]
            else:
                x0, y0 = min(bv[0], bl[0]), min(bv[1], bl[1])
                x1, y1 = max(bv[0] + bv[2], bl[0] + bl[2]), max(bv[1] + bv[3], bl[1] + bl[3])
                box = [x0, y0, x1 - x0, y1 - y0]
            out.append(LabelObject(box, v.label, v.ignore or t.ignore, max(v.occlusion, t.occlusion)))
        n = min(len(vis), len(lwir))
        return out + vis[n:] + lwir[n:]


class JsonLabels:
    """A COCO-style JSON in the KAIST evaluation schema (``images[].im_name``, ``annotations[].bbox``)."""

    kind = "json"

    def __init__(self, path: Path) -> None:
        try:
            data = json.loads(read_text(path, "annotation file"))
        except json.JSONDecodeError as exc:
            raise ValueError(f"{path} is not JSON (line {exc.lineno}: {exc.msg}); give the KAIST-schema JSON, or a "
                             "label folder (XML, bbGt or paired) as data.train_annotations") from exc
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise ValueError(f"{path} is not a COCO-style annotation file (needs 'images' and 'annotations')")
        self.path = path
        cat_names = {c["id"]: c["name"] for c in data.get("categories", [])}
        id_to_name = {img["id"]: img.get("im_name", img.get("file_name", "")) for img in data["images"]}
        self._objects: dict[str, Objects] = {n: [] for n in id_to_name.values()}
        for ann in data["annotations"]:
            name = id_to_name.get(ann["image_id"])
            if name is not None:
                label = cat_names.get(ann.get("category_id", 1), "person")
                self._objects[name].append(LabelObject(list(ann["bbox"]), label, bool(ann.get("ignore", 0)),
                                                       int(ann.get("occlusion", 0))))

    def describe(self) -> str:
        return f"json labels from {self.path}"

    def objects(self, name: str) -> Objects | None:
        return self._objects.get(name)


class NoLabels:
    """Images only (no label folder): every frame is unlabelled."""

    kind = "none"

    def describe(self) -> str:
        return "no labels"

    def objects(self, name: str) -> Objects | None:
        return None


LabelSource = BbgtLabels | XmlLabels | PairedLabels | JsonLabels | NoLabels


def _folder_source(folder: Path, kind: str | None, paired_target: str) -> LabelSource:
    if kind == "xml":
        return XmlLabels(folder)
    if kind == "paired":
        return PairedLabels(folder, paired_target)
    return BbgtLabels(folder)


def resolve_labels(root: Path, spec: str | Path, paired_root: str | Path | None = None,
                   paired_target: str = "visible") -> LabelSource:
    """The label source ``spec`` names under dataset ``root``:

    ``auto`` (the first of ``AUTO_FOLDERS`` that holds labels, its format detected; none: no labels),
    ``xml`` (``annotations-xml-new-sanitized``), ``bbgt`` (``annotations``), ``paired`` (``paired_root``,
    else ``annotations_paired``, else ``annotations`` when it holds paired files), a folder (under ``root``
    or absolute; format detected) or a KAIST-schema JSON file (.xz too).
    """
    src = str(spec)
    if src == "auto":
        for name in AUTO_FOLDERS:
            folder = root / name
            if folder.is_dir() and (kind := detect_format(folder)) is not None:
                return _folder_source(folder, kind, paired_target)
        return NoLabels()
    if src == "xml":
        return XmlLabels(root / SANITIZED_XML)
    if src == "bbgt":
        return BbgtLabels(root / "annotations")
    if src == "paired":
        if paired_root is not None:
            return PairedLabels(Path(paired_root), paired_target)
        for folder in (root / "annotations_paired", root / "annotations"):
            if folder.is_dir() and detect_format(folder) == "paired":
                return PairedLabels(folder, paired_target)
        return PairedLabels(root / "annotations_paired", paired_target)  # names the missing folder
    path = Path(spec)
    for candidate in (path, root / path):
        if candidate.is_dir():
            kind = detect_format(candidate)
            if kind is None:
                raise ValueError(f"label folder {candidate} holds no KAIST label file (setXX/VYYY/IZZZZZ.xml or .txt, "
                                 "or setXX/VYYY/{visible,lwir}/IZZZZZ.txt)")
            return _folder_source(candidate, kind, paired_target)
        if candidate.is_file():
            return JsonLabels(candidate)
    if path.suffix.lower() in (".json", ".xz", ".gz", ".bz2"):
        raise FileNotFoundError(f"annotation file {spec} does not exist (looked in {root} too)")
    present = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name.startswith("annotation")) if root.is_dir() else []
    raise FileNotFoundError(
        f"label folder {root / path} does not exist (label folders in {root}: {', '.join(present) or 'none'}); give "
        f"data.train_annotations as auto, xml, bbgt, paired, a label folder or a KAIST-schema JSON file (the KAIST "
        f"download's training labels are {SANITIZED_XML}/)")
