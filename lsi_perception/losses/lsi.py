"""LSI regularizer: keep both modalities informative (Das et al., ICIP 2023; Gat et al., NeurIPS 2020).

For modality m, perturb its pre-fusion features x_m with Gaussian noise, x_m + sigma_m * eps with
eps ~ N(0, I) and sigma_m the features' own (detached) per-image, per-channel spatial standard deviation,
keep the other modality clean, and look at a positive scalar functional f of the score map. The
Logarithmic Sobolev Inequality bounds the functional entropy of f under that Gaussian measure,

    Ent(f) = E[f log f] - E[f] log E[f]  <=  1/2 E[ |grad_eps f|^2 / f ]  =  1/2 I_m,

so the functional Fisher information I_m (taken w.r.t. the standardized noise eps, which makes it
invariant to the scale of each modality's features) measures how much of the detector's output that
modality carries.

What f looks at matters. The default ("decision") is the mean perturbed score probability at the k
locations where the *clean* score map is highest: the locations that become detections. Background
locations (the vast majority of the map) do not enter f, so a network cannot raise a modality's
"information" by making background scores react to feature noise, which would be rewarding false
positives (the plain mean over the map, "mean", does exactly that; kept for comparison).

How the informations are combined matters too. Default ("imbalance"): R = log cosh(log I_vis - log I_th),
a smooth |log I_vis - log I_th|. It penalizes only the imbalance: it is 0 and flat when the modalities
carry equal information, its push on log I is bounded by 1 (tanh), and scaling both informations
together changes nothing, so there is no reward for inflating the output's noise sensitivity. "gat":
Gat et al.'s R = ||(1/I_vis, 1/I_th)||_2, whose gradient -1/I^2 fades as the informations grow; use it
with a small delta. (An earlier version multiplied R by the detached mean information, which made the
push on each log I constant whatever the size of I: it never faded and drove both informations up
~1000x in docs/experiment.md's first run.)

Cost: the backbones run once per step. Here only fusion + neck + heads run again, once, on a batch of
``2 * n * k`` feature sets (k = min(B, cfg.lsi_images): the expectation over images is estimated on
the first k images of the shuffled batch, which is what keeps the pass cheap at training batch sizes) (n noise samples for the visible-perturbed half, n for the thermal-perturbed
half), and one ``autograd.grad(sum(f), eps, create_graph=True)`` gives every per-sample gradient at
once, because f of one sample does not depend on the others (batch norm runs on its running statistics
in this pass, see ``_frozen_batch_norm``). With ``create_graph`` the result stays differentiable, so R
trains the fusion, neck, heads and, through x_m, both backbones.
"""
from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Protocol

import torch
from torch import Tensor, nn

from .config import LossConfig
from .double_backward import cheap_double_backward


class FusedDetector(Protocol):
    """What the regularizer needs from the network (see lsi_perception/model)."""

    def forward_fused(self, vis: list[Tensor], th: list[Tensor]) -> dict[str, Tensor]: ...

    def modules(self) -> Iterator[nn.Module]: ...


@contextlib.contextmanager
def _frozen_batch_norm(net: FusedDetector) -> Iterator[None]:
    """Run batch-norm layers on their running statistics, without updating them, inside the block.

    Two reasons: noisy features must not leak into the running statistics used at inference, and with
    batch statistics every sample's f would depend on every other sample's noise, so one backward of
    sum(f) would no longer give per-sample gradients.
    """
    bns = [m for m in net.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.training]
    for m in bns:
        m.eval()
    try:
        yield
    finally:
        for m in bns:
            m.train()


def _fused_score_logits(net: FusedDetector, vis: list[Tensor], th: list[Tensor]) -> Tensor:
    """The score logits of ``forward_fused``; through ``net.forward_fused_scores`` when the network has it
    (the same computation without the box and IoU branches, which f does not look at)."""
    scores_only = getattr(net, "forward_fused_scores", None)
    return scores_only(vis, th) if scores_only is not None else net.forward_fused(vis, th)["score_logits"]


def score_functional(score_logits: Tensor, kind: str = "decision", topk: int = 32,
                     locations: Tensor | None = None) -> Tensor:
    """Scalar positive functional f per image of the score map: [N, C, h, w] -> [N] in (0, 1).

    "decision": the mean probability at ``locations`` ([N, topk] flat indices into C*h*w: the clean
    map's top-k, fixed while the features are perturbed), i.e. how the detector's actual decisions react.
    "topk": the mean of the k highest probabilities of this (perturbed) map. "mean": the mean over every
    location and class, mostly background (rewards noisy background scores; kept for comparison). All
    are means of probabilities, so f > 0 as the Fisher information's 1/f needs, computed in float32.
    """
    prob = score_logits.float().sigmoid().flatten(1)
    if kind == "decision":
        if locations is None:
            raise ValueError("the 'decision' functional needs the clean map's top-k locations")
        return prob.gather(1, locations).mean(dim=1)
    if kind == "mean":
        return prob.mean(dim=1)
    if kind == "topk":
        return prob.topk(min(topk, prob.shape[1]), dim=1).values.mean(dim=1)
    raise ValueError(f"functional kind={kind!r} is not 'decision', 'mean' or 'topk'")


def _feature_std(x: Tensor) -> Tensor:
    """Detached per-image, per-channel spatial standard deviation: [B, C, h, w] -> [B, C, 1, 1]."""
    x = x.detach().float()
    if x.shape[-1] * x.shape[-2] < 2:
        return x.flatten(1).std(dim=1).reshape(-1, 1, 1, 1).expand(-1, x.shape[1], 1, 1)
    return x.std(dim=(2, 3), keepdim=True)


class LSIRegularizer:
    """``LSIRegularizer(cfg)(net, vis_feats, th_feats) -> (R, stats)``.

    vis_feats, th_feats: the lists of 4 per-stage pre-fusion features from ``net.extract_features``
    ([B, C_s, h_s, w_s], strides 4..32). R: scalar tensor, differentiable for the network parameters
    when autograd is enabled (otherwise a detached value, e.g. for validation logs). stats: floats
    "I_vis", "I_th" (Fisher informations, or functional entropies with estimator "entropy"),
    "ratio" = I_vis / I_th (> 1: visible dominates) and "R".

    Estimators: "fisher" (default) I_m = E[|grad_eps f|^2 / f] over images and noise samples; "entropy"
    E_images[ E_n[f log f] - E_n[f] log E_n[f] ] over the n >= 2 noise samples, which needs no gradient
    w.r.t. the features (no double backward: cheaper, but noisier for small n). ``clean_scores`` (the
    training pass's score logits [B, C, h, w]) saves the clean pass the "decision" functional needs to
    pick its locations; without it that pass is run here, without gradients.
    """

    def __init__(self, cfg: LossConfig | None = None, *, generator: torch.Generator | None = None,
                 cheap_second_order: bool = True) -> None:
        """``cheap_second_order`` (Fisher estimator): run fusion, neck and heads through the layers of
        ``double_backward`` in the perturbed pass (same R and gradients to float rounding, about half the
        cost on CPU); False keeps PyTorch's own second derivatives (the reference in test_lsi.py)."""
        cfg = cfg or LossConfig()
        cfg.validate()
        self.samples = cfg.lsi_samples
        self.max_images = cfg.lsi_images
        self.estimator = cfg.lsi_estimator
        self.noise_scale = cfg.lsi_noise_scale
        self.functional = cfg.lsi_functional
        self.topk = cfg.lsi_topk
        self.stages = tuple(sorted(set(cfg.lsi_stages)))
        self.eps = cfg.lsi_eps
        self.combine = cfg.lsi_combine
        self.generator = generator
        self.cheap_second_order = cheap_second_order

    def __call__(
        self, net: FusedDetector, vis_feats: Sequence[Tensor], th_feats: Sequence[Tensor],
        clean_scores: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        if len(vis_feats) != len(th_feats) or max(self.stages) >= len(vis_feats):
            raise ValueError(
                f"LSIRegularizer got {len(vis_feats)} visible and {len(th_feats)} thermal feature stages; "
                f"it perturbs stages {self.stages}: pass both lists from net.extract_features"
            )
        if self.max_images and vis_feats[0].shape[0] > self.max_images:
            vis_feats = [v[: self.max_images] for v in vis_feats]
            th_feats = [t[: self.max_images] for t in th_feats]
        locations = self._decision_locations(net, vis_feats, th_feats, clean_scores)
        differentiable = torch.is_grad_enabled()
        fisher = self.estimator == "fisher"
        with torch.enable_grad() if fisher else contextlib.nullcontext():
            vis_in, th_in, noise_vis, noise_th = self._perturbed_batch(vis_feats, th_feats, leaf=fisher)
            cheap = (cheap_double_backward(net, input_grads_only=True) if fisher and self.cheap_second_order
                     else contextlib.nullcontext())
            with _frozen_batch_norm(net), cheap:
                score_logits = _fused_score_logits(net, vis_in, th_in)
            f = score_functional(score_logits, self.functional, self.topk,
                                 None if locations is None else locations.repeat(2 * self.samples, 1))  # [2nk]
            f_vis, f_th = f.chunk(2)  # visible-perturbed half, thermal-perturbed half: [n * k] each
            if fisher:
                info_vis, info_th = self._fisher(f, f_vis, f_th, noise_vis, noise_th, differentiable)
            else:
                info_vis, info_th = self._entropy(f_vis), self._entropy(f_th)
        if not differentiable:
            info_vis, info_th = info_vis.detach(), info_th.detach()

        reg = self._combine(info_vis, info_th)
        values = torch.stack((info_vis.detach(), info_th.detach(), reg.detach())).tolist()
        stats = {
            "I_vis": values[0],
            "I_th": values[1],
            "ratio": values[0] / values[1] if values[1] > 0 else float("inf"),
            "R": values[2],
        }
        return reg, stats

    def _decision_locations(self, net: FusedDetector, vis_feats: Sequence[Tensor], th_feats: Sequence[Tensor],
                            clean_scores: Tensor | None) -> Tensor | None:
        """[k, topk] flat indices of the highest clean scores per image ("decision" functional), else None."""
        if self.functional != "decision":
            return None
        k = vis_feats[0].shape[0]
        if clean_scores is None:
            with torch.no_grad(), _frozen_batch_norm(net):
                clean_scores = _fused_score_logits(net, list(vis_feats), list(th_feats))
        flat = clean_scores[:k].detach().float().flatten(1)
        return flat.topk(min(self.topk, flat.shape[1]), dim=1).indices

    def _combine(self, info_vis: Tensor, info_th: Tensor) -> Tensor:
        """R from the two informations, each floored at eps * mean(I) (R stays finite when one is 0).

        "imbalance": log cosh(log I_vis - log I_th); "gat": ||(1/I_vis, 1/I_th)||_2.
        """
        mean = ((info_vis + info_th) / 2).detach().clamp(min=torch.finfo(torch.float32).tiny)
        floor = self.eps * mean
        iv, it = info_vis + floor, info_th + floor
        if self.combine == "gat":
            return torch.linalg.vector_norm(torch.stack((1 / iv, 1 / it)))
        gap = torch.log(iv) - torch.log(it)
        return gap.abs() + torch.log1p(torch.exp(-2 * gap.abs())) - math.log(2.0)  # = log cosh(gap), stable

    def _perturbed_batch(
        self, vis_feats: Sequence[Tensor], th_feats: Sequence[Tensor], leaf: bool
    ) -> tuple[list[Tensor], list[Tensor], list[Tensor], list[Tensor]]:
        """Stage lists of [2 * n * B, C, h, w]: first n*B rows visible-perturbed, last n*B thermal-perturbed.

        Row k * B + b of each half is noise sample k of image b. Returns the standard-normal noise tensors
        of the perturbed stages (autograd leaves when ``leaf``) so grad_eps f = sigma * grad_x f comes
        straight out of autograd.
        """
        n = self.samples
        vis_in, th_in, noise_vis, noise_th = [], [], [], []
        for s, (v, t) in enumerate(zip(vis_feats, th_feats)):
            v_rep, t_rep = v.repeat(n, 1, 1, 1), t.repeat(n, 1, 1, 1)
            v_noisy, t_noisy = v_rep, t_rep
            if s in self.stages:
                v_noisy = self._perturb(v, v_rep, noise_vis, leaf)
                t_noisy = self._perturb(t, t_rep, noise_th, leaf)
            vis_in.append(torch.cat((v_noisy, v_rep)))
            th_in.append(torch.cat((t_rep, t_noisy)))
        return vis_in, th_in, noise_vis, noise_th

    def _perturb(self, x: Tensor, x_rep: Tensor, noise_store: list[Tensor], leaf: bool) -> Tensor:
        """x_rep + sigma(x) * eps for the n-times repeated features; appends eps to ``noise_store``."""
        eps = torch.randn(x_rep.shape, device=x.device, dtype=x.dtype, generator=self.generator)
        eps.requires_grad_(leaf)
        noise_store.append(eps)
        sigma = (self.noise_scale * _feature_std(x)).to(x.dtype).repeat(self.samples, 1, 1, 1)
        return x_rep + sigma * eps

    def _fisher(
        self,
        f: Tensor,
        f_vis: Tensor,
        f_th: Tensor,
        noise_vis: list[Tensor],
        noise_th: list[Tensor],
        create_graph: bool,
    ) -> tuple[Tensor, Tensor]:
        """(I_vis, I_th) = mean over rows of |grad_eps f|^2 / f for each half, from one backward of sum(f).

        Row i's f depends only on row i's noise, so d sum(f) / d eps_i = d f_i / d eps_i: one backward
        gives all 2 * n * k per-sample gradients (checked against a per-row loop in test_lsi.py).
        """
        grads = torch.autograd.grad(f.sum(), [*noise_vis, *noise_th], create_graph=create_graph, allow_unused=True)
        k = len(noise_vis)
        infos = []
        for half_f, half_grads in ((f_vis, grads[:k]), (f_th, grads[k:])):
            sq_norm = torch.zeros_like(half_f)
            for g in half_grads:
                if g is not None:  # a stage forward_fused does not use contributes nothing
                    sq_norm = sq_norm + g.float().pow(2).flatten(1).sum(dim=1)
            infos.append((sq_norm / half_f.clamp(min=1e-12)).mean())
        return infos[0], infos[1]

    def _entropy(self, f_half: Tensor) -> Tensor:
        """Functional entropy over the noise samples, averaged over images: [n * B] -> scalar >= 0.

        E[f log f] - E[f] log E[f] is computed as E[m (r log r - r + 1)] with m = E[f], r = f / m (equal,
        since E[r] = 1), in float64: every term is >= 0 and the float32 difference of two nearly equal
        numbers (the entropy is ~1e-8 for f ~ 0.01 under small noise) would be mostly rounding error.
        """
        f = f_half.double().reshape(self.samples, -1).clamp(min=1e-12)  # [n, B]
        mean_f = f.mean(dim=0, keepdim=True)
        r = f / mean_f
        ent = (mean_f * (torch.xlogy(r, r) - r + 1)).mean(dim=0)
        return ent.mean().float()
