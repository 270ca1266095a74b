"""A minimal z-buffer triangle rasterizer (numba, CPU) for the reconstruction's bookkeeping.

Reconstruction needs per-pixel triangle ids and barycentrics (visibility, UV-space texture
extraction, back-projection of landmarks), not shading or gradients, so it keeps this small
self-contained kernel instead of depending on the full renderer's API.

Conventions: vertex positions are ``(x, y, depth)`` in pixels of the target raster (x right,
y down, depth positive and smaller = nearer); pixel ``(i, j)`` is sampled at its centre
``(j + 0.5, i + 0.5)``.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def _raster_kernel(pos, faces, height, width, cull, face_id, bary, zbuf):
    for f in range(faces.shape[0]):
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        x0, y0, z0 = pos[a, 0], pos[a, 1], pos[a, 2]
        x1, y1, z1 = pos[b, 0], pos[b, 1], pos[b, 2]
        x2, y2, z2 = pos[c, 0], pos[c, 1], pos[c, 2]
        if z0 <= 0.0 or z1 <= 0.0 or z2 <= 0.0:
            continue
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if area == 0.0:
            continue
        # y down: a counter-clockwise (front-facing, seen from the camera) triangle has area < 0
        if cull == 1 and area > 0.0:
            continue
        xmin = max(int(np.floor(min(x0, min(x1, x2)) - 0.5)), 0)
        xmax = min(int(np.ceil(max(x0, max(x1, x2)) - 0.5)), width - 1)
        ymin = max(int(np.floor(min(y0, min(y1, y2)) - 0.5)), 0)
        ymax = min(int(np.ceil(max(y0, max(y1, y2)) - 0.5)), height - 1)
        inv = 1.0 / area
        for i in range(ymin, ymax + 1):
            py = i + 0.5
            for j in range(xmin, xmax + 1):
                px = j + 0.5
                w0 = ((x1 - px) * (y2 - py) - (x2 - px) * (y1 - py)) * inv
                w1 = ((x2 - px) * (y0 - py) - (x0 - px) * (y2 - py)) * inv
                w2 = 1.0 - w0 - w1
                if w0 < 0.0 or w1 < 0.0 or w2 < 0.0:
                    continue
                # perspective-correct: interpolate 1/z linearly in screen space
                iz = w0 / z0 + w1 / z1 + w2 / z2
                z = 1.0 / iz
                if z < zbuf[i, j]:
                    zbuf[i, j] = z
                    face_id[i, j] = f
                    bary[i, j, 0] = w0 / z0 * z
                    bary[i, j, 1] = w1 / z1 * z
                    bary[i, j, 2] = w2 / z2 * z


def rasterize(pos: np.ndarray, faces: np.ndarray, height: int, width: int,
              cull_backfaces: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rasterize triangles with a z-buffer.

    Args:
        pos: ``(N, 3)`` float: pixel x, pixel y, depth > 0.
        faces: ``(F, 3)`` int vertex ids.
        height, width: raster size.
        cull_backfaces: drop triangles that are clockwise on screen (facing away when the
            mesh is counter-clockwise seen from outside).
    Returns:
        ``face_id (H, W) int32`` (-1 = empty), ``bary (H, W, 3) float32`` (perspective
        correct), ``depth (H, W) float32`` (inf = empty).
    """
    face_id = np.full((height, width), -1, np.int32)
    bary = np.zeros((height, width, 3), np.float32)
    zbuf = np.full((height, width), np.inf, np.float64)
    _raster_kernel(np.ascontiguousarray(pos, np.float64), np.ascontiguousarray(faces, np.int64),
                   int(height), int(width), 1 if cull_backfaces else 0, face_id, bary, zbuf)
    return face_id, bary, zbuf.astype(np.float32)


def interpolate(attr: np.ndarray, faces: np.ndarray, face_id: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Interpolate per-vertex ``attr (N, C)`` over a raster; empty pixels get 0.

    Returns:
        ``(H, W, C)`` float32.
    """
    fid = np.maximum(face_id, 0)
    tri = faces[fid]  # (H, W, 3)
    out = (attr[tri] * bary[..., None]).sum(-2).astype(np.float32)
    out[face_id < 0] = 0
    return out


@numba.njit(cache=True, nogil=True)
def _gather_kernel(attr, faces, face_ids, bary, out):
    for t in range(face_ids.shape[0]):
        f = face_ids[t]
        a, b, c = faces[f, 0], faces[f, 1], faces[f, 2]
        w0, w1, w2 = bary[t, 0], bary[t, 1], bary[t, 2]
        for k in range(attr.shape[1]):
            out[t, k] = w0 * attr[a, k] + w1 * attr[b, k] + w2 * attr[c, k]


def interpolate_points(attr: np.ndarray, faces: np.ndarray, face_ids: np.ndarray, bary: np.ndarray) -> np.ndarray:
    """Per-vertex ``attr (N, C)`` at surface points given as triangle ids ``(T,)`` and
    barycentrics ``(T, 3)``; returns ``(T, C)`` float64."""
    a = np.ascontiguousarray(attr, np.float64).reshape(len(attr), -1)
    out = np.empty((len(face_ids), a.shape[1]), np.float64)
    _gather_kernel(a, np.ascontiguousarray(faces, np.int64), np.ascontiguousarray(face_ids, np.int64),
                   np.ascontiguousarray(bary, np.float64), out)
    return out


@numba.njit(cache=True, nogil=True)
def _bilinear_kernel(image, xy, out):
    h, w = image.shape[0], image.shape[1]
    for p in range(xy.shape[0]):
        x = min(max(xy[p, 0] - 0.5, 0.0), w - 1.0)
        y = min(max(xy[p, 1] - 0.5, 0.0), h - 1.0)
        x0, y0 = int(x), int(y)
        x1, y1 = min(x0 + 1, w - 1), min(y0 + 1, h - 1)
        fx, fy = x - x0, y - y0
        for c in range(image.shape[2]):
            top = image[y0, x0, c] * (1 - fx) + image[y0, x1, c] * fx
            bot = image[y1, x0, c] * (1 - fx) + image[y1, x1, c] * fx
            out[p, c] = top * (1 - fy) + bot * fy


def sample_bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Bilinear samples of ``image (H, W, C)`` (any dtype, returned as float32 in the image's
    own scale) at pixel positions ``xy (P, 2)``; pixel centres sit at ``+0.5``; clamped at the
    borders."""
    im = image.reshape(image.shape[0], image.shape[1], -1)
    out = np.empty((len(xy), im.shape[2]), np.float32)
    _bilinear_kernel(np.ascontiguousarray(im), np.ascontiguousarray(xy, np.float64), out)
    return out
