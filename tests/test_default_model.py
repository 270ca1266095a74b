"""The embedded default face model: loading, sizes, ARKit expressions act where they should,
identity, export and the `talkrig model` CLI."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from talkrig.cli.main import main as cli
from talkrig.model import default as default_mod
from talkrig.model.arkit import ARKIT_52
from talkrig.model.default import default_texture, load_default
from talkrig.model.morphable import REGIONS
from talkrig.model.registry import load_model


@pytest.fixture(scope="module")
def model():
    return load_default()


def disp(model, weights: dict[str, float]) -> torch.Tensor:
    """``(N, 3)`` displacement of the given expression from neutral (cm)."""
    with torch.no_grad():
        return model(expression=model.expression_vector(weights)[None])[0] - model.mean


def test_loads_fast_from_package():
    default_mod._load_cached.cache_clear()
    t = time.perf_counter()
    m = load_default()
    assert time.perf_counter() - t < 2.0
    assert load_model("default").n_vertices == m.n_vertices
    assert default_mod.asset_path().stat().st_size < 15e6


def test_sizes_and_contents(model):
    n = model.n_vertices
    assert 3000 < n < 20000 and model.info.units == "cm"
    assert model.exp_names == list(ARKIT_52) and model.exp_basis.shape == (52, n, 3)
    names = model.info.extra["identity_names"]
    assert len(names) == model.n_identity >= 50 and "macro-gender-female-male" in names
    assert model.id_std.shape == (model.n_identity,) and bool((model.id_std > 0).all())
    assert model.faces.shape[1] == 3 and int(model.faces.max()) == n - 1
    assert model.uv_faces.shape == model.faces.shape and 0 <= float(model.uvs.min()) <= float(model.uvs.max()) <= 1
    assert model.has_albedo and 0.3 < float(model.albedo_mean[model.region("face")].mean()) < 0.9
    lm = model.landmarks68
    assert lm.shape == (68,) and len(set(lm.tolist())) == 68
    assert model.mp478_bary.shape == (478, 3) and torch.allclose(model.mp478_bary.sum(1), torch.ones(478))
    assert bool((model.faces[model.mp478_face] == model.mp478_vertex[:, None]).any(1).all())
    for r in REGIONS:
        assert int(model.region(r).sum()) > 0, r
    tex = default_texture()
    assert tex.ndim == 3 and tex.shape[2] == 3


def test_geometry_is_a_plausible_head(model):
    v = model.mean
    lm = v[model.landmarks68]
    # subject's right eye (iBUG 36-41) at -x, left eye (42-47) at +x; nose tip in front; chin lowest
    assert float(lm[36:42, 0].max()) < 0 < float(lm[42:48, 0].min())
    assert int(lm[:, 2].argmax()) in (30, 31, 32, 33, 34, 35)
    assert int(lm[:17, 1].argmin()) == 8
    eye_dist = float((lm[45] - lm[36]).norm())
    assert 8.0 < eye_dist < 11.5  # outer eye corners ~9-10 cm apart in adults
    face_h = float(lm[27, 1] - lm[8, 1])
    assert 9.0 < face_h < 14.0
    # the left eyeball helper is on the subject's left (+x)
    assert float(v[model.region("eye_left"), 0].mean()) > 2 > -2 > float(v[model.region("eye_right"), 0].mean())


def test_jaw_open_moves_chin_and_lower_lip_not_forehead(model):
    d = disp(model, {"jawOpen": 1.0})
    dy = d[:, 1]
    assert float(dy[model.landmarks68[8]]) < -1.0  # menton drops > 1 cm
    assert float(dy[model.landmarks68[57]]) < -0.8  # lower lip
    assert float(dy[model.region("lower_teeth")].mean()) < -0.5
    assert float(d[model.region("forehead")].norm(dim=1).max()) < 0.05
    assert float(d[model.region("scalp")].norm(dim=1).max()) < 0.05
    assert abs(float(dy[model.landmarks68[51]])) < 0.5 * abs(float(dy[model.landmarks68[57]]))


def test_upper_incisors_show_under_the_lip_at_rest(model):
    # incisal display at rest: ~1.9 mm (men) / 3.4 mm (women), Vig & Brundo 1978
    v = model.mean
    up = v[model.region("upper_teeth")]
    front = up[(up[:, 2] > up[:, 2].max() - 0.8) & (up[:, 0].abs() < 1.0)]  # central incisors
    display = float(v[model.landmarks68[62], 1] - front[:, 1].min())
    assert 0.2 < display < 0.35
    lo = v[model.region("lower_teeth")]
    lo_front = lo[(lo[:, 2] > lo[:, 2].max() - 0.8) & (lo[:, 0].abs() < 1.0)]
    assert float(front[:, 1].min()) < float(lo_front[:, 1].max())  # overbite: uppers overlap lowers


def _lid_gap(model, v, side):
    lm = model.landmarks68
    up, lo = ((37, 38), (41, 40)) if side == "right" else ((43, 44), (47, 46))
    return float(v[lm[list(up)], 1].mean() - v[lm[list(lo)], 1].mean())


def test_eye_blink_left_closes_left_lids_only(model):
    v0 = model.mean
    v1 = v0 + disp(model, {"eyeBlinkLeft": 1.0})
    assert _lid_gap(model, v1, "left") < 0.4 * _lid_gap(model, v0, "left")
    assert abs(_lid_gap(model, v1, "right") - _lid_gap(model, v0, "right")) < 0.02
    assert float(disp(model, {"eyeBlinkLeft": 1.0})[model.region("eyelids")].norm(dim=1).max()) > 0.5


def test_smile_left_moves_left_mouth_corner_up_and_out(model):
    d = disp(model, {"mouthSmileLeft": 1.0})
    lm = model.landmarks68
    left, right = d[lm[54]], d[lm[48]]  # 54 is the subject's left corner (+x)
    assert float(left[1]) > 0.3 and float(left[0]) > 0.2
    assert float(right.norm()) < 0.1 * float(left.norm())


def test_brow_inner_up_raises_brows(model):
    d = disp(model, {"browInnerUp": 1.0})
    lm = model.landmarks68
    assert float(d[lm[[21, 22]], 1].mean()) > 0.2
    assert float(d[model.region("chin")].norm(dim=1).max()) < 0.05


def test_left_shapes_act_on_the_subjects_left(model):
    x = model.mean[:, 0]
    for name in ARKIT_52:
        if not name.endswith(("Left", "Right")):
            continue
        m = disp(model, {name: 1.0}).norm(dim=1)
        side = float((m * x).sum() / m.sum())
        assert (side > 0) == name.endswith("Left"), name


def test_eye_look_up_rotates_the_eyeball_up(model):
    d = disp(model, {"eyeLookUpLeft": 1.0})
    eye = model.region("eye_left")
    front = eye & (model.mean[:, 2] > model.mean[eye, 2].mean())
    assert float(d[front, 1].mean()) > 0.05
    assert float(d[model.region("eye_right")].norm(dim=1).max()) < 1e-3


def test_tongue_out_moves_tongue_forward(model):
    d = disp(model, {"tongueOut": 1.0})
    assert float(d[model.region("tongue"), 2].max()) > 1.0
    assert float(d[~model.region("tongue")].norm(dim=1).max()) < 1e-3


def test_identity_changes_shape_locally(model):
    names = model.info.extra["identity_names"]
    k = names.index("nose-scale-horiz-decr-incr")
    ident = torch.zeros(1, model.n_identity)
    ident[0, k] = 1.0
    with torch.no_grad():
        d = (model(identity=ident)[0] - model.mean).norm(dim=1)
    assert float(d[model.region("nose")].max()) > 0.2
    assert float(d[model.region("ears")].max()) < 0.01
    g = torch.zeros(1, model.n_identity)
    g[0, names.index("macro-gender-female-male")] = 1.0
    with torch.no_grad():
        assert float((model(identity=g)[0] - model.mean).norm(dim=1).mean()) > 0.1


def test_export_obj_ply_glb(model, tmp_path):
    trimesh = pytest.importorskip("trimesh")
    from talkrig.model.export import export_landmarks, export_mesh, read_pts

    obj = export_mesh(tmp_path / "f.obj", model.mean, model.faces, uvs=model.uvs, uv_faces=model.uv_faces,
                      texture=default_texture())
    m = trimesh.load(obj, force="mesh")
    assert m.visual.uv is not None and len(m.faces) == model.faces.shape[0]
    assert (tmp_path / "f.mtl").is_file() and (tmp_path / "f.png").is_file()
    glb = export_mesh(tmp_path / "f.glb", model.mean, model.faces, uvs=model.uvs, uv_faces=model.uv_faces,
                      texture=default_texture())
    assert len(trimesh.load(glb, force="mesh").faces) == model.faces.shape[0]
    ply = export_mesh(tmp_path / "f.ply", model.mean, model.faces, vertex_colors=model.albedo_mean)
    assert len(trimesh.load(ply).vertices) == model.n_vertices
    pts = export_landmarks(tmp_path / "l.pts", model.mean[model.landmarks68])
    assert np.allclose(read_pts(pts), model.mean[model.landmarks68, :2].numpy(), atol=1e-5)


def test_cli_export_and_errors(tmp_path, capsys):
    out, lm = tmp_path / "face.obj", tmp_path / "lm.pts"
    rc = cli(["model", "export", "default", "--expression", "jawOpen=1,mouthSmileLeft=0.5",
              "--identity", "macro-gender-female-male=0.5", "--yaw", "20", "-o", str(out), "--landmarks", str(lm)])
    assert rc == 0 and out.is_file() and lm.is_file()
    bad = tmp_path / "bad.obj"
    rc = cli(["model", "export", "default", "--expression", "jawOpne=1", "-o", str(bad)])
    err = capsys.readouterr().err
    assert rc != 0 and not bad.exists() and "jawOpne" in err and len(err.strip().splitlines()) == 1
    assert cli(["model", "export", "--identity", "nope=1", "-o", str(bad)]) != 0 and not bad.exists()
    assert cli(["model", "export", "-e", "jawOpen=x", "-o", str(bad)]) != 0
    assert cli(["model", "export", "-o", str(tmp_path / "face.stl")]) != 0
    assert cli(["model", "info"]) == 0
    assert "CC0" in capsys.readouterr().out


def _jaw_points(model) -> np.ndarray:
    f = model.faces.numpy()[model.landmarks68_face.numpy()[:17]]
    return (model.mean.numpy()[f] * model.landmarks68_bary.numpy()[:17, :, None]).sum(1)


def test_jaw_landmarks_are_an_even_symmetric_line_on_the_skin(model):
    """The jaw (0-16) transferred from the ICT model (tools/default_jaw_landmarks.py): surface
    points on the skin, mirror-symmetric like the mesh, running ear -> chin -> ear with even
    spacing, and every other landmark still at its vertex."""
    assert model.landmarks68_face.shape == (68,) and model.landmarks68_bary.shape == (68, 3)
    p = _jaw_points(model)
    assert np.allclose(p, p[::-1] * np.array([-1.0, 1.0, 1.0]), atol=0.02)  # cm
    assert abs(p[8, 0]) < 0.02 and p[8, 1] == p[:, 1].min()  # chin: lowest, on the midline
    assert (np.diff(p[:9, 1]) < 0).all()  # down to the chin...
    assert (np.diff(p[1:9, 0]) > 0).all() and abs(p[1, 0] - p[0, 0]) < 0.1  # ...and in, below the ear
    step = np.linalg.norm(np.diff(p, axis=0), axis=1)
    assert step.max() < 1.6 * step.min(), step
    skin = model.region("skin").numpy()
    ears = model.region("ears").numpy()
    tri = model.faces.numpy()[model.landmarks68_face.numpy()[:17]]
    assert skin[tri].all() and not ears[tri].any()
    lm = model.landmarks68.numpy()
    f = model.faces.numpy()[model.landmarks68_face.numpy()[17:]]
    assert (f[np.arange(51), model.landmarks68_bary.numpy()[17:].argmax(1)] == lm[17:]).all()


@pytest.mark.shared
@pytest.mark.slow
def test_jaw_transfer_from_ict_reproduces_the_asset(shared):
    """Re-running the registration against the ICT model lands on the stored jaw points
    (within 1 mm), and the registration itself is tight (ICT's face within ~1 mm of the
    default surface after TPS + non-rigid ICP)."""
    import sys
    from pathlib import Path

    ict_file = shared("models", "ICT-FaceKit-FaceXModel.tar.xz")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    from default_jaw_landmarks import load_ict, transfer_jaw

    m = load_default()
    regions = {k: m.region(k).numpy() for k in m.region_names}
    fid, bary, stats = transfer_jaw(m.mean.numpy(), m.faces.numpy(), regions, m.mp478_face.numpy(),
                                    m.mp478_bary.numpy(), load_ict(ict_file), verbose=False)
    p = (m.mean.numpy()[m.faces.numpy()[fid]] * bary[..., None]).sum(1)
    assert np.abs(p - _jaw_points(m)).max() < 0.1
    assert stats["icp_mean_cm"] < 0.15 and stats["correspondences"] > 250
