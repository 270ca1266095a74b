"""The ``cpu`` backend: numba kernels (see :mod:`cpu_kernels`) wrapped for torch tensors."""

from __future__ import annotations

import torch

from talkrig.render.backends.base import RawRaster


def raster(pos, faces, size, cull, near) -> RawRaster:
    """CPU tensors in, CPU tensors out; positions are rasterized in float32."""
    from talkrig.render.backends.cpu_kernels import rasterize_numpy

    h, w = size
    p = pos.detach().to(torch.float32).contiguous().numpy()
    tri, pix, tric, bary, depth = rasterize_numpy(p, faces.contiguous().numpy(), h, w, cull, near)
    return RawRaster(torch.from_numpy(tri), torch.from_numpy(pix), torch.from_numpy(bary),
                     torch.from_numpy(depth), torch.from_numpy(tric))
