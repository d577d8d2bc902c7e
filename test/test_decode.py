"""Box decoding on hand-built dense maps: exact boxes, ranking score, thresholds and class-wise NMS."""
from __future__ import annotations

import math

import pytest
import torch

from lsi_perception.config import InferenceConfig
from lsi_perception.model.boxes import grid_centers, ltrb_to_xyxy, xyxy_to_ltrb
from lsi_perception.model.postprocess import decode, ranking_scores

NEG = -30.0  # sigmoid(NEG) ~ 1e-13: "no object here"


def logit(p: float) -> float:
    return math.log(p / (1.0 - p))


def empty_maps(num_classes: int = 1, h: int = 4, w: int = 5, batch: int = 1) -> dict:
    return {
        "score_logits": torch.full((batch, num_classes, h, w), NEG),
        "iou_logits": torch.full((batch, 1, h, w), NEG),
        "box_ltrb": torch.ones((batch, 4, h, w)),
        "stride": 4,
    }


def put(maps: dict, b: int, i: int, j: int, cls: int, score: float, iou: float, ltrb: tuple) -> None:
    maps["score_logits"][b, cls, i, j] = logit(score)
    maps["iou_logits"][b, 0, i, j] = logit(iou)
    maps["box_ltrb"][b, :, i, j] = torch.tensor(ltrb)


def cfg(**kw) -> InferenceConfig:
    base = dict(score_threshold=0.05, nms_iou=0.5, max_detections=100, pre_nms_topk=1000, iou_map_power=0.5)
    base.update(kw)
    return InferenceConfig(**base)


def test_grid_centers_are_cell_centers_row_major():
    c = grid_centers(2, 3, stride=8)
    assert c.shape == (6, 2)
    assert c[0].tolist() == [4.0, 4.0]
    assert c[2].tolist() == [20.0, 4.0]   # row 0, col 2
    assert c[3].tolist() == [4.0, 12.0]   # row 1, col 0


def test_ltrb_and_xyxy_are_inverse():
    centers = torch.tensor([[10.0, 6.0], [3.0, 50.0]])
    ltrb = torch.tensor([[2.0, 3.0, 4.0, 5.0], [1.0, 0.5, 7.0, 9.0]])
    boxes = ltrb_to_xyxy(centers, ltrb)
    assert boxes[0].tolist() == [8.0, 3.0, 14.0, 11.0]
    torch.testing.assert_close(xyxy_to_ltrb(centers, boxes), ltrb)


def test_single_peak_gives_exact_box_and_joint_score():
    maps = empty_maps()
    put(maps, 0, i=1, j=2, cls=0, score=0.8, iou=0.5, ltrb=(3.0, 4.0, 5.0, 6.0))
    (det,) = decode(maps, cfg())
    # cell (1, 2) at stride 4 has its center at x = 10, y = 6
    assert det["boxes"].tolist() == [[7.0, 2.0, 15.0, 12.0]]
    assert det["scores"].item() == pytest.approx(math.sqrt(0.8 * 0.5), rel=1e-5)
    assert det["labels"].tolist() == [0]
    assert det["labels"].dtype == torch.int64


def test_iou_map_power_extremes():
    maps = empty_maps()
    put(maps, 0, 1, 2, 0, score=0.8, iou=0.3, ltrb=(1, 1, 1, 1))
    assert decode(maps, cfg(iou_map_power=0.0))[0]["scores"].item() == pytest.approx(0.8, rel=1e-5)
    assert decode(maps, cfg(iou_map_power=1.0))[0]["scores"].item() == pytest.approx(0.3, rel=1e-5)
    s = ranking_scores(torch.tensor([[[[logit(0.9)]]]]), torch.tensor([[[[logit(0.4)]]]]), 0.25)
    assert s.item() == pytest.approx(0.9 ** 0.75 * 0.4 ** 0.25, rel=1e-5)


def test_nms_suppresses_same_class_overlap_and_keeps_better_localized():
    maps = empty_maps()
    # Two neighbouring cells predicting nearly the same box: same score, different predicted IoU.
    put(maps, 0, 1, 1, 0, score=0.9, iou=0.3, ltrb=(4, 4, 4, 4))    # center (6, 6) -> [2, 2, 10, 10]
    put(maps, 0, 1, 2, 0, score=0.9, iou=0.9, ltrb=(8, 4, 0, 4))    # center (10, 6) -> [2, 2, 10, 10]
    put(maps, 0, 3, 4, 0, score=0.6, iou=0.9, ltrb=(1, 1, 1, 1))    # far away -> kept
    (det,) = decode(maps, cfg())
    assert det["boxes"].tolist() == [[2.0, 2.0, 10.0, 10.0], [17.0, 13.0, 19.0, 15.0]]
    assert det["scores"][0].item() == pytest.approx(math.sqrt(0.9 * 0.9), rel=1e-5)


def test_nms_is_class_wise():
    maps = empty_maps(num_classes=2)
    put(maps, 0, 1, 1, 0, score=0.9, iou=0.8, ltrb=(4, 4, 4, 4))
    maps["score_logits"][0, 1, 1, 1] = logit(0.7)  # same location and box, second class
    (det,) = decode(maps, cfg())
    assert det["labels"].tolist() == [0, 1]
    assert det["boxes"][0].tolist() == det["boxes"][1].tolist() == [2.0, 2.0, 10.0, 10.0]


def test_threshold_topk_and_max_detections():
    maps = empty_maps(h=2, w=8)
    for j, s in enumerate([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2]):
        put(maps, 0, 0, j, 0, score=s, iou=0.99, ltrb=(1, 1, 1, 1))  # disjoint 2x2 boxes
    assert len(decode(maps, cfg(score_threshold=0.45, iou_map_power=0.0))[0]["scores"]) == 5
    got = decode(maps, cfg(score_threshold=0.0, max_detections=3))[0]["scores"]
    assert len(got) == 3 and torch.all(got[:-1] >= got[1:])
    # pre-NMS top-k: only the 2 best candidates reach NMS
    assert len(decode(maps, cfg(score_threshold=0.1, pre_nms_topk=2))[0]["scores"]) == 2


def test_nothing_above_threshold_gives_empty_well_typed_result():
    (det,) = decode(empty_maps(), cfg(score_threshold=0.5))
    assert det["boxes"].shape == (0, 4)
    assert det["scores"].shape == (0,)
    assert det["labels"].dtype == torch.int64


def test_batch_images_are_decoded_independently():
    maps = empty_maps(batch=2)
    put(maps, 1, 0, 0, 0, score=0.9, iou=0.9, ltrb=(2, 2, 2, 2))
    d0, d1 = decode(maps, cfg())
    assert len(d0["scores"]) == 0
    assert d1["boxes"].tolist() == [[0.0, 0.0, 4.0, 4.0]]


def test_stride_must_be_known():
    maps = empty_maps()
    del maps["stride"]
    with pytest.raises(ValueError, match="stride"):
        decode(maps, cfg())
    assert len(decode(maps, cfg(), stride=4)) == 1
