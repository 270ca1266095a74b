"""Landmark fitting (and recon's numpy entry to talkrig.render), on synthetic faces made with the default model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkrig.model import load_model
from talkrig.model.geometry import transform
from talkrig.recon.context import model_context
from talkrig.recon.fit import FitSettings, arkit_init, default_focal, fit_landmarks, initial_pose
from talkrig.recon.photometric import depth_buffer, raster_pixels
from talkrig.render.interpolate import interpolate
from talkrig.render.camera import Camera


@pytest.fixture(scope="module")
def ctx():
    return model_context("default")


def _truth(ctx, seed=0):
    m = ctx.model
    g = torch.Generator().manual_seed(seed)
    co = m.coefficients(focal=default_focal(512, 512))
    ident = (torch.randn(1, m.n_identity, generator=g) * m.id_std * 0.5).clamp(-0.9, 0.9)
    expr = m.expression_vector({"jawOpen": 0.4, "mouthSmileLeft": 0.5, "mouthSmileRight": 0.5})[None]
    rot = torch.tensor([[0.12, -0.35, 0.05]])
    with torch.no_grad():
        size = (m.mean.max(0).values - m.mean.min(0).values).norm()
    trans = torch.tensor([[1.0, -2.0, -float(size) * 2.2]])
    return co.replace(identity=ident, expression=expr, rotation=rot, translation=trans)


def _project(ctx, co, cam):
    with torch.no_grad():
        pts = ctx.surface.points(co.identity, co.expression)
        return cam.project(transform(pts, co.rotation, co.translation))[0, :, :2].numpy()


def test_initial_pose_recovers_rigid_transform(ctx):
    cam = Camera(default_focal(512, 512), 512, 512)
    co = _truth(ctx)
    co = co.replace(identity=torch.zeros_like(co.identity), expression=torch.zeros_like(co.expression))
    target = _project(ctx, co, cam)
    p0 = ctx.surface.points(co.identity, co.expression)[0].numpy()
    ang, t = initial_pose(p0, target, np.ones(len(target)), cam)
    assert np.abs(ang - co.rotation[0].numpy()).max() < 0.1  # affine start: perspective ignored
    assert abs(t[2] / co.translation[0, 2].item() - 1) < 0.05


def test_fit_recovers_synthetic_face(ctx):
    cam = Camera(default_focal(512, 512), 512, 512)
    co = _truth(ctx)
    target = _project(ctx, co, cam)
    fit, info = fit_landmarks(ctx.model, ctx.surface, target, ctx.weights, cam,
                              settings=FitSettings(id_prior=1e-7, exp_prior=1e-7))
    assert info["rms_px"] < 0.5
    assert float((fit.rotation - co.rotation).abs().max()) < 0.03
    # the 3D shape matches, not only its projection: compare posed vertices
    with torch.no_grad():
        v_fit, v_true = ctx.model.vertices(fit), ctx.model.vertices(co)
    face = ctx.model.region("face")
    size = float((v_true[0, face].max(0).values - v_true[0, face].min(0).values).norm())
    assert float((v_fit - v_true)[0, face].norm(dim=-1).median()) < 0.03 * size
    # blendshape weights stay in range
    assert fit.expression.min() >= 0 and fit.expression.max() <= 1


def test_fit_is_robust_to_outliers(ctx):
    cam = Camera(default_focal(512, 512), 512, 512)
    co = _truth(ctx, seed=1)
    target = _project(ctx, co, cam)
    bad = target.copy()
    rng = np.random.default_rng(0)
    idx = rng.choice(478, 40, replace=False)
    bad[idx] += rng.normal(0, 40, (40, 2))  # 8 % of the points thrown far off
    fit, _ = fit_landmarks(ctx.model, ctx.surface, bad, ctx.weights, cam)
    err = np.linalg.norm(_project(ctx, fit, cam) - target, axis=1)
    good = np.setdiff1d(np.arange(len(target)), idx)
    assert np.median(err[good]) < 1.5


def test_arkit_init_uses_detector_scores():
    ict_like = load_model("default")
    e = arkit_init(ict_like, {"jawOpen": 0.7, "notAShape": 1.0})
    assert e[ict_like.expression_index("jawOpen")] == pytest.approx(0.7)
    assert e.sum() == pytest.approx(0.7)


def test_pixel_raster_covers_triangle_area():
    """recon's numpy entry to talkrig.render: coverage, depth, culling, z-test, interpolation."""
    pos = np.array([[10.0, 10.0, 5.0], [90.0, 10.0, 5.0], [10.0, 70.0, 5.0]])
    faces = np.array([[0, 2, 1]])  # counter-clockwise on screen (y down)
    fr = raster_pixels(pos, faces, 100, 100)
    fid = fr.tri_id[0].numpy()
    area = 0.5 * 80 * 60
    assert abs((fid == 0).sum() - area) < 0.03 * area
    assert np.allclose(fr.bary_c.sum(-1).numpy(), 1, atol=1e-5)
    assert np.allclose(fr.depth_c.numpy(), 5.0)
    z, scale = depth_buffer(pos, faces, 100, 100)  # back faces culled; inf where empty
    assert scale == 1.0 and np.array_equal(np.isfinite(z), fid >= 0)
    # culling drops it when it faces away
    assert fr.tri_id.max() == 0
    assert raster_pixels(pos, faces[:, ::-1].copy(), 100, 100, cull_backfaces=True).tri_id.max() == -1
    # nearer triangle wins; attribute interpolation reproduces x
    pos2 = np.vstack([pos, pos * [1, 1, 0.5]])
    f2 = np.array([[0, 2, 1], [3, 5, 4]])
    fr3 = raster_pixels(pos2, f2, 100, 100)
    fid3 = fr3.tri_id[0].numpy()
    assert set(np.unique(fid3[fid3 >= 0])) == {1}
    x = interpolate(torch.from_numpy(pos2[:, :1].astype(np.float32)), fr3, torch.from_numpy(f2))[0].numpy()
    ys, xs = np.nonzero(fid3 >= 0)
    assert np.abs(x[ys, xs, 0] - (xs + 0.5)).max() < 1e-3
