"""3DMM coefficients for a whole clip by tracking: one identity per clip, pose and expression
per frame warm-started from the previous frame, then zero-lag smoothing.

1. Identity: recon's single-image landmark fit (:func:`talkrig.recon.fit.fit_landmarks`) on
   up to ``keyframes`` evenly spaced tracked frames; the clip's identity is their mean.
2. Per frame, identity fixed: robust Levenberg-Marquardt on pose (rotation update
   ``R <- exp([w]x) R``, translation) and expression, the same cost as recon's fit (Cauchy
   data term over MediaPipe's 478 points + iBUG-68, prior pulling blendshapes towards the
   tracker's ARKit scores). Frame ``t`` starts from frame ``t-1``'s solution, so a couple of
   iterations suffice where a cold start needs twenty.
3. Savitzky-Golay smoothing over time (centred: no lag), see :func:`fitting.smooth`.

The model, its landmark correspondence and surface points load once per worker.
"""

from __future__ import annotations

import numpy as np
import torch

from talkrig.data_prep.fitting import smooth
from talkrig.data_prep.tracking import Track
from talkrig.model.arkit import ARKIT_52
from talkrig.model.coefficients import Coefficients
from talkrig.model.rotation import euler_to_matrix, matrix_to_euler


def _skew(v: np.ndarray) -> np.ndarray:
    """``(P, 3, 3)`` cross-product matrices of ``(P, 3)`` vectors."""
    z = np.zeros(len(v))
    return np.stack([np.stack([z, -v[:, 2], v[:, 1]], -1), np.stack([v[:, 2], z, -v[:, 0]], -1),
                     np.stack([-v[:, 1], v[:, 0], z], -1)], -2)


def _exp_so3(w: np.ndarray) -> np.ndarray:
    th = float(np.linalg.norm(w))
    if th < 1e-12:
        return np.eye(3)
    k = _skew((w / th)[None])[0]
    return np.eye(3) + np.sin(th) * k + (1 - np.cos(th)) * (k @ k)


class VideoFitter:
    """Per-worker fitter for one model (``"default"``, ``"ict"`` or a path)."""

    def __init__(self, model: str = "default", keyframes: int = 4, iters: int = 3,
                 first_iters: int = 12):
        from talkrig.recon.context import model_context
        from talkrig.recon.fit import FitSettings

        self.ctx = model_context(model)
        self.keyframes, self.iters, self.first_iters = keyframes, iters, first_iters
        self.settings = FitSettings()
        m = self.ctx.model
        self.blend = bool(m.info.exp_is_blendshape)
        s = self.ctx.surface
        self.mean = s.mean.double().numpy()                       # (P, 3)
        self.id_basis = s.id_basis.double().numpy()               # (K, P, 3)
        self.exp_basis = s.exp_basis.double().numpy()             # (E, P, 3)
        self._basis_t = self.exp_basis.transpose(1, 2, 0).copy()  # (P, 3, E) for Jacobians
        w = np.asarray(self.ctx.weights, np.float64)
        self.weights = w / w.sum()
        self.exp_std = m.exp_std.double().numpy()
        from talkrig.model.arkit import canonical_name

        col = {n: i for i, n in enumerate(ARKIT_52)}
        self._arkit_cols = [(j, col[c]) for j, n in enumerate(m.exp_names)
                            if (c := canonical_name(n)) in col] if self.blend else []

    # -- inputs ------------------------------------------------------------------------
    def targets(self, track: Track) -> np.ndarray:
        """``(T, P, 2)`` pixel targets: 478 points, plus iBUG-68 when the model uses them."""
        from talkrig.recon.landmarker import mediapipe_to_ibug68

        pts = track.landmarks[:, :, :2].astype(np.float64)
        if self.mean.shape[0] > pts.shape[1]:
            pts = np.concatenate([pts, mediapipe_to_ibug68(pts)], 1)
        return pts

    def exp_init(self, blendshapes: np.ndarray) -> np.ndarray:
        """``(T, E)`` expression start / prior from ARKit scores (zeros for PCA models)."""
        e = np.zeros((blendshapes.shape[0], self.exp_basis.shape[0]))
        for j, c in self._arkit_cols:
            e[:, j] = blendshapes[:, c]
        return e

    # -- the fit -----------------------------------------------------------------------
    def identity(self, track: Track, targets: np.ndarray, e0: np.ndarray, camera) -> np.ndarray:
        """``(K,)`` clip identity: mean of single-frame fits on evenly spaced keyframes."""
        from talkrig.recon.fit import fit_landmarks

        found = np.flatnonzero(track.found)
        picks = found[np.linspace(0, len(found) - 1, min(self.keyframes, len(found))).round().astype(int)]
        ids = [fit_landmarks(self.ctx.model, self.ctx.surface, targets[i], self.ctx.weights, camera,
                             e0[i].astype(np.float32), self.settings)[0].identity[0].numpy()
               for i in picks]
        return np.mean(ids, 0).astype(np.float64)

    def fit(self, track: Track, width: int, height: int, smooth_window: int = 5) -> Coefficients:
        """Coefficients ``T = track.frames`` (albedo empty, lighting ambient, focal fixed)."""
        from talkrig.recon.fit import default_focal, initial_pose
        from talkrig.render.camera import Camera

        camera = Camera(default_focal(width, height), width, height)
        tg = self.targets(track)
        e0 = self.exp_init(track.blendshapes)
        ident = self.identity(track, tg, e0, camera)
        base = self.mean + np.tensordot(ident, self.id_basis, 1)  # (P, 3) identity-posed
        t_n, e_n = track.frames, self.exp_basis.shape[0]
        rots, trans, exps = np.zeros((t_n, 3, 3)), np.zeros((t_n, 3)), np.zeros((t_n, e_n))
        first = int(np.flatnonzero(track.found)[0])
        ang, tr = initial_pose(base + np.tensordot(e0[first], self.exp_basis, 1), tg[first],
                               self.weights, camera)
        state = (euler_to_matrix(torch.as_tensor(ang, dtype=torch.float64)).numpy(),
                 np.asarray(tr, np.float64), e0[first].copy())
        for i in range(t_n):  # first tracked frame, then onwards (and back for a leading gap)
            if track.found[i]:
                n_it = self.first_iters if i == first else self.iters
                state = self._lm(base, tg[i], e0[i], camera, *state, n_it)
            rots[i], trans[i], exps[i] = state
        if first > 0:
            rots[:first], trans[:first], exps[:first] = rots[first], trans[first], exps[first]
        ang = np.unwrap(matrix_to_euler(torch.as_tensor(rots)).numpy(), axis=0)
        exps = smooth(exps, smooth_window)
        if self.blend:
            exps = np.clip(exps, 0.0, 1.0)
        c = self.ctx.model.coefficients(frames=t_n, focal=float(camera.focal))
        return c.replace(identity=torch.as_tensor(np.tile(ident, (t_n, 1)), dtype=torch.float32),
                         expression=torch.as_tensor(exps, dtype=torch.float32),
                         rotation=torch.from_numpy(smooth(ang, smooth_window)),
                         translation=torch.from_numpy(smooth(trans, smooth_window)))

    def _lm(self, base, tgt, e_prior, camera, rot, t, e, iters: int):
        """A few damped Gauss-Newton steps on pose + expression for one frame."""
        st = self.settings
        f = float(camera.focal)
        cx, cy = camera.principal
        w = self.weights
        size = float(np.linalg.norm(tgt.max(0) - tgt.min(0)))
        c_rob2 = (st.robust_scale * size) ** 2
        scale = np.ones(len(e)) if self.blend else self.exp_std
        prior_c = e_prior if self.blend else np.zeros(len(e))
        bflat = (self.exp_basis * scale[:, None, None]).reshape(len(e), -1)
        bt = self._basis_t if self.blend else bflat.reshape(len(e), -1, 3).transpose(1, 2, 0).copy()
        c = e / scale

        def evaluate(rot, t, c):
            p = base + (c @ bflat).reshape(-1, 3)
            x = p @ rot.T + t
            uv = np.stack([cx - f * x[:, 0] / x[:, 2], cy + f * x[:, 1] / x[:, 2]], 1)
            r = uv - tgt
            cost = (w * np.log1p((r ** 2).sum(1) / c_rob2)).sum() + st.exp_prior * ((c - prior_c) ** 2).sum()
            return r, p, x, cost

        r, p, x, cur = evaluate(rot, t, c)
        lam = 1e-3
        for _ in range(iters):
            z = x[:, 2]
            jp = np.zeros((len(x), 2, 3))
            jp[:, 0, 0], jp[:, 0, 2] = -f / z, f * x[:, 0] / z ** 2
            jp[:, 1, 1], jp[:, 1, 2] = f / z, -f * x[:, 1] / z ** 2
            q = p @ rot.T
            # row a of jp times [q]x is (jp_a x q): the rotation block without 3x3 matrices
            j_rot = -np.stack([np.cross(jp[:, 0], q), np.cross(jp[:, 1], q)], 1)
            j_exp = (jp @ rot) @ bt  # (P, 2, 3) @ (P, 3, E): d uv / d expression
            jac = np.concatenate([j_rot, jp, j_exp], 2).reshape(-1, 6 + len(c))
            wi = np.repeat(w / (c_rob2 + (r ** 2).sum(1)), 2)
            jw = jac * wi[:, None]
            h, g = jw.T @ jac, jw.T @ r.reshape(-1)
            pw = st.exp_prior  # GN system of the cost halved: data J^T W J, prior pw
            h[6:, 6:] += np.eye(len(c)) * pw
            g[6:] += pw * (c - prior_c)
            for _ in range(5):
                d = -np.linalg.solve(h + lam * np.diag(np.diag(h) + 1e-12), g)
                rot_n, t_n, c_n = _exp_so3(d[:3]) @ rot, t + d[3:6], c + d[6:]
                if self.blend:
                    c_n = np.clip(c_n, 0.0, 1.0)
                r_n, p_n, x_n, new = evaluate(rot_n, t_n, c_n)
                if new <= cur:
                    rot, t, c, r, p, x, cur = rot_n, t_n, c_n, r_n, p_n, x_n, new
                    lam = max(lam / 3, 1e-7)
                    break
                lam *= 4
            else:
                break
        return rot, t, c * scale
