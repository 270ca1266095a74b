"""Teeth, tongue and mouth cavity: procedural colours lit by the fitted SH light.

A photo with a closed mouth says nothing about the inside of the mouth, so talkrig shades the
model's own mouth geometry: enamel-white teeth, a pink tongue and a dark-red cavity that gets
darker with depth behind the lips (a cheap stand-in for ambient occlusion). Face models carry
the teeth as a smooth strip (68 vertices per row in the default model), so the single teeth are
drawn procedurally: each tooth slightly rounded in shade and a narrow dark gap between
neighbours, placed by the distance along the dental arch from the midline (typical adult crown
widths, e.g. Wheeler's dental anatomy: upper 8.5, 6.5, 7.5, 7, 6.5, 10 mm; lower 5, 5.5, 7, 7,
7, 11 mm from the central incisor back).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from talkrig.render.shading import sh_irradiance

SKIN, UPPER_TEETH, LOWER_TEETH, TONGUE, CAVITY = 0, 1, 2, 3, 4
MOUTH_CLASSES = {"upper_teeth": UPPER_TEETH, "lower_teeth": LOWER_TEETH, "teeth": UPPER_TEETH,
                 "tongue": TONGUE, "mouth_interior": CAVITY}
# Base albedos (linear-ish sRGB in [0, 1]). Teeth are slightly warm, never pure white.
ALBEDO = torch.tensor([
    [0.0, 0.0, 0.0],      # skin: unused
    [0.93, 0.89, 0.81],   # upper teeth
    [0.87, 0.83, 0.75],   # lower teeth (a touch darker: shadowed by the upper lip/teeth)
    [0.62, 0.30, 0.30],   # tongue
    [0.30, 0.09, 0.09],   # cavity
])

# crown widths (mm) from the central incisor back, upper and lower (see the module docstring)
CROWNS_MM = {UPPER_TEETH: (8.5, 6.5, 7.5, 7.0, 6.5, 10.0, 9.0), LOWER_TEETH: (5.0, 5.5, 7.0, 7.0, 7.0, 11.0, 10.5)}
GAP_MM = 0.4  # half-width of the dark line between two teeth

LIGHT_CHROMA = 0.25  # share of the fitted light's hue that reaches the mouth (see mouth_shade)

# how fast each class darkens with depth behind the lips (per ``depth_scale``). The tongue's
# dorsum fills most of an open mouth's opening (2-4 cm behind the lips): falling as fast as the
# teeth (0.45 before) it read as a black hole; at 0.15 it stays a visibly pink, receding surface.
FALL = torch.tensor([0.0, 0.25, 0.3, 0.15, 0.8])


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


def arch_coordinate(model, mm_per_unit: float) -> Tensor:
    """``(N,)`` signed distance (mm) of every vertex along the dental arch from the midline,
    measured on the neutral mean (teeth move rigidly, so it holds in every frame); 0 off the
    teeth. The arch is taken as a circle about the point behind the teeth on the midline."""
    out = torch.zeros(model.n_vertices)
    names = set(model.region_names)
    for name in ("upper_teeth", "lower_teeth", "teeth"):
        if name not in names:
            continue
        sel = model.region(name)
        p = model.mean.detach()[sel].double()
        x, z = p[:, 0] - p[:, 0].mean(), p[:, 2]
        zc = float(z.min())
        radius = float(z.max()) - zc
        out[sel] = (radius * torch.atan2(x, (z - zc).clamp(min=1e-6)) * mm_per_unit).float()
    return out


def tooth_pattern(cls: Tensor, arch_mm: Tensor) -> Tensor:
    """``(P,)`` brightness factor of teeth pixels from their arch coordinate: a dark gap at
    every crown boundary and a slight fall-off towards each crown's sides; 1 elsewhere."""
    out = torch.ones_like(arch_mm)
    s = arch_mm.abs()
    for k, widths in CROWNS_MM.items():
        sel = cls == k
        if not sel.any():
            continue
        edges = torch.tensor(np.cumsum((0.0,) + widths), dtype=arch_mm.dtype, device=arch_mm.device)
        d = (s[sel, None] - edges[None]).abs().min(1).values       # mm to the nearest boundary
        i = torch.bucketize(s[sel], edges).clamp(1, len(widths)) - 1
        w = edges[i + 1] - edges[i]
        frac = ((s[sel] - edges[i]) / w).clamp(0, 1)
        rounded = 0.86 + 0.14 * torch.sin(np.pi * frac)
        gap = 1.0 - 0.25 * torch.exp(-(d / GAP_MM) ** 2)
        out[sel] = rounded * gap
    return out


def mouth_shade(cls: Tensor, normals: Tensor, depth_behind_lips: Tensor, lighting: Tensor,
                depth_scale: float, arch_mm: Tensor | None = None) -> Tensor:
    """Colours of mouth pixels.

    Args:
        cls: ``(P,)`` int64 mouth class per pixel (1..4).
        normals: ``(P, 3)`` interpolated unit normals (camera space).
        depth_behind_lips: ``(P,)`` how far behind the lips each pixel's surface is (model units).
        lighting: ``(27,)`` SH coefficients of the photo.
        depth_scale: model units over which the cavity darkens by ``1/e`` (about 1 cm).
        arch_mm: ``(P,)`` position along the dental arch (:func:`arch_coordinate`); draws the
            single teeth when given.
    Returns:
        ``(P, 3)`` float colours in [0, 1].
    """
    albedo = ALBEDO.to(normals.device)[cls]
    # The photo's light colour comes from its SH evaluated facing the camera; the surfaces in
    # the mouth face every way, where a second-order SH fit extrapolates to odd hues, so their
    # own orientation only modulates brightness (a grey Lambert term).
    front = torch.tensor([[[0.0, 0.0, 1.0]]], device=normals.device, dtype=normals.dtype)
    colour = sh_irradiance(front, lighting[None])[0, 0].clamp(0.2, 1.5)
    # The fitted light's hue also absorbs the skin's difference from the model's albedo (the
    # albedo-light ambiguity): a pale yellow skin gives a cyan "light" that turned teeth green.
    # Keep its brightness and only a quarter of its hue.
    grey = colour.mean()
    colour = grey + LIGHT_CHROMA * (colour - grey)
    facing = normals[:, 2:3].clamp(min=0)
    # the teeth strip is coarse and curved: a strong normal term paints it as polished metal
    teeth = ((cls == UPPER_TEETH) | (cls == LOWER_TEETH))[:, None]
    light = colour[None] * torch.where(teeth, 0.8 + 0.2 * facing, 0.55 + 0.45 * facing)
    if arch_mm is not None:
        light = light * tooth_pattern(cls, arch_mm)[:, None]
    # teeth keep most light (they sit right behind the lips); the cavity fades fastest. The
    # floor keeps the deepest parts a dark red instead of a black hole.
    fall = FALL.to(normals.device)[cls]
    occl = 0.25 + 0.75 * torch.exp(-fall * depth_behind_lips.clamp(min=0) / depth_scale)
    return (albedo * light * occl[:, None]).clamp(0, 1)
