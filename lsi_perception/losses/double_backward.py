"""Conv2d, GroupNorm and SiLU with a cheap double backward, for the LSI regularizer's Fisher pass.

The Fisher estimator differentiates ``grad_eps f`` once more (``autograd.grad(..., create_graph=True)``
then ``R.backward()``). PyTorch's own second derivatives of these layers are slow on CPU, measured on
fusion + neck + heads of the pvt_v2_b0 detector (``lsi bench train``, docs/training.md):

* a grouped (depthwise) convolution's double backward (``_convolution_double_backward``) runs one
  convolution per group, 64 small calls for a 64-channel depthwise 3x3 conv, about 4x slower than the
  formulation here; for 1x1 convolutions it computes the weight term as a convolution with a
  feature-map-sized kernel;
* GroupNorm's and SiLU's are generic compositions of many elementwise ops (in the detector's LSI pass
  they made up about 60 % of its time; removing both cut it from 158 to 90 ms at 192x240).

``cheap_double_backward(module)`` runs every ``nn.Conv2d``, ``nn.GroupNorm`` and ``nn.SiLU`` inside it
through the functions below for the duration of a ``with`` block. With ``input_grads_only`` (the LSI
pass), a backward that builds a graph (``create_graph=True``) through layers run in the block computes
input gradients only and returns None for weights and biases: the regularizer differentiates f with
respect to the noise there, and the weights' gradients come from the second, plain backward (which
computes everything). Forward values are computed by the
same native kernels as the modules' own forward (bit-identical); first derivatives are the same
quantities computed by other kernels (equal to float rounding); second derivatives are analytic
(GroupNorm, SiLU) or come from differentiating the first derivative's convolutions (Conv2d).
``test/test_lsi.py`` checks them with ``torch.autograd.gradgradcheck`` in float64 and R and its
gradients against the plain modules. A third derivative is not supported (GroupNorm and SiLU raise).
"""
from __future__ import annotations

import contextlib
import threading
import types
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

_STATE = threading.local()  # .input_grads_only: set by cheap_double_backward for the layers run in its block


def _input_grads_only() -> bool:
    return getattr(_STATE, "input_grads_only", False)


# ------------------------------------------------------------------------------------------------ Conv2d


class _Conv2d(torch.autograd.Function):
    """y = conv2d(x, w, b); in a backward that builds a graph, the gradients are differentiable convolutions
    and a matmul (whose own backward is fast); in a plain backward, the native kernel."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, stride, padding, dilation, groups: int) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = (stride, padding, dilation, groups, bias is not None)
        ctx.input_grads_only = _input_grads_only()
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight = ctx.saved_tensors
        stride, padding, dilation, groups, has_bias = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        if not torch.is_grad_enabled():  # a plain backward: the native kernel, as nn.Conv2d's own
            gx, gw, _ = torch.ops.aten.convolution_backward(
                grad, x, weight, None, stride, padding, dilation, False, [0, 0], groups, [need_x, need_w, False])
        else:
            if ctx.input_grads_only:
                need_w = need_b = False
            gx = _conv2d_input_grad(x, weight, grad, stride, padding, dilation, groups) if need_x else None
            gw = _conv2d_weight_grad(x, weight, grad, stride, padding, dilation, groups) if need_w else None
        gb = grad.sum((0, 2, 3)) if has_bias and need_b else None
        return gx, gw, gb, None, None, None, None


def _conv2d_input_grad(x: Tensor, weight: Tensor, grad: Tensor, stride, padding, dilation, groups: int) -> Tensor:
    """d conv2d / d x as a convolution (its own backward is a plain, fast convolution backward): for stride 1
    the convolution of ``grad`` with the flipped, in/out-swapped kernel (2.5x faster than the equivalent
    transposed convolution for 1x1 kernels on CPU), else a transposed convolution."""
    kh, kw = weight.shape[-2:]
    pad = (dilation[0] * (kh - 1) - padding[0], dilation[1] * (kw - 1) - padding[1])
    if tuple(stride) == (1, 1) and min(pad) >= 0:
        out_ch, in_per_group = weight.shape[:2]
        swapped = (weight.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
                   .reshape(groups * in_per_group, out_ch // groups, kh, kw).flip(2, 3))
        return F.conv2d(grad, swapped, None, 1, pad, dilation, groups)
    h, w = grad.shape[-2:]
    out_pad = (x.shape[-2] + 2 * padding[0] - dilation[0] * (kh - 1) - 1 - (h - 1) * stride[0],
               x.shape[-1] + 2 * padding[1] - dilation[1] * (kw - 1) - 1 - (w - 1) * stride[1])
    return F.conv_transpose2d(grad, weight, None, stride, padding, out_pad, groups, dilation)


def _conv2d_weight_grad(x: Tensor, weight: Tensor, grad: Tensor, stride, padding, dilation, groups: int) -> Tensor:
    """d conv2d / d weight: a matmul for ungrouped 1x1 convolutions, else the native kernel."""
    if groups == 1 and weight.shape[-2:] == (1, 1) and tuple(padding) == (0, 0) and tuple(stride) == (1, 1):
        return torch.einsum("nohw,nihw->oi", grad, x).reshape(weight.shape)
    _, gw, _ = torch.ops.aten.convolution_backward(
        grad, x, weight, None, stride, padding, dilation, False, [0, 0], groups, [False, True, False])
    return gw


def _conv2d_forward(self: nn.Conv2d, x: Tensor) -> Tensor:
    if self.padding_mode != "zeros" or isinstance(self.padding, str):
        return nn.Conv2d.forward(self, x)
    return _Conv2d.apply(x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


# ------------------------------------------------------------------------------------------------ SiLU


class _SiLU(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return F.silu(x)

    @staticmethod
    def backward(ctx, grad: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        return _SiLUGrad.apply(x, grad)


class _SiLUGrad(torch.autograd.Function):
    """(x, g) -> g * silu'(x), with silu'(x) = s (1 + x (1 - s)), silu''(x) = s (1 - s) (2 + x (1 - 2 s))."""

    @staticmethod
    def forward(ctx, x: Tensor, grad: Tensor) -> Tensor:
        ctx.save_for_backward(x, grad)
        return torch.ops.aten.silu_backward(grad, x)

    @staticmethod
    @once_differentiable
    def backward(ctx, gg: Tensor):
        x, grad = ctx.saved_tensors
        s = torch.sigmoid(x)
        t = s * (1 - s)
        d1 = torch.addcmul(s, x, t)  # silu'
        d2 = t.mul_(torch.addcmul(torch.full_like(x, 2.0), x, 1 - 2 * s))  # silu''
        return d2.mul_(gg).mul_(grad), d1.mul_(gg)


def _silu_forward(self: nn.SiLU, x: Tensor) -> Tensor:
    return _SiLU.apply(x)


# ------------------------------------------------------------------------------------------------ GroupNorm


class _GroupNorm(torch.autograd.Function):
    """y = group_norm(x, G, gamma, beta, eps) by the native kernel; backward through ``_GroupNormGrad``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor, groups: int, eps: float) -> Tensor:
        n, c = x.shape[:2]
        y, mean, rstd = torch.native_group_norm(x, weight, bias, n, c, x[0, 0].numel(), groups, eps)
        ctx.save_for_backward(x, weight, mean, rstd)
        ctx.groups = groups
        ctx.input_grads_only = _input_grads_only()
        return y

    @staticmethod
    def backward(ctx, grad: Tensor):
        x, weight, mean, rstd = ctx.saved_tensors
        if not torch.is_grad_enabled():  # a plain backward: the native kernel, as nn.GroupNorm's own
            n, c = x.shape[:2]
            gx, gw, gb = torch.ops.aten.native_group_norm_backward(
                grad, x, mean, rstd, weight, n, c, x[0, 0].numel(), ctx.groups, list(ctx.needs_input_grad[:3]))
            return gx, gw, gb, None, None
        if ctx.input_grads_only:
            return _GroupNormInputGrad.apply(x, weight, grad, mean, rstd, ctx.groups), None, None, None, None
        gx, gw, gb = _GroupNormGrad.apply(x, weight, grad, mean, rstd, ctx.groups)
        return gx, gw, gb, None, None


class _GroupNormGrad(torch.autograd.Function):
    """(x, gamma, g) -> (dx, dgamma, dbeta) of group norm, with its analytic derivative.

    Per (sample, group) of M elements: xh = (x - mean) r, h = g * gamma, <.> the group mean and
    P(v) = r (v - <v> - xh <v xh>); then dx = P(h), dgamma = sum_n sum_c g xh, dbeta = sum g. For the
    upstream (a, b_gamma, b_beta) of (dx, dgamma, dbeta), with q = b_gamma * g, A = sum a xh,
    H = sum h xh, K = sum a h - M <a><h> (sums over the group):

        d/dg     = gamma P(a) + b_gamma xh + b_beta
        d/dgamma = sum_n sum_c g P(a)
        d/dx     = -(K r^2 / M) xh + (r^2 H A / M^2) xh - (r / M)(A P(h) + H P(a)) + P(q)
                 = C1 xh - (r^2 H / M) a + (-(r^2 A / M) gamma + r b_gamma) g + C0
        C1 = r^2 (3 H A / M^2 - K / M) - r <q xh>,   C0 = (r^2 / M)(A <h> + H <a>) - r <q>

    The second form needs five products of full-size tensors and per-channel sums, no full-size h or q.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, grad: Tensor, mean: Tensor, rstd: Tensor, groups: int):
        n, c = x.shape[:2]
        gx, gw, gb = torch.ops.aten.native_group_norm_backward(
            grad, x, mean, rstd, weight, n, c, x[0, 0].numel(), groups, [True, True, True])
        ctx.save_for_backward(x, weight, grad, mean, rstd)
        ctx.groups = groups
        return gx, gw, gb

    @staticmethod
    @once_differentiable
    def backward(ctx, a: Tensor | None, b_gamma: Tensor | None, b_beta: Tensor | None):
        x, weight, grad, mean, rstd = ctx.saved_tensors
        return _group_norm_grad_backward(x, weight, grad, mean, rstd, ctx.groups, a, b_gamma, b_beta)


def _group_norm_grad_backward(x: Tensor, weight: Tensor, grad: Tensor, mean: Tensor, rstd: Tensor, groups: int,
                              a: Tensor | None, b_gamma: Tensor | None, b_beta: Tensor | None):
    """The derivative of (dx, dgamma, dbeta) w.r.t. (x, gamma, g) given their upstream (formulas in
    ``_GroupNormGrad``); returns (d_x, d_gamma, d_grad, None, None, None) as its backward does."""
    n, c = x.shape[0], x.shape[1]
    view = (n, groups, c // groups, -1)  # [N, G, Cg, S]: S = spatial size, M = Cg * S
    m = x[0].numel() // groups
    per_channel = (1, groups, c // groups)
    r = rstd.reshape(n, groups, 1)
    gamma = weight.reshape(per_channel)
    g = grad.reshape(view)
    xh = (x.reshape(view) - mean.reshape(n, groups, 1, 1)) * r.unsqueeze(-1)
    a = torch.zeros_like(g) if a is None else a.reshape(view)
    # per-channel sums over space [N, G, Cg], then group sums [N, G, 1]
    s_a, s_g = a.sum(3), g.sum(3)
    s_axh, s_gxh, s_ga = torch.linalg.vecdot(a, xh), torch.linalg.vecdot(g, xh), torch.linalg.vecdot(g, a)
    sum_a = s_a.sum(2, keepdim=True)
    sum_h = (s_g * gamma).sum(2, keepdim=True)
    big_a = s_axh.sum(2, keepdim=True)
    big_h = (s_gxh * gamma).sum(2, keepdim=True)
    k = (s_ga * gamma).sum(2, keepdim=True) - sum_a * sum_h / m
    r2 = r * r
    c1 = r2 * (3 * big_h * big_a / (m * m) - k / m)
    c0 = r2 / m * (big_a * sum_h + big_h * sum_a) / m
    coef_g = -(r2 * big_a / m) * gamma  # [N, G, Cg]
    gamma_r = gamma * r  # [N, G, Cg]
    coef_xh = -gamma_r * big_a / m
    const = -gamma_r * sum_a / m
    if b_gamma is not None:  # q = b_gamma * g terms
        bg = b_gamma.reshape(per_channel)
        c1 = c1 - r * (s_gxh * bg).sum(2, keepdim=True) / m
        c0 = c0 - r * (s_g * bg).sum(2, keepdim=True) / m
        coef_g = coef_g + r * bg
        coef_xh = coef_xh + bg
    if b_beta is not None:
        const = const + b_beta.reshape(per_channel)
    d_x = torch.addcmul(torch.addcmul(c0.unsqueeze(-1) + xh * c1.unsqueeze(-1), a, -(r2 * big_h / m).unsqueeze(-1)),
                        g, coef_g.unsqueeze(-1))
    d_grad = torch.addcmul(torch.addcmul(const.unsqueeze(-1), xh, coef_xh.unsqueeze(-1)), a, gamma_r.unsqueeze(-1))
    d_gamma = (r * (s_ga - sum_a / m * s_g - big_a / m * s_gxh)).sum(0).reshape(c)
    return d_x.reshape(x.shape), d_gamma, d_grad.reshape(x.shape), None, None, None


class _GroupNormInputGrad(torch.autograd.Function):
    """(x, gamma, g) -> dx of group norm alone (see ``_GroupNormGrad``; its derivative with b_gamma = b_beta = 0)."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, grad: Tensor, mean: Tensor, rstd: Tensor, groups: int) -> Tensor:
        n, c = x.shape[:2]
        gx, _, _ = torch.ops.aten.native_group_norm_backward(
            grad, x, mean, rstd, weight, n, c, x[0, 0].numel(), groups, [True, False, False])
        ctx.save_for_backward(x, weight, grad, mean, rstd)
        ctx.groups = groups
        return gx

    @staticmethod
    @once_differentiable
    def backward(ctx, a: Tensor):
        x, weight, grad, mean, rstd = ctx.saved_tensors
        return _group_norm_grad_backward(x, weight, grad, mean, rstd, ctx.groups, a, None, None)


def _group_norm_forward(self: nn.GroupNorm, x: Tensor) -> Tensor:
    if not self.affine:
        return nn.GroupNorm.forward(self, x)
    return _GroupNorm.apply(x, self.weight, self.bias, self.num_groups, self.eps)


# ------------------------------------------------------------------------------------------------ the switch

_FORWARDS = ((nn.Conv2d, _conv2d_forward), (nn.GroupNorm, _group_norm_forward), (nn.SiLU, _silu_forward))


@contextlib.contextmanager
def cheap_double_backward(module: nn.Module, input_grads_only: bool = False) -> Iterator[None]:
    """Inside the block, run ``module``'s Conv2d, GroupNorm and SiLU layers through the functions above
    (same values, cheaper second derivatives); restored on exit. Subclasses that override ``forward``
    are left alone. ``input_grads_only``: see the module docstring."""
    previous = _input_grads_only()
    _STATE.input_grads_only = input_grads_only
    patched = []
    for m in module.modules():
        for cls, forward in _FORWARDS:
            if type(m).forward is cls.forward and isinstance(m, cls) and "forward" not in vars(m):
                m.forward = types.MethodType(forward, m)
                patched.append(m)
                break
    try:
        yield
    finally:
        _STATE.input_grads_only = previous
        for m in patched:
            del m.forward
