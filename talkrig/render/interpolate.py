"""Differentiable attribute interpolation and texture sampling."""

from __future__ import annotations

import importlib.util

import torch
import torch.nn.functional as F
from torch import Tensor

from talkrig.errors import InputError
from talkrig.render.fragments import Fragments, gather_vertices


class _InterpCPU(torch.autograd.Function):
    """Numba interpolation with an analytic backward (CPU tensors only)."""

    @staticmethod
    def forward(ctx, attr, bary, faces, tri, pix, n_vert, hw, total, bg):
        from talkrig.render.backends import cpu_ops

        c = attr.shape[-1]
        a = attr.detach().contiguous().reshape(-1, c)
        bary = bary.detach().contiguous()
        scatter = total > 0
        if scatter:
            out = torch.empty(total, c, dtype=attr.dtype)
            out[:] = bg
        else:
            out = torch.empty(tri.shape[0], c, dtype=attr.dtype)
        batched = attr.dim() == 3
        cpu_ops.interp_apply(a.numpy(), faces.numpy(), tri.numpy(), pix.numpy(), bary.numpy(),
                             n_vert, hw, batched, out.numpy(), scatter)
        ctx.save_for_backward(a, bary, faces, tri, pix)
        ctx.meta = (attr.shape, n_vert, hw, batched, scatter)
        return out

    @staticmethod
    def backward(ctx, grad):
        from talkrig.render.backends import cpu_ops

        a, bary, faces, tri, pix = ctx.saved_tensors
        shape, n_vert, hw, batched, scatter = ctx.meta
        g = grad.contiguous().to(a.dtype).numpy()
        ga = gb = None
        if ctx.needs_input_grad[0]:
            ga = torch.zeros_like(a)
            cpu_ops.interp_grad_attr(g, faces.numpy(), tri.numpy(), pix.numpy(), bary.numpy(),
                                     n_vert, hw, batched, scatter, ga.numpy())
            ga = ga.reshape(shape)
        if ctx.needs_input_grad[1]:
            gb = torch.empty_like(bary)
            cpu_ops.interp_grad_bary(g, a.numpy(), faces.numpy(), tri.numpy(), pix.numpy(),
                                     n_vert, hw, batched, scatter, gb.numpy())
        return ga, gb, None, None, None, None, None, None, None


def _use_numba(t: Tensor) -> bool:
    return t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) \
        and importlib.util.find_spec("numba") is not None


def _check(attr: Tensor, fragments: Fragments) -> Tensor:
    """Validate ``attr``; a batch of one is shared by every image (returned as ``(N, C)``)."""
    if attr.dim() not in (2, 3):
        raise InputError(f"interpolate: attr must be (B, N, C) or (N, C), got {tuple(attr.shape)}")
    if attr.dim() == 3 and attr.shape[0] != fragments.batch:
        if attr.shape[0] != 1:
            raise InputError(f"interpolate: attr batch {attr.shape[0]} != fragments batch {fragments.batch}")
        attr = attr[0]
    return attr


def interpolate_compact(attr: Tensor, fragments: Fragments, faces: Tensor) -> Tensor:
    """Like :func:`interpolate` but returns only the ``(P, C)`` covered-pixel values."""
    attr = _check(attr, fragments)
    faces = faces.to(attr.device, torch.int64)
    bary = fragments.bary_c.to(attr.dtype)
    if _use_numba(attr):
        h, w = fragments.size
        return _InterpCPU.apply(attr, bary, faces.contiguous(), fragments.tri, fragments.pix,
                                attr.shape[-2], h * w, 0, 0.0)
    g = gather_vertices(attr, faces, fragments.tri, fragments.batch_index if attr.dim() == 3 else None)
    return (bary[:, :, None] * g).sum(1)


def interpolate(attr: Tensor, fragments: Fragments, faces: Tensor,
                background: float | Tensor = 0.0) -> Tensor:
    """Interpolate a per-vertex attribute with perspective-correct barycentrics.

    Args:
        attr: ``(B, N, C)`` or ``(N, C)`` float (any C), same device as the fragments.
        fragments: from :func:`~talkrig.render.raster.rasterize`.
        faces: ``(F, 3)`` int64 indexing ``attr``'s vertices, row-aligned with the rasterized
            faces (so a separate UV topology ``uv_faces`` works with ``attr = uvs``).
        background: value of uncovered pixels (float or ``(C,)`` tensor, not differentiated on
            the CPU fast path).
    Returns:
        ``(B, H, W, C)`` in ``attr.dtype``; differentiable w.r.t. ``attr`` and (through the
        barycentrics) the rasterized vertex positions.
    """
    attr = _check(attr, fragments)
    if _use_numba(attr) and not (isinstance(background, Tensor) and background.requires_grad):
        h, w = fragments.size
        faces = faces.to(attr.device, torch.int64).contiguous()
        bary = fragments.bary_c.to(attr.dtype)
        out = _InterpCPU.apply(attr, bary, faces, fragments.tri, fragments.pix, attr.shape[-2],
                               h * w, fragments.batch * h * w,
                               background.detach().to(attr.dtype) if isinstance(background, Tensor) else float(background))
        return out.reshape(fragments.batch, h, w, -1)
    return fragments.scatter(interpolate_compact(attr, fragments, faces), background)


def texture(tex: Tensor, uv: Tensor, mode: str = "bilinear") -> Tensor:
    """Sample a UV map.

    Convention (OBJ / Wavefront): ``u`` in [0, 1] left to right, ``v`` in [0, 1] bottom to top,
    so ``v = 1`` is the first row of the image; texel ``(row i, col j)`` has its centre at
    ``u = (j + 0.5) / Tw, v = 1 - (i + 0.5) / Th``. Outside [0, 1] the border texel repeats.

    Args:
        tex: ``(B, C, Th, Tw)`` or ``(C, Th, Tw)`` float.
        uv: ``(B, H, W, 2)`` float (or ``(B, P, 2)`` for scattered points).
    Returns:
        ``(B, H, W, C)``; differentiable w.r.t. ``tex`` and ``uv``.
    """
    if tex.dim() == 3:
        tex = tex[None].expand(uv.shape[0], -1, -1, -1)
    if tex.dim() != 4 or uv.shape[-1] != 2:
        raise InputError(f"texture: need tex (B,C,Th,Tw) and uv (...,2), got {tuple(tex.shape)}, {tuple(uv.shape)}")
    squeeze = uv.dim() == 3
    if squeeze:
        uv = uv[:, :, None]
    # grid_sample: x=-1 is the left edge of the left texel, y=-1 the top edge of the top row
    grid = torch.stack([uv[..., 0] * 2 - 1, 1 - uv[..., 1] * 2], -1).to(tex.dtype)
    out = F.grid_sample(tex, grid, mode=mode, padding_mode="border", align_corners=False)
    out = out.permute(0, 2, 3, 1)
    return out[:, :, 0] if squeeze else out
