"""The ``nvdiffrast`` backend: :func:`nvdiffrast.torch.rasterize` (CUDA) for visibility.

nvdiffrast is NVIDIA's and licensed for non-commercial use only (NVIDIA Source Code License-NC);
talkrig never installs it, only uses it when present.

Clip space is built so that nvdiffrast's image row 0 (clip ``y = -1``) is talkrig's top row and
the pixel centres coincide: ``x_c = (2 x / W - 1) w``, ``y_c = (2 y / H - 1) w``, ``w = depth``,
and ``z_c`` an OpenGL-style depth mapping between ``near`` and ``far`` chosen from the scene so
the depth test orders by view depth. nvdiffrast has no culling, so culled (or too near)
triangles are removed per batch element and each element is rasterized separately then.
"""

from __future__ import annotations

import torch

from talkrig.render.backends.base import RawRaster
from talkrig.render.backends.pytorch3d_adapter import _keep_mask


def raster(ctx, pos, faces, size, cull, near) -> RawRaster:
    """Rasterize with the ``RasterizeCudaContext`` ``ctx`` of ``pos``'s device (the backend
    object keeps one per device)."""
    import nvdiffrast.torch as dr

    h, w = size
    pos = pos.detach().float()
    d = pos[..., 2]
    valid = d[d > near]
    zn = float(valid.min()) * 0.5 if valid.numel() else 1.0
    zf = float(valid.max()) * 2.0 if valid.numel() else 2.0
    zc = (zf + zn) / (zf - zn) * d - 2 * zf * zn / (zf - zn)
    clip = torch.stack([(2 * pos[..., 0] / w - 1) * d, (2 * pos[..., 1] / h - 1) * d, zc, d], -1).contiguous()
    keep = _keep_mask(pos, faces, cull, near)
    if bool(keep.all()):
        rast, _ = dr.rasterize(ctx, clip, faces.to(torch.int32).contiguous(), resolution=[h, w])
        tri = rast[..., 3].round().to(torch.int64) - 1  # 0 = empty, else triangle id + 1
        return RawRaster(tri.to(torch.int32))
    out = []
    for b in range(pos.shape[0]):
        idx = torch.nonzero(keep[b])[:, 0]
        if idx.numel() == 0:
            out.append(torch.full((h, w), -1, dtype=torch.int64, device=pos.device))
            continue
        rast, _ = dr.rasterize(ctx, clip[b:b + 1], faces[idx].to(torch.int32).contiguous(), resolution=[h, w])
        t = rast[0, ..., 3].round().to(torch.int64) - 1
        out.append(torch.where(t >= 0, idx[t.clamp(min=0)], -1))
    return RawRaster(torch.stack(out).to(torch.int32))
