"""Teeth, tongue and mouth cavity: procedural colours lit by the fitted SH light.

A photo with a closed mouth says nothing about the inside of the mouth, so talkrig shades the
model's own mouth geometry: enamel-white teeth, a pink tongue and a dark-red cavity that gets
darker with depth behind the lips (a cheap stand-in for ambient occlusion).
"""

from __future__ import annotations

import torch
from torch import Tensor

from talkrig.render.shading import sh_irradiance

SKIN, UPPER_TEETH, LOWER_TEETH, TONGUE, CAVITY = 0, 1, 2, 3, 4
MOUTH_CLASSES = {"upper_teeth": UPPER_TEETH, "lower_teeth": LOWER_TEETH, "teeth": UPPER_TEETH,
                 "tongue": TONGUE, "mouth_interior": CAVITY}
# Base albedos (linear-ish sRGB in [0, 1]). Teeth are slightly warm, never pure white.
ALBEDO = torch.tensor([
    [0.0, 0.0, 0.0],      # skin: unused
    [0.86, 0.82, 0.74],   # upper teeth
    [0.80, 0.76, 0.68],   # lower teeth (a touch darker: shadowed by the upper lip/teeth)
    [0.62, 0.30, 0.30],   # tongue
    [0.30, 0.09, 0.09],   # cavity
])

# how fast each class darkens with depth behind the lips (per ``depth_scale``)
FALL = torch.tensor([0.0, 0.25, 0.3, 0.45, 0.8])


def triangle_classes(model) -> Tensor:
    """``(F,)`` int8 class of each triangle of ``model`` (SKIN or a mouth class).

    A triangle belongs to a mouth class when all three of its vertices are in that region;
    ``teeth`` without an upper/lower split counts as upper teeth.
    """
    faces = model.faces
    cls = torch.zeros(faces.shape[0], dtype=torch.int8)
    # cavity first, so teeth and tongue (often inside the cavity region too) win
    for name in ("mouth_interior", "teeth", "tongue", "lower_teeth", "upper_teeth"):
        if name in model.region_names:
            inside = model.region(name)[faces].all(1)
            cls[inside] = MOUTH_CLASSES[name]
    return cls


def mouth_shade(cls: Tensor, normals: Tensor, depth_behind_lips: Tensor, lighting: Tensor,
                depth_scale: float) -> Tensor:
    """Colours of mouth pixels.

    Args:
        cls: ``(P,)`` int64 mouth class per pixel (1..4).
        normals: ``(P, 3)`` interpolated unit normals (camera space).
        depth_behind_lips: ``(P,)`` how far behind the lips each pixel's surface is (model units).
        lighting: ``(27,)`` SH coefficients of the photo.
        depth_scale: model units over which the cavity darkens by ``1/e`` (about 1 cm).
    Returns:
        ``(P, 3)`` float colours in [0, 1].
    """
    albedo = ALBEDO.to(normals.device)[cls]
    # The photo's light colour comes from its SH evaluated facing the camera; the surfaces in
    # the mouth face every way, where a second-order SH fit extrapolates to odd hues, so their
    # own orientation only modulates brightness (a grey Lambert term).
    front = torch.tensor([[[0.0, 0.0, 1.0]]], device=normals.device, dtype=normals.dtype)
    colour = sh_irradiance(front, lighting[None])[0, 0].clamp(0.2, 1.5)
    light = colour[None] * (0.55 + 0.45 * normals[:, 2:3].clamp(min=0))
    # teeth keep most light (they sit right behind the lips); the cavity fades fastest. The
    # floor keeps the deepest parts a dark red instead of a black hole.
    fall = FALL.to(normals.device)[cls]
    occl = 0.25 + 0.75 * torch.exp(-fall * depth_behind_lips.clamp(min=0) / depth_scale)
    return (albedo * light * occl[:, None]).clamp(0, 1)
