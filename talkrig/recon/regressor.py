"""A small learned initialiser for the landmark fit: MediaPipe's 478 points -> identity and
expression coefficients (optional; nothing uses it unless given a checkpoint).

The fit (:func:`talkrig.recon.fit.fit_landmarks`) starts from the mean face and the detector's
ARKit scores; its objective does not need a learned guess, but a guess near the answer saves
Levenberg-Marquardt iterations (each one a Jacobian over ~550 points and ~200 coefficients)
and keeps it out of poor basins on hard faces. The regressor is an MLP on the landmarks
normalised for position and scale (rotation is left in: it tells the net the pose), trained
with mean-squared error on the whitened identity (``identity / id_std``) and on the expression
(blendshape weights, or whitened PCA) of data_prep shards (``talkrig prep``'s fitted
``coef_identity`` / ``coef_expression`` next to the tracked ``landmarks``). Checkpoints are
safetensors with the sizes and the model name in their metadata.

    talkrig train-recon-init PREP_OUT -o init.safetensors [--steps N]
    talkrig recon photo.jpg -o face.npz --init init.safetensors
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from talkrig.errors import InputError

N_POINTS = 478


def normalize_landmarks(landmarks: np.ndarray | Tensor) -> Tensor:
    """``(N, 478, >=2)`` pixel landmarks -> ``(N, 478 * 2)`` float32: image x, y centred on
    their mean and divided by their RMS distance from it. MediaPipe's relative depth is left
    out: the fit does not use it either, and its scale is MediaPipe's own convention."""
    p = torch.as_tensor(np.asarray(landmarks, np.float32))
    if p.ndim != 3 or p.shape[1] != N_POINTS or p.shape[2] < 2:
        raise InputError(f"expected landmarks of shape (N, {N_POINTS}, 2 or 3), got {tuple(p.shape)}")
    p = p[..., :2] - p[..., :2].mean(1, keepdim=True)
    scale = p.pow(2).sum(-1).mean(1).sqrt().clamp(min=1e-6)
    return (p / scale[:, None, None]).reshape(len(p), -1)


@dataclass
class RegressorConfig:
    n_identity: int
    n_expression: int
    hidden: int = 256
    layers: int = 3
    model_name: str = ""
    blendshapes: bool = True  # expression targets are blendshape weights (else whitened PCA)


class CoeffRegressor(nn.Module):
    """MLP ``(N, 956)`` normalised landmarks -> ``(N, K)`` whitened identity and ``(N, E)``
    expression (see module doc). Buffers carry the model's identity / expression std so
    predictions come back in model units (:meth:`predict`)."""

    def __init__(self, config: RegressorConfig, id_std: Tensor | None = None, exp_std: Tensor | None = None):
        super().__init__()
        self.config = config
        dims = [N_POINTS * 2] + [config.hidden] * config.layers
        blocks: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            blocks += [nn.Linear(a, b), nn.LayerNorm(b), nn.GELU()]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(dims[-1], config.n_identity + config.n_expression)
        nn.init.zeros_(self.head.weight)  # an untrained net guesses the mean face, no expression
        nn.init.zeros_(self.head.bias)
        self.register_buffer("id_std", torch.ones(config.n_identity) if id_std is None else id_std.float().clone())
        self.register_buffer("exp_std", torch.ones(config.n_expression) if exp_std is None else exp_std.float().clone())

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``x (N, 956)`` -> ``(identity_whitened (N, K), expression_targets (N, E))``."""
        out = self.head(self.body(x))
        return out[:, :self.config.n_identity], out[:, self.config.n_identity:]

    @torch.no_grad()
    def predict(self, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(478, >=2)`` or ``(N, 478, >=2)`` pixel landmarks -> identity ``(K,)`` / ``(N, K)``
        and expression ``(E,)`` / ``(N, E)`` in model units (float64 numpy)."""
        lm = np.asarray(landmarks)
        single = lm.ndim == 2
        z, e = self(normalize_landmarks(lm[None] if single else lm))
        ident = (z * self.id_std).double().numpy()
        expr = (e if self.config.blendshapes else e * self.exp_std).double().numpy()
        if self.config.blendshapes:
            expr = np.clip(expr, 0.0, 1.0)
        return (ident[0], expr[0]) if single else (ident, expr)

    def save(self, path: str | Path) -> None:
        """Write a safetensors checkpoint (atomically), config in its metadata."""
        from talkrig.io.weights import save_module

        save_module(path, self, "recon_regressor", asdict(self.config))

    @classmethod
    def load(cls, path: str | Path) -> "CoeffRegressor":
        from talkrig.io.weights import read_module

        state, config = read_module(path, "recon_regressor", "recon regressor checkpoint")
        net = cls(RegressorConfig(**config))
        net.load_state_dict(state)
        return net.eval()

    def check_model(self, model) -> None:
        """Raise InputError when ``model``'s sizes differ from the ones trained for."""
        c = self.config
        if (model.n_identity, model.n_expression) != (c.n_identity, c.n_expression):
            raise InputError(f"regressor was trained for {c.model_name or 'another model'} "
                             f"({c.n_identity} identity, {c.n_expression} expression coefficients), "
                             f"not {model.name} ({model.n_identity}, {model.n_expression})")


def synthetic_pairs(model, n: int, seed: int = 0, expression_pool: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """``n`` training pairs drawn from the model itself: random identity (0.8 std, within the
    model's bounds), expression (half from ``expression_pool`` rows, e.g. tracked frames, plus
    noise; half random sparse blendshapes or PCA draws), head pose (yaw +-35, pitch +-20, roll
    +-11 degrees) and distance, the 478 MediaPipe-correspondence points projected through a
    pinhole camera as the fit projects them, with 0.3% landmark noise. Same keys as
    :func:`~talkrig.data_prep.dataset.load_prepared` (``clip`` = -1). A few hundred tracked frames of one person teach the
    net that person; these teach it the model."""
    from talkrig.model.rotation import euler_to_matrix
    from talkrig.recon.context import model_context
    from talkrig.render.camera import project

    rng = np.random.default_rng(seed)
    surf = model_context(model).surface
    k_id, k_ex = model.n_identity, model.n_expression
    id_std = model.id_std.detach().cpu().double().numpy()
    ident = rng.standard_normal((n, k_id)) * 0.8 * id_std
    bounds = (model.info.extra or {}).get("identity_bounds")
    if bounds is not None:
        ident = np.clip(ident, bounds[0], bounds[1])
    if model.info.exp_is_blendshape:
        expr = rng.uniform(0, 1, (n, k_ex)) * (rng.uniform(size=(n, k_ex)) < 0.12)
        if expression_pool is not None and len(expression_pool):
            use = rng.uniform(size=n) < 0.5
            rows = np.asarray(expression_pool, np.float64)[rng.integers(len(expression_pool), size=int(use.sum()))]
            expr[use] = rows + rng.normal(0, 0.05, rows.shape)
        expr = np.clip(expr, 0, 1)
    else:
        expr = rng.standard_normal((n, k_ex)) * 0.7 * model.exp_std.detach().cpu().double().numpy()
    with torch.no_grad():
        pts = surf.points(torch.as_tensor(ident, dtype=torch.float32),
                          torch.as_tensor(expr, dtype=torch.float32))[:, :N_POINTS].double().numpy()
    ang = np.stack([rng.uniform(-0.35, 0.35, n), rng.uniform(-0.6, 0.6, n), rng.uniform(-0.2, 0.2, n)], 1)
    rot = euler_to_matrix(torch.as_tensor(ang)).numpy()
    x = np.einsum("npk,njk->npj", pts, rot)
    x[..., 2] -= rng.uniform(35, 90, n)[:, None]  # model units are cm; the camera looks down -z
    uv = project(torch.from_numpy(x), 1000.0, 0.0, 0.0)[..., :2].numpy()
    size = np.linalg.norm(uv.max(1) - uv.min(1), axis=-1)
    uv += rng.normal(0, 1, uv.shape) * 0.003 * size[:, None, None]
    return {"landmarks": uv.astype(np.float32), "identity": ident.astype(np.float32),
            "expression": expr.astype(np.float32), "blendshapes": np.zeros((n, 52), np.float32),
            "clip": np.full(n, -1), "frame": np.zeros(n, np.int64)}


def train_regressor(data: dict[str, np.ndarray], model, steps: int = 2000, batch: int = 64,
                    lr: float = 1e-3, hidden: int = 256, seed: int = 0,
                    net: CoeffRegressor | None = None, progress=None,
                    synthetic: int = 20000) -> tuple[CoeffRegressor, list[float]]:
    """Fit a :class:`CoeffRegressor` to ``data`` (see :func:`~talkrig.data_prep.dataset.load_prepared`) with Adam.

    ``synthetic`` pairs from :func:`synthetic_pairs` (expressions seeded from ``data``) are
    mixed in, half of every batch, so the net learns the model and not only the people in
    ``data`` (trained on 150 frames of one person alone it memorised them: held-out frames
    were barely better than guessing their mean). Small landmark jitter (0.5% of the face
    size) is added to the inputs. Returns the network (eval mode) and the loss of every step.
    """
    torch.manual_seed(seed)
    blend = bool(model.info.exp_is_blendshape)
    if net is None:
        cfg = RegressorConfig(model.n_identity, model.n_expression, hidden=hidden, model_name=model.name,
                              blendshapes=blend)
        net = CoeffRegressor(cfg, model.id_std.detach().cpu(), model.exp_std.detach().cpu())
    net.check_model(model)
    def tensors(d):
        y_id = torch.as_tensor(d["identity"], dtype=torch.float32) / net.id_std.clamp(min=1e-8)
        y_ex = torch.as_tensor(d["expression"], dtype=torch.float32)
        return normalize_landmarks(d["landmarks"]), y_id, y_ex if blend else y_ex / net.exp_std.clamp(min=1e-8)

    x, y_id, y_ex = tensors(data)
    n_real = len(x)
    if synthetic > 0:
        sx, sid, sex = tensors(synthetic_pairs(model, synthetic, seed, data["expression"]))
        x, y_id, y_ex = torch.cat([x, sx]), torch.cat([y_id, sid]), torch.cat([y_ex, sex])
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    gen = torch.Generator().manual_seed(seed)
    losses = []
    net.train()
    for step in range(steps):
        if synthetic > 0:  # half real, half synthetic
            half = batch // 2
            idx = torch.cat([torch.randint(n_real, (half,), generator=gen),
                             n_real + torch.randint(len(x) - n_real, (batch - half,), generator=gen)])
        else:
            idx = torch.randint(len(x), (min(batch, len(x)),), generator=gen)
        xb = x[idx] + 0.005 * torch.randn(len(idx), x.shape[1], generator=gen)
        z, e = net(xb)
        loss = (z - y_id[idx]).pow(2).mean() + (e - y_ex[idx]).pow(2).mean() * (10.0 if blend else 1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step + 1, steps, losses[-1])
    return net.eval(), losses
