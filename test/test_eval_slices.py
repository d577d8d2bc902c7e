"""Scoring an annotation slice alone, and the late fusion of two detectors' boxes."""
from __future__ import annotations

import numpy as np
import pytest

from lsi_perception.eval import annotations_from_coco, evaluate
from lsi_perception.eval.late_fusion import box_iou_xywh, fuse_detections, fuse_image, fuse_scores
from lsi_perception.eval.slices import NO_SLICE, REST, read_slices, slice_views, subset
from lsi_perception.train.engine import reasonable_setting


def _coco() -> dict:
    """4 day images; per image a slice person at x=10 and a plain one at x=80 (the file lists them out of order)."""
    images = [{"id": i, "im_name": f"set00/V000/I{i:05d}", "width": 160, "height": 128, "time_of_day": "day"}
              for i in range(4)]
    anns = []
    for i in reversed(range(4)):  # not sorted by image: the loader sorts, read_slices must follow
        anns.append({"id": len(anns), "image_id": i, "bbox": [80, 30, 16, 40], "height": 40, "occlusion": 0,
                     "ignore": 0, "category_id": 1})
        anns.append({"id": len(anns), "image_id": i, "bbox": [10, 30, 16, 40], "height": 40, "occlusion": 0,
                     "ignore": 0, "category_id": 1, "slice": "rgb_only"})
    return {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}


def test_read_slices_follows_the_loaders_order_and_subsets_ignore_the_others() -> None:
    data = _coco()
    ann = annotations_from_coco(data)
    labels = read_slices(data, ann)
    assert list(labels[ann.gt_boxes[:, 0] == 10]) == ["rgb_only"] * 4
    assert list(labels[ann.gt_boxes[:, 0] == 80]) == [NO_SLICE] * 4
    views = slice_views(ann, labels)
    assert set(views) == {"rgb_only", REST}
    assert views["rgb_only"].gt_ignore.tolist() == (ann.gt_boxes[:, 0] == 80).tolist()
    assert slice_views(ann, np.full(len(labels), NO_SLICE, dtype=object)) == {}
    with pytest.raises(ValueError, match="ground truths"):
        subset(ann, np.ones(3, bool))
    short = {**data, "annotations": data["annotations"][1:]}
    with pytest.raises(ValueError, match="read the slices from the file"):
        read_slices(short, ann)


def test_a_detector_that_finds_only_the_slice_scores_0_there_and_100_on_the_rest() -> None:
    data = _coco()
    ann = annotations_from_coco(data)
    views = slice_views(ann, read_slices(data, ann))
    dets = {n: np.array([[10, 30, 16, 40, 0.9]], np.float32) for n in ann.im_names}
    setting = reasonable_setting(10.0)
    mr = {k: evaluate(v, dets, settings=(setting,), protocol="strict").mr["reasonable"]["day"] for k, v in views.items()}
    assert mr["rgb_only"] == pytest.approx(0.0, abs=1e-6) and mr[REST] == pytest.approx(100.0)
    # Scored on everyone, the same detections miss half the people; in the slice view the others are
    # ignore regions, so a box on them is not a false positive there.
    on_rest = {n: np.array([[80, 30, 16, 40, 0.9]], np.float32) for n in ann.im_names}
    assert evaluate(views["rgb_only"], on_rest, settings=(setting,), protocol="strict").mr["reasonable"]["day"] \
        == pytest.approx(100.0)


def test_late_fusion_pairs_overlapping_boxes_and_keeps_the_rest() -> None:
    a = np.array([[10, 10, 20, 40, 0.8], [100, 10, 20, 40, 0.6]], np.float32)  # RGB: two people
    b = np.array([[12, 10, 20, 40, 0.7], [200, 10, 20, 40, 0.3]], np.float32)  # thermal: one of them + another
    fused = fuse_image(a, b, 0.5)
    assert len(fused) == 3 and np.all(np.diff(fused[:, 4]) <= 0)  # one pair fused, two singles, by score
    p = 0.8 * 0.7 / (0.8 * 0.7 + 0.2 * 0.3)
    assert fused[0, 4] == pytest.approx(p) and fused[0, 4] > 0.8  # agreement raises the score
    assert fused[0, 0] == pytest.approx((0.8 * 10 + 0.7 * 12) / 1.5)
    assert sorted(fused[1:, 4].tolist()) == pytest.approx([0.3, 0.6])
    assert fuse_scores(np.array(0.5), np.array(0.9)) == pytest.approx(0.9)  # 0.5 carries no evidence
    assert box_iou_xywh(a[:1, :4], a[:1, :4])[0, 0] == pytest.approx(1.0)
    out = fuse_detections({"x": a}, {"y": b})
    assert set(out) == {"x", "y"} and len(out["x"]) == 2 and len(out["y"]) == 2
