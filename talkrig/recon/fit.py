"""Coarse fit: pose, identity and expression of a morphable model to 2D landmarks.

The model is evaluated only at the landmarks' surface points (barycentric combinations of
vertices, see :mod:`talkrig.recon.correspondence`), so each step costs a few small matrix
products. Pose starts from a closed-form scaled-orthographic alignment; then L-BFGS minimises

    sum_i w_i * rho(|proj(p_i) - x_i| / s)  +  priors

with ``rho`` a Cauchy (log) robust loss, ``s`` the face size, identity prior ``N(0, id_std)``
and, for ARKit-named models, blendshape weights pulled towards the landmarker's own scores and
kept in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from talkrig.model.arkit import canonical_name
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import MorphableModel
from talkrig.model.rotation import euler_to_matrix, matrix_to_euler
from talkrig.render.camera import Camera, project


@dataclass
class SurfacePoints:
    """A model evaluated at fixed surface points (barycentric in triangles).

    Attributes:
        mean: ``(P, 3)``; id_basis ``(K, P, 3)``; exp_basis ``(E, P, 3)`` (float32 tensors).
    """

    mean: Tensor
    id_basis: Tensor
    exp_basis: Tensor

    @classmethod
    def from_model(cls, model: MorphableModel, face_ids: np.ndarray, bary: np.ndarray) -> "SurfacePoints":
        tri = model.faces[torch.as_tensor(face_ids, dtype=torch.long)]  # (P, 3)
        w = torch.as_tensor(bary, dtype=torch.float32)[..., None]  # (P, 3, 1)

        def at(v: Tensor) -> Tensor:  # (..., N, 3) -> (..., P, 3)
            return (v[..., tri, :] * w).sum(-2)

        return cls(at(model.mean), at(model.id_basis), at(model.exp_basis))

    def points(self, identity: Tensor, expression: Tensor) -> Tensor:
        """``(B, P, 3)`` model-space points for ``(B, K)`` / ``(B, E)`` coefficients."""
        b = identity.shape[0]
        p = self.mean.expand(b, -1, -1)
        if self.id_basis.shape[0]:
            p = p + (identity @ self.id_basis.reshape(self.id_basis.shape[0], -1)).reshape(b, -1, 3)
        if self.exp_basis.shape[0]:
            p = p + (expression @ self.exp_basis.reshape(self.exp_basis.shape[0], -1)).reshape(b, -1, 3)
        return p


def default_focal(width: int, height: int) -> float:
    """A portrait lens guess: about 30 degrees across the longer side."""
    return 1.87 * max(width, height)


def initial_pose(model_pts: np.ndarray, image_pts: np.ndarray, weights: np.ndarray,
                 camera: Camera) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form pose from a scaled-orthographic (affine) fit.

    Args:
        model_pts: ``(P, 3)`` model-space points; image_pts ``(P, 2)`` pixels; weights ``(P,)``.
    Returns:
        ``rotation (3,)`` Euler angles and ``translation (3,)`` in camera space.
    """
    cx, cy = camera.principal
    f = float(torch.as_tensor(camera.focal).reshape(-1)[0])
    w = weights / weights.sum()
    # camera-plane coordinates, y up
    q = np.stack([image_pts[:, 0] - cx, -(image_pts[:, 1] - cy)], 1)
    mc, qc = (model_pts * w[:, None]).sum(0), (q * w[:, None]).sum(0)
    a, b = model_pts - mc, q - qc
    sw = np.sqrt(w)[:, None]
    m, *_ = np.linalg.lstsq(a * sw, b * sw, rcond=None)  # (3, 2): b ~ a @ m
    u, s, vt = np.linalg.svd(m.T, full_matrices=False)  # rows of the 2x3 projection
    r2 = u @ vt  # nearest pair of orthonormal rows
    scale = s.mean()
    r = np.vstack([r2, np.cross(r2[0], r2[1])])
    if np.linalg.det(r) < 0:
        r[2] *= -1
    depth = f / scale
    # centre of the model points lands on the image centroid at that depth
    rc = r @ mc
    t = np.array([qc[0] / scale - rc[0], qc[1] / scale - rc[1], -depth - rc[2]])
    ang = matrix_to_euler(torch.as_tensor(r, dtype=torch.float32)).numpy()
    return ang, t


def arkit_init(model: MorphableModel, blendshapes: dict[str, float] | None) -> np.ndarray:
    """``(E,)`` expression start from the landmarker's ARKit scores (zeros if not ARKit-named)."""
    e = np.zeros(model.n_expression, np.float32)
    if not blendshapes or not model.info.exp_is_blendshape:
        return e
    # models may split an ARKit shape into halves (ICT: browInnerUp_L/_R); each half gets the score
    split = {half: whole for whole, halves in (model.info.extra or {}).get("arkit_split", {}).items()
             for half in halves}
    for i, n in enumerate(model.exp_names):
        c = canonical_name(n) or split.get(n)
        if c is not None and c in blendshapes:
            e[i] = blendshapes[c]
    return e


@dataclass
class FitSettings:
    """Weights and iteration counts of the landmark fit."""

    robust_scale: float = 0.02  # Cauchy scale, fraction of the face size
    id_prior: float = 2e-3  # weight of |id / id_std|^2
    exp_prior: float = 1e-3  # weight of |e - e0|^2 (blendshapes) or |e / std|^2 (PCA)
    exp_bounds: float = 10.0  # penalty weight keeping blendshapes in [0, 1]
    rigid_iters: int = 15
    full_iters: int = 60
    fit_identity: bool = True
    fit_expression: bool = True


def fit_landmarks(model: MorphableModel, surface: SurfacePoints, target: np.ndarray,
                  weights: np.ndarray, camera: Camera, exp_init: np.ndarray | None = None,
                  settings: FitSettings | None = None) -> tuple[Coefficients, dict]:
    """Fit pose, identity and expression to 2D points.

    Args:
        model: the face model (for prior statistics and sizes).
        surface: the model at the points' surface locations (``P`` points).
        target: ``(P, 2)`` detected pixels; weights ``(P,)`` >= 0.
        camera: camera in image pixels (focal fixed).
        exp_init: ``(E,)`` starting expression (e.g. :func:`arkit_init`).
    Returns:
        ``(coeffs, info)``: coefficients (T=1; albedo zeros, lighting ambient) and a dict with
        ``rms_px`` (weighted RMS reprojection error in pixels).
    """
    st = settings or FitSettings()
    k, e_n = model.n_identity, model.n_expression
    tgt = torch.as_tensor(target, dtype=torch.float32)
    wts = torch.as_tensor(weights, dtype=torch.float32)
    wts = wts / wts.sum()
    size = float(np.linalg.norm(target.max(0) - target.min(0)))
    c_robust = st.robust_scale * size
    cx, cy = camera.principal
    focal = float(torch.as_tensor(camera.focal).reshape(-1)[0])
    e0 = torch.as_tensor(exp_init if exp_init is not None else np.zeros(e_n), dtype=torch.float32)

    with torch.no_grad():
        p0 = surface.points(torch.zeros(1, k), e0[None])[0].numpy()
    ang0, t0 = initial_pose(p0, target, weights, camera)
    depth0 = -float(t0[2])

    rot = torch.tensor(ang0, dtype=torch.float32, requires_grad=True)
    # translation in units of the initial depth keeps x, y and z equally conditioned
    tr = torch.tensor(t0 / depth0, dtype=torch.float32, requires_grad=True)
    ident = torch.zeros(k, requires_grad=True)
    expr = e0.clone().requires_grad_(True)
    id_std = model.id_std.clamp(min=1e-8)
    exp_std = model.exp_std.clamp(min=1e-8)
    blend = model.info.exp_is_blendshape

    def loss_fn(use_shape: bool) -> Tensor:
        i_ = ident * id_std if use_shape else ident.detach() * id_std
        e_ = expr if use_shape else expr.detach()
        pts = surface.points(i_[None], e_[None])
        r = euler_to_matrix(rot[None])
        cam = pts @ r.transpose(1, 2) + (tr * depth0)[None, None]
        uv = project(cam, focal, cx, cy)[0, :, :2]
        d2 = ((uv - tgt) ** 2).sum(-1) / c_robust ** 2
        loss = (wts * torch.log1p(d2)).sum()
        if use_shape:
            loss = loss + st.id_prior * (ident ** 2).sum()
            if blend:
                loss = loss + st.exp_prior * ((expr - e0) ** 2).sum()
                loss = loss + st.exp_bounds * (torch.relu(-expr) ** 2 + torch.relu(expr - 1) ** 2).sum()
            else:
                loss = loss + st.exp_prior * ((expr / exp_std) ** 2).sum()
        return loss

    def run(params, iters, use_shape):
        if iters <= 0 or not params:
            return
        opt = torch.optim.LBFGS(params, lr=1.0, max_iter=iters, history_size=20,
                                line_search_fn="strong_wolfe", tolerance_grad=1e-9, tolerance_change=1e-12)

        def closure():
            opt.zero_grad()
            loss = loss_fn(use_shape)
            loss.backward()
            return loss

        opt.step(closure)

    run([rot, tr], st.rigid_iters, False)
    shape_params = [rot, tr]
    if st.fit_identity and k:
        shape_params.append(ident)
    if st.fit_expression and e_n:
        shape_params.append(expr)
    run(shape_params, st.full_iters, True)

    with torch.no_grad():
        e_final = expr.clamp(0, 1) if blend else expr
        coeffs = model.coefficients(focal=focal)
        coeffs = coeffs.replace(identity=(ident * id_std)[None].clone(), expression=e_final[None].clone(),
                                rotation=rot[None].clone(), translation=(tr * depth0)[None].clone())
        pts = surface.points(coeffs.identity, coeffs.expression)
        cam = pts @ euler_to_matrix(coeffs.rotation).transpose(1, 2) + coeffs.translation[:, None]
        uv = project(cam, focal, cx, cy)[0, :, :2]
        err = ((uv - tgt) ** 2).sum(-1)
        rms = float(torch.sqrt((wts * err).sum()))
    return coeffs, {"rms_px": rms, "face_size_px": size}
