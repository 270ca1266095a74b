"""The eyeball where the photo never showed it: sclera, iris and pupil drawn from the photo's own eye.

A portrait shows only the part of each eyeball between the lids. When the lids open wider than
in the photo (surprise and fear raise the upper lid, AU5) the surface that comes into view was
under the lid, and warping the photo there drags lid and lashes over it: wide eyes read as a
dark smudge, never as the white above the iris that makes them read as wide. Those pixels are
shaded here instead: the iris where the photo's iris continues (a disc about the detected iris
centre, carried with the eyeball as it turns), sclera elsewhere, both in the colours measured
on the photo's visible eye.

Geometry: the iris is a spherical cap whose rim is ``asin(iris radius / eyeball radius)`` from
the eye's axis, both radii measured in the photo's pixels (MediaPipe's iris points and the fitted
eyeball); when they cannot be measured, a human iris is 11.7 mm across on a 24 mm eyeball
(horizontal visible iris diameter 11.7 +- 0.5 mm, Rüfer et al., Cornea 24(3), 2005; axial
length ~23.5-24 mm), a rim 0.51 rad out. The pupil of an eye in daylight is 3-4 mm wide: 0.3 of
the iris's width.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from talkrig.synth.composite import points_in_polygon

IRIS_HALF_ANGLE = math.asin(11.7 / 24.0)   # rad, iris rim from the eye's axis (no measurement)
PUPIL_SHARE = 0.3                           # pupil radius over iris radius
#: Used when the photo shows too little of an eye to measure (closed or tiny eyes): a light
#: grey sclera in the shade of the lids and a mid-brown iris.
DEFAULT_SCLERA = (0.72, 0.68, 0.66)
DEFAULT_IRIS = (0.30, 0.21, 0.15)


@dataclass
class EyeLayout:
    """Where each eyeball's iris is, in terms of its own vertices (so it turns with them).

    Fields:
        vertices: per eye, ``(K,)`` int64 vertex ids of the eyeball.
        basis: per eye, ``(3,)`` int64 vertex ids ``a, b, c`` of that eyeball.
        weights: ``(E, 3)`` float: the iris axis is ``sum_i weights[e, i] * (v[basis[e][i]] - centre)``.
        iris_angle: ``(E,)`` float: the iris rim's angle from the axis, rad.
        sclera: ``(E, 3)`` float in [0, 1], RGB as stored in the photo.
        iris: ``(E, 3)`` float in [0, 1].
    """

    vertices: list[Tensor]
    basis: Tensor
    weights: Tensor
    iris_angle: Tensor
    sclera: Tensor
    iris: Tensor


def eyeball_vertices(model) -> list[Tensor]:
    """Vertex ids of each eyeball of ``model`` (its ``vertex_part`` 1 and 2), or ``[]`` when the
    model has no separate eyeballs."""
    part = getattr(model, "vertex_part", None)
    if part is None:
        return []
    out = [torch.nonzero(part == k)[:, 0] for k in (1, 2)]
    return out if all(len(v) >= 12 for v in out) else []


def sphere_fit(points: Tensor) -> tuple[Tensor, Tensor]:
    """Centre ``(..., 3)`` and radius ``(...)`` of the eyeball through ``points`` ``(..., K, 3)``
    (its vertices spread evenly over the sphere: mean and mean distance)."""
    c = points.mean(-2)
    return c, (points - c[..., None, :]).norm(dim=-1).mean(-1)


def ray_sphere(origin_dir: Tensor, centre: Tensor, radius: float) -> Tensor | None:
    """The nearer intersection of the camera ray ``origin_dir`` ``(3,)`` (from the origin) with
    a sphere, or None when the ray misses it."""
    d = origin_dir / origin_dir.norm()
    b = float((d * centre).sum())
    disc = b * b - float((centre * centre).sum()) + radius * radius
    if disc < 0:
        return None
    return d * (b - math.sqrt(disc))


def axis_weights(verts: Tensor, ids: Tensor, centre: Tensor, axis: Tensor) -> tuple[Tensor, Tensor]:
    """Express the unit ``axis`` through three vertices of an eyeball: ``(basis ids (3,),
    weights (3,))`` with ``axis = sum w_i (verts[basis_i] - centre)``. The three are the
    vertex nearest the axis and two about a quarter-turn away, so the system is well posed."""
    rel = verts[ids] - centre
    unit = rel / rel.norm(dim=-1, keepdim=True)
    cos = unit @ axis
    a = int(cos.argmax())
    side = (unit - cos[:, None] * axis).norm(dim=-1) * (cos.abs() < 0.5)
    b = int(side.argmax())
    ortho = torch.linalg.cross(unit, unit[b].expand_as(unit)) @ axis
    c = int((ortho.abs() * (cos.abs() < 0.5)).argmax())
    m = torch.stack([rel[a], rel[b], rel[c]], 1).double()
    w = torch.linalg.lstsq(m, axis.double()[:, None]).solution[:, 0].float()
    return ids[torch.tensor([a, b, c])], w


def iris_axes(verts: Tensor, layout: EyeLayout) -> Tensor:
    """``(T, E, 3)`` unit iris axes and ``(T, E, 3)`` eyeball centres of posed ``verts`` ``(T, N, 3)``."""
    centres = torch.stack([verts[:, ids].mean(1) for ids in layout.vertices], 1)
    rel = verts[:, layout.basis.reshape(-1)].reshape(verts.shape[0], *layout.basis.shape, 3) - centres[:, :, None]
    axis = (layout.weights[None, :, :, None] * rel).sum(2)
    return axis / axis.norm(dim=-1, keepdim=True).clamp(min=1e-9), centres


#: MediaPipe face-landmarker eye outlines (lid margins, 16 points each) and iris points
#: (centre, then four on the rim), for the eye on the image's left and on its right.
EYE_OUTLINES = ((33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246),
                (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466))
IRISES = ((468, 469, 470, 471, 472), (473, 474, 475, 476, 477))


@dataclass
class PhotoEye:
    """One eye as the photo shows it (output-crop pixels): iris centre and radius, and the
    sclera and iris colours measured between its lids (None where too little shows)."""

    centre: Tensor           # (2,) x, y
    radius: float            # iris radius, pixels
    sclera: Tensor | None    # (3,)
    iris: Tensor | None      # (3,)


def photo_eyes(image: Tensor, landmarks: Tensor, min_samples: int = 6) -> list[PhotoEye]:
    """Both eyes of a photo from its 478 MediaPipe landmarks ``(478, 2)`` (pixels of
    ``image`` ``(3, H, W)`` float). Sclera: pixels between the lids outside the iris, the whitest
    quarter of them (the rest are lashes, lid margins, lid shadow and the caruncle), median; iris: the ring
    between pupil and rim, median."""
    _, h, w = image.shape
    out = []
    for outline, iris_ids in zip(EYE_OUTLINES, IRISES):
        poly = landmarks[list(outline)]
        centre = landmarks[iris_ids[0]]
        radius = float((landmarks[list(iris_ids[1:])] - centre).norm(dim=-1).mean())
        x0, y0 = poly.min(0).values.floor().long().clamp(min=0)
        x1, y1 = poly.max(0).values.ceil().long()
        x1, y1 = int(x1.clamp(max=w - 1)), int(y1.clamp(max=h - 1))
        if x1 <= int(x0) or y1 <= int(y0):
            out.append(PhotoEye(centre, radius, None, None))
            continue
        ys, xs = torch.meshgrid(torch.arange(int(y0), y1 + 1), torch.arange(int(x0), x1 + 1), indexing="ij")
        pts = torch.stack([xs.reshape(-1), ys.reshape(-1)], 1).float() + 0.5
        inside = points_in_polygon(pts, poly)
        rgb = image[:, pts[:, 1].long(), pts[:, 0].long()].T
        r = (pts - centre).norm(dim=-1)
        s = rgb[inside & (r > 1.15 * radius)]
        sclera = None
        if len(s) >= min_samples:
            whiteness = s.mean(1) - (s.max(1).values - s.min(1).values)
            sclera = s[whiteness >= whiteness.quantile(0.9)].median(0).values
        i = rgb[inside & (r > 1.3 * PUPIL_SHARE * radius) & (r < 0.8 * radius)]
        iris = i.median(0).values if len(i) >= min_samples else None
        out.append(PhotoEye(centre, radius, sclera, iris))
    return out


def eye_shade(angle: Tensor, iris_angle: Tensor, sclera: Tensor, iris: Tensor,
              px_per_rad: Tensor | float = 40.0) -> Tensor:
    """``(P, 3)`` colour of eyeball pixels at ``angle`` ``(P,)`` rad from their eye's iris axis.

    ``iris_angle`` ``(P,)`` and ``sclera`` / ``iris`` ``(P, 3)`` per pixel (each pixel's own
    eye). ``px_per_rad`` sets the width of the soft iris rim to about 1.5 pixels. The limbus
    (the iris's rim) is darker, as on real eyes; the pupil is near black."""
    soft = 1.5 / torch.as_tensor(px_per_rad).clamp(min=1.0)
    pupil_angle = PUPIL_SHARE * iris_angle
    in_iris = torch.sigmoid((iris_angle - angle) / soft * 2.0)[:, None]
    in_pupil = torch.sigmoid((pupil_angle - angle) / soft * 2.0)[:, None]
    limbus = torch.exp(-((angle - iris_angle * 0.95) / (0.12 * iris_angle)) ** 2)[:, None]
    colour = sclera + (iris * (1 - 0.35 * limbus) - sclera) * in_iris
    return colour * (1 - 0.88 * in_pupil)
