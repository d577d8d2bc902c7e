"""``lsi eval --metric ap`` against pycocotools' COCOeval run directly on the same fixture (written here):
all, day and night subsets, crowd / ignore regions, an image without detections, an empty results file."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lsi_perception.cli import main as lsi_main
from lsi_perception.eval import load_annotations, load_results
from lsi_perception.eval.ap import average_precision


def write_fixture(root: Path, seed: int = 0) -> tuple[Path, Path]:
    """A KAIST-schema annotation file that is also a COCO ground truth (ignore == iscrowd), and COCO results."""
    rng = np.random.default_rng(seed)
    images, anns, dets = [], [], []
    for i in range(12):
        images.append({"id": i, "im_name": f"set{6 if i < 6 else 9:02d}/V000/I{i:05d}", "file_name": f"{i}.jpg",
                       "width": 640, "height": 512})
        for _ in range(int(rng.integers(0, 5))):
            w, h = float(rng.uniform(10, 60)), float(rng.uniform(25, 150))
            x, y = float(rng.uniform(0, 640 - w)), float(rng.uniform(0, 512 - h))
            crowd = int(rng.random() < 0.15)
            anns.append({"id": len(anns) + 1, "image_id": i, "category_id": 1, "bbox": [x, y, w, h], "area": w * h,
                         "iscrowd": crowd, "ignore": crowd, "height": h, "occlusion": 0})
            if i != 3 and rng.random() < 0.8:  # image 3: no detection at all
                jitter = rng.normal(0, 0.12, 4) * [w, h, w, h]
                dets.append({"image_id": i, "category_id": 1, "bbox": [x + jitter[0], y + jitter[1],
                             abs(w + jitter[2]), abs(h + jitter[3])], "score": float(rng.random())})
        for _ in range(int(rng.integers(0, 3))):  # false positives
            dets.append({"image_id": i, "category_id": 1, "bbox": [float(rng.uniform(0, 600)), float(rng.uniform(0, 400)),
                         30.0, 70.0], "score": float(rng.random())})
    gt_path, dt_path = root / "gt.json", root / "dets.json"
    gt_path.write_text(json.dumps({"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}))
    dt_path.write_text(json.dumps(dets))
    return gt_path, dt_path


def reference(gt_path: Path, dt_path: Path, image_ids: list[int]) -> np.ndarray:
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        ev = COCOeval(gt, gt.loadRes(str(dt_path)), "bbox")
        ev.params.imgIds = image_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100.0 * ev.stats[:3]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_pycocotools_to_1e4(tmp_path: Path, seed: int, capsys) -> None:
    gt_path, dt_path = write_fixture(tmp_path, seed)
    assert lsi_main(["eval", "--metric", "both", "--annotations", str(gt_path), "--results", str(dt_path),
                     "--json", "-"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ours = doc["ap"]["dets"]
    assert "reasonable" in doc["results"]["dets"]  # MR beside it
    for time, ids in (("all", list(range(12))), ("day", list(range(6))), ("night", list(range(6, 12)))):
        ap, ap50, ap75 = reference(gt_path, dt_path, ids)
        assert ours[time]["ap"] == pytest.approx(ap, abs=1e-4)
        assert ours[time]["ap50"] == pytest.approx(ap50, abs=1e-4)
        assert ours[time]["ap75"] == pytest.approx(ap75, abs=1e-4)
    assert 0 < ours["all"]["ap50"] < 100


def test_no_detections_and_no_pedestrians(tmp_path: Path) -> None:
    gt_path, _ = write_fixture(tmp_path)
    ann = load_annotations(gt_path)
    empty = tmp_path / "empty.json"
    empty.write_text("[]")
    assert average_precision(ann, load_results(empty, ann)).ap["all"]["ap50"] == 0.0
    doc = json.loads(gt_path.read_text())
    doc["annotations"] = []
    none = tmp_path / "none.json"
    none.write_text(json.dumps(doc))
    assert np.isnan(average_precision(load_annotations(none), {}).ap["all"]["ap"])


def test_plot_needs_the_miss_rate(tmp_path: Path, capsys) -> None:
    gt_path, dt_path = write_fixture(tmp_path)
    assert lsi_main(["eval", "--metric", "ap", "--annotations", str(gt_path), "--results", str(dt_path),
                     "--plot", str(tmp_path / "p.png")]) == 2
    assert "--metric mr" in capsys.readouterr().err
