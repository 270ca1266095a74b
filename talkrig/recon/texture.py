"""UV texture taken from the photo.

Every texel of the model's UV layout is a point on the mesh (rasterize the UV triangles once per
model and size: :class:`UVLayout`). Posed with the fitted coefficients, each texel is projected
into the photo and takes the photo's colour where the z-buffer says it is visible and it faces
the camera; elsewhere it is filled from the mirror-symmetric texel (when that one was seen) and
otherwise from the per-vertex albedo lit by the fitted light, with a soft blend at grazing
angles. ``delight=True`` divides by the fitted SH irradiance, giving an albedo map.

Models whose UVs use UDIM tiles (ICT: ``u`` in [0, 7)) get the face tile ``[0, 1]`` only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkrig.model.morphable import MorphableModel
from talkrig.recon.photometric import bilinear, depth_buffer, irradiance, raster_pixels
from talkrig.render.fragments import Fragments
from talkrig.render.interpolate import interpolate_compact
from talkrig.render.shading import sh_basis


@dataclass
class UVLayout:
    """Texel -> mesh point lookup for one model at one texture size.

    Attributes:
        size: texture side ``S``.
        face_ids: ``(T,)`` triangle of each covered texel (into ``model.faces``), in texel
            order (row-major).
        bary: ``(T, 3)`` barycentrics; rows ``(T,)`` and cols ``(T,)`` texel positions
            (row 0 is the top, i.e. ``v = 1``).
        mirror: ``(T,)`` index (into these T texels) of the texel at the mirrored mesh point,
            or -1.
    """

    size: int
    face_ids: np.ndarray
    bary: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    mirror: np.ndarray
    fragments: Fragments  # the UV-space raster of model.faces (texels = covered pixels)

    @classmethod
    def build(cls, model: MorphableModel, size: int = 512) -> "UVLayout":
        uvs = model.uvs.cpu().numpy().astype(np.float64)
        uvf = model.uv_faces.cpu().numpy()
        # Some layouts overlap islands (ICT puts the eyeballs over the face in tile 0): draw
        # inner parts (eyes, teeth, mouth) "behind" the skin so the skin wins the z-test.
        tri_inner = inner_triangles(model)
        depth = np.ones(len(uvs))
        depth[np.unique(uvf[tri_inner])] = 2.0
        depth[np.unique(uvf[~tri_inner])] = 1.0
        # triangles with a corner outside the [0, 1] tile (other UDIM tiles) fall behind the
        # camera and are not drawn
        depth[~((uvs >= 0) & (uvs <= 1)).all(1)] = -1.0
        pos = np.stack([uvs[:, 0] * size, (1 - uvs[:, 1]) * size, depth], 1)
        fr = raster_pixels(pos, uvf, size, size)  # uv_faces are row-aligned with model.faces
        fr.bary_c = fr.bary_c.float().double()  # the stored (float32) weights are the ones used
        rows, cols = np.divmod(fr.pix.numpy(), size)
        face_ids = fr.tri.numpy()
        b = fr.bary_c.float().numpy()
        mirror = _mirror_texels(model, face_ids, b, rows, cols, size)
        return cls(size, face_ids.astype(np.int64), b, rows.astype(np.int32), cols.astype(np.int32),
                   mirror, fr)

    def points(self, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
        """``(T, C)`` float64 per-texel interpolation of per-vertex ``vertices (N, C)``."""
        return interpolate_compact(torch.from_numpy(np.asarray(vertices, np.float64)), self.fragments,
                                   torch.from_numpy(np.asarray(faces, np.int64))).numpy()


def _mirror_texels(model, face_ids, bary, rows, cols, size) -> np.ndarray:
    """For each texel, the texel nearest to its mirror image (x -> -x) on the mean mesh."""
    from scipy.spatial import cKDTree

    mean = model.mean.cpu().numpy()
    faces = model.faces.cpu().numpy()
    p = (mean[faces[face_ids]] * bary[..., None]).sum(1)
    tree = cKDTree(p)
    q = p * np.array([-1.0, 1.0, 1.0])
    d, j = tree.query(q, k=1)
    extent = np.linalg.norm(mean.max(0) - mean.min(0))
    j = np.where(d < 0.01 * extent, j, -1)
    return j.astype(np.int64)


INNER_REGIONS = ("eyes", "eye_left", "eye_right", "eye_extras", "teeth", "mouth_interior", "tongue", "gums_tongue")


def inner_triangles(model: MorphableModel) -> np.ndarray:
    """``(F,)`` bool: triangles of parts inside the skin (eyeballs, teeth, mouth, tongue) that the
    photo texture does not describe."""
    inner = np.zeros(model.n_vertices, bool)
    for r in INNER_REGIONS:
        if r in model.region_names:
            inner |= model.region(r).cpu().numpy()
    return inner[model.faces.cpu().numpy()].any(1)


AUTO_TEXTURE_SIZES = (512, 1024)  # 2048 costs ~1 s more per photo


def photo_texel_size(pix: np.ndarray, faces: np.ndarray, uvs: np.ndarray, uv_faces: np.ndarray) -> float:
    """Side of a UV texture whose texels are as dense as the photo's pixels over the face.

    Args:
        pix: ``(N, >=2)`` projected vertices (pixels); faces: ``(F, 3)`` vertex ids;
        uvs: ``(U, 2)``; uv_faces: ``(F, 3)`` row-aligned with ``faces``.
    Returns:
        ``sqrt(image area / UV area)`` over the camera-facing triangles inside the [0, 1] tile
        (0 when none).
    """
    def area(t: np.ndarray) -> np.ndarray:
        return 0.5 * ((t[:, 1, 0] - t[:, 0, 0]) * (t[:, 2, 1] - t[:, 0, 1])
                      - (t[:, 2, 0] - t[:, 0, 0]) * (t[:, 1, 1] - t[:, 0, 1]))

    a_img = area(np.asarray(pix, np.float64)[faces][:, :, :2])
    t_uv = np.asarray(uvs, np.float64)[uv_faces]
    a_uv = np.abs(area(t_uv))
    # the winding that most triangles share is the camera-facing one
    front = a_img < 0 if (a_img < 0).sum() > (a_img > 0).sum() else a_img > 0
    keep = front & ((t_uv >= 0) & (t_uv <= 1)).all((1, 2))
    if a_uv[keep].sum() <= 0:
        return 0.0
    return float(np.sqrt(np.abs(a_img[keep]).sum() / a_uv[keep].sum()))


def auto_texture_size(texel_size: float) -> int:
    """The smallest of :data:`AUTO_TEXTURE_SIZES` at least 3/4 of ``texel_size`` (else the
    largest): a face 280 px wide in the photo needs ~1000 texels across the UV square."""
    for size in AUTO_TEXTURE_SIZES:
        if size >= 0.75 * texel_size:
            return size
    return AUTO_TEXTURE_SIZES[-1]


def extract_texture(image: np.ndarray, layout: UVLayout, posed: np.ndarray, pix: np.ndarray,
                    faces: np.ndarray, normals: np.ndarray, vertex_albedo: np.ndarray, gamma: np.ndarray,
                    depth_tol: float, delight: bool = False,
                    zbuf: tuple[np.ndarray, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Texture map from the photo.

    Args:
        image: ``(H, W, 3)`` uint8 full-resolution photo.
        posed: ``(N, 3)`` camera-space vertices; pix ``(N, 3)`` their projections.
        normals: ``(N, 3)`` camera-space vertex normals.
        vertex_albedo: ``(N, 3)`` albedo used to fill unseen texels; gamma ``(27,)`` SH light.
        depth_tol: visibility slack in model units.
        delight: return albedo (photo / irradiance) instead of the lit photo colours.
        zbuf: a precomputed :func:`~talkrig.recon.photometric.depth_buffer` result.
    Returns:
        ``texture (S, S, 3) uint8`` and ``mask (S, S) uint8`` (255 seen, 128 filled, 0 empty).
    """
    h, w = image.shape[:2]
    s = layout.size
    both = layout.points(np.concatenate([pix, normals, vertex_albedo], 1), faces)
    tpix, tnorm, albedo = both[:, :3], both[:, 3:6], both[:, 6:9]
    tnorm /= np.maximum(np.linalg.norm(tnorm, axis=1, keepdims=True), 1e-8)
    z, sc = zbuf if zbuf is not None else depth_buffer(pix, faces, h, w)
    zh, zw = z.shape
    ii = np.clip((tpix[:, 1] * sc).astype(int), 0, zh - 1)
    jj = np.clip((tpix[:, 0] * sc).astype(int), 0, zw - 1)
    zmin = z[ii, jj]
    for di, dj in ((-1, 0), (1, 0), (0, -1), (0, 1)):
        zmin = np.minimum(zmin, z[np.clip(ii + di, 0, zh - 1), np.clip(jj + dj, 0, zw - 1)])
    inside = (tpix[:, 0] >= 0) & (tpix[:, 0] < w) & (tpix[:, 1] >= 0) & (tpix[:, 1] < h)
    facing = tnorm[:, 2]
    seen = inside & (tpix[:, 2] <= zmin + depth_tol) & (facing > 0.0)
    photo = bilinear(image, tpix[:, :2])
    basis = sh_basis(torch.as_tensor(tnorm, dtype=torch.float32)).numpy()
    irr = np.clip(irradiance(basis, gamma), 0.05, None)
    if delight:
        photo = np.clip(photo / irr, 0, 1)
        fill = albedo
    else:
        fill = np.clip(albedo * irr, 0, 1)
    # mirrored texels fill what the photo does not show
    m = layout.mirror
    mirror_ok = (m >= 0) & ~seen
    mirror_ok[mirror_ok] &= seen[m[mirror_ok]]
    fill = fill.copy()
    fill[mirror_ok] = photo[m[mirror_ok]] if delight else np.clip(
        photo[m[mirror_ok]] / irr[m[mirror_ok]] * irr[mirror_ok], 0, 1)
    wgt = np.where(seen, np.clip(facing / 0.25, 0, 1), 0.0)[:, None]
    colour = wgt * photo + (1 - wgt) * fill
    tex = np.zeros((s, s, 3), np.float32)
    mask = np.zeros((s, s), np.uint8)
    tex[layout.rows, layout.cols] = colour
    mask[layout.rows, layout.cols] = np.where(seen, 255, 128)
    tex = _dilate_into_empty(tex, mask > 0, 4)
    return (np.clip(tex, 0, 1) * 255 + 0.5).astype(np.uint8), mask


def _dilate_into_empty(tex: np.ndarray, covered: np.ndarray, steps: int) -> np.ndarray:
    """Copy the nearest covered texel into empty texels up to ``steps`` pixels past the UV
    islands (avoids dark seams when the texture is filtered)."""
    from scipy.ndimage import distance_transform_edt

    dist, (ii, jj) = distance_transform_edt(~covered, return_indices=True)
    near = ~covered & (dist <= steps)
    out = tex.copy()
    out[near] = tex[ii[near], jj[near]]
    return out
