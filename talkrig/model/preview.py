"""A tiny numpy/PIL preview rasteriser for looking at meshes (not the product renderer).

Triangles are drawn back to front (painter's algorithm) into a triangle-id image with PIL,
then shaded per pixel with barycentric interpolation. It is exact enough to eyeball a model,
build the default model's landmarks offline and draw contact sheets; the differentiable
renderer lives in :mod:`talkrig.render`.

Coordinates follow :mod:`talkrig.render.camera`: camera at the origin looking down -z, y up;
pixels top-left origin, y down.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw


@dataclass
class Raster:
    """Per-pixel result of :func:`rasterize`.

    face: ``(H, W)`` int64 triangle id, -1 for background.
    bary: ``(H, W, 3)`` float32 barycentric weights of the pixel centre in its triangle.
    screen: ``(N, 3)`` float64 projected vertices (pixel x, pixel y, depth).
    """

    face: np.ndarray
    bary: np.ndarray
    screen: np.ndarray


def project(vertices: np.ndarray, focal: float, width: int, height: int) -> np.ndarray:
    """Pinhole projection of camera-space ``(N, 3)`` points to ``(N, 3)`` (u, v, depth)."""
    depth = np.maximum(-vertices[:, 2], 1e-6)
    u = width / 2 + focal * vertices[:, 0] / depth
    v = height / 2 - focal * vertices[:, 1] / depth
    return np.stack([u, v, depth], 1)


def rasterize(vertices: np.ndarray, faces: np.ndarray, focal: float, width: int, height: int,
              cull_backfaces: bool = True) -> Raster:
    """Visible triangle and barycentrics per pixel.

    Args:
        vertices: ``(N, 3)`` camera-space positions (in front of the camera: z < 0).
        faces: ``(F, 3)`` int, counter-clockwise seen from outside.
    """
    s = project(np.asarray(vertices, np.float64), focal, width, height)
    f = np.asarray(faces, np.int64)
    p = s[f]  # (F, 3, 3)
    # signed area in image space (y down): front faces are clockwise there -> negative cross
    cross = ((p[:, 1, 0] - p[:, 0, 0]) * (p[:, 2, 1] - p[:, 0, 1])
             - (p[:, 1, 1] - p[:, 0, 1]) * (p[:, 2, 0] - p[:, 0, 0]))
    keep = cross < 0 if cull_backfaces else np.abs(cross) > 0
    order = np.nonzero(keep)[0]
    order = order[np.argsort(-p[order, :, 2].mean(1))]  # far to near
    img = Image.new("RGB", (width, height), (0, 0, 0))
    draw = ImageDraw.Draw(img)
    for i in order:
        code = int(i) + 1
        draw.polygon([(p[i, k, 0], p[i, k, 1]) for k in range(3)],
                     fill=(code & 255, (code >> 8) & 255, (code >> 16) & 255))
    a = np.asarray(img).astype(np.int64)
    face = a[..., 0] + (a[..., 1] << 8) + (a[..., 2] << 16) - 1
    return Raster(face=face, bary=_barycentrics(face, p), screen=s)


def _barycentrics(face: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Barycentrics of pixel centres in their triangle (screen space, then clipped)."""
    h, w = face.shape
    bary = np.zeros((h, w, 3), np.float32)
    ii, jj = np.nonzero(face >= 0)
    t = p[face[ii, jj]]
    x, y = jj + 0.5, ii + 0.5
    d = ((t[:, 1, 1] - t[:, 2, 1]) * (t[:, 0, 0] - t[:, 2, 0])
         + (t[:, 2, 0] - t[:, 1, 0]) * (t[:, 0, 1] - t[:, 2, 1]))
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    b0 = ((t[:, 1, 1] - t[:, 2, 1]) * (x - t[:, 2, 0]) + (t[:, 2, 0] - t[:, 1, 0]) * (y - t[:, 2, 1])) / d
    b1 = ((t[:, 2, 1] - t[:, 0, 1]) * (x - t[:, 2, 0]) + (t[:, 0, 0] - t[:, 2, 0]) * (y - t[:, 2, 1])) / d
    b = np.clip(np.stack([b0, b1, 1 - b0 - b1], 1), 0, 1)
    bary[ii, jj] = b / np.maximum(b.sum(1, keepdims=True), 1e-9)
    return bary


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N, 3)`` area-weighted unit normals."""
    v = np.asarray(vertices, np.float64)
    fn = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    n = np.zeros_like(v)
    for k in range(3):
        np.add.at(n, faces[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of ``(H, W, 3)`` float texture at ``(..., 2)`` uv (v up) -> ``(..., 3)``."""
    h, w = texture.shape[:2]
    x = np.clip(uv[..., 0] * w - 0.5, 0, w - 1)
    y = np.clip((1 - uv[..., 1]) * h - 0.5, 0, h - 1)
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    x1, y1 = np.minimum(x0 + 1, w - 1), np.minimum(y0 + 1, h - 1)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    top = texture[y0, x0] * (1 - fx) + texture[y0, x1] * fx
    bot = texture[y1, x0] * (1 - fx) + texture[y1, x1] * fx
    return top * (1 - fy) + bot * fy


def shade(raster: Raster, vertices: np.ndarray, faces: np.ndarray, *, colors: np.ndarray | None = None,
          texture: np.ndarray | None = None, uvs: np.ndarray | None = None,
          uv_faces: np.ndarray | None = None, light=(0.3, 0.4, 1.0), ambient: float = 0.45,
          background=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Lambert-shaded ``(H, W, 3)`` uint8 image from a raster.

    Albedo comes from ``texture`` + ``uvs``/``uv_faces`` when given, else per-vertex ``colors``
    ``(N, 3)`` in [0, 1], else light grey.
    """
    face, bary = raster.face, raster.bary
    h, w = face.shape
    out = np.empty((h, w, 3), np.float64)
    out[:] = background
    ii, jj = np.nonzero(face >= 0)
    fid, b = face[ii, jj], bary[ii, jj].astype(np.float64)
    f = np.asarray(faces)
    n = vertex_normals(vertices, f)
    nrm = (n[f[fid]] * b[..., None]).sum(1)
    nrm /= np.maximum(np.linalg.norm(nrm, axis=1, keepdims=True), 1e-12)
    ldir = np.asarray(light, np.float64) / np.linalg.norm(light)
    lam = ambient + (1 - ambient) * np.clip(nrm @ ldir, 0, 1)
    if texture is not None:
        uv = (np.asarray(uvs)[np.asarray(uv_faces)[fid]] * b[..., None]).sum(1)
        alb = sample_texture(texture, uv)
    elif colors is not None:
        alb = (np.asarray(colors)[f[fid]] * b[..., None]).sum(1)
    else:
        alb = np.full((len(fid), 3), 0.75)
    out[ii, jj] = alb * lam[:, None]
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def look_at_face(vertices: np.ndarray, distance: float, yaw_deg: float = 0.0,
                 pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate model-space ``(N, 3)`` vertices by yaw/pitch about the origin and push them
    ``distance`` down -z, ready for :func:`rasterize`."""
    ya, pa = np.radians(yaw_deg), np.radians(pitch_deg)
    ry = np.array([[np.cos(ya), 0, np.sin(ya)], [0, 1, 0], [-np.sin(ya), 0, np.cos(ya)]])
    rx = np.array([[1, 0, 0], [0, np.cos(pa), -np.sin(pa)], [0, np.sin(pa), np.cos(pa)]])
    v = np.asarray(vertices, np.float64) @ (ry @ rx).T
    return v - np.array([0.0, 0.0, distance])


def render_mesh(vertices, faces, *, size=(512, 512), focal=None, distance=60.0, yaw_deg=0.0,
                pitch_deg=0.0, center=None, **shade_kw) -> tuple[np.ndarray, Raster]:
    """Render model-space vertices from the front (+z) as a uint8 image; returns (image, raster).

    ``center`` (3,) is moved to the optical axis first (default: the origin). ``focal``
    defaults to a 2x telephoto-ish value for the image width.
    """
    w, h = size
    v = np.asarray(vertices, np.float64)
    if center is not None:
        v = v - np.asarray(center, np.float64)
    cam = look_at_face(v, distance, yaw_deg, pitch_deg)
    focal = focal if focal is not None else 2.2 * w
    r = rasterize(cam, np.asarray(faces), focal, w, h)
    return shade(r, cam, faces, **shade_kw), r


def save_png(image: np.ndarray, path) -> None:
    """Write a uint8 image through :func:`talkrig.io.files.atomic_path`."""
    from talkrig.io.files import atomic_path

    with atomic_path(path) as tmp:
        Image.fromarray(image).save(tmp, format="PNG")
