"""UTokyoDataset on a tiny copy of the release layout written by the test."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from lsi_perception.data import UTokyoDataset


@pytest.fixture
def utokyo_root(tmp_path: Path) -> Path:
    for band, (h, w) in (("rgb", (48, 64)), ("fir", (24, 32))):
        d = tmp_path / "Images" / band
        d.mkdir(parents=True)
        for stem in ("000000", "000001"):
            img = np.full((h, w, 3) if band == "rgb" else (h, w), 90, np.uint8)
            cv2.imwrite(str(d / f"{stem}.png"), img)
    (tmp_path / "Images" / "rgb" / "000002.png").write_bytes(b"")  # no FIR partner
    for band in ("rgb", "fir"):
        (tmp_path / "labels" / band).mkdir(parents=True)
    # person (0) and car (1) in YOLO form: class cx cy w h, normalized
    (tmp_path / "labels" / "rgb" / "000000.txt").write_text("0 0.25 0.5 0.125 0.5\n1 0.75 0.5 0.25 0.25\n")
    (tmp_path / "labels" / "fir" / "000000.txt").write_text("0 0.5 0.5 0.25 0.5\n")
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "000000.xml").write_text(
        "<annotation><object><name>person</name><bndbox><xmin>4</xmin><ymin>6</ymin><xmax>12</xmax>"
        "<ymax>30</ymax></bndbox></object><object><name>bike</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>5</xmax><ymax>5</ymax></bndbox></object></annotation>"
    )
    (tmp_path / "val.txt").write_text("000001\n000000.png\n")
    return tmp_path


def test_rgb_yolo_labels(utokyo_root: Path) -> None:
    with pytest.warns(UserWarning, match="000002"):
        ds = UTokyoDataset(utokyo_root, label_source="rgb", missing_labels="empty")
    assert ds.names == ["000000", "000001"]
    s = ds[0]
    assert s["rgb"].shape == (48, 64, 3)
    assert s["thermal"].shape == (48, 64)  # FIR resized to the RGB frame
    np.testing.assert_allclose(s["boxes"], [[12, 12, 20, 36]])  # the car is not a class here
    assert s["labels"].tolist() == [0] and s["ignore"].tolist() == [False]
    assert ds[1]["boxes"].shape == (0, 4)


def test_fir_labels_are_scaled_to_rgb(utokyo_root: Path) -> None:
    with pytest.warns(UserWarning):
        ds = UTokyoDataset(utokyo_root, class_names=("person", "car"))  # fir: the default
    np.testing.assert_allclose(ds[0]["boxes"], [[24, 12, 40, 36]])
    assert ds.names == ["000000"] and ds.unlabelled == ["000001"]  # no label file: dropped, not pedestrian-free


def test_voc_labels_and_image_list(utokyo_root: Path) -> None:
    ds = UTokyoDataset(utokyo_root, image_list="val.txt", label_source="voc", class_names=("person", "bike"),
                       missing_labels="empty")
    assert ds.names == ["000001", "000000"]
    s = ds[1]
    np.testing.assert_allclose(s["boxes"], [[4, 6, 12, 30], [1, 1, 5, 5]])
    assert s["labels"].tolist() == [0, 1]


def test_bad_arguments(tmp_path: Path, utokyo_root: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nowhere"):
        UTokyoDataset(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="label_source"):
        UTokyoDataset(utokyo_root, label_source="mir")
    with pytest.raises(FileNotFoundError, match="000001"):
        UTokyoDataset(utokyo_root, image_list="val.txt", missing_labels="error")
