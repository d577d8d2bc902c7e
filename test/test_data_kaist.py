"""KaistDataset and the bbGt reader on sample files written by the test (plus the real KAIST eval JSON)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsi_perception.data import KaistDataset, read_image_list
from lsi_perception.data.bbgt import BbGtObject, format_bbgt, parse_bbgt

H, W = 48, 64


def _write_pair(root: Path, name: str, value: int = 100) -> None:
    s, v, f = name.split("/")
    for sub, img in (("visible", np.full((H, W, 3), value, np.uint8)), ("lwir", np.full((H, W, 3), value // 2, np.uint8))):
        d = root / "images" / s / v / sub
        d.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(d / f"{f}.jpg"), img)


@pytest.fixture
def kaist_root(tmp_path: Path) -> Path:
    names = ["set00/V000/I00001", "set00/V000/I00002", "set03/V001/I00010"]
    for n in names:
        _write_pair(tmp_path, n)
    (tmp_path / "imageSets").mkdir()
    (tmp_path / "imageSets" / "train-all-02.txt").write_text("\n".join(names) + "\n")
    ann = tmp_path / "annotations" / "set00" / "V000"
    ann.mkdir(parents=True)
    (ann / "I00001.txt").write_text(
        "% bbGt version=3\n"
        "person 10 5 8 20 0 0 0 0 0 0 0\n"
        "people 30 4 20 22 0 0 0 0 0 0 0\n"
        "person? 1 1 4 9 0 0 0 0 0 0 0\n"
        "cyclist 40 10 10 25 1 40 10 5 12 0 0\n"
        "person 50 10 6 15 0 0 0 0 0 1 0\n"
    )
    return tmp_path


def test_bbgt_roundtrip() -> None:
    objs = [BbGtObject("person", (1.5, 2, 3, 40), True, (1.5, 2, 3, 20), False), BbGtObject("people", (0, 0, 5, 5), ignore=True)]
    text = format_bbgt(objs)
    assert text.startswith("% bbGt version=3\n")
    assert parse_bbgt(text) == objs


def test_bbgt_rejects_short_line() -> None:
    with pytest.raises(ValueError, match="f.txt:2"):
        parse_bbgt("% bbGt version=3\nperson 1 2 3\n", source="f.txt")


def test_image_list_strips_extensions(tmp_path: Path) -> None:
    p = tmp_path / "list.txt"
    p.write_text("set00/V000/I01225\n\n# comment\nimages/set06/V001/I00019.jpg\n")
    assert read_image_list(p) == ["set00/V000/I01225", "set06/V001/I00019"]


def test_bbgt_labels_and_ignore_regions(kaist_root: Path) -> None:
    ds = KaistDataset(kaist_root, "train-all-02.txt")
    assert len(ds) == 3
    s = ds[0]
    assert s["rgb"].shape == (H, W, 3) and s["rgb"].dtype == np.uint8
    assert s["thermal"].shape == (H, W) and s["thermal"].dtype == np.uint8
    assert s["image_id"] == "set00/V000/I00001" and s["index"] == 0
    np.testing.assert_allclose(s["boxes"][0], [10, 5, 18, 25])
    assert s["boxes"].dtype == np.float32 and s["labels"].dtype == np.int64
    # person, people, person?, cyclist, person flagged ignore
    assert s["ignore"].tolist() == [False, True, True, True, True]
    assert s["labels"].tolist() == [0] * 5
    empty = ds[1]  # KAIST ships no label file for frames without people
    assert empty["boxes"].shape == (0, 4) and empty["ignore"].shape == (0,)


def test_min_height_makes_small_boxes_ignore(kaist_root: Path) -> None:
    ds = KaistDataset(kaist_root, kaist_root / "imageSets" / "train-all-02.txt", min_height=21)
    assert ds[0]["ignore"][0]


def test_json_annotation_source(kaist_root: Path) -> None:
    ann = {
        "images": [{"id": 0, "im_name": "set00/V000/I00002", "height": H, "width": W},
                   {"id": 1, "im_name": "set03/V001/I00010", "height": H, "width": W}],
        "annotations": [
            {"id": 0, "image_id": 1, "category_id": 1, "bbox": [3, 4, 10, 30], "height": 30, "occlusion": 0, "ignore": 0},
            {"id": 1, "image_id": 1, "category_id": 1, "bbox": [20, 4, 10, 12], "height": 12, "occlusion": 2, "ignore": 1},
        ],
        "categories": [{"id": 0, "name": "__ignore__"}, {"id": 1, "name": "person"}, {"id": 2, "name": "cyclist"}],
    }
    path = kaist_root / "ann.json"
    path.write_text(json.dumps(ann))
    ds = KaistDataset(kaist_root, "train-all-02.txt", annotation_source=path)
    s = ds[2]
    np.testing.assert_allclose(s["boxes"], [[3, 4, 13, 34], [20, 4, 30, 16]])
    assert s["ignore"].tolist() == [False, True]
    assert ds[0]["boxes"].shape == (0, 4)  # image absent from the JSON


def test_missing_root_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does_not_exist"):
        KaistDataset(tmp_path / "does_not_exist", "train.txt")


def test_missing_and_corrupt_entries_are_skipped(kaist_root: Path) -> None:
    lst = kaist_root / "imageSets" / "with_gaps.txt"
    lst.write_text("set00/V000/I00001\nset05/V000/I00099\nset00/V000/I00002\n")
    with pytest.warns(UserWarning, match="set05"):
        ds = KaistDataset(kaist_root, lst)
    assert len(ds) == 2
    (kaist_root / "images/set00/V000/visible/I00001.jpg").write_bytes(b"not a jpeg")
    with pytest.warns(UserWarning, match="I00001"):
        s = ds[0]
    assert s["image_id"] == "set00/V000/I00002"
    assert ds[1]["image_id"] == "set00/V000/I00002"


def test_real_kaist_eval_json(kaist_eval_dir: Path, tmp_path: Path) -> None:
    """The shared KAIST test annotation file loads as an annotation source (conformance)."""
    data = json.loads((kaist_eval_dir / "KAIST_annotation.json").read_text())
    first = data["images"][:3]
    for im in first:
        _write_pair(tmp_path, im["im_name"])
    (tmp_path / "test.txt").write_text("".join(im["im_name"] + "\n" for im in first))
    ds = KaistDataset(tmp_path, tmp_path / "test.txt", annotation_source=kaist_eval_dir / "KAIST_annotation.json")
    for i, im in enumerate(first):
        expected = [a for a in data["annotations"] if a["image_id"] == im["id"]]
        s = ds[i]
        assert len(s["boxes"]) == len(expected)
        for box, a in zip(s["boxes"], expected):
            x, y, w, h = a["bbox"]
            np.testing.assert_allclose(box, [x, y, x + w, y + h])
