"""Tiny dataset roots laid out as the real downloads, written by the tests (placeholder images, labels in
each dataset's own file format). The formats were checked against public annotation files and loaders
(see docs/datasets.md); nothing here is copied from them.

- ``write_kaist_download``: kaist-cvpr15 as unpacked: images/setXX/VYYY/{visible,lwir}/IZZZZZ.jpg,
  annotations-xml-new-sanitized/setXX/VYYY/IZZZZZ.xml (<bndbox><x><y><w><h>, <occlusion>), imageSets/*.txt
  with CRLF line ends; the test list names real test frames, so the package's improved test annotations apply.
- ``write_kaist_paired``: KAIST-Paired as released, annotations/setXX/VYYY/{visible,lwir}/IZZZZZ.txt (bbGt).
- ``write_utokyo``: ir_det_dataset: Images/{rgb,fir}/, labels/fir/ (YOLO), ConvertedImages/{rgb,fir}/ and
  Annotations_Converted/ (VOC in the converted frame, with <time>).
- ``write_llvip``: visible/{train,test}/, infrared/{train,test}/, Annotations/ (VOC).
- ``write_flir``: JPEGImages/FLIR_XXXXX_{RGB.jpg,PreviewData.jpeg}, Annotations/FLIR_XXXXX_PreviewData.xml,
  align_train.txt, align_validation.txt.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from lsi_perception.eval import load_annotations
from lsi_perception.resources import kaist_test_annotations_path

H, W = 64, 80


def _person_pair(rng: np.random.Generator, h: int = H, w: int = W) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """An RGB + thermal pair with one bright, warm person; returns its box (x, y, w, h)."""
    bh = float(rng.integers(h // 3, h // 2))
    bw = round(bh * 0.4)
    x, y = float(rng.integers(2, w - bw - 2)), float(rng.integers(2, h - int(bh) - 2))
    rgb = rng.integers(60, 120, (h, w, 3)).astype(np.uint8)
    rgb[int(y):int(y + bh), int(x):int(x + bw)] = (230, 200, 180)
    thermal = rng.integers(20, 50, (h, w)).astype(np.uint8)
    thermal[int(y):int(y + bh), int(x):int(x + bw)] = 210
    return rgb, thermal, [x, y, float(bw), bh]


def _imwrite(path: Path, image: np.ndarray, gray3: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    elif gray3:
        image = cv2.merge([image] * 3)
    assert cv2.imwrite(str(path), image)


def _crlf(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode())


def kaist_xml(objects: list[tuple[str, list[float], int]], width: int = W, height: int = H) -> str:
    """A KAIST label file: <name>, <bndbox> as x / y / w / h, <occlusion> 0/1/2 (as in annotations-xml-*)."""
    body = "".join(
        f"  <object>\n    <name>{name}</name>\n    <bndbox>\n      <x>{int(x)}</x>\n      <y>{int(y)}</y>\n"
        f"      <w>{int(w)}</w>\n      <h>{int(h)}</h>\n    </bndbox>\n    <pose>unknown</pose>\n"
        f"    <truncated>0</truncated>\n    <difficult>0</difficult>\n    <occlusion>{occ}</occlusion>\n  </object>\n"
        for name, (x, y, w, h), occ in objects)
    return (f"<annotation>\n  <folder>x</folder>\n  <filename>x</filename>\n  <size>\n    <width>{width}</width>\n"
            f"    <height>{height}</height>\n    <depth>3</depth>\n  </size>\n{body}</annotation>\n")


def voc_xml(objects: list[tuple[str, list[float]]], width: int, height: int, time: str | None = None) -> str:
    """A Pascal-VOC label file (xmin ymin xmax ymax), optionally with UTokyo's <time> tag."""
    body = "".join(f"<object><name>{n}</name><pose>Unspecified</pose><truncated>0</truncated><difficult>0</difficult>"
                   f"<bndbox><xmin>{x0:g}</xmin><ymin>{y0:g}</ymin><xmax>{x1:g}</xmax><ymax>{y1:g}</ymax></bndbox></object>"
                   for n, (x0, y0, x1, y1) in objects)
    tag = f"<time>{time}</time>" if time else ""
    return (f"<annotation><folder>Annotations</folder><filename>f.jpg</filename>{tag}<size><width>{width}</width>"
            f"<height>{height}</height><depth>3</depth></size><segmented>0</segmented>{body}</annotation>")


TRAIN_VIDEOS = ("set00/V000", "set00/V001", "set01/V000", "set03/V000", "set04/V000", "set05/V000")


def real_test_frames(per_set: int = 3) -> list[str]:
    """The first ``per_set`` frames of set06 and of set09 in the improved test annotations."""
    names = load_annotations(kaist_test_annotations_path()).im_names
    return [n for n in names if n.startswith("set06/")][:per_set] + [n for n in names if n.startswith("set09/")][:per_set]


def write_kaist_download(root: Path, frames: int = 3, seed: int = 0) -> Path:
    """kaist-cvpr15 as unpacked (see the module docstring); returns ``root``. Occlusion levels 0 / 1 / 2 are
    cycled over the frames' persons; every frame also has a ``people`` group (an ignore region)."""
    rng = np.random.default_rng(seed)
    train = []
    for v, video in enumerate(TRAIN_VIDEOS):
        for i in range(frames):
            name = f"{video}/I{2 * i:05d}"
            rgb, thermal, box = _person_pair(rng)
            set_id, vid, frame = name.split("/")
            _imwrite(root / "images" / set_id / vid / "visible" / f"{frame}.jpg", rgb)
            _imwrite(root / "images" / set_id / vid / "lwir" / f"{frame}.jpg", thermal, gray3=True)
            xml = root / "annotations-xml-new-sanitized" / set_id / vid / f"{frame}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            xml.write_text(kaist_xml([("person", box, (v + i) % 3), ("people", [1, 1, 6, 14], 0)]))
            train.append(name)
    test = real_test_frames()
    for name in test:
        set_id, vid, frame = name.split("/")
        rgb, thermal, _ = _person_pair(rng)
        _imwrite(root / "images" / set_id / vid / "visible" / f"{frame}.jpg", rgb)
        _imwrite(root / "images" / set_id / vid / "lwir" / f"{frame}.jpg", thermal, gray3=True)
    _crlf(root / "imageSets" / "train-all-02.txt", train)
    _crlf(root / "imageSets" / "test-all-20.txt", test)
    return root


def write_kaist_paired(root: Path, names: list[str], seed: int = 1, shift: float = 4.0) -> Path:
    """KAIST-Paired labels for ``names`` under ``root/annotations`` (as released), lwir boxes ``shift`` px right."""
    rng = np.random.default_rng(seed)
    for name in names:
        set_id, vid, frame = name.split("/")
        x, y = float(rng.integers(2, 30)), float(rng.integers(2, 20))
        for modality, dx in (("visible", 0.0), ("lwir", shift)):
            path = root / "annotations" / set_id / vid / modality / f"{frame}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(f"% bbGt version=3\nperson {x + dx:g} {y:g} 10 30 0 0 0 0 0 0 0\n")
    return root


def write_utokyo(root: Path, frames: int = 8, seed: int = 2) -> Path:
    """ir_det_dataset (see the module docstring): RGB and FIR at 80x60, converted frame 40x32."""
    rng = np.random.default_rng(seed)
    for i in range(frames):
        stem = f"{i:05d}{'D' if i % 2 == 0 else 'N'}"
        rgb, fir, (x, y, w, h) = _person_pair(rng, 60, 80)
        _imwrite(root / "Images" / "rgb" / f"{stem}.png", rgb)
        _imwrite(root / "Images" / "fir" / f"{stem}.png", fir)
        yolo = root / "labels" / "fir" / f"{stem}.txt"
        yolo.parent.mkdir(parents=True, exist_ok=True)
        # class 0 person, class 1 car (a car is not a pedestrian and not an ignore region)
        yolo.write_text(f"0 {(x + w / 2) / 80:.6f} {(y + h / 2) / 60:.6f} {w / 80:.6f} {h / 60:.6f}\n1 0.5 0.9 0.2 0.1\n")
        _imwrite(root / "ConvertedImages" / "rgb" / f"{stem}.png", cv2.resize(rgb, (40, 32)))
        _imwrite(root / "ConvertedImages" / "fir" / f"{stem}.png", cv2.resize(fir, (40, 32)))
        sx, sy = 40 / 80, 32 / 60
        voc = root / "Annotations_Converted" / f"{stem}.xml"
        voc.parent.mkdir(parents=True, exist_ok=True)
        voc.write_text(voc_xml([("person", [x * sx, y * sy, (x + w) * sx, (y + h) * sy]), ("car", [2, 2, 10, 8])], 40, 32,
                               "day" if i % 2 == 0 else "night"))
    return root


def write_llvip(root: Path, train: int = 8, test: int = 3, seed: int = 3) -> Path:
    """LLVIP as downloaded (see the module docstring), 80x64 frames."""
    rng = np.random.default_rng(seed)
    for split, count, first in (("train", train, 10001), ("test", test, 190001)):
        for i in range(count):
            stem = f"{first + i:06d}"
            rgb, thermal, (x, y, w, h) = _person_pair(rng)
            _imwrite(root / "visible" / split / f"{stem}.jpg", rgb)
            _imwrite(root / "infrared" / split / f"{stem}.jpg", thermal, gray3=True)
            ann = root / "Annotations" / f"{stem}.xml"
            ann.parent.mkdir(parents=True, exist_ok=True)
            ann.write_text(voc_xml([("person", [x, y, x + w, y + h])], W, H))
    return root


def write_flir(root: Path, train: int = 8, val: int = 3, seed: int = 4) -> Path:
    """FLIR-aligned as downloaded (see the module docstring), 80x64 frames; lists in the stem form of the release."""
    rng = np.random.default_rng(seed)
    lists: dict[str, list[str]] = {"align_train.txt": [], "align_validation.txt": []}
    for i in range(train + val):
        stem = f"FLIR_{i + 1:05d}"
        rgb, thermal, (x, y, w, h) = _person_pair(rng)
        _imwrite(root / "JPEGImages" / f"{stem}_RGB.jpg", rgb)
        _imwrite(root / "JPEGImages" / f"{stem}_PreviewData.jpeg", thermal)
        ann = root / "Annotations" / f"{stem}_PreviewData.xml"
        ann.parent.mkdir(parents=True, exist_ok=True)
        ann.write_text(voc_xml([("person", [x, y, x + w, y + h]), ("car", [40, 40, 70, 60]), ("dog", [1, 1, 5, 5])], W, H))
        lists["align_train.txt" if i < train else "align_validation.txt"].append(f"{stem}_PreviewData")
    for name, lines in lists.items():
        _crlf(root / name, lines)
    return root
