"""Pictures for checking a reconstruction by eye: the fitted mesh over the photo, landmarks."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from talkrig.model.geometry import vertex_normals
from talkrig.model.morphable import MorphableModel
from talkrig.recon.photometric import raster_pixels
from talkrig.render.interpolate import interpolate


def shaded_mesh(model: MorphableModel, vertices: torch.Tensor, camera, faces: np.ndarray | None = None):
    """Grey Lambertian render of posed vertices over the full image.

    Args:
        vertices: ``(N, 3)`` camera-space vertices.
        faces: triangles to draw (default: all of the model's).
    Returns:
        ``(rgb (H, W, 3) float32 in [0, 1], coverage (H, W) bool)``.
    """
    faces = model.faces.cpu().numpy() if faces is None else faces
    v = vertices.detach().float()
    pix = camera.project(v[None])[0].numpy()
    fr = raster_pixels(pix, faces, camera.height, camera.width, cull_backfaces=True)
    f = torch.as_tensor(faces, dtype=torch.long)
    nn = interpolate(vertex_normals(v[None], f)[0], fr, f)[0].numpy()
    light = np.array([0.3, 0.3, 1.0], np.float32)
    light /= np.linalg.norm(light)
    shade = np.clip((nn * light).sum(-1), 0, 1) * 0.75 + 0.2
    rgb = np.repeat(shade[..., None], 3, -1) * np.array([0.75, 0.8, 0.9], np.float32)
    return rgb.astype(np.float32), fr.mask[0].numpy()


def overlay_image(image: np.ndarray, mesh_rgb: np.ndarray, coverage: np.ndarray, alpha: float = 0.6,
                  points: list[tuple[np.ndarray, tuple[int, int, int], float]] = ()) -> np.ndarray:
    """Blend a mesh render over the photo and draw point sets ``(pts (P, 2), colour, radius)``."""
    out = image.astype(np.float32) / 255.0
    a = coverage[..., None] * alpha
    out = out * (1 - a) + mesh_rgb * a
    im = Image.fromarray((np.clip(out, 0, 1) * 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    for pts, colour, r in points:
        for x, y in np.asarray(pts, np.float32):
            draw.ellipse([x - r, y - r, x + r, y + r], fill=tuple(colour))
    return np.asarray(im)
