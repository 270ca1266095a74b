"""Primitives for compositing a moving face into its photo through one dense backward warp.

The mesh tells, for every output pixel it covers, where that surface point was in the source
photo. That sparse flow is extended over the whole frame (:func:`push_pull_fill`), decays away
from the head (:func:`distance_falloff`) and to zero at the frame border (:func:`border_fade`),
and the photo is warped once (:func:`warp`): face, hair, neck and background move together,
so there is no seam between a "face layer" and a "background layer". The assembly is in
:mod:`talkrig.synth.frames`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def pixel_grid(height: int, width: int, device=None) -> Tensor:
    """``(2, H, W)`` pixel-centre coordinates (x, y) in talkrig's image convention."""
    ys = torch.arange(height, dtype=torch.float32, device=device) + 0.5
    xs = torch.arange(width, dtype=torch.float32, device=device) + 0.5
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy])


def push_pull_fill(values: Tensor, mask: Tensor, levels: int | None = None) -> Tensor:
    """Fill ``values`` where ``mask`` is 0 by mask-weighted push-pull (Gortler et al. 1996).

    Args:
        values: ``(B, C, H, W)`` float.
        mask: ``(B, 1, H, W)`` float in [0, 1], confidence of each value.
    Returns:
        ``(B, C, H, W)``: ``values`` where ``mask == 1``, a smooth interpolation elsewhere.
    """
    h, w = values.shape[-2:]
    if levels is None:
        levels = max(1, int(torch.tensor(float(max(h, w))).log2().ceil().item()))
    pyr_v, pyr_m = [values * mask], [mask]
    for _ in range(levels):  # push: weighted averages, coarser and coarser
        v, m = pyr_v[-1], pyr_m[-1]
        if min(v.shape[-2:]) <= 1:
            break
        v2 = F.avg_pool2d(v, 2, ceil_mode=True)
        m2 = F.avg_pool2d(m, 2, ceil_mode=True)
        pyr_v.append(v2)
        pyr_m.append(m2)
    filled = pyr_v[-1] / pyr_m[-1].clamp(min=1e-8)
    for v, m in zip(reversed(pyr_v[:-1]), reversed(pyr_m[:-1])):  # pull: fill from coarser
        up = F.interpolate(filled, size=v.shape[-2:], mode="bilinear", align_corners=False)
        conf = m.clamp(max=1.0)
        own = v / m.clamp(min=1e-8)
        filled = conf * own + (1 - conf) * up
    return filled


def border_fade(height: int, width: int, margin: float = 0.12, device=None) -> Tensor:
    """``(1, 1, H, W)`` weight: 1 inside, falling smoothly to 0 at the frame border over
    ``margin`` times the frame size; used so the photo's edges never move."""
    g = pixel_grid(height, width, device)
    d = torch.minimum(torch.minimum(g[0], width - g[0]) / width, torch.minimum(g[1], height - g[1]) / height)
    t = (d / margin).clamp(0, 1)
    return (t * t * (3 - 2 * t))[None, None]


def distance_falloff(covered: Tensor, sigma: float) -> Tensor:
    """``(B, 1, h, w)`` weight ``exp(-(d / sigma)^2)``, ``d`` the distance in pixels of each pixel
    to the nearest covered one (``covered`` ``(B, 1, h, w)`` float, > 0.5 = covered)."""
    from scipy.ndimage import distance_transform_edt

    out = torch.empty_like(covered)
    for i in range(covered.shape[0]):
        d = distance_transform_edt(covered[i, 0].cpu().numpy() <= 0.5)
        out[i, 0] = torch.from_numpy(d).to(covered)
    return torch.exp(-(out / sigma) ** 2)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Backward warp: ``out(p) = image(p + flow(p))``, bilinear, border-clamped.

    Args:
        image: ``(B, C, H, W)`` float.
        flow: ``(B, 2, H, W)`` pixel offsets (x, y) at the output resolution.
    """
    b, _, h, w = flow.shape
    ih, iw = image.shape[-2:]
    pos = pixel_grid(h, w, flow.device)[None] + flow
    gx = pos[:, 0] / iw * 2 - 1
    gy = pos[:, 1] / ih * 2 - 1
    return F.grid_sample(image, torch.stack([gx, gy], -1), mode="bilinear",
                         padding_mode="border", align_corners=False)


def points_in_polygon(points: Tensor, polygon: Tensor) -> Tensor:
    """``(N,)`` bool: which of ``points`` ``(N, 2)`` lie inside the closed ``polygon``
    (even-odd ray casting). ``polygon`` is ``(K, 2)``, or ``(N, K, 2)`` for one per point."""
    x, y = points[:, 0:1], points[:, 1:2]
    a, b = polygon, polygon.roll(-1, -2)
    ay, by_, ax, bx = a[..., 1], b[..., 1], a[..., 0], b[..., 0]
    crosses = (ay > y) != (by_ > y)
    t = (y - ay) / (by_ - ay + 1e-12)
    x_hit = ax + t * (bx - ax)
    return ((crosses & (x < x_hit)).sum(-1) % 2) == 1
