"""LossConfig: every loss default in one place (YAML under ``loss:`` in config/train_*.yaml overrides).

Weights follow the paper's notation (Das et al., ICIP 2023): ``alpha`` score map, ``beta`` box IoU,
``gamma`` IoU map, ``delta`` LSI regularizer; the repulsion loss (Wang et al., CVPR 2018) has its own
weight and the two sub-term weights/sigmas of its paper.
"""
from __future__ import annotations

from dataclasses import dataclass

SCORE_LOSSES = ("focal", "bce")
SCORE_TARGETS = ("hard", "gaussian")
BOX_LOSSES = ("giou", "diou", "ciou")
LSI_ESTIMATORS = ("fisher", "entropy")
LSI_FUNCTIONALS = ("decision", "topk", "mean")
LSI_COMBINES = ("imbalance", "gat")


@dataclass
class LossConfig:
    """Detection losses and the LSI modality-balance regularizer.

    total = alpha * score + beta * iou + gamma * iou_map + repulsion_weight * repulsion [+ delta * lsi]
    with repulsion = rep_gt_weight * RepGT + rep_box_weight * RepBox. Every dense term is summed over
    locations and divided by the number of positive locations in the batch (clamped to >= 1).
    """

    # --- weights of the terms in "total"
    alpha: float = 1.0  # score-map loss
    beta: float = 2.0  # box IoU loss (GIoU by default) on positive locations
    gamma: float = 1.0  # IoU-map loss: BCE of the predicted IoU against the actual IoU of the predicted box
    repulsion_weight: float = 1.0  # the whole repulsion term; 0 disables it (and skips its compute). Where
    #                                ground truths overlap it biases boxes small (models/README.md; check
    #                                with lsi eval --breakdown): off in config/train_synthetic.yaml
    delta: float = 0.1  # LSI regularizer (lsi_combine); 0 disables it in the trainer

    # --- score map
    score_loss: str = "focal"  # "focal" (sigmoid focal; quality-focal form for soft targets) | "bce"
    focal_alpha: float = 0.25  # focal weight of positives (negatives get 1 - focal_alpha); < 0 turns it off
    focal_gamma: float = 2.0  # focal modulating exponent on |target - p|
    score_target: str = "hard"  # "hard" 1/0, or "gaussian" (soft centre-ness: ~1 at the GT center cell)

    # --- assignment of ground truth to map locations (center sampling)
    center_radius: float = 2.5  # a location is positive if its center lies within radius * stride of the
    center_fraction: float = 0.5  # GT center, or within this fraction of the half-size (whichever is larger),
    #                               and inside the box; the cell holding the GT center is always positive

    # --- box regression
    box_loss: str = "giou"  # "giou" | "diou" | "ciou" (torchvision.ops)

    # --- repulsion loss (Wang et al., CVPR 2018: sigma 0.9 for RepGT, 0 for RepBox; alpha = beta = 0.5)
    rep_gt_weight: float = 0.5
    rep_box_weight: float = 0.5
    rep_gt_sigma: float = 0.9
    rep_box_sigma: float = 0.0
    rep_box_max_boxes: int = 1024  # per image: random subset of positives for the O(n^2) RepBox pairs

    # --- LSI regularizer (lsi.py)
    lsi_samples: int = 1  # Gaussian perturbations per image and modality (batched in one pass)
    lsi_images: int = 2  # images of the (shuffled) batch the regularizer perturbs per step; 0 = all. The
    #                      cost of the extra pass scales with lsi_images * lsi_samples, not the batch size
    lsi_estimator: str = "fisher"  # "fisher": E[|grad f|^2 / f] (needs a double backward); "entropy":
    #                                E[f log f] - E[f] log E[f] over the samples (lsi_samples >= 2, cheaper)
    lsi_noise_scale: float = 1.0  # noise std = lsi_noise_scale * the features' own (detached) std
    lsi_functional: str = "decision"  # f per image: "decision" mean perturbed probability at the clean map's
    #                                   top-k locations | "topk" top-k of the perturbed map | "mean" over the map
    lsi_topk: int = 32  # locations in f for "decision" / "topk"
    lsi_stages: tuple[int, ...] = (0, 1, 2, 3)  # backbone stages perturbed (0 = stride 4 ... 3 = stride 32)
    lsi_combine: str = "imbalance"  # "imbalance": R = log cosh(log I_vis - log I_th), 0 when balanced, push
    #                                 bounded, scale-free | "gat": ||(1/I_vis, 1/I_th)||_2 (Gat et al.)
    lsi_eps: float = 1e-2  # each I is floored at lsi_eps * mean(I): R stays finite when a modality carries
    #                        no information at all

    def validate(self) -> None:
        """Raise ValueError naming the bad key and the valid choices."""
        for name, value, choices in (
            ("score_loss", self.score_loss, SCORE_LOSSES),
            ("score_target", self.score_target, SCORE_TARGETS),
            ("box_loss", self.box_loss, BOX_LOSSES),
            ("lsi_estimator", self.lsi_estimator, LSI_ESTIMATORS),
            ("lsi_functional", self.lsi_functional, LSI_FUNCTIONALS),
            ("lsi_combine", self.lsi_combine, LSI_COMBINES),
        ):
            if value not in choices:
                raise ValueError(f"loss.{name}={value!r} is not one of {', '.join(choices)}")
        for name in ("alpha", "beta", "gamma", "repulsion_weight", "delta", "rep_gt_weight", "rep_box_weight"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name}={getattr(self, name)} must be >= 0 (0 disables the term)")
        if self.center_radius <= 0 or not 0 <= self.center_fraction <= 1:
            raise ValueError(
                f"loss.center_radius={self.center_radius} must be > 0 and "
                f"loss.center_fraction={self.center_fraction} in [0, 1]"
            )
        for name in ("rep_gt_sigma", "rep_box_sigma"):
            if not 0 <= getattr(self, name) < 1:
                raise ValueError(f"loss.{name}={getattr(self, name)} must be in [0, 1) (smooth-ln threshold)")
        if self.lsi_samples < 1 or self.lsi_images < 0:
            raise ValueError(
                f"loss.lsi_samples={self.lsi_samples} must be >= 1 and loss.lsi_images={self.lsi_images} >= 0 (0 = all)"
            )
        if self.lsi_estimator == "entropy" and self.lsi_samples < 2:
            raise ValueError(
                "loss.lsi_estimator='entropy' estimates a variance-like quantity over noise samples: "
                f"set loss.lsi_samples >= 2 (got {self.lsi_samples})"
            )
        if self.lsi_noise_scale <= 0 or self.lsi_topk < 1 or self.lsi_eps <= 0:
            raise ValueError("loss.lsi_noise_scale and loss.lsi_eps must be > 0 and loss.lsi_topk >= 1")
        if not self.lsi_stages or any(s not in (0, 1, 2, 3) for s in self.lsi_stages):
            raise ValueError(f"loss.lsi_stages={self.lsi_stages} must be a non-empty subset of 0, 1, 2, 3")
        if self.rep_box_max_boxes < 2:
            raise ValueError(f"loss.rep_box_max_boxes={self.rep_box_max_boxes} must be >= 2")
