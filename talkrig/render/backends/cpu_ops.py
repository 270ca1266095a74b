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
    One parallel pass per image row writes into a per-row scratch slice (``np.empty``: pages
    that are never written cost nothing), then a short serial pass compacts.
    """
    nb, h, w = tri.shape
    rows = nb * h
    buf = np.empty((rows, 2 * w, 2), np.int64)
    count = np.zeros(rows, np.int64)
    for r in prange(rows):
        b = r // h
        y = r - b * h
        c = 0
        for x in range(w):
            t = tri[b, y, x]
            p = r * w + x
            for d in range(2):
                if d == 0:
                    if x + 1 >= w:
                        continue
                    t2 = tri[b, y, x + 1]
                    q = p + 1
                else:
                    if y + 1 >= h:
                        continue
                    t2 = tri[b, y + 1, x]
                    q = p + w
                if t == t2:
                    continue
                a_front = depth[p] <= depth[q]
                tf = t if a_front else t2
                if tf >= 0 and has_sil[b, tf]:
                    buf[r, c, 0] = p if a_front else q
                    buf[r, c, 1] = q if a_front else p
                    c += 1
        count[r] = c
    n = 0
    for r in range(rows):
        n += count[r]
    near = np.empty(n, np.int64)
    far = np.empty(n, np.int64)
    k = 0
    for r in range(rows):
        for i in range(count[r]):
            near[k] = buf[r, i, 0]
            far[k] = buf[r, i, 1]
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
    edge, or the neighbour across it faces the other way (signed pixel-space area); and
    (B, F) bool: the face has any silhouette edge."""
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
    any_sil = np.empty((nb, nf), np.bool_)
    for k in prange(nb * nf):
        b = k // nf
        f = k - b * nf
        anyk = False
        for e in range(3):
            n = neighbours[f, e]
            s = n < 0 or sgn[b, n] != sgn[b, f]
            sil[b, f, e] = s
            anyk = anyk or s
        any_sil[b, f] = anyk
    return sil, any_sil


@njit(cache=True)
def antialias_apply(color, pos, faces, tri, near, far, sil, hw, width):
    """No-grad twin of the torch blend in :func:`talkrig.render.antialias.antialias`, in place.

    color: (T, C) flat image, modified in place (all deltas are computed from the original
    colours first); pos (B, N, 3); tri (T,) int32; near/far (Q,) pixel pairs; sil (B, F, 3) bool.
    """
    c = color.shape[1]
    nq = near.shape[0]
    tgt = np.empty(nq, np.int64)
    delta = np.empty((nq, c), color.dtype)
    for q in range(nq):
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
            tg, src = po, pf
        else:
            tg, src = pf, po
        tgt[q] = tg
        wgt = abs(alpha)
        for j in range(c):
            delta[q, j] = wgt * (color[src, j] - color[tg, j])
    for q in range(nq):
        for j in range(c):
            color[tgt[q], j] += delta[q, j]


@njit(parallel=True, cache=True)
def bary_forward(pos, faces, pix, tri, hw, width, bary, depth):
    """Perspective-correct barycentrics (P, 3) and depth (P,) of pixel centres, in pos's dtype
    (same formulas as :func:`talkrig.render.fragments.barycentrics`)."""
    for p in prange(pix.shape[0]):
        b = pix[p] // hw
        r = pix[p] - b * hw
        px = (r % width) + 0.5
        py = (r // width) + 0.5
        f = tri[p]
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, z0 = pos[b, i0, 0], pos[b, i0, 1], pos[b, i0, 2]
        x1, y1, z1 = pos[b, i1, 0], pos[b, i1, 1], pos[b, i1, 2]
        x2, y2, z2 = pos[b, i2, 0], pos[b, i2, 1], pos[b, i2, 2]
        w0 = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
        w1 = (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)
        w2 = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
        q0, q1, q2 = w0 / z0, w1 / z1, w2 / z2
        t = q0 + q1 + q2
        bary[p, 0] = q0 / t
        bary[p, 1] = q1 / t
        bary[p, 2] = q2 / t
        depth[p] = (w0 + w1 + w2) / t


@njit(cache=True)
def bary_backward(pos, faces, pix, tri, hw, width, bary, depth, gb, gd, gpos):
    """Analytic backward of :func:`bary_forward`: accumulates d loss / d pos into gpos (B, N, 3).

    With q_k = w_k / z_k, t = sum q, bary = q / t, depth = (sum w) / t:
    dL/dq_j = (gb_j - sum_k gb_k bary_k - gd depth) / t, dL/dw_j = dL/dq_j / z_j + gd / t,
    dL/dz_j = -dL/dq_j q_j / z_j; and for an edge function w = (xb-xa)(py-ya) - (yb-ya)(px-xa):
    dw/dxa = yb - py, dw/dxb = py - ya, dw/dya = px - xb, dw/dyb = xa - px.
    """
    for p in range(pix.shape[0]):
        b = pix[p] // hw
        r = pix[p] - b * hw
        px = (r % width) + 0.5
        py = (r // width) + 0.5
        f = tri[p]
        i = (faces[f, 0], faces[f, 1], faces[f, 2])
        x = (pos[b, i[0], 0], pos[b, i[1], 0], pos[b, i[2], 0])
        y = (pos[b, i[0], 1], pos[b, i[1], 1], pos[b, i[2], 1])
        z = (pos[b, i[0], 2], pos[b, i[1], 2], pos[b, i[2], 2])
        w = ((x[2] - x[1]) * (py - y[1]) - (y[2] - y[1]) * (px - x[1]),
             (x[0] - x[2]) * (py - y[2]) - (y[0] - y[2]) * (px - x[2]),
             (x[1] - x[0]) * (py - y[0]) - (y[1] - y[0]) * (px - x[0]))
        t = w[0] / z[0] + w[1] / z[1] + w[2] / z[2]
        s = gb[p, 0] * bary[p, 0] + gb[p, 1] * bary[p, 1] + gb[p, 2] * bary[p, 2]
        g_d = gd[p]
        for j in range(3):
            gq = (gb[p, j] - s - g_d * depth[p]) / t
            gw = gq / z[j] + g_d / t
            gpos[b, i[j], 2] -= gq * w[j] / (z[j] * z[j])
            a = (j + 1) % 3  # w_j is the edge function of edge a -> c opposite corner j
            c = (j + 2) % 3
            gpos[b, i[a], 0] += gw * (y[c] - py)
            gpos[b, i[c], 0] += gw * (py - y[a])
            gpos[b, i[a], 1] += gw * (px - x[c])
            gpos[b, i[c], 1] += gw * (x[a] - px)
