"""Talking-head frames from one photo: the photo warped by the moving mesh, plus a mouth.

For every frame the posed mesh is rasterized at the output size. Each covered skin pixel knows
its surface point, hence where that point sat in the (cropped) source photo: that backward
flow is extended over the whole frame (:mod:`talkrig.synth.composite`) and the photo is warped
once, so face, hair and background move together without seams. Surface points the photo never
saw (turned away) are left to that smooth extension rather than smeared from the wrong place.
Teeth, tongue and the
mouth cavity are shaded procedurally (:mod:`talkrig.synth.mouth`) with the fitted SH light,
and so is eyeball surface the lids hid in the photo (:mod:`talkrig.synth.eyes`: the white
above the iris of a widened eye). Skin is re-lit by the ratio of new to original SH shading,
so creases darken as they form.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import MorphableModel
from talkrig.recon.reconstruction import crop_camera
from talkrig.render.backends import RasterBackend
from talkrig.render.camera import Camera
from talkrig.synth.composite import (border_fade, distance_falloff, pixel_grid, points_in_polygon,
                                      push_pull_fill, warp)
from talkrig.render.fragments import Fragments
from talkrig.render.interpolate import interpolate_compact
from talkrig.render.raster import rasterize
from talkrig.render.shading import sh_irradiance
from talkrig.synth.eyes import (DEFAULT_IRIS, DEFAULT_SCLERA, EYE_OUTLINES, IRIS_HALF_ANGLE, EyeLayout, axis_weights,
                                  eye_shade, eyeball_vertices, iris_axes, photo_eyes, ray_sphere, sphere_fit)
from talkrig.synth.mouth import (LOWER_TEETH, TONGUE, UPPER_TEETH, MouthPalette, arch_coordinate, arch_inward, crown_height, mouth_shade,
                                 photo_mouth_palette, surface_noise, triangle_classes)

# Triangles of the neck are not warped rigidly with the skull (a real neck does not turn with
# the head): their pixels take the smooth extension of the head's flow, which decays with
# distance from the head (see composite.distance_falloff).
NECK = 5
#: The upper half of the photo's lid opening is narrowed to this share of its height before
#: eyeball pixels are tested against it: MediaPipe's outline runs along the lid margin, whose
#: lashes are not eyeball.
OPENING_SHRINK = 0.8
#: How far (output pixels at 512) an upper lid must rise above its place in the photo before the
#: eyeball above the photo's lid line is drawn (sclera, iris) instead of warped from the photo.
LID_RAISE_PX = 0.5

# Regions that are not opaque surface: ICT's eye "extras" (occlusion shadow, lacrimal fluid and
# blend meshes, meant to be drawn translucent) would otherwise show as coloured arcs on the lids.
NOT_DRAWN = ("eye_extras",)


def _model_iris_axis(model, v: Tensor, centre: Tensor, k: int) -> Tensor:
    """Unit axis of eyeball ``k`` (0 / 1) of posed vertices ``v`` ``(N, 3)`` through the model's own
    iris landmark (MediaPipe 468 / 473) when it lies on that eyeball, else towards the camera."""
    ids = getattr(model, "mp478_vertex", None)
    part = getattr(model, "vertex_part", None)
    if ids is not None and part is not None:
        for lm in (468, 473):
            if int(part[ids[lm]]) == k + 1:
                d = v[ids[lm]] - centre
                return d / d.norm()
    return -centre / centre.norm()


def drawn_triangles(model: MorphableModel) -> Tensor:
    """``(F,)`` bool: the triangles the frame renderer draws (all but :data:`NOT_DRAWN`)."""
    keep = torch.ones(model.faces.shape[0], dtype=torch.bool)
    for name in NOT_DRAWN:
        if name in model.region_names:
            keep &= ~model.region(name)[model.faces].all(1)
    return keep


@dataclass
class FrameSource:
    """Everything fixed over a video: the cropped photo and the source mesh seen in it."""

    image: Tensor         # (1, 3, S, S) float in [0, 1], the square crop at output size
    crop: np.ndarray      # (4,) the crop x0, y0, x1, y1 in photo pixels (see video_crop)
    camera: Camera        # camera of the crop at output size
    src_pix: Tensor       # (N, 2) source pixel of every vertex in the crop
    src_visible: Tensor   # (N,) float 1 where the vertex was visible in the photo
    src_shade: Tensor     # (N, 3) SH irradiance of the source pose
    tri_class: Tensor     # (F,) int8 class per triangle (0 skin, 1-4 mouth, NECK)
    fade: Tensor          # (1, 1, S, S) border weight
    head_px: float        # head size in output pixels (scale of the flow falloff)
    arch_mm: Tensor       # (N,) position along the dental arch, mm (0 off the teeth)
    crown_h: Tensor       # (N,) height between a tooth's biting edge (0) and gum (1); 0 off the teeth
    inward: Tensor        # (N,) how far a tooth surface faces the inside of its arch; 0 off the teeth
    src_depth: Tensor     # (N,) depth of every vertex in the photo's view
    src_zbuf: Tensor      # (S, S) depth of the nearest surface in the photo's view (0: none)
    depth_tol: float      # depth units within which a point counts as that nearest surface
    eye_tri: Tensor       # (F,) bool: triangles of an eyeball
    eye_of_vertex: Tensor  # (N,) int64: 0 / 1 for the eyeballs' vertices, -1 elsewhere
    eyes: EyeLayout | None  # iris placement and colours (None: the model has no eyeballs)
    eye_px_per_rad: float   # eyeball radius in output pixels
    mouth: MouthPalette     # teeth, tongue and cavity colours measured on the photo
    # per eyeball: the photo's lid opening (polygon, crop pixels) and the model's upper-lid and
    # eye-corner vertices that tell how far the lid has risen (None: not measurable)
    eye_openings: Tensor | None = None   # (E, 16, 2)
    lid_vertices: Tensor | None = None   # (E, 2) upper-lid ids, iBUG 37/38 or 43/44
    corner_vertices: Tensor | None = None  # (E, 2) eye-corner ids, iBUG 36/39 or 42/45


def video_crop(bbox: np.ndarray, image_size: tuple[int, int], scale: float = 2.3,
               lift: float = 0.12) -> np.ndarray:
    """Square crop ``(x0, y0, x1, y1)`` framing a head and shoulders around a face box.

    ``scale`` is the crop side over the face box side; ``lift`` moves the centre up by that
    fraction of the box height, so hair fits above and the chin sits below the middle. The
    crop is kept inside the photo (``image_size`` = (H, W)) when it fits: shifted first, then
    shrunk to the photo's short side, never below the face box itself.
    """
    x0, y0, x1, y1 = (float(c) for c in bbox)
    h, w = image_size
    face = max(x1 - x0, y1 - y0)
    side = max(min(scale * face, h, w), face)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - lift * (y1 - y0)
    bx = float(np.clip(cx - side / 2, 0, max(w - side, 0))) if side <= w else cx - side / 2
    by = float(np.clip(cy - side / 2, 0, max(h - side, 0))) if side <= h else cy - side / 2
    return np.array([bx, by, bx + side, by + side], np.float32)


def crop_image(image: np.ndarray, crop: np.ndarray, size: int) -> Tensor:
    """``(1, 3, size, size)`` float crop of ``image`` (H, W, 3 uint8); outside the photo it is mirrored."""
    img = torch.from_numpy(np.array(image, dtype=np.uint8, copy=True)).permute(2, 0, 1)[None].float() / 255
    x0, y0, x1, _ = (float(c) for c in crop)
    s = (x1 - x0) / size
    # Pre-shrink with area averaging when downscaling a lot, so the bilinear resample below
    # does not alias (photos can be many times larger than the output).
    if s > 2:
        k = int(s // 1.5)
        img = F.avg_pool2d(img, k, ceil_mode=True)
        x0, y0, s = x0 / k, y0 / k, s / k
    g = pixel_grid(size, size)[None] * s
    g[:, 0] += x0
    g[:, 1] += y0
    h, w = img.shape[-2:]
    grid = torch.stack([g[:, 0] / w * 2 - 1, g[:, 1] / h * 2 - 1], -1)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def vertex_visibility(pos_pix: Tensor, faces: Tensor, size: tuple[int, int], tol: float,
                      zbuf: Tensor | None = None) -> Tensor:
    """``(N,)`` float: 1 where a vertex of ``pos_pix`` ``(1, N, 3)`` is the nearest surface at
    its own pixel (within ``tol`` depth units), i.e. seen by the camera. ``zbuf`` ``(H, W)``:
    the depth buffer of ``pos_pix`` when the caller has it (else it is rasterized here)."""
    h, w = size
    if zbuf is None:
        zbuf = rasterize(pos_pix, faces, size).depth[0]
    xy = pos_pix[0, :, :2]
    col = xy[:, 0].floor().long().clamp(0, w - 1)
    row = xy[:, 1].floor().long().clamp(0, h - 1)
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    z = zbuf[row, col]
    seen = inside & (z > 0) & (pos_pix[0, :, 2] <= z + tol)
    return seen.float()


def soften_edges(frames: Tensor, mask: Tensor) -> Tensor:
    """``frames`` ``(T, H, W, 3)`` with the pixels along the border of ``mask`` ``(T, H, W)``
    (those whose 3x3 neighbourhood is partly inside) replaced by their 3x3 mean: a one-pixel
    feather for an edge drawn without coverage anti-aliasing (the lips' inner outline, where
    the shaded mouth meets the warped photo, is otherwise a hard staircase). Works in place,
    on the mask's bounding box only, so it costs next to nothing beside a frame; returns
    ``frames``."""
    any_t = mask.any(0)
    if not bool(any_t.any()):
        return frames
    h, w = any_t.shape
    rows, cols = any_t.any(1).nonzero()[:, 0], any_t.any(0).nonzero()[:, 0]
    y0, y1 = max(int(rows[0]) - 2, 0), min(int(rows[-1]) + 3, h)
    x0, x1 = max(int(cols[0]) - 2, 0), min(int(cols[-1]) + 3, w)
    box = frames[:, y0:y1, x0:x1]
    share = F.avg_pool2d(mask[:, None, y0:y1, x0:x1].float(), 3, stride=1, padding=1)[:, 0]
    edge = (share > 0) & (share < 1)
    chw = box.permute(0, 3, 1, 2)
    blur = F.avg_pool2d(F.pad(chw, (1, 1, 1, 1), mode="replicate"), 3, stride=1).permute(0, 2, 3, 1)
    frames[:, y0:y1, x0:x1] = torch.where(edge[..., None], blur, box)
    return frames


def _cell_means(pix: Tensor, flow: Tensor, frames: int, size: int, cells: int) -> tuple[Tensor, Tensor]:
    """The per-pixel ``flow`` ``(P, 2)`` of the pixels ``pix`` (flat indices into
    ``(frames, size, size)``) averaged over a ``cells x cells`` grid: ``(frames, 2, cells,
    cells)`` means, and ``(frames, 1, cells, cells)`` 1 where a cell holds any of the pixels."""
    if size % cells == 0:  # the usual sizes: row over all frames // f = frame * cells + row // f
        f = size // cells
        cell = torch.div(pix, size * f, rounding_mode="floor") * cells + torch.div(pix % size, f, rounding_mode="floor")
    else:  # cell c spans [c, c + 1) * size / cells, as bilinear resampling has it
        frame, rest = torch.div(pix, size * size, rounding_mode="floor"), pix % (size * size)
        row = torch.div(torch.div(rest, size, rounding_mode="floor") * cells, size, rounding_mode="floor")
        col = torch.div((rest % size) * cells, size, rounding_mode="floor")
        cell = (frame * cells + row) * cells + col
    n = frames * cells * cells
    count = torch.bincount(cell, minlength=n).to(flow.dtype)
    total = torch.stack([torch.bincount(cell, flow[:, 0], minlength=n),
                         torch.bincount(cell, flow[:, 1], minlength=n)], -1).to(flow.dtype)
    mean = (total / count.clamp(min=1)[:, None]).reshape(frames, cells, cells, 2).permute(0, 3, 1, 2)
    return mean, (count > 0).to(flow.dtype).reshape(frames, 1, cells, cells)


def _subset(frags: Fragments, sel: Tensor) -> Fragments:
    """The covered pixels ``sel`` (bool over ``frags.pix``) of compact fragments."""
    return Fragments(frags.tri_id, frags.pix[sel], frags.tri[sel], frags.bary_c[sel],
                     frags.depth_c[sel], frags.size)


class TalkingHeadRenderer:
    """Synthesises frames for one reconstructed photo.

    Args:
        model: the face model the reconstruction was fitted with.
        recon: a :class:`~talkrig.recon.reconstruction.Reconstruction`.
        size: output frame size (square, head and shoulders, see :func:`video_crop`).
        relight: re-light skin by the ratio of new to source SH shading.
        debug: frames twice as wide, the right half overlaid with the shaded mesh.
    """

    def __init__(self, model: MorphableModel, recon, size: int = 512, relight: bool = True,
                 backend: str | RasterBackend = "auto", crop_scale: float = 2.3, work_size: int = 128,
                 falloff: float = 0.8, debug: bool = False):
        self.model = model
        self.recon = recon
        self.size = size
        self.relight = relight
        self.backend = backend
        self.crop_scale = crop_scale
        self.work_size = work_size
        self.falloff = falloff
        self.debug = debug
        self._drawn = drawn_triangles(model)
        self.faces = model.faces[self._drawn]
        self._cm = {"cm": 1.0, "mm": 10.0, "dm": 0.1, "m": 0.01}.get(model.info.units, 1.0)
        self.source = self._prepare()

    # -- set-up, once per video --------------------------------------------------------------
    def _prepare(self) -> FrameSource:
        m, r, s = self.model, self.recon, self.size
        crop = video_crop(r.bbox, r.image.shape[:2], self.crop_scale)
        cam = crop_camera(r.camera, crop, s)
        with torch.no_grad():
            v = m.vertices(r.coeffs)                       # (1, N, 3) camera space
            pos = cam.project(v)
            depth_scale = float(v[0, :, 2].abs().mean())
            zbuf = rasterize(pos, self.faces, (s, s)).depth[0]  # also kept: eyeball pixels are tested on it
            vis = vertex_visibility(pos, self.faces, (s, s), tol=0.004 * depth_scale, zbuf=zbuf)
            # back-facing vertices were not seen even when nothing covers them
            normals = m.normals(v)[0]
            facing = (-(v[0] * normals).sum(-1) > 0).float()
            shade = sh_irradiance(normals[None], r.coeffs.lighting)[0]
        # Surface points that project into the photo's open mouth were not seen as skin there
        # (the photo shows teeth or darkness): never warp lips from it.
        lm68 = np.asarray(getattr(r, "landmarks68", np.zeros((0, 2))), np.float32)
        if lm68.shape[0] == 68:
            sc = s / (crop[2] - crop[0])
            mouth = torch.from_numpy((lm68[60:68] - crop[:2]) * sc)
            vis = vis * (~points_in_polygon(pos[0, :, :2], mouth)).float()
        cls = triangle_classes(m)[self._drawn]
        if "neck" in m.region_names:
            head = torch.zeros(m.n_vertices, dtype=torch.bool)
            for name in ("face", "scalp", "ears"):
                if name in m.region_names:
                    head |= m.region(name)
            neck = m.region("neck")[self.faces].all(1) & ~head[self.faces].any(1)
            cls[neck & (cls == 0)] = NECK
        head_px = float((r.bbox[2] - r.bbox[0]) * s / (crop[2] - crop[0]))
        image = crop_image(r.image, crop, s)
        eye_ids = eyeball_vertices(m)
        eye_of_vertex = torch.full((m.n_vertices,), -1, dtype=torch.int64)
        for k, ids in enumerate(eye_ids):
            eye_of_vertex[ids] = k
        eye_tri = (eye_of_vertex[self.faces] >= 0).all(1)
        eyes, px_per_rad = self._eye_layout(v[0], eye_ids, cam, crop, image) if eye_ids else (None, 1.0)
        lm = np.asarray(getattr(r, "landmarks478", np.zeros((0, 2))), np.float32)
        points = torch.from_numpy((lm[:, :2] - crop[:2]) * (s / float(crop[2] - crop[0]))) if len(lm) >= 468 else None
        skin = torch.from_numpy(np.asarray(r.image)[np.asarray(r.skin_mask, bool)]).float() / 255 \
            if getattr(r, "skin_mask", None) is not None else None
        palette = photo_mouth_palette(image[0], points, eyes.sclera.mean(0) if eyes is not None else None,
                                      r.coeffs.lighting[0], skin)
        openings, lids, corners = self._lid_layout(pos[0, :, :2], eye_ids, points)
        return FrameSource(eye_openings=openings, lid_vertices=lids, corner_vertices=corners,
                           image=image, crop=crop, camera=cam, src_pix=pos[0, :, :2],
                           src_visible=vis * facing, src_shade=shade.clamp(min=1e-3),
                           tri_class=cls, fade=border_fade(s, s), head_px=head_px,
                           arch_mm=arch_coordinate(m, 10.0 / self._cm), crown_h=crown_height(m),
                           inward=arch_inward(m),
                           src_depth=pos[0, :, 2],
                           src_zbuf=zbuf, depth_tol=0.004 * depth_scale, eye_tri=eye_tri,
                           eye_of_vertex=eye_of_vertex, eyes=eyes, eye_px_per_rad=px_per_rad,
                           mouth=palette)

    def _lid_layout(self, src_pix: Tensor, eye_ids: list[Tensor], points: Tensor | None):
        """Per eyeball: the photo's lid opening (MediaPipe's eye outline, its upper half narrowed
        by :data:`OPENING_SHRINK` so the upper lid margin and lashes fall outside) and the model's
        upper-lid and corner vertices (iBUG 36-47), matched to the eyeball by position in
        the photo. ``(None, None, None)`` when the photo or the model lacks them."""
        lm = self.model.landmarks68
        if points is None or not eye_ids or lm.shape[0] != 68:
            return None, None, None
        groups = ((36, 37, 38, 39), (42, 43, 44, 45))   # outer corner, upper lid x2, inner corner
        outlines = [points[list(o)] for o in EYE_OUTLINES]
        openings, lids, corners = [], [], []
        for ids in eye_ids:
            c = src_pix[ids].mean(0)
            poly = min(outlines, key=lambda o: float((o.mean(0) - c).norm()))
            # only the upper lid's half (outline points 9-15) moves in: the eyeball along the
            # lower lid stays as the photo shows it
            narrowed = poly.clone()
            centre_y = poly[:, 1].mean()
            narrowed[9:, 1] = centre_y + (poly[9:, 1] - centre_y) * OPENING_SHRINK
            openings.append(narrowed)
            g = min(groups, key=lambda g: float((src_pix[lm[list(g)]].mean(0) - c).norm()))
            lids.append(lm[[g[1], g[2]]])
            corners.append(lm[[g[0], g[3]]])
        return torch.stack(openings).float(), torch.stack(lids), torch.stack(corners)

    def _lids_raised(self, pos: Tensor) -> Tensor | None:
        """``(T, E)`` bool: the upper lid of each eye stands higher above its corners than in
        the photo (by more than :data:`LID_RAISE_PX` at 512 px), so the eyeball the photo's
        lid covered is in view."""
        src = self.source
        if src.lid_vertices is None:
            return None
        y = pos[..., 1]
        height = y[:, src.corner_vertices].mean(-1) - y[:, src.lid_vertices].mean(-1)      # (T, E)
        rest = src.src_pix[src.corner_vertices, 1].mean(-1) - src.src_pix[src.lid_vertices, 1].mean(-1)
        return height - rest[None] > LID_RAISE_PX * self.size / 512.0

    def _eye_layout(self, v: Tensor, eye_ids: list[Tensor], cam: Camera, crop: np.ndarray,
                    image: Tensor) -> tuple[EyeLayout, float]:
        """Each eyeball's iris: its axis through the iris centre detected in the photo (else the
        model's iris landmark), its size and its colours measured on the photo's eye."""
        r, s, m = self.recon, self.size, self.model
        lm = np.asarray(getattr(r, "landmarks478", np.zeros((0, 2))), np.float32)
        sc = s / float(crop[2] - crop[0])
        seen = photo_eyes(image[0], torch.from_numpy((lm - crop[:2]) * sc)) if lm.shape[0] >= 478 else []
        cx, cy = cam.principal
        f = float(torch.as_tensor(cam.focal).reshape(-1)[0])
        rows, radii = [], []
        for k, ids in enumerate(eye_ids):
            c, rad = sphere_fit(v[ids])
            u, depth = cam.project(c[None, None])[0, 0].split([2, 1])
            rad_px = float(rad) * f / float(depth)
            axis, angle, sclera, iris = _model_iris_axis(m, v, c, k), IRIS_HALF_ANGLE, None, None
            if seen:  # the photo's eye nearest this eyeball
                eye = min(seen, key=lambda e: float((e.centre - u).norm()))
                sclera, iris = eye.sclera, eye.iris
                angle = math.asin(min(max(eye.radius / rad_px, 0.25), 0.6))
                x, y = float(eye.centre[0]), float(eye.centre[1])
                hit = ray_sphere(torch.tensor([(x - cx) / f, -(y - cy) / f, -1.0]), c, float(rad))
                if hit is not None:
                    cand = (hit - c) / (hit - c).norm()
                    if float(cand @ axis) > math.cos(math.radians(40)):  # a plausible gaze
                        axis = cand
            rows.append((axis_weights(v, ids, c, axis), angle, sclera, iris))
            radii.append(rad_px)
        sclera = [next((x for x in (row[2], other[2]) if x is not None), torch.tensor(DEFAULT_SCLERA))
                  for row, other in zip(rows, rows[::-1])]
        iris = [next((x for x in (row[3], other[3]) if x is not None), torch.tensor(DEFAULT_IRIS))
                for row, other in zip(rows, rows[::-1])]
        layout = EyeLayout(vertices=eye_ids, basis=torch.stack([row[0][0] for row in rows]),
                           weights=torch.stack([row[0][1] for row in rows]),
                           iris_angle=torch.tensor([row[1] for row in rows]),
                           sclera=torch.stack(sclera).float(), iris=torch.stack(iris).float())
        return layout, float(np.mean(radii))

    # -- per frame ---------------------------------------------------------------------------
    @torch.no_grad()
    def render(self, coeffs: Coefficients) -> Tensor:
        """Frames for a coefficient sequence.

        Args:
            coeffs: ``T`` frames of coefficients for ``self.model``.
        Returns:
            ``(T, S, S, 3)`` uint8 tensor (``(T, S, 2S, 3)`` with ``debug``).
        """
        return self.render_with_masks(coeffs)[0]

    @torch.no_grad()
    def render_with_masks(self, coeffs: Coefficients) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`render` plus ``(T, S, S)`` bool masks of the skin warped from the photo and
        of the shaded mouth (the conditioning maps of the neural refiner)."""
        src, s = self.source, self.size
        verts = self.model.vertices(coeffs)                # (T, N, 3)
        pos = src.camera.project(verts)
        t, dev = verts.shape[0], verts.device
        frags = rasterize(pos, self.faces, (s, s), backend=self.backend)
        cls = src.tri_class[frags.tri].long()              # (P,)
        raised = self._lids_raised(pos)
        ok, src_xy = self._source_xy(frags, cls, raised)
        out = self._warp_photo(frags, ok, src_xy)     # (T, 3, S, S)

        # colour of each covered pixel: the warped photo (in `out`), re-lit, or mouth shading
        normals = self.model.normals(verts)
        colour = out.permute(0, 2, 3, 1).contiguous().view(-1, 3)
        px = frags.pix
        pc = colour[px]
        if self.relight:
            self._relight(pc, normals, frags, cls == 0)
        hidden_eye = src.eye_tri[frags.tri] & ~ok  # all False for a model without eyeballs
        if hidden_eye.any():
            pc[hidden_eye] = self._shade_hidden_eyes(verts, frags, hidden_eye)
        mouth = self._mouth_pixels(pos, frags, cls)
        if mouth.any():
            pc[mouth] = self._shade_mouth(verts, normals, frags, cls, mouth)
        colour = colour.index_copy(0, px, pc)
        mouth_px = torch.zeros(t * s * s, dtype=torch.bool, device=dev)
        mouth_px[px[mouth]] = True
        drawn_px = mouth_px.clone()
        drawn_px[px[hidden_eye]] = True
        # the teeth's outline against tongue and cavity is a raster edge too: feathered the same way
        teeth_px = torch.zeros_like(mouth_px)
        teeth_px[px[mouth & ((cls == UPPER_TEETH) | (cls == LOWER_TEETH))]] = True
        tongue_px = torch.zeros_like(mouth_px)  # and the tongue's outline against the dark behind it
        tongue_px[px[mouth & (cls == TONGUE)]] = True
        frames = soften_edges(colour.reshape(t, s, s, 3), teeth_px.reshape(t, s, s))
        frames = soften_edges(frames, tongue_px.reshape(t, s, s))
        frames = soften_edges(frames, drawn_px.reshape(t, s, s))
        if self.debug:
            frames = self._debug_overlay(frames, normals, frags, pc)
        face = torch.zeros(t * s * s, dtype=torch.bool, device=dev)
        face[px[ok]] = True
        return ((frames.clamp(0, 1) * 255 + 0.5).to(torch.uint8), face.reshape(t, s, s),
                mouth_px.reshape(t, s, s))

    def _warp_photo(self, frags, ok: Tensor, src_xy: Tensor) -> Tensor:
        """``(T, 3, S, S)``: the photo warped by a backward flow that is exact on the seen skin
        (``ok`` pixels, from ``src_xy``) and a smooth, decaying extension everywhere else."""
        src, s, t = self.source, self.size, frags.batch
        # The flow off the face only needs to be smooth: build it on a small grid from the
        # face's own flow averaged per cell, then write the exact per-pixel flow on top. The
        # averages make the two meet at the face's edge: sampled at cell centres (a raster a
        # quarter of the frame's size), the small flow missed the face's own there by 2-3 px
        # where it was steep (a chin that moved up), the photo folded back on itself and the
        # fold showed as a thin dark line along the jaw, its chin shadow drawn twice.
        w = min(self.work_size, s)
        exact = src_xy - self._centres(frags.pix[ok], s)
        flow_s, cov_s = _cell_means(frags.pix[ok], exact, t, s, w)
        ext = push_pull_fill(flow_s, cov_s) * distance_falloff(cov_s, self.falloff * src.head_px * w / s)
        flow = F.interpolate(ext, size=(s, s), mode="bilinear", align_corners=False) * src.fade
        flow = flow.permute(0, 2, 3, 1).contiguous()      # (T, S, S, 2)
        flow.view(-1, 2).index_copy_(0, frags.pix[ok], exact)
        return warp(src.image.expand(t, -1, -1, -1), flow.permute(0, 3, 1, 2))

    def _relight(self, pc: Tensor, normals: Tensor, frags, skin: Tensor) -> None:
        """Re-light the skin pixels of ``pc`` (in place) by the ratio of the frame's SH shading
        to the photo's."""
        t = normals.shape[0]
        shade_t = sh_irradiance(normals, self.recon.coeffs.lighting.expand(t, -1))
        # square root and a tight clamp: the mesh is smoother than a real face, so the
        # full ratio draws creases as hard lines; half of it reads as natural shading
        ratio = (shade_t / self.source.src_shade[None]).sqrt().clamp(0.8, 1.25)
        rc = interpolate_compact(ratio, frags, self.faces)
        pc[skin] = pc[skin] * rc[skin]

    def _mouth_pixels(self, pos: Tensor, frags, cls: Tensor) -> Tensor:
        """``(P,)`` bool: covered pixels of teeth, tongue and cavity that show through the
        lips' opening; elsewhere (a tongue poking through a chin of an unusual identity) the
        warped photo stays."""
        mouth = (cls > 0) & (cls < NECK)
        if mouth.any():
            mouth[mouth.clone()] = self._in_lip_opening(pos, frags, mouth)
        return mouth

    def _shade_mouth(self, verts: Tensor, normals: Tensor, frags, cls: Tensor, mouth: Tensor) -> Tensor:
        """``(P_mouth, 3)`` colour of the mouth pixels under the fitted light
        (:func:`talkrig.synth.mouth.mouth_shade`)."""
        t = verts.shape[0]
        sub = _subset(frags, mouth)  # interpolate the few mouth pixels only
        n_c = interpolate_compact(normals, sub, self.faces)
        lip_depth = self._lip_depth(verts)[frags.batch_index[mouth]]
        behind = frags.depth_c[mouth] - lip_depth
        teeth = torch.stack([self.source.arch_mm, self.source.crown_h, self.source.inward], -1)
        arch = interpolate_compact(teeth[None].expand(t, -1, -1), sub, self.faces)
        # grain fixed to the surface at rest, so it moves with the mouth and never flickers
        rest_mm = interpolate_compact(self.model.mean[None].expand(t, -1, -1), sub, self.faces) * (10.0 / self._cm)
        grain = torch.stack([surface_noise(rest_mm), surface_noise(rest_mm + 17.3)], 1)
        return mouth_shade(cls[mouth], n_c, behind, self.source.mouth.table(), depth_scale=self._cm,
                           arch_mm=arch[:, 0], grain=grain, height=arch[:, 1], inward=arch[:, 2])

    def _debug_overlay(self, frames: Tensor, normals: Tensor, frags, pc: Tensor) -> Tensor:
        """Side by side: the frame, and the frame under a grey-shaded mesh."""
        t, s = frames.shape[0], self.size
        n_all = interpolate_compact(normals, frags, self.faces)
        grey = (0.25 + 0.75 * n_all[:, 2:3].clamp(min=0)).expand(-1, 3)
        over = frames.reshape(-1, 3).index_copy(0, frags.pix, 0.45 * pc + 0.55 * grey).reshape(t, s, s, 3)
        return torch.cat([frames, over], 2)

    def _source_xy(self, frags, cls: Tensor, raised: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Which covered pixels take the photo by warping (skin seen in the photo), and the
        source-crop pixel ``(P_ok, 2)`` of each of them. Eyeball pixels are judged one by
        one (their few vertices straddle the lids): seen when nothing covered their point in
        the photo's view and, where the lid has risen above its place in the photo
        (``raised``, ``(T, E)`` bool), only inside the photo's own lid opening: the fitted
        lid rarely matches the photo's to the pixel, and the lid margin and lashes left on
        the eyeball would otherwise stay behind as a dark bar across the top of the iris."""
        src, t = self.source, frags.batch
        vis = interpolate_compact(src.src_visible[None, :, None].expand(t, -1, -1), frags, self.faces)[:, 0]
        ok = (cls == 0) & (vis > 0.5)
        eye = src.eye_tri[frags.tri]
        if bool(eye.any()):
            sub = _subset(frags, eye)
            seen = self._seen_in_photo(sub)
            if raised is not None and bool(raised.any()):
                which = src.eye_of_vertex[self.faces[sub.tri, 0]]
                up = raised[sub.batch_index, which]
                xy = interpolate_compact(src.src_pix[None].expand(t, -1, -1), _subset(sub, up), self.faces)
                inside = torch.zeros(len(xy), dtype=torch.bool, device=xy.device)
                for e, opening in enumerate(src.eye_openings):
                    mine = which[up] == e
                    inside[mine] = points_in_polygon(xy[mine], opening)
                seen[up] &= inside
            ok[eye] = seen
        xy = interpolate_compact(src.src_pix[None].expand(t, -1, -1), _subset(frags, ok), self.faces)
        return ok, xy

    def _seen_in_photo(self, frags) -> Tensor:
        """``(P,)`` bool: whether each covered pixel's surface point was the nearest surface
        where it projects in the photo's view (not hidden behind a lid, say)."""
        src, t, s = self.source, frags.batch, self.size
        xy = interpolate_compact(src.src_pix[None].expand(t, -1, -1), frags, self.faces)
        z = interpolate_compact(src.src_depth[None, :, None].expand(t, -1, -1), frags, self.faces)[:, 0]
        col = xy[:, 0].floor().long().clamp(0, s - 1)
        row = xy[:, 1].floor().long().clamp(0, s - 1)
        zb = src.src_zbuf[row, col]
        return (zb > 0) & (z <= zb + src.depth_tol)

    def _shade_hidden_eyes(self, verts: Tensor, frags, hidden: Tensor) -> Tensor:
        """``(P_hidden, 3)`` colour of the eyeball pixels ``hidden`` (bool over covered
        pixels) that the photo never showed: sclera, iris and pupil (:mod:`talkrig.synth.eyes`)."""
        src = self.source
        sub = _subset(frags, hidden)
        p = interpolate_compact(verts, sub, self.faces)
        eye = src.eye_of_vertex[self.faces[sub.tri, 0]]
        b = sub.batch_index
        axes, centres = iris_axes(verts, src.eyes)
        d = p - centres[b, eye]
        cos = (d / d.norm(dim=-1, keepdim=True).clamp(min=1e-9) * axes[b, eye]).sum(-1)
        angle = torch.acos(cos.clamp(-1, 1))
        eyes = src.eyes
        return eye_shade(angle, eyes.iris_angle[eye], eyes.sclera[eye], eyes.iris[eye], src.eye_px_per_rad)

    @staticmethod
    def _centres(pix: Tensor, size: int) -> Tensor:
        """``(P, 2)`` pixel-centre (x, y) of flat indices into ``(T, size, size)`` images."""
        col = pix % size
        row = torch.div(pix, size, rounding_mode="floor") % size
        return torch.stack([col, row], -1).float() + 0.5

    def _in_lip_opening(self, pos: Tensor, frags, sel: Tensor) -> Tensor:
        """For the selected covered pixels, whether they lie inside their frame's inner-lip
        polygon (iBUG 60-67 of the posed model, grown by 20% about its centre)."""
        lm = self.model.landmarks68
        if lm.shape[0] != 68:
            return torch.ones(int(sel.sum()), dtype=torch.bool)
        poly = pos[:, lm[60:68], :2]                        # (T, 8, 2)
        c = poly.mean(1, keepdim=True)
        poly = c + 1.2 * (poly - c)
        b = frags.batch_index[sel]
        xy = self._centres(frags.pix[sel], self.size)
        return points_in_polygon(xy, poly[b])

    def _lip_depth(self, verts: Tensor) -> Tensor:
        """``(T,)`` mean depth of the lips in each frame (reference for mouth darkening)."""
        m = self.model
        pts = verts[:, m.region("lips")] if "lips" in m.region_names else verts
        return -pts[..., 2].mean(1)

    def iter_frames(self, coeffs: Coefficients, batch: int = 8) -> Iterator[np.ndarray]:
        """Yield ``(S, S, 3)`` uint8 frames, rendering ``batch`` at a time (memory stays flat)."""
        for i in range(0, coeffs.frames, batch):
            for f in self.render(coeffs[i:i + batch]):
                yield f.cpu().numpy()
