"""The ``pytorch3d`` backend: :func:`pytorch3d.renderer.mesh.rasterize_meshes` for visibility.

pytorch3d's screen NDC has +X to the *left* and +Y up, pixel (0, 0) at the top-left, and the
shorter image side spanning [-1, 1]; so pixel coordinates map as
``ndc_x = (W - 2 x) / S``, ``ndc_y = (H - 2 y) / S`` with ``S = min(H, W)``, and ``z`` stays the
view depth (smaller is nearer), which its z-buffer expects. Triangles to cull (and those
crossing ``near``) are removed from each batch element before rasterizing and ids are mapped
back, so culling follows talkrig's winding convention rather than pytorch3d's.
"""

from __future__ import annotations

import torch

from talkrig.render.backends.base import RawRaster


def _keep_mask(pos, faces, cull, near):
    v = pos[:, faces]  # (B, F, 3, 3)
    area = (v[..., 1, 0] - v[..., 0, 0]) * (v[..., 2, 1] - v[..., 0, 1]) \
        - (v[..., 1, 1] - v[..., 0, 1]) * (v[..., 2, 0] - v[..., 0, 0])
    keep = (v[..., 2] > near).all(-1) & (area != 0)
    if cull == 1:
        keep &= area < 0
    elif cull == -1:
        keep &= area > 0
    return keep


def raster(pos, faces, size, cull, near) -> RawRaster:
    from pytorch3d.renderer.mesh.rasterize_meshes import rasterize_meshes
    from pytorch3d.structures import Meshes

    h, w = size
    s = float(min(h, w))
    pos = pos.detach().float()
    ndc = torch.stack([(w - 2 * pos[..., 0]) / s, (h - 2 * pos[..., 1]) / s, pos[..., 2]], -1)
    keep = _keep_mask(pos, faces, cull, near)
    kept = [torch.nonzero(k)[:, 0] for k in keep]
    meshes = Meshes(verts=list(ndc), faces=[faces[k] for k in kept])
    pix_to_face, _, _, _ = rasterize_meshes(meshes, image_size=(h, w), blur_radius=0.0,
                                            faces_per_pixel=1, perspective_correct=False,
                                            cull_backfaces=False)
    p2f = pix_to_face[..., 0]  # (B, H, W), index into the packed kept faces, -1 empty
    packed_to_face = torch.cat(kept)  # packed index -> face id (meshes are packed in order)
    local = p2f.clamp(min=0)
    tri = torch.where(p2f >= 0, packed_to_face[local.reshape(-1)].reshape(p2f.shape), -1)
    return RawRaster(tri.to(torch.int32))
