"""The KAIST matching and MR^-2 rules on hand-built scenes, and the vectorized evaluator vs a plain loop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from lsi_perception.eval import (
    FPPI_POINTS,
    SETTINGS,
    DetectionTable,
    annotations_from_coco,
    evaluate,
)


def make_annotations(images: list[tuple[str, list[dict]]], **image_fields) -> object:
    """images: [(im_name, [{"bbox": [x, y, w, h], "occlusion": .., "ignore": ..}, ...]), ...]."""
    coco = {"images": [], "annotations": []}
    for i, (name, gts) in enumerate(images):
        coco["images"].append({"id": i, "im_name": name, "width": 640, "height": 512, **image_fields})
        for gt in gts:
            coco["annotations"].append({"image_id": i, "height": gt["bbox"][3], "occlusion": 0, "ignore": 0, **gt})
    return annotations_from_coco(coco)


def person(x: float, y: float, h: float = 80.0, **extra) -> dict:
    return {"bbox": [x, y, 0.41 * h, h], **extra}


def det(box: list[float], score: float) -> list[float]:
    return [*box, score]


def test_perfect_detector_has_zero_miss_rate_and_no_detections_full_miss_rate():
    ann = make_annotations([("set06/V000/I00000", [person(100, 100), person(300, 120)]), ("set06/V000/I00020", [])])
    perfect = {0: np.array([det(person(100, 100)["bbox"], 0.9), det(person(300, 120)["bbox"], 0.8)])}
    assert evaluate(ann, perfect).mr["reasonable"]["all"] == 0.0
    assert evaluate(ann, {}, protocol="strict").mr["reasonable"]["all"] == pytest.approx(100.0)
    # The reference protocol counts no pedestrian of an image without detections: nothing left to find.
    empty = evaluate(ann, {}, protocol="reference")
    assert empty.protocol == "reference" and math.isnan(empty.mr["reasonable"]["all"])


def test_reference_protocol_counts_no_pedestrian_on_an_image_without_detections():
    names = [f"set06/V000/I{k:05d}" for k in range(4)]
    ann = make_annotations([(names[0], [person(100, 100)]), (names[1], [person(200, 100), person(400, 100)]),
                            (names[2], []), (names[3], [])])
    dets = {names[0]: np.array([det(person(100, 100)["bbox"], 0.9)]), names[2]: np.array([det([300, 100, 30, 70], 0.8)])}
    reference = evaluate(ann, dets, protocol="reference").curves["reasonable"]["all"]
    strict = evaluate(ann, dets, protocol="strict").curves["reasonable"]["all"]
    assert (reference.num_pedestrians, strict.num_pedestrians) == (1, 3)  # image 1 has no detection
    np.testing.assert_allclose(reference.miss_rate, [0.0, 0.0])
    np.testing.assert_allclose(strict.miss_rate, [2 / 3, 2 / 3])
    # FPPI divides by every image in both: 1 false positive over 4 images.
    np.testing.assert_allclose(reference.fppi, [0.0, 0.25])
    np.testing.assert_allclose(strict.fppi, [0.0, 0.25])


def test_reference_protocol_counts_a_match_to_annotation_id_0_as_a_false_positive():
    coco = {"images": [{"id": 0, "im_name": "set06/V000/I00000"}],
            "annotations": [{"id": i, "image_id": 0, "bbox": person(100 + 150 * i, 100)["bbox"], "height": 80}
                            for i in (0, 1)]}
    ann = annotations_from_coco(coco)
    first = person(100, 100)["bbox"]
    dets = {0: np.array([det(first, 0.9), det([first[0] + 1, *first[1:]], 0.8), det(person(250, 100)["bbox"], 0.7)])}
    reference = evaluate(ann, dets, protocol="reference").curves["reasonable"]["all"]
    # Detection 1 uses up annotation 0 but is a false positive; detection 2 cannot take annotation 0 again.
    np.testing.assert_allclose(reference.fppi, [1.0, 2.0, 2.0])
    np.testing.assert_allclose(reference.miss_rate, [1.0, 1.0, 0.5])
    strict = evaluate(ann, dets, protocol="strict").curves["reasonable"]["all"]
    np.testing.assert_allclose(strict.fppi, [0.0, 1.0, 1.0])
    np.testing.assert_allclose(strict.miss_rate, [0.5, 0.5, 0.0])
    # Ids shifted by one (the COCO convention of ids from 1): no annotation is affected.
    for a in coco["annotations"]:
        a["id"] += 1
    shifted = evaluate(annotations_from_coco(coco), dets, protocol="reference").curves["reasonable"]["all"]
    np.testing.assert_allclose(shifted.miss_rate, strict.miss_rate)


def test_unknown_protocol_is_a_clear_error():
    ann = make_annotations([("set06/V000/I00000", [])])
    with pytest.raises(ValueError, match="reference, strict"):
        evaluate(ann, {}, protocol="lenient")


def test_ignore_region_absorbs_any_number_of_detections_by_intersection_over_detection_area():
    crowd = {"bbox": [200, 100, 200, 150], "ignore": 1}
    ann = make_annotations([("set06/V000/I00000", [person(50, 100), crowd])])
    # Five small boxes inside the crowd (IoU with it < 0.5, but fully covered), scored above the true positive.
    inside = [det([210 + 30 * k, 110, 20, 60], 0.99 - 0.01 * k) for k in range(5)]
    dets = {"set06/V000/I00000": np.array([*inside, det(person(50, 100)["bbox"], 0.5)])}
    curve = evaluate(ann, dets).curves["reasonable"]["all"]
    assert curve.num_pedestrians == 1
    assert len(curve.fppi) == 1 and curve.fppi[0] == 0.0  # only the true positive is counted
    assert curve.mr < 1e-6


def test_a_pedestrian_matches_once_and_duplicates_are_false_positives():
    ann = make_annotations([("set06/V000/I00000", [person(100, 100)])] + [(f"set06/V000/I{k:05d}", []) for k in range(1, 10)])
    box = person(100, 100)["bbox"]
    curve = evaluate(ann, {0: np.array([det(box, 0.9), det([b + 2 for b in box[:2]] + box[2:], 0.8)])}).curves["reasonable"]["all"]
    np.testing.assert_allclose(curve.miss_rate, [0.0, 0.0])
    np.testing.assert_allclose(curve.fppi, [0.0, 0.1])  # the duplicate: 1 FP over 10 images


def test_detection_takes_the_best_overlapping_free_pedestrian():
    a, b = person(100, 100), person(120, 100)  # two overlapping pedestrians
    ann = make_annotations([("set06/V000/I00000", [a, b])])
    # First detection sits on b exactly; second on a exactly: both must be true positives.
    curve = evaluate(ann, {0: np.array([det(b["bbox"], 0.9), det(a["bbox"], 0.8)])}).curves["reasonable"]["all"]
    np.testing.assert_allclose(curve.miss_rate, [0.5, 0.0])


def test_border_crossing_height_and_occlusion_decide_who_is_ignored():
    gts = [
        person(2, 100),  # x < 5: crosses the border, ignored everywhere
        person(300, 100, h=50),  # 50 px: not reasonable (>= 55), but in All and Medium
        person(400, 100, h=80, occlusion=2),  # heavy occlusion: only All and Occ heavy
        person(100, 100, h=150),  # near
    ]
    ann = make_annotations([("set06/V000/I00000", gts)])
    curves = evaluate(ann, {}, protocol="strict").curves
    counted = {name: curves[name]["all"].num_pedestrians for name in curves}
    assert counted == {
        "reasonable": 1, "reasonable_small": 1, "reasonable_occ_heavy": 1, "all": 3, "near": 1, "medium": 1,
        "far": 0, "occ_none": 2, "occ_partial": 0, "occ_heavy": 1,
    }
    assert math.isnan(evaluate(ann, {}, protocol="strict").mr["far"]["all"])  # nothing to find: MR undefined


def test_fppi_counts_every_image_of_the_subset():
    def sampled(num_images: int) -> np.ndarray:
        names = [f"set06/V000/I{k:05d}" for k in range(num_images)]
        ann = make_annotations([(names[0], [person(100, 100)])] + [(n, []) for n in names[1:]])
        dets = {names[1]: np.array([det([400, 100, 30, 70], 0.9)]), names[0]: np.array([det(person(100, 100)["bbox"], 0.8)])}
        return evaluate(ann, dets).curves["reasonable"]["all"].sampled_miss_rate

    # 100 images: the false positive is at FPPI 0.01 = the first point, so recall 1 is reached there.
    np.testing.assert_allclose(sampled(100), np.zeros(9))
    # 50 images: FPPI 0.02 passes the first two points (0.01, 0.0178) with nothing found yet.
    np.testing.assert_allclose(sampled(50), [1.0, 1.0] + [0.0] * 7)


def test_day_night_from_time_of_day_field_or_set_number():
    ann = make_annotations([("set00/V000/I00000", []), ("set03/V000/I00000", []), ("set10/V001/I00020", []), ("other/a", [])])
    assert ann.time_of_day == ("day", "night", "night", "unknown")
    np.testing.assert_array_equal(ann.is_day, [True, False, False, False])
    explicit = make_annotations([("set00/V000/I00000", [])], time_of_day="night")
    assert explicit.time_of_day == ("night",)
    with pytest.raises(ValueError, match="'all', 'day', 'night'"):
        ann.time_mask("dusk")


def test_at_most_1000_detections_per_image_keeping_the_best():
    ann = make_annotations([("set06/V000/I00000", [])])
    scores = np.arange(1001, dtype=np.float64)
    table = DetectionTable.from_mapping(ann, {0: np.column_stack([np.zeros((1001, 4)) + 10, scores])})
    assert len(table) == 1000 and table.scores.min() == 1.0 and table.scores[0] == 1000.0


def test_caltech_height_filter_ignores_small_unmatched_detections_only_when_asked():
    ann = make_annotations([("set06/V000/I00000", [person(100, 100)])])
    dets = {0: np.array([det([400, 100, 12, 30], 0.9), det(person(100, 100)["bbox"], 0.8)])}  # 30 px < 55 / 1.25
    assert len(evaluate(ann, dets).curves["reasonable"]["all"].fppi) == 2
    assert len(evaluate(ann, dets, detection_height_expansion=1.25).curves["reasonable"]["all"].fppi) == 1


def test_im_name_and_index_keys_are_equivalent():
    ann = make_annotations([("set06/V000/I00000", [person(100, 100)]), ("set09/V000/I00000", [person(200, 100)])])
    by_index = {0: np.array([det(person(101, 100)["bbox"], 0.7)]), 1: np.array([det([10, 10, 30, 70], 0.6)])}
    by_name = {ann.im_names[k]: v for k, v in by_index.items()}
    assert evaluate(ann, by_index).to_json() == evaluate(ann, by_name).to_json()
    with pytest.raises(ValueError, match="not in the annotations"):
        evaluate(ann, {"set99/V000/I00000": np.zeros((1, 5))})
    with pytest.raises(ValueError, match=r"\(N, 5\)"):
        evaluate(ann, {0: np.zeros((2, 4))})


# --- the vectorized evaluator against a straightforward per-image loop of the protocol -------------------


def _loop_reference_mr(coco: dict, dets: dict[int, np.ndarray], setting, time: str, protocol: str) -> float:
    """The protocols written as plainly as possible: one image, one detection, one ground truth at a time."""
    from lsi_perception.eval.annotations import time_of_day_from_name

    scored: list[tuple[float, bool]] = []  # (score, true positive) of counted detections, image order
    num_images = num_pedestrians = 0
    for index, image in enumerate(coco["images"]):
        if time != "all" and time_of_day_from_name(image["im_name"]) != time:
            continue
        num_images += 1
        gts = []
        for a in coco["annotations"]:
            if a["image_id"] != index:
                continue
            x, y, w, h = a["bbox"]
            ignored = (
                a["ignore"] == 1
                or not setting.min_height <= a["height"] <= setting.max_height
                or a["occlusion"] not in setting.occlusions
                or x < 5 or y < 5 or x + w > 635 or y + h > 507
            )
            gts.append((a["bbox"], ignored, a.get("id")))
        rows = sorted(dets.get(index, np.zeros((0, 5))).tolist(), key=lambda r: -r[4])[:1000]
        if protocol == "strict" or rows:
            num_pedestrians += sum(not ig for _, ig, _ in gts)
        matched = [False] * len(gts)
        for *box, score in rows:
            best, best_iou = None, 0.5
            for g, (gbox, ignored, _) in enumerate(gts):
                if ignored or matched[g]:
                    continue
                iou = _overlap(box, gbox) / (box[2] * box[3] + gbox[2] * gbox[3] - _overlap(box, gbox))
                if iou >= best_iou:
                    best, best_iou = g, iou
            if best is not None:
                matched[best] = True
                scored.append((score, protocol == "strict" or gts[best][2] != 0))
            elif not any(ig and _overlap(box, gbox) / (box[2] * box[3]) >= 0.5 for gbox, ig, _ in gts):
                scored.append((score, False))
    if not num_pedestrians:
        return math.nan
    scored.sort(key=lambda s: -s[0])
    tp = fp = 0
    fppi, miss = [], []
    for _, is_tp in scored:
        tp, fp = tp + is_tp, fp + (not is_tp)
        fppi.append(fp / num_images)
        miss.append(1 - tp / num_pedestrians)
    sampled = []
    for point in FPPI_POINTS:
        below = [m for f, m in zip(fppi, miss) if f <= point]
        sampled.append(below[-1] if below else 1.0)
    return 0.0 if min(sampled) == 0 else 100 * math.exp(sum(math.log(m) for m in sampled) / len(sampled))


def _overlap(a: list[float], b: list[float]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(w, 0.0) * max(h, 0.0)


def _random_scene(seed: int) -> tuple[dict, dict[int, np.ndarray]]:
    rng = np.random.default_rng(seed)
    coco = {"images": [], "annotations": []}
    dets: dict[int, np.ndarray] = {}
    for i in range(40):
        coco["images"].append({"id": i, "im_name": f"set{(6, 9)[i % 2]:02d}/V000/I{i:05d}"})
        rows = []
        for _ in range(rng.integers(0, 6)):
            h = float(rng.uniform(15, 200))
            box = [float(rng.uniform(-10, 600)), float(rng.uniform(-10, 400)), 0.41 * h, h]
            coco["annotations"].append({"id": len(coco["annotations"]) + seed % 2, "image_id": i, "bbox": box, "height": h,
                                        "occlusion": int(rng.integers(0, 3)), "ignore": int(rng.random() < 0.15)})
            for _ in range(rng.integers(0, 3)):  # jittered hits, sometimes duplicates
                jitter = rng.normal(0, 0.08 * h, 4) * [1, 1, 0.3, 0.3]
                rows.append([*(np.array(box) + jitter), rng.uniform(0.4, 1.0)])
        for _ in range(rng.integers(0, 3)):  # clutter
            h = float(rng.uniform(10, 150))
            rows.append([rng.uniform(0, 600), rng.uniform(0, 450), 0.41 * h, h, rng.uniform(0.0, 0.8)])
        if rows:
            dets[i] = np.abs(np.array(rows, dtype=np.float64)) + [0, 0, 1, 1, 0]
    return coco, dets


@pytest.mark.parametrize("protocol", ["reference", "strict"])
@pytest.mark.parametrize("seed", range(6))
def test_vectorized_evaluator_equals_the_plain_loop(seed, protocol):
    coco, dets = _random_scene(seed)
    result = evaluate(annotations_from_coco(coco), dets, protocol=protocol)
    for setting in SETTINGS:
        for time in ("all", "day", "night"):
            expected = _loop_reference_mr(coco, dets, setting, time, protocol)
            got = result.mr[setting.name][time]
            if math.isnan(expected):
                assert math.isnan(got), (seed, setting.name, time)
                continue
            assert got == pytest.approx(expected, rel=1e-9, abs=1e-9), (seed, setting.name, time)
