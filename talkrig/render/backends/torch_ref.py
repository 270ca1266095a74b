"""The ``torch`` backend: a vectorised plain-torch z-buffer rasterizer (reference and baseline).

Every (triangle, pixel-in-bounding-box) candidate is enumerated in chunks; the depth test is one
``scatter_reduce(amin)`` on a 64-bit key ``(float bits of depth) << 32 | triangle id``, which
orders by depth and breaks ties towards the lower id like the ``cpu`` backend. Runs on any
device; memory is bounded by ``chunk`` candidates at a time.
"""

from __future__ import annotations

import torch

from talkrig.render.backends.base import RawRaster

EMPTY = torch.iinfo(torch.int64).max


def raster(pos, faces, size, cull, near, chunk: int = 1 << 22) -> RawRaster:
    h, w = size
    b, n = pos.shape[:2]
    dev = pos.device
    pos = pos.detach().float()
    v = pos[:, faces]  # (B, F, 3, 3)
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    area = (x[..., 1] - x[..., 0]) * (y[..., 2] - y[..., 0]) - (y[..., 1] - y[..., 0]) * (x[..., 2] - x[..., 0])
    ok = (z > near).all(-1) & (area != 0) & torch.isfinite(area)
    if cull == 1:
        ok &= area < 0
    elif cull == -1:
        ok &= area > 0
    r0 = torch.ceil(y.amin(-1) - 0.5).clamp(min=0)
    r1 = torch.floor(y.amax(-1) - 0.5).clamp(max=h - 1)
    c0 = torch.ceil(x.amin(-1) - 0.5).clamp(min=0)
    c1 = torch.floor(x.amax(-1) - 0.5).clamp(max=w - 1)
    ok &= (r0 <= r1) & (c0 <= c1)
    bi, fi = torch.nonzero(ok, as_tuple=True)
    r0, c0 = r0[bi, fi].long(), c0[bi, fi].long()
    nh, nw = r1[bi, fi].long() - r0 + 1, c1[bi, fi].long() - c0 + 1
    cnt = nh * nw
    key = torch.full((b * h * w,), EMPTY, dtype=torch.int64, device=dev)
    ends = torch.cumsum(cnt, 0)
    t0 = 0
    while t0 < len(fi):
        # as many triangles as fit into one chunk of candidates (at least one)
        base = int(ends[t0 - 1]) if t0 else 0
        t1 = max(int(torch.searchsorted(ends, base + chunk, right=True)), t0 + 1)
        sel = torch.arange(t0, t1, device=dev)
        rep = torch.repeat_interleave(sel, cnt[t0:t1])
        local = torch.arange(len(rep), device=dev) - (ends[rep] - cnt[rep] - base)
        row = r0[rep] + torch.div(local, nw[rep], rounding_mode="floor")
        col = c0[rep] + local % nw[rep]
        px, py = col.float() + 0.5, row.float() + 0.5
        tb, tf = bi[rep], fi[rep]
        xs, ys, zs = x[tb, tf], y[tb, tf], z[tb, tf]  # (K, 3)
        x0, x1, x2 = xs.unbind(1)
        y0, y1, y2 = ys.unbind(1)
        w0 = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
        w1 = (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)
        w2 = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
        a = area[tb, tf]
        s = torch.sign(a)
        inside = (w0 * s >= 0) & (w1 * s >= 0) & (w2 * s >= 0)
        zinv = (w0 / zs[:, 0] + w1 / zs[:, 1] + w2 / zs[:, 2]) / a
        depth = (1.0 / zinv[inside]).contiguous()
        k = (depth.view(torch.int32).long() << 32) | tf[inside]
        flat = (tb[inside] * h + row[inside]) * w + col[inside]
        key.scatter_reduce_(0, flat, k, reduce="amin", include_self=True)
        t0 = t1
    tri = torch.where(key == EMPTY, torch.full_like(key, -1), key & 0xFFFFFFFF)
    return RawRaster(tri.to(torch.int32).reshape(b, h, w))
