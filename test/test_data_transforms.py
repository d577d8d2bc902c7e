"""Paired transforms keep boxes on their objects; photometric jitter touches one modality; collate stacks."""
from __future__ import annotations

import random

import numpy as np
import pytest

from lsi_perception.config import PreprocessConfig
from lsi_perception.data import collate_samples
from lsi_perception.data.transforms import (
    Compose,
    FeaturelessPair,
    PhotometricJitter,
    RandomCrop,
    RandomHorizontalFlip,
    RandomScale,
    ResizePad,
    build_train_transforms,
)

H, W = 96, 128
BOXES = np.array([[10, 20, 30, 70], [80, 30, 100, 60]], np.float32)


def _sample() -> dict:
    """Two bright objects on a dark background, drawn identically in both images."""
    rgb = np.full((H, W, 3), 20, np.uint8)
    th = np.full((H, W), 30, np.uint8)
    for x1, y1, x2, y2 in BOXES.astype(int):
        rgb[y1:y2, x1:x2] = 230
        th[y1:y2, x1:x2] = 240
    return {"rgb": rgb, "thermal": th, "boxes": BOXES.copy(), "labels": np.zeros(2, np.int64),
            "ignore": np.zeros(2, bool), "image_id": "set00/V000/I00000", "index": 0}


def _assert_boxes_on_objects(s: dict, tol: float = 2.0) -> None:
    """Each box encloses a bright blob in both images whose extent matches the box."""
    assert s["rgb"].shape[:2] == s["thermal"].shape[:2]
    for img in (s["rgb"][..., 0], s["thermal"]):
        for x1, y1, x2, y2 in s["boxes"]:
            xi1, yi1 = int(np.ceil(x1 + tol)), int(np.ceil(y1 + tol))
            xi2, yi2 = int(np.floor(x2 - tol)), int(np.floor(y2 - tol))
            assert img[yi1:yi2, xi1:xi2].min() > 150, "box interior is not on the object"
            pad = int(np.ceil(tol)) + 1
            ring = img[max(0, int(y1) - pad - 2): int(y2) + pad + 2, max(0, int(x1) - pad - 2): int(x2) + pad + 2]
            ys, xs = np.nonzero(ring > 150)
            ox, oy = max(0, int(x1) - pad - 2), max(0, int(y1) - pad - 2)
            assert abs(xs.min() + ox - x1) <= tol and abs(xs.max() + 1 + ox - x2) <= tol
            assert abs(ys.min() + oy - y1) <= tol and abs(ys.max() + 1 + oy - y2) <= tol


def test_flip_moves_boxes_with_pixels() -> None:
    s = RandomHorizontalFlip(p=1.0)(_sample())
    np.testing.assert_allclose(s["boxes"][0], [W - 30, 20, W - 10, 70])
    _assert_boxes_on_objects(s)


@pytest.mark.parametrize("seed", range(4))
def test_scale_and_crop_keep_boxes_on_objects(seed: int) -> None:
    rng = random.Random(seed)
    tf = Compose([RandomHorizontalFlip(0.5, rng), RandomScale(0.7, 1.4, rng), RandomCrop((80, 112), rng=rng)])
    s = tf(_sample())
    assert s["rgb"].shape == (80, 112, 3) and s["thermal"].shape == (80, 112)
    keep = ~s["ignore"]
    _assert_boxes_on_objects({**s, "boxes": s["boxes"][keep]}, tol=2.5)


def test_crop_drops_and_ignores_cut_boxes() -> None:
    class Fixed(random.Random):
        def randint(self, a: int, b: int) -> int:
            return 0

    s = RandomCrop((60, 88), min_visible=0.25, ignore_below_visible=0.6, rng=Fixed())(_sample())
    # box 0 keeps 40/50 of its height (visible 0.8); box 1 keeps 8/20 of its width (0.4 -> ignore)
    np.testing.assert_allclose(s["boxes"], [[10, 20, 30, 60], [80, 30, 88, 60]])
    assert s["ignore"].tolist() == [False, True]


def test_resize_pad_letterboxes_to_fixed_size() -> None:
    pp = PreprocessConfig(input_size=(64, 96), pad_multiple=32)
    s = ResizePad(pp)(_sample())
    assert s["rgb"].shape == (64, 96, 3) and s["thermal"].shape == (64, 96)
    np.testing.assert_allclose(s["boxes"][0], BOXES[0] * (64 / 96), atol=0.1)
    _assert_boxes_on_objects(s, tol=1.5)


def test_photometric_jitter_changes_one_modality_only() -> None:
    base = _sample()
    s = PhotometricJitter("thermal", p=1.0, rng=random.Random(1))(base)
    assert np.array_equal(s["rgb"], base["rgb"]) and not np.array_equal(s["thermal"], base["thermal"])
    assert s["thermal"].dtype == np.uint8
    np.testing.assert_array_equal(s["boxes"], base["boxes"])
    s16 = PhotometricJitter("thermal", p=1.0, rng=random.Random(1))({**base, "thermal": base["thermal"].astype(np.uint16) * 200})
    assert s16["thermal"].dtype == np.uint16
    with pytest.raises(ValueError, match="modality"):
        PhotometricJitter("depth")


def test_featureless_pair_is_a_no_scene_negative() -> None:
    """Both images lose every structure (a level, a ramp, noise; each modality its own), every box and its
    per-box entries go, the image id stays; p=0 returns the sample untouched; the rate is p."""
    base = {**_sample(), "occlusion": np.zeros(2, np.int64), "thermal": _sample()["thermal"].astype(np.uint16) * 200}
    rng = random.Random(3)
    outs = [FeaturelessPair(1.0, rng)(base) for _ in range(20)]
    for s in outs:
        assert s["image_id"] == base["image_id"] and s["rgb"].shape == base["rgb"].shape
        assert s["rgb"].dtype == np.uint8 and s["thermal"].dtype == np.uint16
        assert s["boxes"].shape == (0, 4) and all(len(s[k]) == 0 for k in ("labels", "ignore", "occlusion"))
        rows = s["thermal"].astype(np.float64)
        assert rows.std(axis=1).max() <= 0.04 * 65535  # at most noise along a row: no blob, no edge
        assert np.array_equal(s["rgb"][..., 0], s["rgb"][..., 2])  # grey: no colour either
    assert len({int(s["rgb"].mean()) for s in outs}) > 10  # levels spread over the range
    assert np.array_equal(base["boxes"], BOXES)  # the input is not modified
    assert FeaturelessPair(0.0, rng)(base) is base
    quarter = FeaturelessPair(0.25, random.Random(5))
    hits = sum(quarter(base)["boxes"].shape[0] == 0 for _ in range(400))
    assert 70 <= hits <= 130
    with pytest.raises(ValueError, match="probability"):
        FeaturelessPair(1.5)


def test_collate_stacks_normalized_batch() -> None:
    pp = PreprocessConfig(input_size=(64, 96))
    tf = build_train_transforms(pp)
    batch = collate_samples([tf(_sample()) for _ in range(3)], pp)
    assert tuple(batch.rgb.shape) == (3, 3, 64, 96) and tuple(batch.thermal.shape) == (3, 1, 64, 96)
    assert batch.rgb.dtype.is_floating_point and len(batch) == 3
    assert batch.targets[0]["boxes"].shape[1] == 4 and batch.targets[0]["ignore"].dtype.__str__() == "torch.bool"
    assert batch.image_ids == ["set00/V000/I00000"] * 3
    with pytest.raises(ValueError, match="ResizePad"):
        collate_samples([_sample(), RandomScale(0.5, 0.5)(_sample())], pp)


def test_training_pipeline_trains_at_the_inference_scale() -> None:
    """With a network input half the frame size, boxes come out at half size (what the Detector sees),
    not at native size as a crop taken before the letterbox would give."""
    pp = PreprocessConfig(input_size=(H // 2, W // 2), pad_multiple=16)
    tf = build_train_transforms(pp, scale_range=(1.0, 1.0), flip_p=0.0)
    out = tf(_sample())
    assert out["rgb"].shape[:2] == (H // 2, W // 2)
    heights = out["boxes"][:, 3] - out["boxes"][:, 1]
    np.testing.assert_allclose(heights, (BOXES[:, 3] - BOXES[:, 1]) / 2, atol=1.0)
    _assert_boxes_on_objects(out)
