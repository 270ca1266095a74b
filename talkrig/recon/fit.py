"""Coarse fit: pose, identity and expression of a morphable model to 2D landmarks.

The model is evaluated only at the landmarks' surface points (barycentric combinations of
vertices, see :mod:`talkrig.recon.correspondence`), so each step costs a few small matrix
products. Pose starts from a closed-form scaled-orthographic alignment; then a robust
Levenberg-Marquardt solver (analytic Jacobian, IRLS weights) minimises

    sum_i w_i * rho(|proj(p_i) - x_i|)  +  priors

with ``rho(r) = log(1 + r^2 / c^2)`` (Cauchy; ``c`` a fraction of the face size), identity prior
``N(0, id_std)`` (and the model's identity bounds, if it states them) and, for ARKit-named
models, blendshape weights pulled towards the landmarker's own scores and kept in [0, 1]; PCA
expressions get ``N(0, exp_std)``. It replaced an L-BFGS version: 10x faster (0.02-0.1 s) and
it actually converges on bases of very different scales (the default model's MakeHuman targets).
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
from talkrig.render.camera import Camera


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


@dataclass
class ContourFit:
    """Dynamic jaw targets for :func:`fit_landmarks`.

    Attributes:
        rows: the candidate rows (:class:`talkrig.recon.contour.ContourRows`).
        surface: the model at the candidates (:class:`SurfacePoints`, one point per candidate).
        targets: ``(R,)`` index of the target each row is matched to.
    """

    rows: object
    surface: SurfacePoints
    targets: np.ndarray


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


def _arkit_names(model: MorphableModel) -> list[str | None]:
    """Each expression's ARKit name (None where it has none). Models may split an ARKit shape
    into halves (ICT: browInnerUp_L/_R); each half is named after the whole."""
    split = {half: whole for whole, halves in (model.info.extra or {}).get("arkit_split", {}).items()
             for half in halves}
    return [canonical_name(n) or split.get(n) for n in model.exp_names]


def arkit_init(model: MorphableModel, blendshapes: dict[str, float] | None) -> np.ndarray:
    """``(E,)`` expression start from the landmarker's ARKit scores (zeros if not ARKit-named)."""
    e = np.zeros(model.n_expression, np.float32)
    if not blendshapes or not model.info.exp_is_blendshape:
        return e
    for i, c in enumerate(_arkit_names(model)):
        if c is not None and c in blendshapes:
            e[i] = blendshapes[c]
    return e


#: What MediaPipe's landmarker scores on faces at rest: the neutral centroid of talkrig's
#: emotion judge over MEAD's neutral clips (docs/metrics.md; both sides of a pair alike). Brows
#: and upper lids that score no higher than this are where the face keeps them, not an action.
REST_SCORES = {"browInnerUp": 0.21, "browOuterUpLeft": 0.22, "browOuterUpRight": 0.22,
               "browDownLeft": 0.0, "browDownRight": 0.0, "eyeWideLeft": 0.02, "eyeWideRight": 0.02}


def rest_expression(model: MorphableModel, expression: np.ndarray,
                    blendshapes: dict[str, float] | None) -> np.ndarray:
    """``(E,)`` the part of a photo's fitted expression that is the face at rest.

    One photo cannot tell a brow that sits high from a brow that is raised: the landmark fit
    reaches the photo's brows and upper lids partly through the expression (the default model's
    fits hold browOuterUp 0.4-0.8 on neutral dev portraits whose landmarker scores are 0.03-0.16),
    so zeroing the expression for animation dropped every face's brows below the photo's and
    its neutral frames read as frowning. For the brow and upper-lid shapes (:data:`REST_SCORES`)
    the fitted weight is kept, less whatever the landmarker scores above a face at rest (that
    part is the photo's expression: a frowning photo still rests unfrowned); every other
    shape rests at 0, since speech and emotion set the mouth, jaw, gaze and blinks.

    Args:
        model: the fitted model; non-ARKit (PCA) expressions rest at 0.
        expression: ``(E,)`` fitted weights.
        blendshapes: the landmarker's ARKit scores of the photo (None: nothing is at rest).
    """
    e = np.asarray(expression, np.float32).reshape(-1)
    rest = np.zeros_like(e)
    if not blendshapes or not model.info.exp_is_blendshape:
        return rest
    for i, c in enumerate(_arkit_names(model)):
        if c in REST_SCORES and e[i] > 0:
            excess = max(0.0, float(blendshapes.get(c, 0.0)) - REST_SCORES[c])
            rest[i] = max(0.0, float(e[i]) - excess)
    return rest


@dataclass
class FitSettings:
    """Weights and iteration counts of the landmark fit.

    The default is the *plausible* preset: priors strong enough that the identity stays a
    believable head (animation re-uses it with new expressions). :meth:`tight` trades that for
    landmark accuracy (the fitted 68 follow the detector's closely, NME ~0.5 % lower on the dev
    photos, but identity coefficients run to their bounds and cheeks/skull distort).
    """

    robust_scale: float = 0.03  # Cauchy scale, fraction of the face size
    id_prior: float = 3e-4  # weight of |id / id_std|^2
    exp_prior: float = 1e-3  # weight of |e - e0|^2 (blendshapes) or |e / std|^2 (PCA)
    ibug_weight: float = 16.0  # per-point weight of the 68 iBUG points (dense points weigh 1)
    rigid_iters: int = 4
    full_iters: int = 16
    tolerance: float = 1e-4  # stop when an iteration lowers the cost by less than this fraction
    fit_identity: bool = True
    fit_expression: bool = True
    dynamic_contour: bool = True  # jaw targets matched to the model's silhouette (contour.py)

    @classmethod
    def tight(cls) -> "FitSettings":
        """Landmark-accurate preset (weak priors, the 68 points dominate)."""
        return cls(id_prior=5e-5, exp_prior=2e-4, ibug_weight=24.0)


def _skew(v: np.ndarray) -> np.ndarray:
    """``(..., 3, 3)`` cross-product matrices of ``(..., 3)`` vectors."""
    z = np.zeros(v.shape[:-1])
    return np.stack([np.stack([z, -v[..., 2], v[..., 1]], -1),
                     np.stack([v[..., 2], z, -v[..., 0]], -1),
                     np.stack([-v[..., 1], v[..., 0], z], -1)], -2)


def _rodrigues(w: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = _skew(w / th)
    return np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k)


def fit_landmarks(model: MorphableModel, surface: SurfacePoints, target: np.ndarray,
                  weights: np.ndarray, camera: Camera, exp_init: np.ndarray | None = None,
                  settings: FitSettings | None = None, contour: "ContourFit | None" = None,
                  start: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[Coefficients, dict]:
    """Fit pose, identity and expression to 2D points (robust Levenberg-Marquardt).

    The shape is linear in the coefficients and the camera a pinhole, so the Jacobian is
    written out: for a model point ``p = mean + B c`` posed as ``X = R p + t`` and projected
    with ``u = cx - f X/Z``, ``v = cy + f Y/Z``, ``dX/dc = R B``, ``dX/dt = I`` and
    ``dX/dw = -[R p]x`` for a rotation update ``R <- exp([w]x) R``. Each iteration solves the
    damped normal equations with Cauchy (IRLS) weights and Gaussian priors; blendshape weights
    are projected onto [0, 1] after every step.

    Args:
        model: the face model (for prior statistics and sizes).
        surface: the model at the points' surface locations (``P`` points).
        target: ``(P, 2)`` detected pixels; weights ``(P,)`` >= 0.
        camera: camera in image pixels (focal fixed).
        exp_init: ``(E,)`` starting expression (e.g. :func:`arkit_init`).
        contour: pose-dependent jaw points (:class:`ContourFit`): the targets it names are
            matched, at every iteration, to their row's silhouette point for the current pose
            and shape instead of a fixed surface point.
        start: ``(identity (K,), expression (E,))`` to start from (e.g. a learned
            :class:`~talkrig.recon.regressor.CoeffRegressor`'s guess) instead of the mean
            identity and ``exp_init``; the priors stay where they are, so only the path
            changes, not the objective.
    Returns:
        ``(coeffs, info)``: coefficients (T=1; albedo zeros, lighting ambient) and a dict with
        ``rms_px`` (weighted RMS reprojection error in pixels), ``face_size_px``,
        ``iterations`` and ``cost`` (the final robust objective).
    """
    st = settings or FitSettings()
    prob = _LandmarkProblem.build(model, surface, target, weights, camera, exp_init, st, contour)
    c = prob.start_coefficients(exp_init, start)
    p0 = prob.mean + (c @ prob.bflat).reshape(-1, 3)
    ang0, t = initial_pose(p0[:prob.n_pts], prob.tgt, prob.wts, camera)
    rot = euler_to_matrix(torch.as_tensor(ang0, dtype=torch.float64)).numpy()
    t = np.asarray(t, np.float64)

    r, p, x = prob.residual(rot, t, c)
    cur = prob.cost(r, c)
    lam = 1e-3
    total = st.rigid_iters + st.full_iters
    for it in range(total):
        shape_on = it >= st.rigid_iters
        if contour is not None:
            prob.reselect(rot, t, c)
            r, p, x = prob.residual(rot, t, c)
            cur = prob.cost(r, c)
        h, g = prob.normal_equations(r, p, x, rot, c, shape_on)
        gain = 0.0
        for _ in range(6):  # Levenberg-Marquardt: raise the damping until the cost falls
            a = h + lam * np.diag(np.diag(h) + 1e-12)
            try:
                delta = -np.linalg.solve(a, g)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            rot_n, t_n, c_n = prob.apply(delta, rot, t, c, shape_on)
            r_n, p_n, x_n = prob.residual(rot_n, t_n, c_n)
            new = prob.cost(r_n, c_n)
            if new <= cur:
                gain = (cur - new) / max(cur, 1e-12)
                rot, t, c, r, p, x, cur = rot_n, t_n, c_n, r_n, p_n, x_n, new
                lam = max(lam / 3, 1e-7)
                break
            lam *= 4
        if shape_on and gain < st.tolerance:
            break

    if contour is not None:
        prob.reselect(rot, t, c)
        r, p, x = prob.residual(rot, t, c)
    coeffs = prob.coefficients(model, rot, t, c)
    rms = float(np.sqrt((prob.wts * (r ** 2).sum(1)).sum()))
    return coeffs, {"rms_px": rms, "face_size_px": prob.size, "iterations": it + 1, "cost": float(cur)}


@dataclass
class _LandmarkProblem:
    """The objective of :func:`fit_landmarks` and its pieces: robust reprojection of the
    surface points (identity whitened, expression as blendshape weights or whitened PCA) plus
    Gaussian priors, with bounds on blendshape weights and bounded identities."""

    tgt: np.ndarray        # (P, 2) target pixels
    wts: np.ndarray        # (P,) weights summing to 1
    size: float            # extent of the targets (px)
    cx: float
    cy: float
    f: float
    k_id: int
    k_ex: int
    blend: bool
    id_bounds: tuple | None
    mean: np.ndarray       # (P [+ contour candidates], 3)
    bflat: np.ndarray      # (K, 3 P') basis scaled to the optimised coefficients
    basis_t: np.ndarray    # (P', 3, K)
    n_pts: int
    idx: np.ndarray        # surface point matched to each target
    scale: np.ndarray      # optimised coefficient -> model coefficient
    id_std: np.ndarray
    exp_std: np.ndarray
    c_prior: np.ndarray
    prior_w: np.ndarray
    free: np.ndarray
    c_rob2: float          # squared robust scale (px^2)
    contour: "ContourFit | None"

    @classmethod
    def build(cls, model: MorphableModel, surface: SurfacePoints, target, weights, camera: Camera,
              exp_init, st: FitSettings, contour: "ContourFit | None") -> "_LandmarkProblem":
        k_id, k_ex = model.n_identity, model.n_expression
        tgt = np.asarray(target, np.float64)
        wts = np.asarray(weights, np.float64)
        wts = wts / wts.sum()
        size = float(np.linalg.norm(tgt.max(0) - tgt.min(0)))
        cx, cy = camera.principal
        f = float(torch.as_tensor(camera.focal).reshape(-1)[0])
        blend = bool(model.info.exp_is_blendshape)
        id_bounds = (model.info.extra or {}).get("identity_bounds")  # e.g. MakeHuman targets in [-1, 1]
        e0 = np.asarray(exp_init if exp_init is not None else np.zeros(k_ex), np.float64)
        mean = surface.mean.double().numpy()
        basis = torch.cat([surface.id_basis, surface.exp_basis]).double().numpy()  # (K, P, 3)
        n_pts = len(mean)
        if contour is not None:  # candidates appended after the fixed points
            cs = contour.surface
            mean = np.concatenate([mean, cs.mean.double().numpy()])
            basis = np.concatenate([basis, torch.cat([cs.id_basis, cs.exp_basis]).double().numpy()], 1)
        id_std = model.id_std.double().clamp(min=1e-8).numpy()
        exp_std = model.exp_std.double().clamp(min=1e-8).numpy()
        # optimise whitened identity z = id / std; expression as is (blendshapes) or whitened (PCA)
        scale = np.concatenate([id_std, np.ones(k_ex) if blend else exp_std])
        basis = basis * scale[:, None, None]
        c_prior = np.concatenate([np.zeros(k_id), e0 if blend else np.zeros(k_ex)])
        prior_w = np.concatenate([np.full(k_id, st.id_prior), np.full(k_ex, st.exp_prior)])
        free = np.concatenate([np.full(k_id, st.fit_identity), np.full(k_ex, st.fit_expression)])
        return cls(tgt, wts, size, cx, cy, f, k_id, k_ex, blend, id_bounds, mean,
                   basis.reshape(len(scale), -1), np.ascontiguousarray(basis.transpose(1, 2, 0)), n_pts,
                   np.arange(n_pts), scale, id_std, exp_std, c_prior, prior_w, free,
                   (st.robust_scale * size) ** 2, contour)

    def start_coefficients(self, exp_init, start) -> np.ndarray:
        """The optimised coefficients to start from: mean identity and ``exp_init``, or ``start``."""
        e0 = np.asarray(exp_init if exp_init is not None else np.zeros(self.k_ex), np.float64)
        c = np.concatenate([np.zeros(self.k_id), e0 if self.blend else e0 / self.exp_std])
        if start is not None:
            s_id, s_ex = (np.asarray(v, np.float64).reshape(-1) for v in start)
            s_ex = np.clip(s_ex, 0.0, 1.0) if self.blend else s_ex / self.exp_std
            if self.id_bounds is not None:
                s_id = np.clip(s_id, self.id_bounds[0], self.id_bounds[1])
            c = np.concatenate([s_id / self.id_std, s_ex])
        return c

    def project_all(self, rot, t, c):
        p = self.mean + (c @ self.bflat).reshape(-1, 3)
        x = p @ rot.T + t
        z = x[:, 2]
        return np.stack([self.cx - self.f * x[:, 0] / z, self.cy + self.f * x[:, 1] / z], 1), p, x

    def residual(self, rot, t, c):
        uv, p, x = self.project_all(rot, t, c)
        return uv[self.idx] - self.tgt, p[self.idx], x[self.idx]

    def reselect(self, rot, t, c) -> None:
        """Match the contour targets to their rows' silhouette points for this pose and shape."""
        from talkrig.recon.contour import select

        uv, _, _ = self.project_all(rot, t, c)
        sel = select(self.contour.rows, uv[self.n_pts:], rot)
        self.idx[self.contour.targets] = self.n_pts + sel

    def cost(self, r, c) -> float:
        d2 = (r ** 2).sum(1)
        data = (self.wts * np.log1p(d2 / self.c_rob2)).sum()
        return data + (self.prior_w * (c - self.c_prior) ** 2).sum()

    def normal_equations(self, r, p, x, rot, c, shape_on: bool) -> tuple[np.ndarray, np.ndarray]:
        """The IRLS-weighted Gauss-Newton system ``(H, g)`` over (rotation update, translation
        [, coefficients]), with the priors and the active bounds folded in."""
        f = self.f
        z = x[:, 2]
        jp = np.zeros((len(x), 2, 3))
        jp[:, 0, 0] = -f / z
        jp[:, 0, 2] = f * x[:, 0] / z ** 2
        jp[:, 1, 1] = f / z
        jp[:, 1, 2] = -f * x[:, 1] / z ** 2
        rp = p @ rot.T
        j_rot = -(jp[:, :, :, None] * _skew(rp)[:, None]).sum(2)  # (P, 2, 3)
        cols = [j_rot, jp]
        if shape_on:  # d(uv)/dc = jp R B, batched over points
            cols.append(np.matmul(jp @ rot, self.basis_t[self.idx]))  # (P, 2, K)
        jac = np.concatenate(cols, 2)  # (P, 2, n)
        n = jac.shape[2]
        # IRLS weights of the Cauchy loss, in units of the robust scale
        d2 = (r ** 2).sum(1)
        w_i = np.repeat(self.wts / (self.c_rob2 + d2), 2)
        j2 = jac.reshape(-1, n)
        jw = j2 * w_i[:, None]
        h = jw.T @ j2
        g = jw.T @ r.reshape(-1)
        if shape_on:
            pw = self.prior_w * 0.5  # d/dc of sum(prior_w (c-c0)^2) matched to the 0.5-scaled IRLS system
            h[6:, 6:] += np.diag(pw)
            g[6:] += pw * (c - self.c_prior)
            self._freeze_active_bounds(h, g, c)
        return h, g

    def _freeze_active_bounds(self, h: np.ndarray, g: np.ndarray, c: np.ndarray) -> None:
        """Active bounds: a coefficient on its bound whose gradient pushes it outside stays put
        this iteration (projected Newton); clipping such steps instead spoiled the step for all
        the others and LM crawled (cost still falling 5 % an iteration when it stopped)."""
        k_id = self.k_id
        fixed = ~self.free
        gc = g[6:]
        if self.blend:
            e = c[k_id:]
            fixed[k_id:] |= ((e <= 0.0) & (gc[k_id:] > 0)) | ((e >= 1.0) & (gc[k_id:] < 0))
        if self.id_bounds is not None:
            lo, hi = self.id_bounds[0] / self.id_std, self.id_bounds[1] / self.id_std
            zi = c[:k_id]
            fixed[:k_id] |= ((zi <= lo + 1e-9) & (gc[:k_id] > 0)) | ((zi >= hi - 1e-9) & (gc[:k_id] < 0))
        fixed = np.flatnonzero(fixed) + 6
        h[fixed, :] = 0
        h[:, fixed] = 0
        h[fixed, fixed] = 1
        g[fixed] = 0

    def apply(self, delta, rot, t, c, shape_on: bool):
        """The pose and coefficients after a step ``delta``, projected onto the bounds."""
        rot_n = _rodrigues(delta[:3]) @ rot
        t_n = t + delta[3:6]
        c_n = c.copy()
        if shape_on:
            c_n = c + delta[6:]
            if self.blend:
                c_n[self.k_id:] = np.clip(c_n[self.k_id:], 0.0, 1.0)
            if self.id_bounds is not None:
                c_n[:self.k_id] = np.clip(c_n[:self.k_id], self.id_bounds[0] / self.id_std,
                                          self.id_bounds[1] / self.id_std)
        return rot_n, t_n, c_n

    def coefficients(self, model: MorphableModel, rot, t, c) -> Coefficients:
        """The fitted :class:`Coefficients` (T=1; albedo zeros, lighting ambient)."""
        coeffs_c = c * self.scale
        with torch.no_grad():
            coeffs = model.coefficients(focal=self.f)
            ang = matrix_to_euler(torch.as_tensor(rot, dtype=torch.float32))
            return coeffs.replace(identity=torch.as_tensor(coeffs_c[:self.k_id], dtype=torch.float32)[None],
                                  expression=torch.as_tensor(coeffs_c[self.k_id:], dtype=torch.float32)[None],
                                  rotation=ang[None], translation=torch.as_tensor(t, dtype=torch.float32)[None])
