"""Per-model precomputation reused across photos: the :class:`ModelContext`.

Building it (dense MediaPipe correspondence, surface points, the pose-dependent jaw rows, UV
layouts) costs seconds; reconstruction, video fitting, export and the regressor's synthetic
pairs all start from it, so it is built once per model and kept by :class:`ContextCache`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkrig.model.morphable import MorphableModel
from talkrig.recon.contour import ContourRows, landmark_points
from talkrig.recon.correspondence import Correspondence, get_correspondence, model_key
from talkrig.recon.fit import SurfacePoints
from talkrig.recon.landmarker import FaceLandmarker, ibug68_weights
from talkrig.recon.texture import UVLayout

IRIS_WEIGHT = 0.3  # MediaPipe's iris points sit on the eyeball, which follows gaze: trust them less


@dataclass
class ModelContext:
    """Per-model precomputation reused across photos (correspondence, surface points, UVs)."""

    model: MorphableModel
    corr: Correspondence
    surface: SurfacePoints
    weights: np.ndarray  # (478 + 68,): dense points, then the 68 iBUG points (scaled per fit)
    faces: np.ndarray
    render_ids: np.ndarray  # triangles drawn for visibility / PSNR (no mouth interior, teeth...)
    depth_tol: float
    layouts: dict
    contour: ContourRows | None = None  # pose-dependent jaw rows (None: fixed jaw vertices)
    contour_surface: SurfacePoints | None = None

    @property
    def render_faces(self) -> np.ndarray:
        return self.faces[self.render_ids]

    def layout(self, size: int) -> UVLayout:
        if size not in self.layouts:
            self.layouts[size] = UVLayout.build(self.model, size)
        return self.layouts[size]


def _append(a: SurfacePoints, b: SurfacePoints) -> SurfacePoints:
    return SurfacePoints(torch.cat([a.mean, b.mean]), torch.cat([a.id_basis, b.id_basis], 1),
                         torch.cat([a.exp_basis, b.exp_basis], 1))


def landmark_surface(model: MorphableModel, dense: SurfacePoints) -> SurfacePoints:
    """The model's 68 iBUG landmarks as surface points: the jaw (0-16) at the model's own
    landmarks (:func:`~talkrig.recon.contour.landmark_points`; the fit and :func:`model_landmarks68` move them onto the silhouette),
    every other point through the MediaPipe correspondence with the same 478 -> 68 mapping the
    detector's 68 come from (:func:`~talkrig.recon.landmarker.ibug68_weights`).

    Defined so, the model's brows, eyes, nose and lips mean what the detected ones mean; the
    hand-picked vertex ids of a model need not (the default model's brow 23 sits ~10 % of the
    eye distance away from where MediaPipe's convention puts it, its inner lips ~5 %).
    ``dense`` is the model at the 478 correspondence points.
    """
    f68, b68 = landmark_points(model)
    fixed = SurfacePoints.from_model(model, f68, b68)
    w = torch.as_tensor(ibug68_weights(), dtype=dense.mean.dtype)  # (68, 478)
    mapped = SurfacePoints(w @ dense.mean[:478], torch.einsum("lp,kpc->klc", w, dense.id_basis[:, :478]),
                           torch.einsum("lp,kpc->klc", w, dense.exp_basis[:, :478]))
    jaw = slice(0, 17)

    def mix(a: torch.Tensor, b: torch.Tensor, axis: int) -> torch.Tensor:
        a, b = a.clone(), b
        idx = [slice(None)] * a.ndim
        idx[axis] = jaw
        a[tuple(idx)] = b[tuple(idx)]
        return a

    return SurfacePoints(mix(mapped.mean, fixed.mean, 0), mix(mapped.id_basis, fixed.id_basis, 1),
                         mix(mapped.exp_basis, fixed.exp_basis, 1))


def _visible_faces(model: MorphableModel) -> np.ndarray:
    """Indices of the outer-surface triangles (mouth interior, teeth, tongue... dropped)."""
    faces = model.faces.cpu().numpy()
    names = set(model.region_names)
    drop = np.zeros(model.n_vertices, bool)
    for r in ("mouth_interior", "teeth", "tongue", "gums_tongue", "eye_extras"):
        if r in names:
            drop |= model.region(r).cpu().numpy()
    return np.flatnonzero(~drop[faces].any(1))


def build_context(model: MorphableModel, landmarker: FaceLandmarker | None = None) -> ModelContext:
    corr = get_correspondence(model, landmarker)
    faces = model.faces.cpu().numpy()
    w = corr.valid.astype(np.float32)
    w[468:] *= IRIS_WEIGHT
    fids, barys = [corr.face_ids], [corr.bary]
    surface = SurfacePoints.from_model(model, np.concatenate(fids), np.concatenate(barys))
    if len(model.landmarks68) == 68:
        surface = _append(surface, landmark_surface(model, surface))
        w = np.concatenate([w, np.ones(68, np.float32)])
    face_reg = model.region("face").cpu().numpy() if "face" in model.region_names else slice(None)
    mean = model.mean.cpu().numpy()[face_reg]
    extent = float(np.linalg.norm(mean.max(0) - mean.min(0)))
    rows = ContourRows.build(model)
    rows_surface = SurfacePoints.from_model(model, rows.face_ids, rows.bary) if rows is not None else None
    return ModelContext(model, corr, surface, w, faces, _visible_faces(model), 0.03 * extent, {}, rows, rows_surface)


class _ContextCache:
    """Loaded models and their contexts, per process, keyed by name or content."""

    def __init__(self) -> None:
        self._items: dict[str, ModelContext] = {}

    def get(self, model: str | MorphableModel) -> ModelContext:
        if isinstance(model, MorphableModel):
            key = "obj:" + model_key(model)
            if key not in self._items:
                self._items[key] = build_context(model)
            return self._items[key]
        key = "name:" + str(model)
        if key not in self._items:
            from talkrig.model import load_model

            self._items[key] = build_context(load_model(str(model)))
        return self._items[key]


_CONTEXTS = _ContextCache()


def model_context(model: str | MorphableModel = "default") -> ModelContext:
    """The cached :class:`ModelContext` for a model name, path or object."""
    return _CONTEXTS.get(model)
