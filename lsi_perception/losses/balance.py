"""The arithmetic of two modality-balancing remedies, separate from any network (used by train/ogm_ge.py
and train/unimodal_heads.py).

OGM-GE (Peng et al., "Balanced Multimodal Learning via On-the-fly Gradient Modulation", CVPR 2022, Eq. 10):
with s_u each modality's contribution to the correct answer and rho_u = s_u / s_other, the encoder of the
leading modality (rho_u > 1) has its gradient scaled by k_u = 1 - tanh(alpha * rho_u); the other keeps
k = 1. "GE" (generalization enhancement) then adds Gaussian noise with the standard deviation of the
modulated parameter's own gradient.

MMPareto (Wei and Hu, "MMPareto: Boosting Multimodal Learning with Innocent Unimodal Assistance", ICML
2024): an encoder trained by the multimodal loss (gradient g_mm) and its unimodal auxiliary loss (g_uni)
gets w_mm * g_mm + w_uni * g_uni, with equal weights (1/2, 1/2) when the two agree (cosine > 0) and
the minimum-norm point of their convex hull (the two-task MGDA solution) when they conflict; the result
is doubled (weights summing to 2, as the plain sum has), brought up to at least the plain sum's norm,
and multiplied by gamma (1.5 in the authors' setting) "for generalization".
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor


def ogm_coefficients(score_vis: float, score_th: float, alpha: float) -> tuple[float, float, float]:
    """(k_vis, k_th, rho_vis): OGM's gradient coefficients of the two encoders and the contribution ratio.

    ``score_*`` > 0 are the modalities' contributions (any positive scale; only the ratio counts).
    """
    if score_vis <= 0 or score_th <= 0 or not math.isfinite(score_vis / score_th):
        return 1.0, 1.0, float("nan")  # nothing to compare yet (e.g. no positives in the batch)
    rho_vis = score_vis / score_th
    if rho_vis > 1:
        return 1.0 - math.tanh(alpha * rho_vis), 1.0, rho_vis
    return 1.0, 1.0 - math.tanh(alpha / rho_vis), rho_vis


def ge_noise(grad: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """N(0, std(grad)^2) noise shaped like ``grad`` (OGM-GE's generalization enhancement)."""
    std = float(grad.float().std()) if grad.numel() > 1 else 0.0
    noise = torch.randn(grad.shape, generator=generator, device=grad.device, dtype=torch.float32)
    return (noise * (std + 1e-8)).to(grad.dtype)


def _dot(a: Sequence[Tensor], b: Sequence[Tensor]) -> float:
    return float(sum((x.double() * y.double()).sum() for x, y in zip(a, b)))


def min_norm_weight(g1: Sequence[Tensor], g2: Sequence[Tensor]) -> float:
    """w in [0, 1] minimizing |w g1 + (1 - w) g2| (the two-task MGDA solution; gradients as tensor lists)."""
    d11, d22, d12 = _dot(g1, g1), _dot(g2, g2), _dot(g1, g2)
    denom = d11 + d22 - 2 * d12  # |g1 - g2|^2
    if denom <= 1e-30:
        return 0.5
    return min(max((d22 - d12) / denom, 0.0), 1.0)


def cosine(g1: Sequence[Tensor], g2: Sequence[Tensor]) -> float:
    n1, n2 = math.sqrt(_dot(g1, g1)), math.sqrt(_dot(g2, g2))
    return _dot(g1, g2) / (n1 * n2) if n1 > 0 and n2 > 0 else 1.0


def mmpareto_combine(g_mm: Sequence[Tensor], g_uni: Sequence[Tensor], gamma: float = 1.5
                     ) -> tuple[list[Tensor], dict[str, float]]:
    """One encoder's gradient from its multimodal and unimodal gradients (same parameter order).

    The weights come from the whole encoder's gradients; the magnitude is set per parameter tensor:
    each combined tensor is scaled up to the norm of the plain sum g_mm + g_uni where it falls short,
    then multiplied by ``gamma``. Returns the tensors and {"cos", "w_mm"}.
    """
    cos = cosine(g_mm, g_uni)
    w_mm = 0.5 if cos > 0 else min_norm_weight(g_mm, g_uni)
    out = []
    for a, b in zip(g_mm, g_uni):
        combined = 2 * w_mm * a + 2 * (1 - w_mm) * b
        plain, norm = float((a + b).norm()), float(combined.norm())
        if norm > 0 and plain > norm:
            combined = combined * (plain / norm)
        out.append(gamma * combined)
    return out, {"cos": cos, "w_mm": w_mm}
