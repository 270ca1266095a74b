"""`rasterize`: triangles in pixel space -> :class:`Fragments`, through a swappable backend.

Backends only decide visibility (which triangle is nearest at each pixel centre); barycentrics
and depths that need gradients are recomputed here in torch from the triangle ids, so every
backend yields the same differentiable quantities.
"""

from __future__ import annotations

import torch
from torch import Tensor

import importlib.util

from talkrig.errors import InputError
from talkrig.render.backends import RasterBackend, RawRaster, get_backend
from talkrig.render.fragments import Fragments, barycentrics

CULL = {"none": 0, "back": 1, "front": -1}


class _BaryCPU(torch.autograd.Function):
    """Barycentrics and depth of covered pixels with an analytic backward to ``pos_pix``
    (numba; the same maths as :func:`~talkrig.render.fragments.barycentrics`)."""

    @staticmethod
    def forward(ctx, pos, faces, pix, tri, size, pre):
        from talkrig.render.backends import cpu_ops

        h, w = size
        p = pos.detach().contiguous()
        f = faces.contiguous()
        if pre is not None:
            bary, depth = pre
        else:
            bary = torch.empty(len(pix), 3, dtype=p.dtype)
            depth = torch.empty(len(pix), dtype=p.dtype)
            cpu_ops.bary_forward(p.numpy(), f.numpy(), pix.numpy(), tri.numpy(), h * w, w,
                                 bary.numpy(), depth.numpy())
        ctx.save_for_backward(p, f, pix, tri, bary, depth)
        ctx.size = size
        return bary, depth

    @staticmethod
    def backward(ctx, gb, gd):
        from talkrig.render.backends import cpu_ops

        p, f, pix, tri, bary, depth = ctx.saved_tensors
        h, w = ctx.size
        gb = torch.zeros_like(bary) if gb is None else gb.contiguous().to(p.dtype)
        gd = torch.zeros_like(depth) if gd is None else gd.contiguous().to(p.dtype)
        gpos = torch.zeros_like(p)
        cpu_ops.bary_backward(p.numpy(), f.numpy(), pix.numpy(), tri.numpy(), h * w, w,
                              bary.to(p.dtype).numpy(), depth.to(p.dtype).numpy(), gb.numpy(),
                              gd.numpy(), gpos.numpy())
        return gpos, None, None, None, None, None


def rasterize(pos_pix: Tensor, faces: Tensor, size: tuple[int, int], backend: str | RasterBackend = "auto",
              cull: str | bool = "none", near: float = 1e-6) -> Fragments:
    """Z-buffered rasterization of triangle meshes at pixel centres (``col + 0.5, row + 0.5``).

    Args:
        pos_pix: ``(B, N, 3)`` float32/float64 pixel x, pixel y, depth (positive in front);
            the output of :meth:`talkrig.render.camera.Camera.project`. Any device the backend
            supports (``cpu``: CPU; ``nvdiffrast``: CUDA; ``pytorch3d``/``torch``: both).
        faces: ``(F, 3)`` int64 vertex ids, counter-clockwise seen from the front.
        size: ``(H, W)``.
        backend: ``"auto" | "cpu" | "torch" | "pytorch3d" | "nvdiffrast"`` or a
            :class:`~talkrig.render.backends.RasterBackend` object (which keeps its own state,
            e.g. a CUDA context per device).
        cull: ``"none"``, ``"back"`` (drop triangles seen from behind; ``True`` means this) or
            ``"front"``.
        near: triangles with a vertex at depth ``<= near`` are dropped (no clipping).
    Returns:
        :class:`Fragments`; ``bary_c``/``depth_c`` carry gradients to ``pos_pix`` when it
        requires grad.
    """
    if pos_pix.dim() != 3 or pos_pix.shape[-1] != 3:
        raise InputError(f"rasterize: pos_pix must be (B, N, 3), got {tuple(pos_pix.shape)}")
    if faces.dim() != 2 or faces.shape[-1] != 3:
        raise InputError(f"rasterize: faces must be (F, 3), got {tuple(faces.shape)}")
    cull_key = "back" if cull is True else ("none" if cull is False else cull)
    if cull_key not in CULL:
        raise InputError(f"rasterize: cull must be one of {', '.join(CULL)}, got {cull!r}")
    h, w = int(size[0]), int(size[1])
    faces = faces.to(device=pos_pix.device, dtype=torch.int64)
    raw: RawRaster = get_backend(backend, pos_pix.device).raster(pos_pix.detach(), faces, (h, w), CULL[cull_key], near)
    tri_id = raw.tri_id
    if raw.pix is None:
        pix = torch.nonzero(tri_id.reshape(-1) >= 0)[:, 0]
    else:
        pix = raw.pix
    tri = raw.tri if raw.tri is not None else tri_id.reshape(-1).index_select(0, pix).long()
    grad = pos_pix.requires_grad and torch.is_grad_enabled()
    pre = (raw.bary, raw.depth) if raw.bary is not None and raw.bary.dtype == pos_pix.dtype else None
    if pos_pix.device.type == "cpu" and importlib.util.find_spec("numba") is not None \
            and pos_pix.dtype in (torch.float32, torch.float64):
        if pre is not None and not grad:
            bary, depth = pre
        else:  # numba forward (unless the backend's values fit) and analytic backward
            bary, depth = _BaryCPU.apply(pos_pix, faces, pix, tri, (h, w), pre)
    elif pre is not None and not grad:
        bary, depth = pre
    else:  # torch recompute: autograd gives the exact derivative on any device
        bary, depth = barycentrics(pos_pix, faces, pix, tri, (h, w))
    return Fragments(tri_id=tri_id, pix=pix, tri=tri, bary_c=bary, depth_c=depth, size=(h, w))
