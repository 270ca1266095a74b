"""Photometric fit: SH lighting and albedo from the photo's skin pixels.

With the geometry fixed by the landmark fit, the Lambertian model
``colour_v = albedo_v * (Y(n_v) . gamma_c)`` is linear in the lighting ``gamma`` for a given
albedo and linear in the albedo for a given lighting, so instead of many gradient steps this
alternates two small least-squares solves over the visible skin vertices:

1. lighting, with the model's albedo (basis, or its per-vertex mean, or uniform skin) fixed;
2. albedo coefficients (models with an albedo basis), else a per-vertex albedo
   ``colour / irradiance``, smoothed and pulled to the prior where the photo gives no data.

An optional few Adam steps through the differentiable renderer (:mod:`talkrig.render`) refine
lighting, albedo and a small identity / expression correction against the skin pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkrig.model.morphable import MorphableModel
from talkrig.render.fragments import Fragments
from talkrig.render.interpolate import texture as sample_texture
from talkrig.render.raster import rasterize
from talkrig.render.shading import sh_basis

SKIN_PRIOR = np.array([0.72, 0.55, 0.47], np.float32)  # a neutral skin albedo for models without one


@dataclass
class VertexObservation:
    """Photo colours at the model's vertices.

    Attributes:
        colour: ``(N, 3)`` float32 in [0, 1] (bilinear samples at the projected vertices).
        visible: ``(N,)`` bool: unoccluded and facing the camera.
        skin: ``(N,)`` bool: visible and on the photo's skin mask.
        facing: ``(N,)`` float32 cosine between the normal and the view direction.
    """

    colour: np.ndarray
    visible: np.ndarray
    skin: np.ndarray
    facing: np.ndarray


def raster_pixels(pix: np.ndarray, faces: np.ndarray, height: int, width: int,
                  cull_backfaces: bool = False) -> Fragments:
    """Rasterize one mesh given in pixels with :func:`talkrig.render.raster.rasterize` (numpy in).

    Args:
        pix: ``(N, 3)`` pixel x, pixel y, depth (positive in front), e.g. ``Camera.project``;
            taken as float64 so that barycentrics and depths are computed in double precision.
        faces: ``(F, 3)`` int vertex ids; ``cull_backfaces`` drops triangles seen from behind.
    Returns:
        :class:`~talkrig.render.fragments.Fragments` for a batch of one (no gradients).
    """
    with torch.no_grad():
        return rasterize(torch.from_numpy(np.asarray(pix, np.float64))[None],
                         torch.from_numpy(np.asarray(faces, np.int64)), (int(height), int(width)),
                         cull="back" if cull_backfaces else "none")


def bilinear(image: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Sample ``image (H, W, C)`` at pixel positions ``xy (P, 2)`` (pixel centres at +0.5,
    clamped at the borders) with :func:`talkrig.render.interpolate.texture`; returns
    ``(P, C)`` float32, uint8 images scaled to [0, 1]."""
    h, w = image.shape[:2]
    xy = np.asarray(xy, np.float64)
    # Only the window the samples touch is converted to float (a whole 8000 px photo in float64
    # is 1.5 GB); a window that reaches an image edge clamps there exactly as before.
    if len(xy):
        x0 = int(np.clip(np.floor(xy[:, 0].min()) - 2, 0, w - 1))
        x1 = int(np.clip(np.ceil(xy[:, 0].max()) + 3, x0 + 1, w))
        y0 = int(np.clip(np.floor(xy[:, 1].min()) - 2, 0, h - 1))
        y1 = int(np.clip(np.ceil(xy[:, 1].max()) + 3, y0 + 1, h))
    else:
        x0, x1, y0, y1 = 0, w, 0, h
    crop = image[y0:y1, x0:x1]
    ch, cw = crop.shape[:2]
    tex = torch.from_numpy(crop.reshape(ch, cw, -1).astype(np.float64)).permute(2, 0, 1)
    uv = torch.from_numpy(np.stack([(xy[:, 0] - x0) / cw, 1.0 - (xy[:, 1] - y0) / ch], 1))  # pixels -> uv (v up)
    out = sample_texture(tex, uv[None])[0].numpy().astype(np.float32)
    return out / 255.0 if image.dtype == np.uint8 else out


def depth_buffer(pix: np.ndarray, faces: np.ndarray, height: int, width: int, max_side: int = 512):
    """Z-buffer of the posed mesh at a reduced resolution.

    Returns:
        ``(depth (h, w), scale)`` with ``scale = h / height`` (multiply full-res pixels by it).
    """
    s = min(1.0, max_side / max(height, width))
    h, w = max(1, round(height * s)), max(1, round(width * s))
    p = np.array(pix, np.float64)
    p[:, :2] *= s
    fr = raster_pixels(p, faces, h, w, cull_backfaces=True)
    z = fr.scatter(fr.depth_c[:, None].float(), float("inf"))[0, ..., 0].numpy()
    return z, s


def observe(image: np.ndarray, skin: np.ndarray, pix: np.ndarray, normals: np.ndarray, faces: np.ndarray,
            depth_tol: float, zbuf: tuple[np.ndarray, float] | None = None) -> VertexObservation:
    """Sample the photo at the vertices and decide which vertices it shows.

    Args:
        pix: ``(N, 3)`` projected vertices (x, y, depth).
        normals: ``(N, 3)`` camera-space unit normals.
        depth_tol: depth slack (model units) for the visibility test.
        zbuf: a precomputed :func:`depth_buffer` result.
    """
    h, w = image.shape[:2]
    z, s = zbuf if zbuf is not None else depth_buffer(pix, faces, h, w)
    zh, zw = z.shape
    ij = np.stack([np.clip((pix[:, 1] * s).astype(int), 0, zh - 1), np.clip((pix[:, 0] * s).astype(int), 0, zw - 1)], 1)
    # the nearest surface in a 3x3 neighbourhood (vertices sit on triangle edges)
    zmin = np.full(len(pix), np.inf, np.float32)
    for di in (-1, 0, 1):
        for dj in (-1, 0, 1):
            zmin = np.minimum(zmin, z[np.clip(ij[:, 0] + di, 0, zh - 1), np.clip(ij[:, 1] + dj, 0, zw - 1)])
    inside = (pix[:, 0] >= 0) & (pix[:, 0] < w) & (pix[:, 1] >= 0) & (pix[:, 1] < h)
    # view direction from the surface to the camera at the origin: -(position) ~ +z mostly
    facing = normals[:, 2].astype(np.float32)
    visible = inside & (pix[:, 2] <= zmin + depth_tol) & (facing > 0.05)
    colour = bilinear(image, pix[:, :2])
    on_skin = bilinear(skin[..., None], pix[:, :2])[:, 0] > 0.99  # bool: 0/1, no full-size float copy
    return VertexObservation(colour, visible, visible & on_skin, facing)


def area_colours(image: np.ndarray, pix: np.ndarray, faces: np.ndarray, box, colour0: np.ndarray,
                 size: int = 256, smooth: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex colours that best reproduce the photo when interpolated over the triangles.

    Point samples at the vertices alias on sparse meshes (a vertex may land on an eyelash);
    instead solve ``min_c sum_pixels |sum_k b_k c_{v_k} - I_p|^2 + smooth * |L c|^2`` over the
    face crop ``box`` rendered at ``size`` pixels (``b`` the pixel's barycentrics, ``L`` the
    graph Laplacian, which also fills vertices that cover no pixel).

    Args:
        pix: ``(N, 3)`` projected vertices; faces: triangles to draw; colour0 ``(N, 3)`` start.
    Returns:
        ``colours (N, 3)`` in [0, 1] and ``coverage (N,)`` (summed barycentric weight, in pixels).
    """
    import scipy.sparse as sp
    from scipy.sparse.linalg import cg

    from talkrig.recon.refine import crop_image

    x0, y0, x1, _ = (float(v) for v in box)
    sc = size / (x1 - x0)
    p = np.array(pix, np.float64)
    p[:, 0] = (p[:, 0] - x0) * sc
    p[:, 1] = (p[:, 1] - y0) * sc
    fr = raster_pixels(p, faces, size, size, cull_backfaces=True)
    rows = fr.pix.numpy()  # covered pixels, row-major
    n = len(pix)
    if len(rows) == 0:
        return colour0, np.zeros(n)
    tri = faces[fr.tri.numpy()]
    # solve only for the vertices the crop shows (a large model has most of its vertices elsewhere)
    used, local = np.unique(tri, return_inverse=True)
    m = len(used)
    a = sp.csr_matrix((fr.bary_c.float().numpy().ravel().astype(np.float64),
                       (np.repeat(np.arange(len(rows)), 3), local.ravel())), shape=(len(rows), m))
    target = crop_image(image, box, size, resample=3).reshape(-1, 3)[rows].astype(np.float64) / 255.0
    sub = faces[np.isin(faces, used).all(1)]
    remap = np.full(n, -1, np.int64)
    remap[used] = np.arange(m)
    lap = sp.identity(m, format="csr") - vertex_neighbours(remap[sub], m)
    ata = (a.T @ a + smooth * (lap.T @ lap) + 1e-6 * sp.identity(m)).tocsr()
    c0 = colour0[used].astype(np.float64)
    atb = a.T @ target + 1e-6 * c0
    out = colour0.astype(np.float64).copy()
    for c in range(3):
        out[used, c], _ = cg(ata, atb[:, c], x0=c0[:, c], maxiter=40)
    coverage = np.zeros(n)
    coverage[used] = np.asarray(a.sum(0)).ravel()
    return np.clip(out, 0, 1).astype(np.float32), coverage


def solve_lighting(colour: np.ndarray, albedo: np.ndarray, basis: np.ndarray, weight: np.ndarray,
                   reg: float = 1e-3) -> np.ndarray:
    """Least-squares SH lighting ``gamma (27,)`` with ``colour ~ albedo * basis @ gamma_c``.

    Args:
        colour, albedo: ``(P, 3)``; basis ``(P, 9)`` SH basis values; weight ``(P,)``.
        reg: ridge weight pulling towards white ambient light (DC 0.8, rest 0).
    """
    gamma = np.zeros((3, 9), np.float64)
    prior = np.zeros(9)
    prior[0] = 0.8
    sw = np.sqrt(weight)[:, None]
    for c in range(3):
        a = basis * albedo[:, c:c + 1] * sw
        b = colour[:, c] * sw[:, 0]
        lhs = a.T @ a + reg * len(b) * np.eye(9)
        rhs = a.T @ b + reg * len(b) * prior
        gamma[c] = np.linalg.solve(lhs, rhs)
    return gamma.reshape(27).astype(np.float32)


def irradiance(basis: np.ndarray, gamma: np.ndarray) -> np.ndarray:
    """``(P, 3)`` irradiance from basis ``(P, 9)`` and ``gamma (27,)``."""
    return basis @ gamma.reshape(3, 9).T


def vertex_neighbours(faces: np.ndarray, n: int):
    """Sparse row-normalised vertex adjacency ``(N, N)`` (scipy CSR) for smoothing."""
    import scipy.sparse as sp

    i = np.concatenate([faces[:, 0], faces[:, 1], faces[:, 2], faces[:, 1], faces[:, 2], faces[:, 0]])
    j = np.concatenate([faces[:, 1], faces[:, 2], faces[:, 0], faces[:, 0], faces[:, 1], faces[:, 2]])
    a = sp.csr_matrix((np.ones(len(i), np.float32), (i, j)), shape=(n, n))
    a.data[:] = 1.0
    deg = np.asarray(a.sum(1)).ravel()
    deg[deg == 0] = 1
    return sp.diags(1.0 / deg) @ a


def fit_albedo_lighting(model: MorphableModel, obs: VertexObservation, normals: np.ndarray,
                        iterations: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Alternate lighting and albedo solves (see module doc).

    Returns:
        ``gamma (27,)``, ``albedo_coeffs (A,)`` (empty without a basis), ``vertex_albedo (N, 3)``
        in [0, 1] (the photo's albedo where seen, the prior elsewhere).
    """
    n = model.n_vertices
    basis = sh_basis(torch.as_tensor(normals, dtype=torch.float32)).numpy()
    if model.has_albedo:
        prior = model.albedo_mean.cpu().numpy().astype(np.float32)
    else:
        prior = np.broadcast_to(SKIN_PRIOR, (n, 3)).copy()
    sel = obs.skin if obs.skin.sum() >= 30 else obs.visible
    idx = np.flatnonzero(sel)
    wgt = np.clip(obs.facing[idx], 0.1, 1.0)
    albedo = prior.copy()
    coeffs = np.zeros(model.n_albedo, np.float32)
    gamma = np.zeros(27, np.float32)
    gamma[[0, 9, 18]] = 0.8
    if len(idx) == 0:
        return gamma, coeffs, albedo
    for _ in range(iterations):
        gamma = solve_lighting(obs.colour[idx], albedo[idx], basis[idx], wgt)
        irr = np.clip(irradiance(basis, gamma), 0.05, None)
        if model.n_albedo:
            coeffs = _solve_albedo_coeffs(model, obs.colour[idx] / irr[idx], idx, wgt)
            albedo = np.clip(model.albedo(torch.as_tensor(coeffs)[None])[0].numpy(), 0, 1)
        else:
            # global scale of the prior so that it matches the photo, then per-vertex detail
            ratio = np.median(obs.colour[idx] / irr[idx] / np.maximum(prior[idx], 1e-3), 0)
            albedo = np.clip(prior * ratio, 0, 1)
    # per-vertex albedo from the photo where it is seen (all visible vertices, not only skin)
    irr = np.clip(irradiance(basis, gamma), 0.05, None)
    seen = obs.visible
    va = albedo.copy()
    va[seen] = np.clip(obs.colour[seen] / irr[seen], 0, 1)
    # blend smoothly into the prior at grazing angles, then smooth unseen vertices from seen ones
    wv = np.where(seen, np.clip((obs.facing - 0.05) / 0.3, 0, 1), 0.0)[:, None]
    va = wv * va + (1 - wv) * albedo
    adj = vertex_neighbours(model.faces.cpu().numpy(), n)
    fill = va.copy()
    known = wv[:, 0] > 0.5
    for _ in range(30):
        fill = np.where(known[:, None], va, adj @ fill)
    return gamma, coeffs, fill.astype(np.float32)


def _solve_albedo_coeffs(model: MorphableModel, target: np.ndarray, idx: np.ndarray, wgt: np.ndarray,
                         reg: float = 1.0) -> np.ndarray:
    """Ridge regression of albedo coefficients (prior ``N(0, albedo_std)``) to per-vertex albedo."""
    mean = model.albedo_mean.cpu().numpy()[idx].reshape(-1)
    basis = model.albedo_basis.cpu().numpy()[:, idx].reshape(model.n_albedo, -1).T  # (3P, A)
    std = model.albedo_std.cpu().numpy()
    sw = np.repeat(np.sqrt(wgt), 3)[:, None]
    a = basis * std[None] * sw
    b = (target.reshape(-1) - mean) * sw[:, 0]
    z = np.linalg.solve(a.T @ a + reg * np.eye(a.shape[1]), a.T @ b)
    return (z * std).astype(np.float32)


def psnr(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """PSNR (dB) between two uint8/float images over a boolean mask (peak 1.0)."""
    a = a.astype(np.float32) / (255.0 if a.dtype == np.uint8 else 1.0)
    b = b.astype(np.float32) / (255.0 if b.dtype == np.uint8 else 1.0)
    m = mask.astype(bool)
    if m.sum() == 0:
        return float("nan")
    mse = float(((a[m] - b[m]) ** 2).mean())
    return float(10 * np.log10(1.0 / max(mse, 1e-12)))
