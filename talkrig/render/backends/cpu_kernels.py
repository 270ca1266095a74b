"""Numba kernels of the ``cpu`` rasterization backend (non-differentiable; ids, depths, barycentrics).

Parallel scheme (no atomics): triangles are set up in parallel, binned into horizontal bands of
``BAND`` rows (one serial counting pass, CSR lists), then each band is rasterized by exactly one
thread, which therefore owns its slice of the z-buffer. Bands are small so the face region is
split across both cores even though it covers only the middle of the frame.

Depth test on interpolated ``1/z`` (exact for perspective: ``1/z`` is affine in screen space);
ties go to the lower triangle id so results do not depend on scheduling.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

BAND = 16  # rows per band; 512 px -> 32 bands: enough for 2..16 threads, few triangles in two bands


@njit(parallel=True, cache=True)
def setup_triangles(pos, faces, height, width, cull, near):
    """Per (batch, triangle): bounding box of covered pixel centres, or an empty box.

    Args:
        pos: (B, N, 3) float32 pixel x, pixel y, depth.
        faces: (F, 3) int64.
        cull: 0 none, 1 drop back faces, -1 drop front faces (front = counter-clockwise seen
            from the camera, i.e. negative signed area in y-down pixel space).
    Returns:
        box (B, F, 4) int32 rows [r0, r1], cols [c0, c1] inclusive (r0 > r1 when nothing is drawn);
        rec (B, F, 12) float64 plane equations (A, B, C) of the three oriented edge functions
        and (P, Q, R) of the interpolated 1/z, all affine in pixel (x, y).
    """
    nb, nf = pos.shape[0], faces.shape[0]
    box = np.empty((nb, nf, 4), np.int32)
    rec = np.empty((nb, nf, 12), np.float64)
    for k in prange(nb * nf):
        b = k // nf
        f = k - b * nf
        i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, z0 = pos[b, i0, 0], pos[b, i0, 1], pos[b, i0, 2]
        x1, y1, z1 = pos[b, i1, 0], pos[b, i1, 1], pos[b, i1, 2]
        x2, y2, z2 = pos[b, i2, 0], pos[b, i2, 1], pos[b, i2, 2]
        area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
        ok = z0 > near and z1 > near and z2 > near and area != 0.0 and math.isfinite(area)
        if cull == 1 and area > 0.0:
            ok = False
        if cull == -1 and area < 0.0:
            ok = False
        r0 = max(int(math.ceil(min(y0, y1, y2) - 0.5)), 0) if ok else 1
        r1 = min(int(math.floor(max(y0, y1, y2) - 0.5)), height - 1) if ok else 0
        c0 = max(int(math.ceil(min(x0, x1, x2) - 0.5)), 0) if ok else 1
        c1 = min(int(math.floor(max(x0, x1, x2) - 0.5)), width - 1) if ok else 0
        if c0 > c1:
            r0, r1 = 1, 0
        box[b, f, 0] = r0
        box[b, f, 1] = r1
        box[b, f, 2] = c0
        box[b, f, 3] = c1
        if r0 <= r1:
            # edge functions w_k = A_k x + B_k y + C_k (w_k opposite corner k), scaled by the sign
            # of the area so that "inside" is w_k >= 0 for both windings; 1/z = P x + Q y + R
            X0, Y0, X1, Y1, X2, Y2 = (np.float64(x0), np.float64(y0), np.float64(x1),
                                      np.float64(y1), np.float64(x2), np.float64(y2))
            a64 = (X1 - X0) * (Y2 - Y0) - (Y1 - Y0) * (X2 - X0)
            sg = 1.0 if a64 > 0 else -1.0
            A0, B0 = -(Y2 - Y1), X2 - X1
            C0 = -B0 * Y1 - A0 * X1
            A1, B1 = -(Y0 - Y2), X0 - X2
            C1 = -B1 * Y2 - A1 * X2
            A2, B2 = -(Y1 - Y0), X1 - X0
            C2 = -B2 * Y0 - A2 * X0
            q0 = 1.0 / (np.float64(z0) * a64)
            q1 = 1.0 / (np.float64(z1) * a64)
            q2 = 1.0 / (np.float64(z2) * a64)
            rec[b, f, 0] = sg * A0
            rec[b, f, 1] = sg * B0
            rec[b, f, 2] = sg * C0
            rec[b, f, 3] = sg * A1
            rec[b, f, 4] = sg * B1
            rec[b, f, 5] = sg * C1
            rec[b, f, 6] = sg * A2
            rec[b, f, 7] = sg * B2
            rec[b, f, 8] = sg * C2
            rec[b, f, 9] = A0 * q0 + A1 * q1 + A2 * q2
            rec[b, f, 10] = B0 * q0 + B1 * q1 + B2 * q2
            rec[b, f, 11] = C0 * q0 + C1 * q1 + C2 * q2
    return box, rec


@njit(cache=True)
def bin_triangles(box, height):
    """CSR lists of triangle ids per (batch, band). Returns (start (B*nbands+1,), ids)."""
    nb, nf = box.shape[0], box.shape[1]
    nbands = (height + BAND - 1) // BAND
    count = np.zeros(nb * nbands + 1, np.int64)
    for b in range(nb):
        for f in range(nf):
            r0, r1 = box[b, f, 0], box[b, f, 1]
            if r0 <= r1:
                for band in range(r0 // BAND, r1 // BAND + 1):
                    count[b * nbands + band + 1] += 1
    for i in range(1, count.shape[0]):
        count[i] += count[i - 1]
    ids = np.empty(count[-1], np.int32)
    fill = count[:-1].copy()
    for b in range(nb):
        for f in range(nf):
            r0, r1 = box[b, f, 0], box[b, f, 1]
            if r0 <= r1:
                for band in range(r0 // BAND, r1 // BAND + 1):
                    j = b * nbands + band
                    ids[fill[j]] = f
                    fill[j] += 1
    return count, ids


@njit(parallel=True, cache=True)
def raster_bands(rec, box, start, ids, height, width, tri_out, zinv_out):
    """Z-buffer rasterization, one band per thread. Fills tri_out (B,H,W) int32 (-1 empty) and
    zinv_out (B,H,W) float32 (interpolated 1/depth, 0 empty)."""
    nb = rec.shape[0]
    nbands = (height + BAND - 1) // BAND
    for j in prange(nb * nbands):
        b = j // nbands
        band = j - b * nbands
        y_lo = band * BAND
        y_hi = min(y_lo + BAND, height) - 1
        for y in range(y_lo, y_hi + 1):
            for x in range(width):
                tri_out[b, y, x] = -1
                zinv_out[b, y, x] = 0.0
        for k in range(start[j], start[j + 1]):
            f = ids[k]
            A0, B0, C0 = rec[b, f, 0], rec[b, f, 1], rec[b, f, 2]
            A1, B1, C1 = rec[b, f, 3], rec[b, f, 4], rec[b, f, 5]
            A2, B2, C2 = rec[b, f, 6], rec[b, f, 7], rec[b, f, 8]
            P, Q, R = rec[b, f, 9], rec[b, f, 10], rec[b, f, 11]
            r0 = max(box[b, f, 0], y_lo)
            r1 = min(box[b, f, 1], y_hi)
            c0, c1 = box[b, f, 2], box[b, f, 3]
            px0 = c0 + 0.5
            for y in range(r0, r1 + 1):
                py = y + 0.5
                # affine in x: evaluate at the first column, then step by A
                w0 = A0 * px0 + B0 * py + C0
                w1 = A1 * px0 + B1 * py + C1
                w2 = A2 * px0 + B2 * py + C2
                zr = P * px0 + Q * py + R
                for x in range(c0, c1 + 1):
                    if w0 >= 0.0 and w1 >= 0.0 and w2 >= 0.0:
                        zi = np.float32(zr)
                        cur = zinv_out[b, y, x]
                        if zi > cur or (zi == cur and f < tri_out[b, y, x]):
                            zinv_out[b, y, x] = zi
                            tri_out[b, y, x] = f
                    w0 += A0
                    w1 += A1
                    w2 += A2
                    zr += P


@njit(parallel=True, cache=True)
def resolve(pos, faces, tri, height, width):
    """Compact list of covered pixels with perspective-correct barycentrics and depth.

    Returns pix (P,) int64 flat index into B*H*W, tri (P,) int64, bary (P, 3) float32,
    depth (P,) float32.
    """
    nb = tri.shape[0]
    rows = nb * height
    count = np.zeros(rows + 1, np.int64)
    for r in prange(rows):
        b = r // height
        y = r - b * height
        c = 0
        for x in range(width):
            if tri[b, y, x] >= 0:
                c += 1
        count[r + 1] = c
    for r in range(rows):
        count[r + 1] += count[r]
    n = count[-1]
    pix = np.empty(n, np.int64)
    tric = np.empty(n, np.int64)
    bary = np.empty((n, 3), np.float32)
    depth = np.empty(n, np.float32)
    for r in prange(rows):
        b = r // height
        y = r - b * height
        k = count[r]
        py = y + 0.5
        for x in range(width):
            f = tri[b, y, x]
            if f < 0:
                continue
            px = x + 0.5
            i0, i1, i2 = faces[f, 0], faces[f, 1], faces[f, 2]
            x0, y0 = np.float64(pos[b, i0, 0]), np.float64(pos[b, i0, 1])
            x1, y1 = np.float64(pos[b, i1, 0]), np.float64(pos[b, i1, 1])
            x2, y2 = np.float64(pos[b, i2, 0]), np.float64(pos[b, i2, 1])
            w0 = ((x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)) / np.float64(pos[b, i0, 2])
            w1 = ((x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)) / np.float64(pos[b, i1, 2])
            w2 = ((x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)) / np.float64(pos[b, i2, 2])
            t = w0 + w1 + w2
            area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
            pix[k] = r * width + x
            tric[k] = f
            bary[k, 0] = w0 / t
            bary[k, 1] = w1 / t
            bary[k, 2] = w2 / t
            depth[k] = area / t
            k += 1
    return pix, tric, bary, depth


def rasterize_numpy(pos: np.ndarray, faces: np.ndarray, height: int, width: int, cull: int = 0,
                    near: float = 1e-6):
    """Run the kernels: returns (tri (B,H,W) int32, pix, tri compact, bary, depth) as numpy arrays."""
    pos = np.ascontiguousarray(pos, dtype=np.float32)
    faces = np.ascontiguousarray(faces, dtype=np.int64)
    box, rec = setup_triangles(pos, faces, height, width, cull, near)
    start, ids = bin_triangles(box, height)
    tri = np.empty((pos.shape[0], height, width), np.int32)
    zinv = np.empty((pos.shape[0], height, width), np.float32)
    raster_bands(rec, box, start, ids, height, width, tri, zinv)
    pix, tric, bary, depth = resolve(pos, faces, tri, height, width)
    return tri, pix, tric, bary, depth
