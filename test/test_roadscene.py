"""lsi data roadscene: a RoadScene-shaped folder made here (a textured full thermal frame, a downscaled crop of
a known region, an RGB crop registered to it, FLIR-style CSV boxes) is turned into an evaluation set whose
regions, boxes and refusals are the ones put in."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from lsi_perception.cli import main as lsi_main
from lsi_perception.data.roadscene import (
    CropFit,
    PersonBox,
    boxes_in_region,
    build_roadscene_eval,
    locate_crop,
    read_person_boxes,
)
from lsi_perception.eval import load_annotations

REGION = (40, 60, 560, 390)  # x0, y0, width, height of the crop in the full 640x512 frame
SCALE = (1.15, 1.12)         # region size / crop size, per axis


def _texture(seed: int, height: int = 512, width: int = 640) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(0, 1, (height // 8, width // 8)).astype(np.float32)
    smooth = cv2.resize(noise, (width, height), interpolation=cv2.INTER_CUBIC)
    smooth += rng.normal(0, 0.15, (height, width)).astype(np.float32)
    return cv2.normalize(smooth, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)


def _write_frame(root: Path, name: str, seed: int, registered: bool = True) -> None:
    full = _texture(seed)
    x0, y0, w, h = REGION
    region = full[y0:y0 + h, x0:x0 + w]
    crop = cv2.resize(region, (round(w / SCALE[0]), round(h / SCALE[1])), interpolation=cv2.INTER_AREA)
    if not registered:
        crop = _texture(seed + 1000, *crop.shape)
    rgb = cv2.resize(cv2.applyColorMap(crop, cv2.COLORMAP_JET), None, fx=2.5, fy=2.5)
    cv2.imwrite(str(root / "infrared" / f"{name}.png"), full)
    cv2.imwrite(str(root / "cropinfrared" / f"{name}.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
    cv2.imwrite(str(root / "crop_HR_visible" / f"{name}.jpg"), rgb)


@pytest.fixture
def roadscene(tmp_path) -> tuple[Path, Path]:
    root = tmp_path / "RoadScene"
    for sub in ("infrared", "cropinfrared", "crop_HR_visible"):
        (root / sub).mkdir(parents=True)
    _write_frame(root, "FLIR_00001", 1)
    _write_frame(root, "FLIR_00002", 2)
    _write_frame(root, "FLIR_00003", 3)                     # no CSV row: unlabelled
    _write_frame(root, "FLIR_00004", 4, registered=False)   # the crop is another picture: unregistered
    boxes = tmp_path / "training.csv"
    boxes.write_text("image_name,class_id,xmin,xmax,ymin,ymax\n"
                     "FLIR_00001.jpeg,1,100,130,200,280\n"      # inside: a person at (60, 140) in the region
                     "FLIR_00001.jpeg,3,300,360,300,340\n"      # a car: not a person
                     "FLIR_00001.jpeg,1,10,60,100,180\n"        # 20 of 50 px inside the region: ignore
                     "FLIR_00001.jpeg,1,0,30,0,50\n"            # wholly outside: dropped
                     "FLIR_00002.jpeg,3,200,260,250,300\n"      # listed, no person: a people-free frame
                     "FLIR_00004.jpeg,1,100,130,200,280\n")
    return root, boxes


def test_locate_crop_recovers_the_region_and_its_scale():
    full = _texture(7)
    x0, y0, w, h = REGION
    crop = cv2.resize(full[y0:y0 + h, x0:x0 + w], (round(w / SCALE[0]), round(h / SCALE[1])),
                      interpolation=cv2.INTER_AREA)
    fit = locate_crop(full, crop)
    assert fit.score > 0.95
    assert abs(fit.x0 - x0) <= 2 and abs(fit.y0 - y0) <= 2
    assert abs(fit.width - w) <= 4 and abs(fit.height - h) <= 4
    assert fit.scale_x == pytest.approx(SCALE[0], abs=0.011) and fit.scale_y == pytest.approx(SCALE[1], abs=0.011)


def test_boxes_move_onto_the_region_clip_or_become_ignore():
    fit = CropFit(40, 60, 560, 390, 1.15, 1.12, 0.99)
    people, ignore = boxes_in_region([PersonBox(100, 200, 130, 280),   # inside
                                      PersonBox(20, 100, 60, 180),     # exactly half inside: still a person
                                      PersonBox(10, 100, 60, 180),     # 20 of 50 px inside: ignore
                                      PersonBox(590, 420, 620, 470),   # 10x30 of 30x50 inside: ignore
                                      PersonBox(0, 0, 30, 50)], fit, 0.5)  # outside: dropped
    assert people == [[60, 140, 30, 80], [0, 40, 20, 80]]
    assert ignore == [[0, 40, 20, 80], [550, 360, 10, 30]]


def test_build_writes_pairs_ground_truth_and_says_what_it_left_out(roadscene, tmp_path, capsys):
    root, boxes = roadscene
    out = tmp_path / "eval"
    assert lsi_main(["data", "roadscene", str(root), "--boxes", str(boxes), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "wrote 2 RoadScene pairs" in printed and "1 unlabelled" in printed and "1 unregistered" in printed
    assert "lsi predict --rgb" in printed

    report = json.loads((out / "mapping.json").read_text())
    assert set(report["dropped"]) == {"FLIR_00003", "FLIR_00004"}
    assert report["people"] == 1 and report["ignore_regions"] == 1 and report["frames_without_people"] == 1
    fit = report["fits"]["FLIR_00001"]
    assert abs(fit["x0"] - REGION[0]) <= 2 and abs(fit["y0"] - REGION[1]) <= 2

    gt = load_annotations(out / "gt.json")
    assert gt.num_images == 2
    doc = json.loads((out / "gt.json").read_text())
    first = next(i for i in doc["images"] if i["im_name"] == "FLIR_00001")
    person = [a for a in doc["annotations"] if a["image_id"] == first["id"] and not a["ignore"]]
    assert len(person) == 1
    x, y, w, h = person[0]["bbox"]
    assert abs(x - (100 - fit["x0"])) < 1e-6 and abs(y - (200 - fit["y0"])) < 1e-6 and (w, h) == (30, 80)
    for name in ("FLIR_00001", "FLIR_00002"):
        thermal = cv2.imread(str(out / "infrared" / f"{name}.png"), cv2.IMREAD_UNCHANGED)
        rgb = cv2.imread(str(out / "visible" / f"{name}.png"))
        image = next(i for i in doc["images"] if i["im_name"] == name)
        assert thermal.ndim == 2 and thermal.shape == rgb.shape[:2] == (image["height"], image["width"])
    # the thermal image is the lossless full frame's region, not the JPEG crop
    full = cv2.imread(str(root / "infrared" / "FLIR_00001.png"), cv2.IMREAD_GRAYSCALE)
    region = full[fit["y0"]:fit["y0"] + fit["height"], fit["x0"]:fit["x0"] + fit["width"]]
    np.testing.assert_array_equal(cv2.imread(str(out / "infrared" / "FLIR_00001.png"), cv2.IMREAD_GRAYSCALE), region)


def test_bad_inputs_name_the_problem(roadscene, tmp_path):
    root, boxes = roadscene
    with pytest.raises(FileNotFoundError, match="cropinfrared"):
        build_roadscene_eval(root / "infrared", [boxes], tmp_path / "a")
    with pytest.raises(FileNotFoundError, match="FLIR ADAS v1 CSVs"):
        build_roadscene_eval(root, [tmp_path / "missing.csv"], tmp_path / "b")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("file,label,x,y\nFLIR_00001.jpeg,1,1,2\n")
    with pytest.raises(ValueError, match="lacks the columns"):
        read_person_boxes([wrong])
    bad_row = tmp_path / "bad_row.csv"
    bad_row.write_text("image_name,class_id,xmin,xmax,ymin,ymax\nFLIR_00001.jpeg,person,1,2,3,4\n")
    with pytest.raises(ValueError, match="bad_row.csv:2"):
        read_person_boxes([bad_row])
    twice = tmp_path / "validation.csv"
    twice.write_text(boxes.read_text())
    with pytest.raises(ValueError, match="listed in both"):
        read_person_boxes([boxes, twice])
    other = tmp_path / "other.csv"
    other.write_text("image_name,class_id,xmin,xmax,ymin,ymax\nFLIR_09999.jpeg,1,1,2,3,4\n")
    with pytest.raises(ValueError, match="no RoadScene frame was both labelled and registered"):
        build_roadscene_eval(root, [other], tmp_path / "c")
    (root / "cropinfrared" / "FLIR_00001.jpg").write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(ValueError, match="not a readable image"):
        build_roadscene_eval(root, [boxes], tmp_path / "d")
