"""The error breakdown on a hand-built scene: every class of ground truth and detection, and the size bias."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lsi_perception.eval import annotations_from_coco
from lsi_perception.eval.breakdown import error_breakdown, format_breakdown


def scene():
    """A day image (set06) with five people and a night image (set09) with one."""
    day = [
        [100, 100, 41, 100],  # A: isolated, found (and found again: a duplicate)
        [300, 100, 41, 100],  # B: crowded with C, found
        [330, 100, 41, 100],  # C: crowded with B, boxed too small (IoU 0.39)
        [500, 300, 12, 30],  # D: 30 px, out of the Reasonable scope
        [200, 300, 33, 80],  # E: isolated, only a low-scored detection
    ]
    coco = {"images": [{"id": 0, "im_name": "set06/V000/I00000", "width": 640, "height": 512},
                       {"id": 1, "im_name": "set09/V000/I00000", "width": 640, "height": 512}],
            "annotations": [{"image_id": 0, "bbox": b, "height": b[3], "occlusion": 0, "ignore": 0} for b in day]
            + [{"image_id": 1, "bbox": [50, 50, 41, 100], "height": 100, "occlusion": 0, "ignore": 0}]}
    detections = {
        "set06/V000/I00000": np.array([
            [100, 100, 41, 100, 0.9],  # true (A)
            [300, 100, 41, 100, 0.8],  # true (B)
            [100, 100, 41, 100, 0.7],  # duplicate (A again)
            [335, 100, 20, 80, 0.65],  # loose (C)
            [500, 300, 12, 30, 0.6],  # out of scope (D)
            [10, 400, 20, 40, 0.6],  # background
            [200, 300, 33, 80, 0.1],  # E, below the threshold
        ]),
        "set09/V000/I00000": np.array([[50, 50, 41, 100, 0.95]]),
    }
    return annotations_from_coco(coco), detections


def test_every_ground_truth_and_detection_lands_in_its_class():
    ann, dets = scene()
    b = error_breakdown(ann, dets, score_threshold=0.5)
    day = b.ground_truth["day"]
    assert (day["isolated"].count, day["isolated"].found, day["isolated"].loose, day["isolated"].missed) == (2, 1, 0, 1)
    assert (day["crowded"].count, day["crowded"].found, day["crowded"].loose, day["crowded"].missed) == (2, 1, 1, 0)
    assert b.detections["day"] == {"true": 2, "duplicate": 1, "loose": 1, "out_of_scope": 1, "background": 1}
    assert b.detections["night"] == {"true": 1, "duplicate": 0, "loose": 0, "out_of_scope": 0, "background": 0}
    assert b.ground_truth["all"]["all"].count == 5 and b.ground_truth["all"]["all"].found == 3
    assert b.images == {"day": 1, "night": 1, "all": 2}


def test_size_bias_is_the_median_over_located_pedestrians():
    ann, dets = scene()
    b = error_breakdown(ann, dets, score_threshold=0.5)
    crowded = b.ground_truth["day"]["crowded"]
    # B exact (ratio 1) and C at 20/41 wide, 80/100 tall: the median of two is their mean in log space
    assert crowded.width_bias_percent() == pytest.approx(100 * math.expm1(math.log(20 / 41) / 2))
    assert crowded.height_bias_percent() == pytest.approx(100 * math.expm1(math.log(0.8) / 2))
    assert b.ground_truth["day"]["isolated"].width_bias_percent() == pytest.approx(0.0)  # E was never located
    assert math.isnan(b.ground_truth["night"]["crowded"].width_bias_percent())
    assert b.to_json()["ground_truth"]["night"]["crowded"]["width_bias_percent"] is None


def test_the_threshold_decides_which_detections_count():
    ann, dets = scene()
    low = error_breakdown(ann, dets, score_threshold=0.05)
    assert low.ground_truth["day"]["isolated"].found == 2  # E's detection counts now
    high = error_breakdown(ann, dets, score_threshold=0.99)
    assert high.ground_truth["all"]["all"].missed == 5 and sum(high.detections["all"].values()) == 0


def test_bad_threshold_and_the_printed_table():
    ann, dets = scene()
    with pytest.raises(ValueError, match="score_threshold"):
        error_breakdown(ann, dets, score_threshold=1.5)
    text = format_breakdown("m", error_breakdown(ann, dets, score_threshold=0.5))
    assert "day crowded" in text and "background" in text and "50.0%" in text
