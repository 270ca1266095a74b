"""Analytic silhouette anti-aliasing with gradients to vertex positions (after nvdiffrast).

Rasterization is piecewise constant in the vertex positions, so a loss on a rasterized image
has no gradient that moves silhouettes. Following Laine et al. 2020 ("Modular Primitives for
High-Performance Differentiable Rendering", the ``antialias`` op of nvdiffrast), we look at
every pair of horizontally or vertically adjacent pixels showing different triangles. If a
*silhouette* edge of the nearer triangle (a mesh boundary edge, or one whose neighbour faces the
other way on screen) crosses the segment between the two pixel centres at fraction ``s`` from
the nearer pixel, the colours are blended by ``|s - 1/2|``: when the edge lies past the midpoint
the far pixel takes that much of the near colour, otherwise the near pixel takes that much of
the far colour. The blend weight is a differentiable function of the edge's screen positions,
which carries gradients to the vertices; it is 0 when the edge is at the midpoint, so the
result is continuous as the edge moves.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import torch
from torch import Tensor

from talkrig.render.fragments import Fragments


def edge_neighbours(faces: Tensor) -> Tensor:
    """Face adjacency across edges.

    Args:
        faces: ``(F, 3)`` int64; edge ``k`` of a face joins its corners ``k`` and ``(k+1) % 3``.
    Returns:
        ``(F, 3)`` int64 neighbouring face across each edge, -1 on a boundary (for an edge shared
        by more than two faces, faces are paired in sorted order).
    """
    f = faces.detach().cpu().numpy().astype(np.int64)
    nf = f.shape[0]
    a = f[:, [0, 1, 2]].reshape(-1)
    b = f[:, [1, 2, 0]].reshape(-1)
    key = np.minimum(a, b) * (int(f.max()) + 1 if nf else 1) + np.maximum(a, b)
    order = np.argsort(key, kind="stable")
    ks = key[order]
    same = np.nonzero(ks[1:] == ks[:-1])[0]
    same = same[np.concatenate([[True], same[1:] != same[:-1] + 1])] if len(same) else same
    out = np.full(nf * 3, -1, np.int64)
    i, j = order[same], order[same + 1]
    out[i] = j // 3
    out[j] = i // 3
    return torch.from_numpy(out.reshape(nf, 3)).to(faces.device)


def _cross2(a: Tensor, b: Tensor) -> Tensor:
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def antialias(color: Tensor, fragments: Fragments, pos_pix: Tensor, faces: Tensor,
              neighbours: Tensor | None = None, inplace: bool = False) -> Tensor:
    """Blend colours across silhouette edges so gradients reach silhouette vertices.

    Args:
        color: ``(B, H, W, C)`` float image rendered from ``fragments`` (background included).
        fragments: the rasterization that produced ``color``.
        pos_pix: ``(B, N, 3)`` the positions that were rasterized (gradients flow to them).
        faces: ``(F, 3)`` int64.
        neighbours: ``(F, 3)`` from :func:`edge_neighbours` (computed when None; pass it when
            rendering the same topology repeatedly).
        inplace: allow overwriting ``color`` when no gradient is needed (saves a copy).
    Returns:
        ``(B, H, W, C)`` anti-aliased image, differentiable w.r.t. ``color`` and ``pos_pix``.
    """
    b, h, w, c = color.shape
    faces = faces.to(pos_pix.device, torch.int64)
    if neighbours is None:
        neighbours = edge_neighbours(faces)
    neighbours = neighbours.to(pos_pix.device)
    need_grad = torch.is_grad_enabled() and (color.requires_grad or pos_pix.requires_grad)
    with torch.no_grad():  # which edges are silhouettes, which pixel pairs to blend (discrete)
        if color.device.type == "cpu" and importlib.util.find_spec("numba") is not None:
            from talkrig.render.backends import cpu_ops

            sil_np, has_sil = cpu_ops.silhouette_edges(
                pos_pix.detach().contiguous().numpy(), faces.contiguous().numpy(), neighbours.contiguous().numpy())
            sil = torch.from_numpy(sil_np)
            dmap = cpu_ops.depth_map(fragments.pix.numpy(), fragments.depth_c.detach().float().numpy(), b * h * w)
            near, far = cpu_ops.silhouette_pairs(fragments.tri_id.contiguous().numpy(), dmap, has_sil)
            pf, po = torch.from_numpy(near), torch.from_numpy(far)
            if not need_grad:  # fast path: the blend in numba
                out = color.detach().reshape(-1, c)
                if not (inplace and out.is_contiguous()):
                    out = out.contiguous().clone()
                cpu_ops.antialias_apply(out.numpy(), pos_pix.detach().to(color.dtype).contiguous().numpy(),
                                        faces.contiguous().numpy(), fragments.tri_id.reshape(-1).numpy(),
                                        near, far, sil_np, h * w, w)
                return out.reshape(b, h, w, c)
        else:
            sil = _silhouette_edges_torch(pos_pix.detach(), faces, neighbours)
            pf, po = _pairs_torch(fragments, sil.any(-1))
        tf = fragments.tri_id.reshape(-1)[pf].long()
        bf = torch.div(pf, h * w, rounding_mode="floor")

    if pf.numel() == 0:
        return color
    dt = pos_pix.dtype
    fidx = faces[tf]  # (Q, 3)
    xy = pos_pix[..., :2].reshape(-1, 2)
    vq = xy.index_select(0, (fidx + (bf * pos_pix.shape[1])[:, None]).reshape(-1)).reshape(-1, 3, 2)
    def centre(p):
        rem = p % (h * w)
        return torch.stack([(rem % w).to(dt) + 0.5, torch.div(rem, w, rounding_mode="floor").to(dt) + 0.5], -1)
    cf, co = centre(pf), centre(po)
    e0 = vq[:, [0, 1, 2]]
    e1 = vq[:, [1, 2, 0]]
    d = e1 - e0  # (Q, 3, 2)
    sgn = torch.sign(_cross2(vq[:, 1] - vq[:, 0], vq[:, 2] - vq[:, 0]))[:, None]
    ef = _cross2(d, cf[:, None] - e0) * sgn  # >= 0 inside
    eo = _cross2(d, co[:, None] - e0) * sgn
    with torch.no_grad():
        cand = sil[bf, tf] & (eo < 0) & (ef >= 0)
        valid = cand.any(-1)
        k = torch.argmax(cand.to(torch.int8), -1)
    sel = torch.arange(len(k), device=k.device)
    ef_k, eo_k = ef[sel, k], eo[sel, k]
    s = ef_k / (ef_k - eo_k).clamp(min=1e-12)
    alpha = torch.where(valid, s - 0.5, torch.zeros_like(s))
    far = alpha > 0
    target = torch.where(far, po, pf)
    source = torch.where(far, pf, po)
    flat = color.reshape(-1, c)
    delta = alpha.abs().to(color.dtype)[:, None] * (flat[source] - flat[target])
    return flat.index_add(0, target, delta).reshape(b, h, w, c)


def _pairs_torch(fragments: Fragments, has_sil: Tensor) -> tuple[Tensor, Tensor]:
    """Device-agnostic twin of ``cpu_ops.silhouette_pairs``: (near, far) flat pixel indices."""
    b, h, w = fragments.tri_id.shape
    tri = fragments.tri_id.reshape(-1).long()
    depth = torch.full((b * h * w,), float("inf"), device=tri.device)
    depth[fragments.pix] = fragments.depth_c.detach().float()
    idx = torch.arange(b * h * w, device=tri.device).reshape(b, h, w)
    near, far = [], []
    for pa, pb in ((idx[:, :, :-1], idx[:, :, 1:]), (idx[:, :-1, :], idx[:, 1:, :])):
        pa, pb = pa.reshape(-1), pb.reshape(-1)
        a_front = depth[pa] <= depth[pb]
        pf = torch.where(a_front, pa, pb)
        tf = tri[pf]
        bf = torch.div(pf, h * w, rounding_mode="floor")
        keep = (tri[pa] != tri[pb]) & (tf >= 0)
        keep &= has_sil.reshape(-1)[bf * has_sil.shape[1] + tf.clamp(min=0)]
        near.append(pf[keep])
        far.append(torch.where(a_front, pb, pa)[keep])
    return torch.cat(near), torch.cat(far)


def _silhouette_edges_torch(pos_pix: Tensor, faces: Tensor, neighbours: Tensor) -> Tensor:
    """Device-agnostic twin of ``cpu_ops.silhouette_edges``: (B, F, 3) bool."""
    b = pos_pix.shape[0]
    v = pos_pix[:, faces, :2]  # (B, F, 3, 2)
    facing = _cross2(v[:, :, 1] - v[:, :, 0], v[:, :, 2] - v[:, :, 0]) > 0
    nb = neighbours.clamp(min=0)
    return (neighbours < 0)[None] | (facing[:, nb.reshape(-1)].reshape(b, -1, 3) != facing[..., None])
