"""Numba kernels for the CPU fast path of interpolation and anti-aliasing (forward and backward).

Used automatically for CPU tensors; other devices take the plain-torch path, which computes the
same values (tests compare them).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def interp_apply(attr, faces, tri, pix, bary, n_vert, hw, batched, out, scatter):
    """Interpolate ``attr`` (M, C) at covered pixels.

    Vertex ``k`` of pixel ``p`` is ``faces[tri[p], k] + (pix[p] // hw) * n_vert`` when batched.
    Writes row ``pix[p]`` of ``out`` when ``scatter`` else row ``p``.
    """
    c = attr.shape[1]
    for p in prange(tri.shape[0]):
        off = (pix[p] // hw) * n_vert if batched else 0
        f = tri[p]
        v0, v1, v2 = faces[f, 0] + off, faces[f, 1] + off, faces[f, 2] + off
        b0, b1, b2 = bary[p, 0], bary[p, 1], bary[p, 2]
        r = pix[p] if scatter else np.int64(p)
        for j in range(c):
            out[r, j] = b0 * attr[v0, j] + b1 * attr[v1, j] + b2 * attr[v2, j]


@njit(cache=True)
def interp_grad_attr(grad, faces, tri, pix, bary, n_vert, hw, batched, scatter, grad_attr):
    """Accumulate d loss / d attr (serial: vertices are shared between pixels)."""
    c = grad.shape[1]
    for p in range(tri.shape[0]):
        off = (pix[p] // hw) * n_vert if batched else 0
        f = tri[p]
        r = pix[p] if scatter else np.int64(p)
        for k in range(3):
            v = faces[f, k] + off
            bk = bary[p, k]
            for j in range(c):
                grad_attr[v, j] += bk * grad[r, j]


@njit(parallel=True, cache=True)
def interp_grad_bary(grad, attr, faces, tri, pix, n_vert, hw, batched, scatter, grad_bary):
    """d loss / d bary[p, k] = <grad[p], attr[v_k]>."""
    c = grad.shape[1]
    for p in prange(tri.shape[0]):
        off = (pix[p] // hw) * n_vert if batched else 0
        f = tri[p]
        r = pix[p] if scatter else np.int64(p)
        for k in range(3):
            v = faces[f, k] + off
            s = 0.0
            for j in range(c):
                s += grad[r, j] * attr[v, j]
            grad_bary[p, k] = s


@njit(cache=True)
def depth_map(pix, depth, total):
    """Flat (total,) float32 depth with +inf where nothing is drawn."""
    out = np.full(total, np.inf, np.float32)
    for p in range(pix.shape[0]):
        out[pix[p]] = depth[p]
    return out


@njit(parallel=True, cache=True)
def silhouette_pairs(tri, depth, has_sil):
    """Adjacent pixel pairs (right and down neighbours) with different triangles whose nearer
    triangle has a silhouette edge. Returns (near, far) flat pixel indices, int64.

    tri: (B, H, W) int32; depth: (B*H*W,) float32 (+inf background); has_sil: (B, F) bool.
    """
    nb, h, w = tri.shape
    rows = nb * h
    count = np.zeros(rows + 1, np.int64)
    for r in prange(rows):
        b = r // h
        y = r - b * h
        c = 0
        for x in range(w):
            t = tri[b, y, x]
            for d in range(2):
                if d == 0:
                    if x + 1 >= w:
                        continue
                    t2 = tri[b, y, x + 1]
                    q = r * w + x + 1
                else:
                    if y + 1 >= h:
                        continue
                    t2 = tri[b, y + 1, x]
                    q = (r + 1) * w + x
                if t == t2:
                    continue
                p = r * w + x
                tf = t if depth[p] <= depth[q] else t2
                if tf >= 0 and has_sil[b, tf]:
                    c += 1
        count[r + 1] = c
    for r in range(rows):
        count[r + 1] += count[r]
    near = np.empty(count[-1], np.int64)
    far = np.empty(count[-1], np.int64)
    for r in prange(rows):
        b = r // h
        y = r - b * h
        k = count[r]
        for x in range(w):
            t = tri[b, y, x]
            for d in range(2):
                if d == 0:
                    if x + 1 >= w:
                        continue
                    t2 = tri[b, y, x + 1]
                    q = r * w + x + 1
                else:
                    if y + 1 >= h:
                        continue
                    t2 = tri[b, y + 1, x]
                    q = (r + 1) * w + x
                if t == t2:
                    continue
                p = r * w + x
                a_front = depth[p] <= depth[q]
                tf = t if a_front else t2
                if tf >= 0 and has_sil[b, tf]:
                    near[k] = p if a_front else q
                    far[k] = q if a_front else p
                    k += 1
    return near, far


@njit(cache=True)
def normals_forward(v, faces, m):
    """Accumulate area-weighted face normals into ``m`` (B, N, 3) (zeroed by the caller)."""
    for b in range(v.shape[0]):
        for f in range(faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = v[b, i1, 0] - v[b, i0, 0], v[b, i1, 1] - v[b, i0, 1], v[b, i1, 2] - v[b, i0, 2]
            bx, by, bz = v[b, i2, 0] - v[b, i0, 0], v[b, i2, 1] - v[b, i0, 1], v[b, i2, 2] - v[b, i0, 2]
            nx, ny, nz = ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx
            for i in (i0, i1, i2):
                m[b, i, 0] += nx
                m[b, i, 1] += ny
                m[b, i, 2] += nz


@njit(cache=True)
def normals_backward(v, faces, gm, gv):
    """Given d loss / d m (B, N, 3) (m = summed face normals), accumulate d loss / d v."""
    for b in range(v.shape[0]):
        for f in range(faces.shape[0]):
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            ax, ay, az = v[b, i1, 0] - v[b, i0, 0], v[b, i1, 1] - v[b, i0, 1], v[b, i1, 2] - v[b, i0, 2]
            bx, by, bz = v[b, i2, 0] - v[b, i0, 0], v[b, i2, 1] - v[b, i0, 1], v[b, i2, 2] - v[b, i0, 2]
            gx = gm[b, i0, 0] + gm[b, i1, 0] + gm[b, i2, 0]
            gy = gm[b, i0, 1] + gm[b, i1, 1] + gm[b, i2, 1]
            gz = gm[b, i0, 2] + gm[b, i1, 2] + gm[b, i2, 2]
            # n = a x b: dL/da = b x g, dL/db = g x a
            dax, day, daz = by * gz - bz * gy, bz * gx - bx * gz, bx * gy - by * gx
            dbx, dby, dbz = gy * az - gz * ay, gz * ax - gx * az, gx * ay - gy * ax
            gv[b, i1, 0] += dax
            gv[b, i1, 1] += day
            gv[b, i1, 2] += daz
            gv[b, i2, 0] += dbx
            gv[b, i2, 1] += dby
            gv[b, i2, 2] += dbz
            gv[b, i0, 0] -= dax + dbx
            gv[b, i0, 1] -= day + dby
            gv[b, i0, 2] -= daz + dbz


@njit(parallel=True, cache=True)
def silhouette_edges(pos, faces, neighbours):
    """(B, F, 3) bool: edge k of face f (corners k, k+1) is a silhouette on screen: a boundary
    edge, or the neighbour across it faces the other way (signed pixel-space area)."""
    nb, nf = pos.shape[0], faces.shape[0]
    sgn = np.empty((nb, nf), np.int8)
    for k in prange(nb * nf):
        b = k // nf
        f = k - b * nf
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        a = (pos[b, i1, 0] - pos[b, i0, 0]) * (pos[b, i2, 1] - pos[b, i0, 1]) \
            - (pos[b, i1, 1] - pos[b, i0, 1]) * (pos[b, i2, 0] - pos[b, i0, 0])
        sgn[b, f] = 1 if a > 0 else 0
    sil = np.empty((nb, nf, 3), np.bool_)
    for k in prange(nb * nf):
        b = k // nf
        f = k - b * nf
        for e in range(3):
            n = neighbours[f, e]
            sil[b, f, e] = n < 0 or sgn[b, n] != sgn[b, f]
    return sil


@njit(cache=True)
def antialias_apply(color, out, pos, faces, tri, near, far, sil, hw, width):
    """No-grad twin of the torch blend in :func:`talkrig.render.antialias.antialias`.

    color, out: (T, C) flat images (``out`` starts as a copy of ``color``); pos (B, N, 3);
    tri (T,) int32; near/far (Q,) pixel pairs; sil (B, F, 3) bool.
    """
    c = color.shape[1]
    for q in range(near.shape[0]):
        pf, po = near[q], far[q]
        b = pf // hw
        t = tri[pf]
        rf, ro = pf - b * hw, po - b * hw
        fx, fy = (rf % width) + 0.5, (rf // width) + 0.5
        ox, oy = (ro % width) + 0.5, (ro // width) + 0.5
        i0, i1, i2 = faces[t, 0], faces[t, 1], faces[t, 2]
        area = (pos[b, i1, 0] - pos[b, i0, 0]) * (pos[b, i2, 1] - pos[b, i0, 1]) \
            - (pos[b, i1, 1] - pos[b, i0, 1]) * (pos[b, i2, 0] - pos[b, i0, 0])
        sg = 1.0 if area > 0 else -1.0
        alpha = 0.0
        for k in range(3):
            if not sil[b, t, k]:
                continue
            a = faces[t, k]
            e = faces[t, (k + 1) % 3]
            ax, ay = pos[b, a, 0], pos[b, a, 1]
            dx, dy = pos[b, e, 0] - ax, pos[b, e, 1] - ay
            ef = (dx * (fy - ay) - dy * (fx - ax)) * sg
            eo = (dx * (oy - ay) - dy * (ox - ax)) * sg
            if eo < 0 and ef >= 0:
                alpha = ef / max(ef - eo, 1e-12) - 0.5
                break
        if alpha > 0:
            tgt, src = po, pf
        else:
            tgt, src = pf, po
        wgt = abs(alpha)
        for j in range(c):
            out[tgt, j] += wgt * (color[src, j] - color[tgt, j])
