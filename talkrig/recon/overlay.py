"""Pictures for checking a reconstruction by eye: the fitted mesh over the photo, landmarks."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image, ImageDraw

from talkrig.model.morphable import MorphableModel


def shaded_mesh(model: MorphableModel, vertices: torch.Tensor, camera, faces: np.ndarray | None = None):
    """Grey Lambertian render of posed vertices over the full image (back faces culled).

    Args:
        vertices: ``(N, 3)`` camera-space vertices.
        faces: triangles to draw (default: all of the model's).
    Returns:
        ``(rgb (H, W, 3) float32 in [0, 1], coverage (H, W) bool)``.
    """
    from talkrig.render.preview import LambertShader
    from talkrig.render.renderer import MeshRenderer

    faces = model.faces.cpu().numpy() if faces is None else faces
    v = vertices.detach().float()[None]
    # colour * (0.2 + 0.75 max(n.l, 0)) as albedo * (ambient + (1 - ambient) max(n.l, 0))
    albedo = torch.tensor([0.75, 0.8, 0.9]) * 0.95
    ren = MeshRenderer(torch.as_tensor(faces, dtype=torch.int64), cull="back", antialias=False,
                       shader=LambertShader((0.3, 0.3, 1.0), ambient=0.2 / 0.95))
    with torch.no_grad():
        out = ren(v, camera, albedo=albedo.expand_as(v), maps=("normal",))
    return out.image[0].numpy(), out.alpha[0, ..., 0].numpy() > 0


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
