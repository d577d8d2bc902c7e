"""Detection losses on hand-made cases: assignment, score, IoU, IoU-map and repulsion terms, criterion."""
from __future__ import annotations

import math

import pytest
import torch
from torchvision.ops import sigmoid_focal_loss

from lsi_perception.losses import (
    DetectionCriterion,
    LossConfig,
    assign_targets,
    rep_box_loss,
    rep_gt_loss,
    smooth_ln,
)
from lsi_perception.losses.box import elementwise_iou, pairwise_iou
from lsi_perception.losses.score import focal_loss
from lsi_perception.model.boxes import grid_centers, xyxy_to_ltrb

STRIDE = 4
H, W = 16, 20  # map size: a 64 x 80 input at stride 4


def _target(boxes, ignore=None) -> dict[str, torch.Tensor]:
    boxes = torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4)
    n = boxes.shape[0]
    return {
        "boxes": boxes,
        "labels": torch.zeros(n, dtype=torch.long),
        "ignore": torch.tensor(ignore if ignore is not None else [False] * n, dtype=torch.bool),
    }


def _outputs_with_boxes(per_location_boxes: torch.Tensor, score_logit: float = -2.0) -> dict[str, torch.Tensor]:
    """Model-shaped outputs whose box at every location is ``per_location_boxes`` [B, L, 4] (xyxy)."""
    b = per_location_boxes.shape[0]
    centers = grid_centers(H, W, STRIDE)
    ltrb = xyxy_to_ltrb(centers.unsqueeze(0), per_location_boxes).clamp(min=0)
    return {
        "score_logits": torch.full((b, 1, H, W), score_logit),
        "iou_logits": torch.zeros(b, 1, H, W),
        "box_ltrb": ltrb.transpose(1, 2).reshape(b, 4, H, W),
    }


# --------------------------------------------------------------------------- assignment


def test_center_sampling_marks_central_cells_of_a_box_positive():
    box = [20.0, 8.0, 36.0, 56.0]  # 16 x 48 px pedestrian centred at (28, 32)
    dense = assign_targets([_target([box])], (H, W), STRIDE, 1, center_radius=1.5, center_fraction=0.5)
    pos = dense.positive[0]
    centers = dense.centers[pos]
    assert pos.sum() > 0
    assert (centers[:, 0] > 20).all() and (centers[:, 0] < 36).all()
    assert ((centers[:, 0] - 28).abs() < 6.0).all()  # max(1.5 * 4, 0.5 * 8) = 6 px horizontally
    assert ((centers[:, 1] - 32).abs() < 12.0).all()  # max(6, 0.5 * 24) = 12 px vertically
    assert torch.equal(dense.score[0, 0, pos], torch.ones(int(pos.sum())))
    assert dense.score[0, 0, ~pos].sum() == 0
    assert torch.equal(dense.matched_boxes[0, pos], torch.tensor([box]).expand(int(pos.sum()), 4))


def test_box_smaller_than_a_cell_still_gets_its_center_cell():
    dense = assign_targets([_target([[9.0, 9.0, 10.0, 10.0]])], (H, W), STRIDE, 1)
    assert dense.positive[0].nonzero().flatten().tolist() == [2 * W + 2]  # cell (2, 2) holds (9.5, 9.5)


def test_overlapping_boxes_give_shared_cells_to_the_smaller_box():
    big, small = [8.0, 8.0, 56.0, 60.0], [24.0, 20.0, 40.0, 44.0]
    alone_big = assign_targets([_target([big])], (H, W), STRIDE, 1).positive[0]
    alone_small = assign_targets([_target([small])], (H, W), STRIDE, 1).positive[0]
    contested = alone_big & alone_small
    assert contested.any()
    dense = assign_targets([_target([big, small])], (H, W), STRIDE, 1)
    assert (dense.matched_gt[0, contested] == 1).all()
    assert (dense.matched_gt[0, alone_big & ~alone_small] == 0).all()
    assert torch.equal(dense.positive[0], alone_big | alone_small)


def test_ignored_boxes_zero_the_weight_of_negatives_and_make_no_positives():
    dense = assign_targets([_target([[8.0, 8.0, 40.0, 40.0]], ignore=[True])], (H, W), STRIDE, 1)
    assert not dense.positive.any()
    assert dense.gt_boxes[0].shape == (0, 4)
    centers = dense.centers
    inside = (centers[:, 0] > 8) & (centers[:, 0] < 40) & (centers[:, 1] > 8) & (centers[:, 1] < 40)
    assert (dense.score_weight[0, inside] == 0).all() and (dense.score_weight[0, ~inside] == 1).all()


def test_gaussian_targets_peak_at_the_center_cell():
    box = [18.0, 6.0, 34.0, 54.0]  # centre (26, 30) = centre of cell (7, 6)
    dense = assign_targets([_target([box])], (H, W), STRIDE, 1, soft_target="gaussian")
    values = dense.score[0, 0, dense.positive[0]]
    assert 0.1 < values.min() < values.max()
    assert dense.score[0, 0].argmax() == 7 * W + 6 and float(values.max()) == pytest.approx(1.0)


def test_label_outside_the_class_list_is_an_error_naming_the_fix():
    target = _target([[8.0, 8.0, 40.0, 40.0]])
    target["labels"] = torch.tensor([3])
    with pytest.raises(ValueError, match="class_names"):
        assign_targets([target], (H, W), STRIDE, 1)


# --------------------------------------------------------------------------- element losses


def test_focal_loss_matches_torchvision_for_hard_targets():
    logits = torch.randn(2, 1, 50)
    target = (torch.rand(2, 1, 50) > 0.8).float()
    expected = sigmoid_focal_loss(logits, target, alpha=0.25, gamma=2.0, reduction="none")
    torch.testing.assert_close(focal_loss(logits, target, 0.25, 2.0), expected)


def test_soft_focal_loss_is_smallest_at_the_soft_target():
    target = torch.full((5,), 0.3)
    logits = torch.logit(torch.tensor([0.05, 0.2, 0.3, 0.5, 0.9]))
    loss = focal_loss(logits, target, alpha=-1, gamma=2.0)
    assert loss.argmin() == 2 and loss[2] == pytest.approx(0.0, abs=1e-7)


def test_smooth_ln_is_minus_log_below_sigma_and_continuous_linear_above():
    x = torch.tensor([0.0, 0.3, 0.9, 0.95, 1.0])
    y = smooth_ln(x, 0.9)
    torch.testing.assert_close(y[:3], -torch.log1p(-x[:3]))
    assert y[3] == pytest.approx((0.95 - 0.9) / 0.1 - math.log(0.1))
    assert torch.isfinite(y).all() and (y.diff() > 0).all()
    torch.testing.assert_close(smooth_ln(x, 0.0), x)  # sigma = 0: plain overlap (the RepBox setting)


def test_elementwise_iou_agrees_with_pairwise_and_is_zero_for_empty_boxes():
    a = torch.tensor([[0.0, 0, 10, 10], [5, 5, 15, 25], [3, 3, 3, 3]])
    b = torch.tensor([[0.0, 0, 10, 10], [0, 0, 10, 10], [3, 3, 3, 3]])
    torch.testing.assert_close(elementwise_iou(a, b), pairwise_iou(a, b).diagonal())
    assert elementwise_iou(a, b).tolist() == pytest.approx([1.0, 25 / 275, 0.0])


# --------------------------------------------------------------------------- repulsion


def test_rep_gt_grows_as_a_box_drifts_onto_its_neighbours_ground_truth():
    gt = torch.tensor([[10.0, 10, 30, 60], [32, 10, 52, 60]])  # two pedestrians side by side
    values = []
    for shift in (0.0, 4.0, 8.0, 12.0, 16.0):
        pred = gt[:1] + torch.tensor([shift, 0, shift, 0])
        values.append(float(rep_gt_loss(pred, torch.tensor([0]), gt, sigma=0.9)))
    assert values[0] == 0.0  # touching neither neighbour: no repulsion
    assert all(b > a for a, b in zip(values, values[1:]))


def test_rep_gt_is_zero_for_a_single_object_and_ignores_the_own_target():
    gt = torch.tensor([[10.0, 10, 30, 60]])
    assert float(rep_gt_loss(gt.clone(), torch.tensor([0]), gt)) == 0.0


def test_rep_box_grows_as_boxes_of_different_objects_overlap_and_skips_same_object_pairs():
    base = torch.tensor([[10.0, 10, 30, 60]])
    values = []
    for shift in (24.0, 16.0, 8.0, 0.0):
        pred = torch.cat((base, base + torch.tensor([shift, 0, shift, 0])))
        total, pairs = rep_box_loss(pred, torch.tensor([0, 1]))
        values.append(float(total))
        assert float(pairs) == (1.0 if shift < 20 else 0.0)
    assert values[0] == 0.0 and all(b > a for a, b in zip(values, values[1:]))
    same, pairs = rep_box_loss(torch.cat((base, base)), torch.tensor([0, 0]))
    assert float(same) == 0.0 and float(pairs) == 0.0


# --------------------------------------------------------------------------- criterion


def test_identical_boxes_give_zero_iou_loss_and_zero_repulsion():
    gts = [[8.0, 4.0, 28.0, 60.0], [44.0, 8.0, 64.0, 60.0]]
    dense = assign_targets([_target(gts)], (H, W), STRIDE, 1)
    per_location = dense.matched_boxes.clone()  # each positive predicts exactly its own GT box
    criterion = DetectionCriterion(LossConfig(), num_classes=1, stride=STRIDE)
    losses = criterion(_outputs_with_boxes(per_location), [_target(gts)])
    assert float(losses["iou"]) == pytest.approx(0.0, abs=1e-5)
    assert float(losses["repulsion"]) == pytest.approx(0.0, abs=1e-6)  # the two pedestrians do not touch


def test_iou_map_loss_is_lowest_when_the_map_predicts_the_actual_iou_and_does_not_move_boxes():
    gt = [[8.0, 4.0, 28.0, 60.0]]
    dense = assign_targets([_target(gt)], (H, W), STRIDE, 1)
    shifted = dense.matched_boxes + torch.tensor([-1.0, 0.0, -1.0, 0.0])  # IoU 19/21; every positive stays inside
    outputs = _outputs_with_boxes(shifted)
    outputs["box_ltrb"].requires_grad_(True)
    criterion = DetectionCriterion(LossConfig(), 1, STRIDE)
    actual = 19 / 21
    values = {}
    for guess in (0.2, actual, 0.99):
        outputs["iou_logits"] = torch.full((1, 1, H, W), math.log(guess / (1 - guess)), requires_grad=True)
        losses = criterion(outputs, [_target(gt)])
        values[guess] = float(losses["iou_map"].detach())
        if guess == actual:
            (grad_iou, grad_box) = torch.autograd.grad(
                losses["iou_map"], [outputs["iou_logits"], outputs["box_ltrb"]], allow_unused=True
            )
            assert grad_iou.abs().max() < 1e-5
            assert grad_box is None or grad_box.abs().max() == 0
    assert values[actual] < values[0.2] and values[actual] < values[0.99]


def test_total_is_the_weighted_sum_of_the_terms_and_extra_terms_join_it():
    cfg = LossConfig(alpha=1.5, beta=2.0, gamma=0.5, repulsion_weight=0.3, delta=0.7)
    criterion = DetectionCriterion(cfg, 1, STRIDE)
    torch.manual_seed(0)
    outputs = {
        "score_logits": torch.randn(2, 1, H, W, requires_grad=True),
        "iou_logits": torch.randn(2, 1, H, W),
        "box_ltrb": (torch.rand(2, 4, H, W) * 20).requires_grad_(True),
    }
    targets = [_target([[8.0, 4.0, 28.0, 60.0], [20.0, 6.0, 40.0, 58.0]]), _target([])]
    lsi = torch.tensor(2.0)
    losses = criterion(outputs, targets, extra_terms={"lsi": lsi})
    expected = 1.5 * losses["score"] + 2.0 * losses["iou"] + 0.5 * losses["iou_map"] + 0.3 * losses["repulsion"] + 0.7 * 2.0
    torch.testing.assert_close(losses["total"], expected)
    torch.testing.assert_close(losses["repulsion"], 0.5 * losses["rep_gt"] + 0.5 * losses["rep_box"])
    assert all(torch.isfinite(v) for v in losses.values())
    assert losses["rep_gt"].item() > 0 and losses["rep_box"].item() > 0  # the two GT overlap
    losses["total"].backward()
    assert outputs["box_ltrb"].grad.abs().sum() > 0 and outputs["score_logits"].grad.abs().sum() > 0


def test_batch_without_objects_trains_only_the_score_map():
    criterion = DetectionCriterion(LossConfig(), 1, STRIDE)
    outputs = _outputs_with_boxes(torch.zeros(1, H * W, 4), score_logit=0.0)
    losses = criterion(outputs, [_target([])])
    assert float(losses["score"]) > 0
    assert float(losses["iou"]) == float(losses["iou_map"]) == float(losses["repulsion"]) == 0.0


def test_bce_score_loss_and_zero_repulsion_weight_are_supported():
    criterion = DetectionCriterion(LossConfig(score_loss="bce", repulsion_weight=0.0), 1, STRIDE)
    outputs = _outputs_with_boxes(torch.zeros(1, H * W, 4), score_logit=0.0)
    losses = criterion(outputs, [_target([[8.0, 4.0, 28.0, 60.0]])])
    assert float(losses["score"]) == pytest.approx(math.log(2), rel=1e-5)  # BCE at p = 0.5, any target
    assert float(losses["repulsion"]) == 0.0


def test_mismatches_are_errors_naming_the_problem():
    criterion = DetectionCriterion(LossConfig(), 1, STRIDE)
    outputs = _outputs_with_boxes(torch.zeros(2, H * W, 4))
    with pytest.raises(ValueError, match="2 images"):
        criterion(outputs, [_target([])])
    outputs["score_logits"] = torch.zeros(2, 3, H, W)
    with pytest.raises(ValueError, match="class_names"):
        criterion(outputs, [_target([]), _target([])])
    with pytest.raises(KeyError, match="lsi"):
        DetectionCriterion(LossConfig(), 1, STRIDE)(
            _outputs_with_boxes(torch.zeros(1, H * W, 4)), [_target([])], extra_terms={"bogus": torch.tensor(1.0)}
        )
    with pytest.raises(ValueError, match="score_loss"):
        LossConfig(score_loss="hinge").validate()
