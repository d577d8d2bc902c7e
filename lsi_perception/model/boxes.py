"""Dense-map geometry: cell centers and (left, top, right, bottom) distances <-> xyxy boxes."""
from __future__ import annotations

import torch


def grid_centers(h: int, w: int, stride: int, device: torch.device | str | None = None,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Pixel centers of an ``h`` x ``w`` map of the given stride, row-major: [h*w, 2] as (x, y).

    Cell (i, j) covers input pixels [j*stride, (j+1)*stride) x [i*stride, (i+1)*stride); its center is
    ``((j + 0.5) * stride, (i + 0.5) * stride)``. Flattened index = i * w + j (matches ``x.flatten(2)``).
    """
    ys = (torch.arange(h, device=device, dtype=dtype) + 0.5) * stride
    xs = (torch.arange(w, device=device, dtype=dtype) + 0.5) * stride
    cy, cx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((cx.reshape(-1), cy.reshape(-1)), dim=1)


def ltrb_to_xyxy(centers: torch.Tensor, ltrb: torch.Tensor) -> torch.Tensor:
    """Distances from a point to the box sides -> xyxy.  centers [..., 2], ltrb [..., 4] -> [..., 4]."""
    x, y = centers[..., 0], centers[..., 1]
    return torch.stack((x - ltrb[..., 0], y - ltrb[..., 1], x + ltrb[..., 2], y + ltrb[..., 3]), dim=-1)


def xyxy_to_ltrb(centers: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Inverse of ``ltrb_to_xyxy`` (regression targets).  centers [..., 2], boxes [..., 4] -> [..., 4];
    negative entries mean the point lies outside the box."""
    x, y = centers[..., 0], centers[..., 1]
    return torch.stack((x - boxes[..., 0], y - boxes[..., 1], boxes[..., 2] - x, boxes[..., 3] - y), dim=-1)
