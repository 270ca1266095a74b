"""Quick looks at meshes: a thin numpy front end to :mod:`talkrig.render`.

:func:`render_mesh` turns model-space vertices to the camera and draws them with
:class:`talkrig.render.renderer.MeshRenderer` (z-buffer at pixel centres, perspective-correct
interpolation, anti-aliased silhouettes), lit by one directional light plus ambient
(:class:`LambertShader`), textured through UVs or vertex-coloured. Used for contact sheets
(``examples/contact_sheet.py``) and by the offline default-model build (``tools/``).

Coordinates follow :mod:`talkrig.render.camera`: camera at the origin looking down -z, y up;
pixels top-left origin, y down, pixel centres at ``+0.5``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkrig.render.camera import Camera
from talkrig.render.fragments import Fragments


@dataclass
class Raster:
    """What was drawn: the per-pixel result of :func:`rasterize` / :func:`render_mesh`.

    face: ``(H, W)`` int64 triangle id, -1 for background.
    bary: ``(H, W, 3)`` float32 perspective-correct barycentrics of the pixel centre.
    screen: ``(N, 3)`` float64 projected vertices (pixel x, pixel y, depth).
    camera: the intrinsics used; cull_backfaces: whether back faces were dropped.
    fragments: the renderer's :class:`~talkrig.render.fragments.Fragments`.
    """

    face: np.ndarray
    bary: np.ndarray
    screen: np.ndarray
    camera: Camera
    cull_backfaces: bool = True
    fragments: Fragments | None = None


class LambertShader:
    """Shader for :class:`~talkrig.render.renderer.MeshRenderer`: ``albedo * (ambient +
    (1 - ambient) * max(n . light, 0))`` per pixel, ``light`` a camera-space direction."""

    per_vertex = False

    def __init__(self, light=(0.3, 0.4, 1.0), ambient: float = 0.45):
        self.light = torch.nn.functional.normalize(torch.as_tensor(light, dtype=torch.float64), dim=0)
        self.ambient = float(ambient)

    def __call__(self, inp, albedo_px: torch.Tensor) -> torch.Tensor:
        cos = (inp.normal @ self.light.to(inp.normal.dtype)).clamp(0, 1)
        return albedo_px * (self.ambient + (1 - self.ambient) * cos)[:, None]


def _t(a, dtype=torch.float32) -> torch.Tensor:
    """numpy -> torch; renders run in float32, the numpy helpers keep float64."""
    return torch.as_tensor(np.asarray(a), dtype=dtype)


def project(vertices: np.ndarray, focal: float, width: int, height: int) -> np.ndarray:
    """Pinhole projection of camera-space ``(N, 3)`` points to ``(N, 3)`` (u, v, depth)."""
    return Camera(focal, width, height).project(_t(vertices, torch.float64)[None])[0].numpy()


def _raster(fr: Fragments, screen: np.ndarray, camera: Camera, cull: bool) -> Raster:
    return Raster(face=fr.tri_id[0].numpy().astype(np.int64), bary=fr.bary[0].float().numpy(),
                  screen=screen, camera=camera, cull_backfaces=cull, fragments=fr)


def rasterize(vertices: np.ndarray, faces: np.ndarray, focal: float, width: int, height: int,
              cull_backfaces: bool = True) -> Raster:
    """Visible triangle and barycentrics per pixel (:func:`talkrig.render.raster.rasterize`).

    Args:
        vertices: ``(N, 3)`` camera-space positions (in front of the camera: z < 0).
        faces: ``(F, 3)`` int, counter-clockwise seen from outside.
    """
    from talkrig.render.raster import rasterize as render_raster

    cam = Camera(focal, width, height)
    screen = project(vertices, focal, width, height)
    with torch.no_grad():
        fr = render_raster(_t(screen, torch.float64)[None], _t(faces, torch.int64), (height, width),
                           cull="back" if cull_backfaces else "none")
    return _raster(fr, screen, cam, cull_backfaces)


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """``(N, 3)`` area-weighted unit normals (:func:`talkrig.render.normals.vertex_normals`)."""
    from talkrig.render.normals import vertex_normals as normals

    return normals(_t(vertices, torch.float64)[None], _t(faces, torch.int64))[0].numpy()


def sample_texture(texture: np.ndarray, uv: np.ndarray) -> np.ndarray:
    """Bilinear lookup of an ``(H, W, C)`` float texture at ``(..., 2)`` uv (v up, border
    texels repeat) -> ``(..., C)`` float64 (:func:`talkrig.render.interpolate.texture`)."""
    from talkrig.render.interpolate import texture as sample

    tex = np.asarray(texture, np.float64)
    uv = np.asarray(uv, np.float64)
    out = sample(_t(tex, torch.float64).permute(2, 0, 1), _t(uv.reshape(1, -1, 2), torch.float64))[0]
    return out.numpy().reshape(*uv.shape[:-1], tex.shape[-1])


def _render(vertices, faces, camera: Camera, cull: bool, *, colors=None, texture=None, uvs=None,
            uv_faces=None, light=(0.3, 0.4, 1.0), ambient: float = 0.45,
            background=(1.0, 1.0, 1.0)) -> tuple[np.ndarray, Raster]:
    """Render camera-space ``(N, 3)`` vertices; returns ``(uint8 (H, W, 3), Raster)``."""
    from talkrig.render.renderer import MeshRenderer

    v = _t(vertices)[None]
    textured = texture is not None
    ren = MeshRenderer(_t(faces, torch.int64), uvs=_t(uvs) if textured else None,
                       uv_faces=_t(uv_faces, torch.int64) if textured else None,
                       cull="back" if cull else "none", shader=LambertShader(light, ambient),
                       background=background)
    albedo = _t(colors) if colors is not None else torch.full_like(v, 0.75)
    tex = _t(texture).permute(2, 0, 1)[None] if textured else None
    with torch.no_grad():
        out = ren(v, camera, albedo=None if textured else albedo, tex=tex, maps=("normal",))
    img = (out.image[0].clamp(0, 1).numpy() * 255 + 0.5).astype(np.uint8)
    return img, _raster(out.fragments, camera.project(v.double())[0].numpy(), camera, cull)


def shade(raster: Raster, vertices: np.ndarray, faces: np.ndarray, **shade_kw) -> np.ndarray:
    """Lambert-shaded ``(H, W, 3)`` uint8 image of camera-space ``vertices`` seen by the
    raster's camera (rendered again by :class:`~talkrig.render.renderer.MeshRenderer`).

    Keywords: ``texture`` ``(Th, Tw, 3)`` float in [0, 1] with ``uvs``/``uv_faces``, else
    per-vertex ``colors`` ``(N, 3)`` in [0, 1], else light grey; ``light`` direction,
    ``ambient``, ``background`` RGB in [0, 1].
    """
    return _render(vertices, faces, raster.camera, raster.cull_backfaces, **shade_kw)[0]


def look_at_face(vertices: np.ndarray, distance: float, yaw_deg: float = 0.0,
                 pitch_deg: float = 0.0) -> np.ndarray:
    """Rotate model-space ``(N, 3)`` vertices by yaw/pitch about the origin (talkrig's Euler
    convention) and push them ``distance`` down -z, ready for :func:`rasterize`."""
    from talkrig.model.geometry import transform

    angles = _t([[np.radians(pitch_deg), np.radians(yaw_deg), 0.0]], torch.float64)
    return transform(_t(vertices, torch.float64)[None], angles, _t([[0.0, 0.0, -distance]], torch.float64))[0].numpy()


def render_mesh(vertices, faces, *, size=(512, 512), focal=None, distance=60.0, yaw_deg=0.0,
                pitch_deg=0.0, center=None, **shade_kw) -> tuple[np.ndarray, Raster]:
    """Render model-space vertices from the front (+z) as a uint8 image; returns (image, raster).

    ``size`` is ``(width, height)``. ``center`` (3,) is moved to the optical axis first (default:
    the origin). ``focal`` defaults to a 2x telephoto-ish value for the image width. Other
    keywords as in :func:`shade`.
    """
    w, h = size
    v = np.asarray(vertices, np.float64)
    if center is not None:
        v = v - np.asarray(center, np.float64)
    cam = look_at_face(v, distance, yaw_deg, pitch_deg)
    camera = Camera(focal if focal is not None else 2.2 * w, w, h)
    return _render(cam, faces, camera, True, **shade_kw)


def save_png(image: np.ndarray, path) -> None:
    """Write a uint8 image atomically (:func:`talkrig.io.image.save_image`; PNG for ``.png``)."""
    from talkrig.io.image import save_image

    save_image(path, image)
