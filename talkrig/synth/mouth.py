"""Teeth, tongue and mouth cavity: the model's mouth geometry in the photo's own colours.

A photo with a closed mouth says little about the inside of the mouth, so talkrig shades the
model's own mouth geometry: teeth, a tongue and a cavity that gets darker with depth behind the
lips (a cheap stand-in for ambient occlusion). Their colours come from the photo
(:func:`photo_mouth_palette`), so the mouth has the face's light and colour grading (a grey photo
gets a grey mouth, a warm one a warm mouth): the teeth from the photo's own teeth where it shows
them, else from the whites of its eyes (the other near-white surface under the same light and
camera); tongue and cavity from its lips. A surface-fixed value noise (:func:`surface_noise`)
gives enamel, papillae and mucosa a grain that moves with the surface instead of flat slabs. Face models carry
the teeth as a smooth strip (68 vertices per row in the default model), so the single teeth are
drawn procedurally: each tooth slightly rounded in shade and a dark notch between neighbours,
open at the biting edge and at the gum and faint where they touch, placed by the distance along
the dental arch from the midline (typical adult crown widths, e.g. Wheeler's dental anatomy:
upper 8.5, 6.5, 7.5, 7, 6.5, 10 mm; lower 5, 5.5, 7, 7, 7, 11 mm from the central incisor back)
and by the height between the biting edge and the gum (:func:`crown_height`): a translucent,
cooler edge and a gum line that arcs over each crown.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from talkrig.render.shading import sh_irradiance
from talkrig.synth.composite import points_in_polygon

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
# Along a crown's height (0 at the biting edge, 1 at the gum): neighbouring crowns touch only at
# their contact points, so the gap is a notch that opens towards the edge (the incisal
# embrasure) and towards the gum (under the papilla) and is faint in between; the last
# millimetre of the edge is translucent enamel, greyer and cooler; the gum covers the top of
# each crown in an arc that dips between teeth (the interdental papilla).
EDGE_SHARE = 0.05                          # height over which the incisal edge fades in
EDGE_TINT = torch.tensor([0.20, 0.17, 0.08])   # how much of R, G, B the translucent edge loses
INCISAL_OPEN = 0.08                        # height over which the notch opens towards the edge
GUM_LINE = (0.78, 0.10)                    # gum line height between teeth, and its rise mid-crown
# The rows are strips as tall on their inner side as on their outer (1.9 cm in the default
# model); seen from inside, the crowns are about half that (lingual crown height of the
# premolars and molars ~7-8 mm, Wheeler's) and the gum and palate fill the rest.
INNER_GUM_LINE = 0.42
GUM_FROM_TONGUE = torch.tensor([1.15, 1.05, 1.10])  # attached gingiva: a paler pink than the tongue

LIGHT_CHROMA = 0.25  # share of the fitted light's hue that reaches the mouth (see mouth_shade)

# how fast each class darkens with depth behind the lips (per ``depth_scale``). The tongue is
# 2-4 cm behind the lips where an open mouth shows it: falling as fast as the teeth (0.45, long
# ago) it read as a black hole; at 0.1 it stays a pink surface against the dark behind it.
FALL = torch.tensor([0.0, 0.25, 0.3, 0.1, 0.35])
# The inner (lingual) side of a row: share of the light lost at its cusps (INNER_SHADE) and
# further than INNER_CUSP (share of the row's height) from its biting edge (INNER_DEEP), the
# share of the gaps between crowns that fades there, and the share of its colour taken, at its
# deepest, from the tongue whose bounce lights it.
INNER_SHADE, INNER_DEEP, INNER_CUSP = 0.3, 0.75, 0.12
INNER_GAP_FADE = 0.6
INNER_BOUNCE = 0.7
TONGUE_LIGHT = 0.75   # the tongue's light: this much whatever way it faces, the rest by facing
# Share of the light that still reaches the deepest parts: the cavity's walls and throat may go
# darker than the rest (the dark above the tongue in real open mouths); 0.4 for everything
# once left 26 % of the open mouth near-black on the darkest dev face (real videos <= 26 %).
CAVITY_FLOOR = 0.35
OCCLUSION_FLOOR = 0.5


#: MediaPipe face-mesh lip outlines, in order around the mouth.
OUTER_LIP = (61, 185, 40, 39, 37, 0, 267, 269, 270, 409, 291, 375, 321, 405, 314, 17, 84, 181, 91, 146)
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
# Relative colours of the mouth's parts. Teeth against the sclera: enamel is a warmer, yellower
# white (dental shade guides centre on A2-A3, a light yellow-brown; sclera is a bluish white).
TEETH_FROM_SCLERA = torch.tensor([1.0, 0.96, 0.86])
# tongue and cavity against the lips' own colour in the photo (same blood-perfused mucosa; the
# tongue's dorsum a little paler, the cavity walls a deeper red; their shadow is the occlusion
# term of mouth_shade, not part of the colour)
TONGUE_FROM_LIPS = torch.tensor([0.92, 0.74, 0.77])
CAVITY_FROM_LIPS = torch.tensor([0.80, 0.55, 0.55])
# grain of each class (fraction of brightness): enamel is smooth, the tongue's papillae are not
GRAIN = torch.tensor([0.0, 0.035, 0.035, 0.09, 0.07])
GRAIN_CELL_MM = 0.45
GRAIN_ABS = 3.0 / 255  # sensor-like grain in absolute terms: dark parts are not flat either
# Enamel reflects more than skin (tooth albedo ~0.7-0.8 against ~0.45-0.6 for skin): teeth are
# lifted to at least this many times the lit skin's luminance (its 75th percentile), never above
# TEETH_MAX.
TEETH_OVER_SKIN = 1.2
TEETH_MAX = 0.94
LUMA = torch.tensor([0.299, 0.587, 0.114])


def _pixels_in(image: Tensor, polygon: Tensor, exclude: Tensor | None = None) -> Tensor | None:
    """``(N, 3)`` colours of the pixels of ``image`` ``(3, H, W)`` inside ``polygon`` (and
    outside ``exclude``), or None when fewer than 12."""
    _, h, w = image.shape
    lo = polygon.min(0).values.floor().clamp(min=0).long()
    hi = polygon.max(0).values.ceil().long()
    x1, y1 = int(hi[0].clamp(max=w - 1)), int(hi[1].clamp(max=h - 1))
    if x1 <= int(lo[0]) or y1 <= int(lo[1]):
        return None
    ys, xs = torch.meshgrid(torch.arange(int(lo[1]), y1 + 1), torch.arange(int(lo[0]), x1 + 1), indexing="ij")
    pts = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float() + 0.5
    inside = points_in_polygon(pts, polygon)
    if exclude is not None:
        inside &= ~points_in_polygon(pts, exclude)
    rgb = image[:, pts[inside, 1].long(), pts[inside, 0].long()].T
    return rgb if len(rgb) >= 12 else None


@dataclass
class MouthPalette:
    """Colours of the mouth's parts as the photo's light and camera show a surface facing the
    camera just behind the lips, ``(3,)`` floats in [0, 1] each; ``teeth_from`` says where the
    teeth colour came from (``"photo teeth"``, ``"sclera"`` or ``"default"``)."""

    teeth: Tensor
    tongue: Tensor
    cavity: Tensor
    teeth_from: str

    def table(self) -> Tensor:
        """``(5, 3)`` colour per mouth class (skin row unused)."""
        t = self.teeth
        return torch.stack([torch.zeros(3), t, t * 0.94, self.tongue, self.cavity]).float()


def photo_mouth_palette(image: Tensor, points: Tensor | None, sclera: Tensor | None,
                        lighting: Tensor, skin: Tensor | None = None) -> MouthPalette:
    """The mouth's colours from a photo ``image`` ``(3, H, W)`` in [0, 1] with its 478
    MediaPipe ``points`` ``(478, 2)`` in the same pixels (None: unknown), the whites of its
    eyes ``sclera`` ``(3,)`` (None: not seen), its fitted SH ``lighting`` ``(27,)`` (the
    fallback: the model's albedos under that light) and its skin pixels ``skin`` ``(N, 3)``."""
    lit = _front_light(lighting)
    teeth, source = ALBEDO[UPPER_TEETH] * lit, "default"
    lips = None
    if points is not None and points.shape[0] >= 468:
        inner, outer = points[list(INNER_LIP)], points[list(OUTER_LIP)]
        ring = _pixels_in(image, outer, exclude=inner)
        lips = _lit_colour(ring) if ring is not None else None
        opening = _pixels_in(image, inner)
        if opening is not None:
            # the photo's own teeth: the whitest third of its open mouth, when they are whiter
            # than the lips around them (a dark open mouth has none)
            whiteness = opening.mean(1) - (opening.max(1).values - opening.min(1).values)
            white = opening[whiteness >= whiteness.quantile(0.67)]
            if lips is not None and white.mean() > 1.1 * lips.mean() and len(white) >= 12:
                teeth, source = white.median(0).values, "photo teeth"
    if lips is None:
        lips = torch.tensor([0.70, 0.42, 0.42]) * lit
    sat = _saturation(lips)
    if source == "default" and sclera is not None:
        teeth, source = _tint(sclera, TEETH_FROM_SCLERA, sat), "sclera"
    if source != "default" and skin is not None and len(skin) >= 12:
        # a small or blurred photo mixes its teeth with the dark gaps between them, the eyes'
        # whites sit in the brows' shadow: enamel is never darker than the lit skin
        want = min(TEETH_OVER_SKIN * float((skin.float() @ LUMA).quantile(0.75)), TEETH_MAX)
        y = float(teeth @ LUMA)
        if y < want:
            teeth = (teeth * want / max(y, 1e-3)).clamp(0, 1)
    # the cavity: darker than the lips (shadow), and redder as far as the photo has colour
    dark = CAVITY_FROM_LIPS.mean()
    cavity = _tint(lips * dark, CAVITY_FROM_LIPS / dark, sat)
    return MouthPalette(teeth.float(), _tint(lips, TONGUE_FROM_LIPS, sat).float(), cavity.float(), source)


def _lit_colour(pixels: Tensor, quantile: float = 0.65) -> Tensor:
    """The colour of the lit part of a region: the median of its pixels near the ``quantile`` of
    luminance (the lower lip's underside, mouth corners and a small face's blur into the dark
    opening pull a plain median down)."""
    y = pixels @ LUMA
    lo, hi = y.quantile(max(quantile - 0.15, 0.0)), y.quantile(min(quantile + 0.15, 1.0))
    return pixels[(y >= lo) & (y <= hi)].median(0).values


def _saturation(colour: Tensor) -> float:
    """0 for a grey colour, 1 for one at least as saturated as typical lips ((max - min) / max
    of 0.25 or more)."""
    c = colour.float()
    return float(((c.max() - c.min()) / c.max().clamp(min=1e-3) / 0.25).clamp(0, 1))


def _tint(colour: Tensor, tint: Tensor, saturation: float) -> Tensor:
    """``colour`` times ``tint`` applied as far as the photo has colour at all: a grey-scale
    photo's mouth stays grey."""
    return (colour * (1 + saturation * (tint - 1))).clamp(0, 1)


def _front_light(lighting: Tensor) -> Tensor:
    """``(3,)`` the fitted light facing the camera, with a quarter of its hue (see the note in
    :func:`mouth_shade`)."""
    front = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=lighting.dtype, device=lighting.device)
    colour = sh_irradiance(front, lighting.reshape(1, -1))[0, 0].clamp(0.2, 1.5)
    grey = colour.mean()
    return (grey + LIGHT_CHROMA * (colour - grey)).float().cpu()


def _hash(ix: Tensor, iy: Tensor, iz: Tensor) -> Tensor:
    """Pseudo-random values in [0, 1) for integer lattice points (a fixed integer hash)."""
    h = (ix * 73856093) ^ (iy * 19349663) ^ (iz * 83492791)
    h = (h ^ (h >> 13)) * 1274126177
    return ((h ^ (h >> 16)) & 0xFFFF).float() / 65536.0


def surface_noise(points_mm: Tensor, cell_mm: float = GRAIN_CELL_MM) -> Tensor:
    """``(P,)`` smooth value noise in [-1, 1] at rest-pose surface points ``(P, 3)`` (mm): the
    same value wherever and whenever that surface point is drawn, so grain never flickers."""
    q = points_mm / cell_mm
    base = q.floor()
    f = q - base
    f = f * f * (3 - 2 * f)  # smoothstep between lattice points
    i = base.long()
    out = torch.zeros(len(q), dtype=points_mm.dtype, device=points_mm.device)
    for dx in (0, 1):
        for dy in (0, 1):
            for dz in (0, 1):
                wgt = ((f[:, 0] if dx else 1 - f[:, 0]) * (f[:, 1] if dy else 1 - f[:, 1])
                       * (f[:, 2] if dz else 1 - f[:, 2]))
                out += wgt * _hash(i[:, 0] + dx, i[:, 1] + dy, i[:, 2] + dz).to(out.dtype)
    return out * 2 - 1


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


def arch_inward(model) -> Tensor:
    """``(N,)`` per tooth vertex, how far its rest-pose normal faces the inside of its dental
    arch: the cosine to the direction, in the horizontal plane, towards the midline at the
    sides and backwards at the front (lingual surfaces near 1, the labial front near -1); 0 off
    the teeth."""
    out = torch.zeros(model.n_vertices)
    names = set(model.region_names)
    rows = [n for n in ("upper_teeth", "lower_teeth", "teeth") if n in names]
    if not rows:
        return out
    mean = model.mean.detach().float()
    normals = model.normals(mean[None])[0]
    for name in rows:
        sel = model.region(name)
        p = mean[sel]
        # towards the midline (x of the row's centre) and backwards (-z) by 7.5 % of the row's
        # width (5 mm on a human row, in any units): at the incisors, where the midline is,
        # straight back
        back = 0.075 * float(p[:, 0].max() - p[:, 0].min())
        to_inside = torch.stack([p[:, 0].mean() - p[:, 0], torch.zeros(len(p)), torch.full((len(p),), -back)], 1)
        out[sel] = (normals[sel] * to_inside / to_inside.norm(dim=1, keepdim=True)).sum(1)
    return out


def crown_height(model) -> Tensor:
    """``(N,)`` height of every tooth vertex from its row's biting edge (0) to its gum line (1),
    measured on the neutral mean (the rows move rigidly); 0 off the teeth. The upper row's edge
    is its lowest point, the lower row's its highest."""
    out = torch.zeros(model.n_vertices)
    names = set(model.region_names)
    rows = (("upper_teeth", True), ("lower_teeth", False))
    if not any(name in names for name, _ in rows):
        rows = (("teeth", True),)  # one strip: treated as the upper row
    for name, upper in rows:
        if name not in names:
            continue
        sel = model.region(name)
        y = model.mean.detach()[sel, 1]
        h = (y - y.min()) / (y.max() - y.min()).clamp(min=1e-9)
        out[sel] = h if upper else 1 - h
    return out


def _crowns(s: Tensor, widths: tuple) -> tuple[Tensor, Tensor]:
    """Distance (mm) of arch positions ``s`` (>= 0) to the nearest crown boundary, and their
    place across their crown (0..1)."""
    edges = torch.tensor(np.cumsum((0.0,) + widths), dtype=s.dtype, device=s.device)
    d = (s[:, None] - edges[None]).abs().min(1).values
    i = torch.bucketize(s, edges).clamp(1, len(widths)) - 1
    frac = ((s - edges[i]) / (edges[i + 1] - edges[i])).clamp(0, 1)
    return d, frac


def tooth_pattern(cls: Tensor, arch_mm: Tensor, height: Tensor | None = None) -> Tensor:
    """``(P,)`` brightness factor of teeth pixels from their arch coordinate: a dark gap at
    every crown boundary and a slight fall-off towards each crown's sides; 1 elsewhere. With
    ``height`` (:func:`crown_height`) the gap is a notch, wide and dark at the biting edge and at
    the gum, faint where neighbours touch."""
    rounded, gap, _, _ = _tooth_terms(cls, arch_mm, height)
    return rounded * (1 - gap)


def tooth_surface(cls: Tensor, arch_mm: Tensor, height: Tensor) -> tuple[Tensor, Tensor]:
    """Per teeth pixel: ``(P, 3)`` colour factor (the translucent incisal edge) and ``(P,)``
    share of gum over the crown (an arc per tooth, lowest between teeth); ones and zeros off
    the teeth."""
    return _tooth_terms(cls, arch_mm, height)[2:]


def _tooth_terms(cls: Tensor, arch_mm: Tensor, height: Tensor | None,
                 inner: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Each crown located once: ``(P,)`` its rounding (brightness falling towards its sides),
    ``(P,)`` the share of the gap between crowns (how much of the dark mouth behind shows),
    and :func:`tooth_surface`'s edge factor ``(P, 3)`` and gum share ``(P,)``. ``inner``
    ``(P,)`` in [0, 1]: how far each pixel is on the inner (lingual) side of its arch, where the
    gum comes down to :data:`INNER_GUM_LINE`."""
    rounded = torch.ones_like(arch_mm)
    gap = torch.zeros_like(arch_mm)
    edge = torch.ones(len(cls), 3, dtype=arch_mm.dtype, device=arch_mm.device)
    gum = torch.zeros_like(arch_mm)
    s = arch_mm.abs()
    for k, widths in CROWNS_MM.items():
        sel = cls == k
        if not sel.any():
            continue
        d, frac = _crowns(s[sel], widths)
        rounded[sel] = 0.86 + 0.14 * torch.sin(np.pi * frac)
        if height is None:
            gap[sel] = 0.25 * torch.exp(-(d / GAP_MM) ** 2)
            continue
        h = height[sel].clamp(0, 1)
        open_ = torch.maximum(torch.exp(-h / INCISAL_OPEN), torch.exp(-(1 - h) / 0.25))  # 1 at edge / gum
        width = GAP_MM * (1.0 + 2.5 * open_)
        gap[sel] = (0.12 + 0.38 * open_) * torch.exp(-(d / width) ** 2)
        edge[sel] = 1.0 - torch.exp(-h / EDGE_SHARE)[:, None] * EDGE_TINT.to(edge)[None]
        line = GUM_LINE[0] if inner is None else GUM_LINE[0] + (INNER_GUM_LINE - GUM_LINE[0]) * inner[sel]
        gum[sel] = torch.sigmoid((h - (line + GUM_LINE[1] * torch.sin(np.pi * frac))) / 0.025)
    return rounded, gap, edge, gum


def mouth_shade(cls: Tensor, normals: Tensor, depth_behind_lips: Tensor, palette: Tensor,
                depth_scale: float, arch_mm: Tensor | None = None, grain: Tensor | None = None,
                height: Tensor | None = None, inward: Tensor | None = None) -> Tensor:
    """Colours of mouth pixels.

    Args:
        cls: ``(P,)`` int64 mouth class per pixel (1..4).
        normals: ``(P, 3)`` interpolated unit normals (camera space).
        depth_behind_lips: ``(P,)`` how far behind the lips each pixel's surface is (model units).
        palette: ``(5, 3)`` colour per class facing the camera just behind the lips
            (:meth:`MouthPalette.table`), or ``(27,)`` SH coefficients of the photo: the
            model's procedural albedos under that light.
        depth_scale: model units over which the cavity darkens by ``1/e`` (about 1 cm).
        arch_mm: ``(P,)`` position along the dental arch (:func:`arch_coordinate`); draws the
            single teeth when given.
        grain: ``(P, 2)`` two independent surface noise fields in [-1, 1] (:func:`surface_noise`
            at two lattice offsets): relative grain of each class, and absolute grain.
        height: ``(P,)`` place between a crown's biting edge and its gum (:func:`crown_height`);
            with ``arch_mm``, draws embrasures, the translucent edge and the gum line.
        inward: ``(P,)`` how far each teeth surface faces the inside of its arch
            (:func:`arch_inward`): those surfaces are shadowed (:data:`INNER_SHADE`).
    Returns:
        ``(P, 3)`` float colours in [0, 1].
    """
    if palette.numel() == 27:
        # The photo's light colour comes from its SH evaluated facing the camera; the surfaces in
        # the mouth face every way, where a second-order SH fit extrapolates to odd hues, so their
        # own orientation only modulates brightness (a grey Lambert term). The fitted light's
        # hue also absorbs the skin's difference from the model's albedo (the albedo-light
        # ambiguity): a pale yellow skin gives a cyan "light" that turned teeth green, so only a
        # quarter of its hue is kept (:func:`_front_light`).
        palette = ALBEDO * _front_light(palette)[None]
    base = palette.to(device=normals.device, dtype=normals.dtype)[cls]
    facing = normals[:, 2:3].clamp(min=0)
    # the teeth strip is coarse and curved: a strong normal term paints it as polished metal
    teeth = ((cls == UPPER_TEETH) | (cls == LOWER_TEETH))[:, None]
    # the cavity's walls are lit mostly by light bouncing inside the mouth: a flatter term
    cavity = (cls == CAVITY)[:, None]
    light = torch.where(teeth, 0.8 + 0.2 * facing, torch.where(cavity, 0.7 + 0.3 * facing, TONGUE_LIGHT + (1 - TONGUE_LIGHT) * facing))
    inner = None
    if inward is not None:
        # the coarse rows' vertex normals average the inner face with the edge: half-way
        # inwards already faces the tongue
        inner = (1.5 * inward).clamp(0, 1) * teeth[:, 0]
    if arch_mm is not None:
        rounded, gap, edge, gum = _tooth_terms(cls, arch_mm, height, inner)
        light = light * rounded[:, None]
        table = palette.to(base)
        if height is not None:
            # hue shifts only as far as the photo has colour (a grey photo keeps a grey mouth):
            # scaled by the teeth colour's own saturation (a colour photo's enamel: ~0.1-0.15)
            sat = ((table.max(1).values - table.min(1).values) / table.max(1).values.clamp(min=1e-6) / 0.15)
            grey = edge.mean(1, keepdim=True)
            edge = grey + (edge - grey) * sat.clamp(0, 1)[cls][:, None]
            gum_colour = _tint(table[TONGUE], GUM_FROM_TONGUE.to(base), _saturation(table[TONGUE]))
            base = (base * edge) * (1 - gum[:, None]) + gum_colour[None] * gum[:, None]
        # the gap between crowns shows the mouth behind them, a dark red, not a darker enamel:
        # greyed enamel in the gaps made the whole row read blue-grey beside a warm face
        if inner is not None:  # seen from inside, the embrasures are shadow already, not lines
            gap = gap * (1 - INNER_GAP_FADE * inner)
        base = base * (1 - gap[:, None]) + table[CAVITY][None] * gap[:, None]
    if inner is not None:
        # light enters the mouth through the lips: the inner side of the arch faces the tongue
        # and the dark cavity, so the far teeth a turned head shows from inside are in a warm
        # shadow (lit by what bounces off the tongue), not a bright grey wall of crowns
        # Only the cusps catch that light: further from the biting edge the inner face sinks
        # into the shadow of the tongue and the floor of the mouth. A face lit evenly down
        # its whole height read as a grey wall on a turned head.
        h = height if height is not None else torch.zeros_like(inner)
        shade = INNER_SHADE + (INNER_DEEP - INNER_SHADE) * (1 - torch.exp(-h / INNER_CUSP))
        inner = inner[:, None]
        light = light * (1 - shade[:, None] * inner)
        # and takes the warm colour of what it faces the more the deeper it is
        bounce = (INNER_BOUNCE * (shade / INNER_DEEP))[:, None] * inner
        base = base * (1 - bounce) + palette.to(base)[TONGUE][None] * bounce
    if grain is not None:
        light = light * (1 + GRAIN.to(normals.device)[cls] * grain[:, 0])[:, None]
    # teeth keep most light (they sit right behind the lips); the cavity fades fastest. The
    # floor keeps the deepest parts a dark red instead of a black hole.
    fall = FALL.to(normals.device)[cls]
    floor = torch.where(cls == CAVITY, CAVITY_FLOOR, OCCLUSION_FLOOR).to(fall)
    occl = floor + (1 - floor) * torch.exp(-fall * depth_behind_lips.clamp(min=0) / depth_scale)
    out = base * light * occl[:, None]
    if grain is not None:  # the second field: grain that does not fade with the light
        out = out + GRAIN_ABS * grain[:, 1:2]
    return out.clamp(0, 1)
