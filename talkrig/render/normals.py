"""Vertex normals with a numba fast path (CPU), same maths as
:func:`talkrig.model.geometry.vertex_normals` (area-weighted, unit length)."""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from talkrig.model.geometry import vertex_normals as _torch_normals


class _SummedNormals(torch.autograd.Function):
    """m_v = sum over faces at v of (v1 - v0) x (v2 - v0), with an analytic backward."""

    @staticmethod
    def forward(ctx, v, faces):
        from talkrig.render.backends import cpu_ops

        vd = v.detach().contiguous()
        m = torch.zeros_like(vd)
        cpu_ops.normals_forward(vd.numpy(), faces.numpy(), m.numpy())
        ctx.save_for_backward(vd, faces)
        return m

    @staticmethod
    def backward(ctx, gm):
        from talkrig.render.backends import cpu_ops

        vd, faces = ctx.saved_tensors
        gv = torch.zeros_like(vd)
        cpu_ops.normals_backward(vd.numpy(), faces.numpy(), gm.contiguous().to(vd.dtype).numpy(), gv.numpy())
        return gv, None


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted unit vertex normals ``(B, N, 3)`` of ``vertices`` ``(B, N, 3)`` with
    ``faces`` ``(F, 3)`` int64; differentiable. CPU float tensors use numba kernels."""
    if vertices.device.type == "cpu" and vertices.dtype in (torch.float32, torch.float64) \
            and importlib.util.find_spec("numba") is not None:
        m = _SummedNormals.apply(vertices, faces.to(torch.int64).contiguous())
        return torch.nn.functional.normalize(m, dim=-1, eps=1e-12)
    return _torch_normals(vertices, faces)
