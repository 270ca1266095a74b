"""`Fragments`: what rasterization leaves in each pixel, and differentiable barycentrics.

Only covered pixels are stored densely ("compact" arrays of length ``P``); full-image maps are
built on demand. This keeps interpolation and its backward pass proportional to the face area,
not the image area.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Fragments:
    """Rasterization result for a batch of ``B`` images of size ``H x W``.

    Fields:
        tri_id: ``(B, H, W)`` int32 triangle index into ``faces``; -1 is background.
        pix: ``(P,)`` int64 flat index ``b*H*W + row*W + col`` of each covered pixel (ascending).
        tri: ``(P,)`` int64 triangle of each covered pixel.
        bary_c: ``(P, 3)`` perspective-correct barycentrics (float32, or float64 when the
            positions were float64); differentiable w.r.t. ``pos_pix`` when it required grad.
        depth_c: ``(P,)`` depth (distance along -z, positive), differentiable likewise.
        size: ``(H, W)``.
    All on the device of the positions given to :func:`~talkrig.render.raster.rasterize`.
    """

    tri_id: Tensor
    pix: Tensor
    tri: Tensor
    bary_c: Tensor
    depth_c: Tensor
    size: tuple[int, int]

    @property
    def batch(self) -> int:
        return int(self.tri_id.shape[0])

    @property
    def batch_index(self) -> Tensor:
        """``(P,)`` int64 image index of each covered pixel."""
        h, w = self.size
        return torch.div(self.pix, h * w, rounding_mode="floor")

    @property
    def mask(self) -> Tensor:
        """``(B, H, W)`` bool coverage."""
        return self.tri_id >= 0

    @property
    def bary(self) -> Tensor:
        """``(B, H, W, 3)`` barycentrics, zero in the background."""
        return self.scatter(self.bary_c)

    @property
    def depth(self) -> Tensor:
        """``(B, H, W)`` depth, zero in the background."""
        return self.scatter(self.depth_c[:, None])[..., 0]

    def scatter(self, values: Tensor, fill: float | Tensor = 0.0) -> Tensor:
        """Place per-covered-pixel ``values`` ``(P, C)`` into a ``(B, H, W, C)`` image
        (differentiable w.r.t. ``values`` and a tensor ``fill`` of shape ``(C,)``)."""
        h, w = self.size
        c = values.shape[1]
        if isinstance(fill, Tensor):
            base = fill.to(values.dtype).expand(self.batch * h * w, c)
        else:
            base = values.new_full((self.batch * h * w, c), float(fill))
        return base.index_copy(0, self.pix, values).reshape(self.batch, h, w, c)


def pixel_centres(pix: Tensor, size: tuple[int, int], dtype: torch.dtype) -> tuple[Tensor, Tensor]:
    """Pixel-centre coordinates ``(x, y)`` (``col + 0.5``, ``row + 0.5``) of flat indices."""
    h, w = size
    rem = pix % (h * w)
    return (rem % w).to(dtype) + 0.5, torch.div(rem, w, rounding_mode="floor").to(dtype) + 0.5


def gather_vertices(values: Tensor, faces: Tensor, tri: Tensor, bidx: Tensor | None) -> Tensor:
    """Per covered pixel, the three corner values of its triangle.

    Args:
        values: ``(B, N, C)`` or ``(N, C)``. faces: ``(F, 3)`` int64. tri: ``(P,)`` int64.
        bidx: ``(P,)`` int64 image index (needed for batched ``values``).
    Returns:
        ``(P, 3, C)``; differentiable w.r.t. ``values`` (backward is an ``index_add``).
    """
    idx = faces.index_select(0, tri)
    if values.dim() == 3:
        n = values.shape[1]
        idx = idx + (bidx * n)[:, None]
    c = values.shape[-1]
    return values.reshape(-1, c).index_select(0, idx.reshape(-1)).reshape(-1, 3, c)


def barycentrics(pos_pix: Tensor, faces: Tensor, pix: Tensor, tri: Tensor,
                 size: tuple[int, int]) -> tuple[Tensor, Tensor]:
    """Perspective-correct barycentrics and depth of pixel centres, in plain torch.

    Screen-space weights ``l_k`` come from edge functions; with depths ``z_k`` the
    perspective-correct weights are ``(l_k/z_k) / sum_j(l_j/z_j)`` and the depth is
    ``1 / sum_j(l_j/z_j)``. Autograd through this gives exact gradients w.r.t. ``pos_pix``.

    Args:
        pos_pix: ``(B, N, 3)`` float pixel x, pixel y, depth. faces ``(F, 3)`` int64.
        pix, tri: ``(P,)`` int64 covered pixels and their triangles.
    Returns:
        bary ``(P, 3)`` and depth ``(P,)`` in ``pos_pix.dtype``.
    """
    h, w = size
    bidx = torch.div(pix, h * w, rounding_mode="floor")
    v = gather_vertices(pos_pix, faces, tri, bidx)  # (P, 3, 3)
    px, py = pixel_centres(pix, size, pos_pix.dtype)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    x0, x1, x2 = x.unbind(1)
    y0, y1, y2 = y.unbind(1)
    w0 = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    w1 = (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)
    w2 = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
    q = torch.stack([w0, w1, w2], 1) / z
    t = q.sum(1, keepdim=True)
    area = w0 + w1 + w2
    return q / t, area / t[:, 0]
