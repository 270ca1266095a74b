"""`MeshRenderer`: rasterizer + shader for textured or vertex-coloured faces under SH light.

The rasterizer (:func:`~talkrig.render.raster.rasterize`, any backend) and the shader
(:class:`SHShader`, or any callable with its signature) are separate and swappable.
Images are channels-last ``(B, H, W, C)`` float in [0, 1] (unclamped), like nvdiffrast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from talkrig.errors import InputError
from talkrig.render.antialias import antialias, edge_neighbours
from talkrig.render.backends import RasterBackend
from talkrig.render.camera import Camera
from talkrig.render.fragments import Fragments
from talkrig.render.normals import vertex_normals
from talkrig.render.interpolate import interpolate, interpolate_compact, texture
from talkrig.render.raster import rasterize
from talkrig.render.shading import sh_irradiance


@dataclass
class RenderOutput:
    """What :class:`MeshRenderer` returns (maps not requested are None).

    image ``(B, H, W, 3)``; alpha ``(B, H, W, 1)`` coverage (soft at silhouettes when
    anti-aliased); depth ``(B, H, W)`` (0 = background); normal ``(B, H, W, 3)`` unit
    camera-space normals; uv ``(B, H, W, 2)``; tri_id ``(B, H, W)`` int32 (-1 = background).
    """

    image: Tensor
    alpha: Tensor
    tri_id: Tensor
    depth: Tensor | None = None
    normal: Tensor | None = None
    uv: Tensor | None = None
    fragments: Fragments | None = field(default=None, repr=False)

    def save_png(self, path: str | Path, index: int = 0) -> None:
        """Write image ``index`` as an 8-bit RGBA PNG (atomically)."""
        from talkrig.io.image import save_image

        rgba = torch.cat([self.image[index], self.alpha[index]], -1).detach().clamp(0, 1)
        save_image(path, (rgba.cpu().numpy() * 255 + 0.5).astype(np.uint8))


@dataclass
class ShadeInput:
    """Per covered pixel (compact, ``P`` rows) quantities a shader may use."""

    fragments: Fragments
    normal: Tensor | None  # (P, 3) unit camera-space normal
    uv: Tensor | None  # (P, 2)
    lighting: Tensor | None  # (B, 27)


class SHShader:
    """Lambertian SH shading, Deep3DFaceRecon style.

    ``per_vertex=True`` (Gouraud; what Deep3DFaceRecon does): light the vertices, interpolate
    colours. Otherwise light per pixel with interpolated normals (needed with a texture).
    """

    def __init__(self, per_vertex: bool = True):
        self.per_vertex = per_vertex

    def vertex_colors(self, albedo: Tensor, normals: Tensor, lighting: Tensor | None) -> Tensor:
        return albedo if lighting is None else albedo * sh_irradiance(normals, lighting)

    def __call__(self, inp: ShadeInput, albedo_px: Tensor | None) -> Tensor:
        """Per-pixel colour ``(P, 3)`` = ``albedo_px * E(normal)`` (per-pixel path)."""
        if inp.lighting is None:
            return albedo_px
        bidx = inp.fragments.batch_index
        e = sh_irradiance(inp.normal[:, None], inp.lighting[bidx])[:, 0]
        return albedo_px * e


class MeshRenderer:
    """Render posed meshes (camera space) with a :class:`~talkrig.render.camera.Camera`.

    Args:
        faces: ``(F, 3)`` int64. uvs ``(M, 2)`` and uv_faces ``(F, 3)``: optional UV layout (v up).
        backend: rasterization backend (see :func:`rasterize`). cull: ``"none"``/``"back"``.
        antialias: analytic silhouette AA (gives silhouette gradients).
        shader: a :class:`SHShader` (default per-vertex) or compatible callable.
        background: RGB of uncovered pixels.
    """

    def __init__(self, faces: Tensor, uvs: Tensor | None = None, uv_faces: Tensor | None = None,
                 backend: str | RasterBackend = "auto", cull: str = "none", antialias: bool = True,
                 shader: Callable | None = None, background=(0.0, 0.0, 0.0)):
        self.faces = torch.as_tensor(faces, dtype=torch.int64)
        self.uvs = uvs
        self.uv_faces = uv_faces if uv_faces is not None else (self.faces if uvs is not None else None)
        self.backend = backend
        self.cull = cull
        self.antialias = antialias
        self.shader = shader or SHShader()
        self.background = torch.as_tensor(background, dtype=torch.float32)
        self._neighbours: Tensor | None = None  # topology cache for AA (depends on faces only)

    def neighbours(self) -> Tensor:
        if self._neighbours is None:
            self._neighbours = edge_neighbours(self.faces)
        return self._neighbours

    def __call__(self, vertices: Tensor, camera: Camera, albedo: Tensor | None = None,
                 lighting: Tensor | None = None, tex: Tensor | None = None,
                 maps: tuple[str, ...] = ("depth",)) -> RenderOutput:
        """Render.

        Args:
            vertices: ``(B, N, 3)`` camera-space vertices (camera looks down -z).
            camera: intrinsics; output size is ``camera.height x camera.width``.
            albedo: ``(B, N, 3)`` / ``(N, 3)`` per-vertex albedo (ignored when ``tex`` given);
                default mid grey.
            lighting: ``(B, 27)`` absolute SH coefficients, or None for unlit (colour = albedo).
            tex: ``(B, 3, Th, Tw)`` albedo texture sampled through the UVs (per-pixel shading).
            maps: extra maps to return among ``"depth", "normal", "uv"``.
        Returns:
            :class:`RenderOutput`.
        """
        if vertices.dim() != 3 or vertices.shape[-1] != 3:
            raise InputError(f"render: vertices must be (B, N, 3), got {tuple(vertices.shape)}")
        dev, dt = vertices.device, vertices.dtype
        if lighting is not None and lighting.shape[0] == 1 and vertices.shape[0] > 1:
            lighting = lighting.expand(vertices.shape[0], -1)  # one light for the whole batch
        faces = self.faces.to(dev)
        h, w = camera.height, camera.width
        pos = camera.project(vertices)
        frags = rasterize(pos, faces, (h, w), backend=self.backend, cull=self.cull)
        need_normal = "normal" in maps or lighting is not None
        vn = vertex_normals(vertices, faces) if need_normal else None
        per_vertex = getattr(self.shader, "per_vertex", False) and tex is None

        normal_px = uv_px = albedo_px = None
        if tex is not None or "uv" in maps:
            if self.uvs is None:
                raise InputError("render: a texture or uv map needs a renderer built with uvs")
            uv_px = interpolate_compact(self.uvs.to(dev, dt), frags, self.uv_faces.to(dev))
        if per_vertex:
            alb = albedo if albedo is not None else torch.full_like(vertices, 0.6)
            vcol = self.shader.vertex_colors(alb.expand_as(vertices) if alb.dim() == 2 else alb, vn, lighting)
        else:
            if tex is not None:
                albedo_px = texture(tex.to(dt), uv_px[None])[0] if tex.shape[0] == 1 else \
                    _texture_compact(tex.to(dt), uv_px, frags)
            else:
                alb = albedo if albedo is not None else torch.full_like(vertices, 0.6)
                albedo_px = interpolate_compact(alb, frags, faces)
        if need_normal and (not per_vertex or "normal" in maps):
            normal_px = torch.nn.functional.normalize(interpolate_compact(vn, frags, faces), dim=-1)
        bg = self.background.to(dev, dt)
        bg4 = torch.cat([bg, bg.new_zeros(1)])
        if per_vertex:  # interpolate lit colours + coverage straight into the image
            vcol4 = torch.cat([vcol, torch.ones_like(vcol[..., :1])], -1)
            rgba = interpolate(vcol4, frags, faces, background=bg4)
        else:
            color_px = self.shader(ShadeInput(frags, normal_px, uv_px, lighting), albedo_px)
            rgba = frags.scatter(torch.cat([color_px, torch.ones_like(color_px[:, :1])], 1), bg4)
        if self.antialias:
            rgba = antialias(rgba, frags, pos, faces, self.neighbours().to(dev), inplace=True)
        out = RenderOutput(image=rgba[..., :3], alpha=rgba[..., 3:], tri_id=frags.tri_id, fragments=frags)
        if "depth" in maps:
            out.depth = frags.depth
        if normal_px is not None and "normal" in maps:
            out.normal = frags.scatter(normal_px)
        if uv_px is not None and "uv" in maps:
            out.uv = frags.scatter(uv_px)
        return out


def _texture_compact(tex: Tensor, uv_px: Tensor, frags: Fragments) -> Tensor:
    """Sample a batch of textures at covered pixels: ``(P, C)``."""
    out = texture(tex, frags.scatter(uv_px))  # (B, H, W, C)
    return out.reshape(-1, out.shape[-1]).index_select(0, frags.pix)


def render_mesh(vertices: Tensor, faces: Tensor, camera: Camera, **kw) -> RenderOutput:
    """One-shot convenience: ``MeshRenderer(faces, ...)(vertices, camera, ...)``. Renderer
    keywords (uvs, uv_faces, backend, cull, antialias, shader, background) go to the
    constructor, the rest to the call."""
    ctor = {k: kw.pop(k) for k in ("uvs", "uv_faces", "backend", "cull", "antialias", "shader", "background") if k in kw}
    return MeshRenderer(faces, **ctor)(vertices, camera, **kw)
