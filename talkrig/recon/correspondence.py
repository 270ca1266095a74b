"""Where MediaPipe's 478 landmarks lie on a model's surface.

A :class:`Correspondence` gives, for each MediaPipe point, a triangle of the model and
barycentric weights in it. Models may ship one (the default model's asset does); for any other
model it is computed once -- render the neutral mean face frontally with simple Lambertian skin
and dark-iris eyes, run the landmarker on that render, and back-project each point through the
rasterizer's triangle ids -- and cached under :func:`talkrig.io.cache.cache_dir`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkrig.errors import NoFaceError
from talkrig.model.geometry import vertex_normals
from talkrig.model.morphable import MorphableModel
from talkrig.recon.photometric import raster_pixels
from talkrig.render.interpolate import interpolate

N_MP = 478
VERSION = 2  # 2: lip points kept on their own lip (see _lip_fix)

# MediaPipe lip points (mouth corners left out: they belong to both lips)
UPPER_LIP = (185, 40, 39, 37, 0, 267, 269, 270, 409, 191, 80, 81, 82, 13, 312, 311, 310, 415)
LOWER_LIP = (146, 91, 181, 84, 17, 314, 405, 321, 375, 95, 88, 178, 87, 14, 317, 402, 318, 324)
RENDER_SIZE = 512


@dataclass
class Correspondence:
    """MediaPipe point -> model surface.

    Attributes:
        face_ids: ``(478,)`` int64 triangle index into ``model.faces``.
        bary: ``(478, 3)`` float32 barycentric weights (rows sum to 1).
        valid: ``(478,)`` bool, False where a point fell off the rendered surface.
    """

    face_ids: np.ndarray
    bary: np.ndarray
    valid: np.ndarray

    def points(self, vertices: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
        """``(B, 478, 3)`` surface points of ``(B, N, 3)`` vertices."""
        tri = faces[torch.as_tensor(self.face_ids, dtype=torch.long)]
        w = torch.as_tensor(self.bary, dtype=vertices.dtype, device=vertices.device)
        return (vertices[:, tri, :] * w[None, ..., None]).sum(-2)

    def save(self, path: Path) -> None:
        from talkrig.io.files import save_npz

        save_npz(path, {"face_ids": self.face_ids, "bary": self.bary, "valid": self.valid, "version": np.array(VERSION)})

    @classmethod
    def load(cls, path: Path) -> "Correspondence":
        from talkrig.io.files import load_npz

        z = load_npz(path, "MediaPipe correspondence")
        return cls(z["face_ids"].astype(np.int64), z["bary"].astype(np.float32), z["valid"].astype(bool))


def model_key(model: MorphableModel) -> str:
    """Content hash of a model's neutral geometry and topology (cache key)."""
    h = hashlib.sha1()
    h.update(model.mean.detach().cpu().numpy().tobytes())
    h.update(model.faces.detach().cpu().numpy().tobytes())
    h.update(str(VERSION).encode())
    return h.hexdigest()[:16]


def stored_correspondence(model: MorphableModel) -> Correspondence | None:
    """A correspondence shipped with the model (the default model's asset stores
    ``mp478_face`` / ``mp478_bary`` buffers), if any."""
    fid = getattr(model, "mp478_face", None)
    bary = getattr(model, "mp478_bary", None)
    if fid is None or bary is None or len(fid) != N_MP:
        return None
    fid = np.asarray(torch.as_tensor(fid).cpu(), np.int64)
    bary = np.asarray(torch.as_tensor(bary).cpu(), np.float32)
    return Correspondence(fid, bary, np.ones(len(fid), bool))


def get_correspondence(model: MorphableModel, landmarker=None) -> Correspondence:
    """The model's MediaPipe correspondence: stored, cached, or computed (then cached)."""
    stored = stored_correspondence(model)
    if stored is not None:
        return stored
    from talkrig.io.cache import cache_dir

    path = cache_dir() / f"mp478_{model.name}_{model_key(model)}.npz"
    if path.is_file():
        try:
            return Correspondence.load(path)
        except Exception:  # noqa: BLE001 - a corrupt cache entry is recomputed
            pass
    corr = compute_correspondence(model, landmarker)
    corr.save(path)
    return corr


def _render_faces(model: MorphableModel) -> np.ndarray:
    """Indices of the triangles that make up the visible head (no teeth, mouth interior,
    eyelashes...)."""
    faces = model.faces.cpu().numpy()
    names = set(model.region_names)
    want = [r for r in ("face", "head_neck", "skin", "scalp", "neck", "ears", "eye_left", "eye_right", "eyes")
            if r in names]
    if not want:
        return np.arange(len(faces))
    keep = np.zeros(model.n_vertices, bool)
    for r in want:
        keep |= model.region(r).cpu().numpy()
    for r in ("teeth", "mouth_interior", "tongue", "gums_tongue", "eye_extras"):
        if r in names:
            keep &= ~model.region(r).cpu().numpy()
    return np.flatnonzero(keep[faces].all(1))


def _eye_colour(model: MorphableModel, verts: np.ndarray) -> np.ndarray | None:
    """Per-vertex ``(N, 3)`` colours for eyeballs (white sclera, dark iris), or None."""
    names = set(model.region_names)
    col = np.zeros((model.n_vertices, 4), np.float32)  # rgb + "is eye"
    found = False
    for r in ("eye_left", "eye_right"):
        if r not in names:
            continue
        m = model.region(r).cpu().numpy()
        if not m.any():
            continue
        found = True
        ev = verts[m]
        front = ev[np.argmax(ev[:, 2])]
        radius = 0.5 * (ev[:, 0].max() - ev[:, 0].min())
        d = np.linalg.norm(ev[:, :2] - front[:2], axis=1)
        c = np.where((d < 0.45 * radius)[:, None], [0.12, 0.08, 0.06], [0.85, 0.85, 0.82])
        c = np.where((d < 0.2 * radius)[:, None], [0.02, 0.02, 0.02], c)
        col[m, :3] = c
        col[m, 3] = 1.0
    return col if found else None


def render_neutral(model: MorphableModel, size: int = RENDER_SIZE):
    """Frontal shaded render of the neutral mean face.

    Returns:
        ``(image (S, S, 3) uint8, face_ids (S, S), bary (S, S, 3), used (F',))`` where
        ``face_ids`` index ``used``, the model triangles that were drawn.
    """
    verts = model.mean.detach().cpu().numpy().astype(np.float64)
    used = _render_faces(model)
    faces = model.faces.cpu().numpy()[used]
    names = set(model.region_names)
    frame_mask = model.region("face").cpu().numpy() if "face" in names else np.ones(model.n_vertices, bool)
    fv = verts[frame_mask]
    lo, hi = fv.min(0), fv.max(0)
    centre = (lo + hi) / 2
    height = max(hi[1] - lo[1], hi[0] - lo[0])
    focal = 4.0 * size  # a long lens: nearly orthographic, like a portrait
    dist = focal * height / (0.75 * size) + hi[2]
    cam = verts - np.array([centre[0], centre[1], 0.0]) - np.array([0, 0, dist])
    pix = np.stack([size / 2 + focal * cam[:, 0] / -cam[:, 2], size / 2 - focal * cam[:, 1] / -cam[:, 2], -cam[:, 2]], 1)
    fr = raster_pixels(pix, faces, size, size)
    fid, bary = fr.tri_id[0].numpy(), fr.bary[0].float().numpy()
    f = torch.as_tensor(faces, dtype=torch.long)
    normals = vertex_normals(torch.as_tensor(verts, dtype=torch.float32)[None], f)
    n = interpolate(normals, fr, f)[0].numpy()
    light = np.array([0.25, 0.35, 1.0])
    light /= np.linalg.norm(light)
    shade = np.clip((n * light).sum(-1), 0, 1) * 0.7 + 0.3
    img = shade[..., None] * np.array([0.86, 0.66, 0.56])
    eye = _eye_colour(model, verts)
    if eye is not None:
        e = interpolate(torch.from_numpy(eye), fr, f)[0].numpy()
        img = img * (1 - e[..., 3:]) + e[..., :3] * (0.6 + 0.4 * shade[..., None])
    img[fid < 0] = 0.5
    return (np.clip(img, 0, 1) * 255).astype(np.uint8), fid, bary, used


def compute_correspondence(model: MorphableModel, landmarker=None) -> Correspondence:
    """Back-project MediaPipe landmarks found on a frontal render onto the model's surface."""
    from talkrig.recon.landmarker import shared_landmarker

    img, fid, bary, used = render_neutral(model)
    lm = landmarker or shared_landmarker()
    dets = lm.detect(img)
    if not dets:
        raise NoFaceError(f"the landmarker found no face on a render of model {model.name!r}; "
                          "cannot build its MediaPipe correspondence")
    pts = dets[0].points
    s = img.shape[0]
    ij = np.clip(np.floor(pts).astype(int), 0, s - 1)
    f_local = fid[ij[:, 1], ij[:, 0]]
    valid = f_local >= 0
    # points that miss the surface by a pixel or two: take the nearest covered pixel
    if not valid.all():
        covered = np.argwhere(fid >= 0)
        for k in np.flatnonzero(~valid):
            d = np.abs(covered - ij[k, ::-1]).sum(1)
            i, j = covered[np.argmin(d)]
            if d.min() <= 4:
                ij[k] = (j, i)
                f_local[k] = fid[i, j]
                valid[k] = True
    _lip_fix(model, used, fid, ij, f_local, valid)
    b = bary[ij[:, 1], ij[:, 0]].astype(np.float32)
    face_ids = np.where(valid, used[np.maximum(f_local, 0)], 0).astype(np.int64)
    b[~valid] = (1 / 3, 1 / 3, 1 / 3)
    return Correspondence(face_ids, b, valid)


def _lip_fix(model: MorphableModel, used: np.ndarray, fid: np.ndarray, ij: np.ndarray, f_local: np.ndarray,
             valid: np.ndarray, radius: int = 8) -> None:
    """Keep upper-lip points on the upper lip and lower-lip points on the lower one (in place).

    On the closed-mouth render the inner lip points of both lips sit on the same line, so a
    point may land on the wrong lip and then follow the wrong jaw when the mouth opens. With a
    ``jawOpen`` shape, a triangle's downward motion tells the lips apart: an upper-lip point
    whose triangle moves more than 60 % of the lips' largest motion, or a lower-lip point whose
    triangle moves less than 30 %, moves to the nearest rendered pixel (within ``radius``)
    whose triangle is on its own lip.
    """
    if not model.info.exp_is_blendshape or "jawOpen" not in model.exp_names:
        return
    dy = -model.exp_basis[model.expression_index("jawOpen")].detach().cpu().numpy()[:, 1]  # downward
    faces = model.faces.cpu().numpy()[used]
    down = dy[faces].mean(1)  # per drawn triangle
    z = model.mean.detach().cpu().numpy()[:, 2][faces].mean(1)  # towards the camera
    z_tol = 0.03 * float(np.ptp(model.mean.detach().cpu().numpy()[:, 1]))
    pts = list(UPPER_LIP) + list(LOWER_LIP)
    ok = [valid[k] and f_local[k] >= 0 for k in pts]
    if not any(ok):
        return
    ref = float(np.percentile([down[f_local[k]] for k, good in zip(pts, ok) if good], 90))
    if ref <= 0:
        return

    z_lips = float(np.median([z[f_local[k]] for k, good in zip(pts, ok) if good]))

    def right(k: int, tri: int) -> bool:
        if abs(z[tri] - z_lips) > 2 * z_tol:  # seen through the gap between the lips
            return False
        return down[tri] <= 0.6 * ref if k in UPPER_LIP else down[tri] >= 0.3 * ref

    s = fid.shape[0]
    for k in pts:
        if not valid[k] or f_local[k] < 0 or right(k, f_local[k]):
            continue
        x0, y0 = ij[k]
        best = None
        for yy in range(max(0, y0 - radius), min(s, y0 + radius + 1)):
            for xx in range(max(0, x0 - radius), min(s, x0 + radius + 1)):
                t = fid[yy, xx]
                if t >= 0 and right(k, t):
                    d = (xx - x0) ** 2 + (yy - y0) ** 2
                    if best is None or d < best[0]:
                        best = (d, xx, yy)
        if best is not None:
            ij[k] = best[1:]
            f_local[k] = fid[best[2], best[1]]
