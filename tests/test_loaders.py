"""Face-model loaders and coefficient conversions.

No Basel Face Model file can be had here, so the BFM tests write small files in exactly the
distributed formats (MATLAB v5 .mat with 1-based indices, Guo et al.'s Exp_Pca.bin, statismo .h5)
and compare the loaded model with a reference computed in plain numpy from the raw arrays.
"""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest
import torch
from scipy.io import loadmat, savemat

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.model import Coefficients
from talkrig.model.convert import (from_d3dfr, load_sadtalker_mat, save_sadtalker_mat, to_d3dfr)
from talkrig.model.geometry import vertex_normals
from talkrig.model.loaders import load_path_or_name
from talkrig.model.loaders.bfm import load_bfm2009
from talkrig.model.morphable import MorphableModel
from talkrig.model.registry import load_model
from talkrig.render.camera import Camera

G = 12  # fixture grid side: BFM "53,490" vertices become G*G
N_FULL = G * G


# -- fixture geometry ------------------------------------------------------------------------

def _cap(n: int, radius_um: float = 1.0e5) -> np.ndarray:
    """An (n*n, 3) grid on a sphere cap bulging towards +z (a crude face), micrometres."""
    s = np.linspace(-0.6, 0.6, n)
    x, y = np.meshgrid(s, s[::-1])  # row 0 at the top (+y)
    z = np.sqrt(2.0 - x**2 - y**2)
    return np.stack([x, y, z], -1).reshape(-1, 3) * radius_um


def _grid_tris(rows: np.ndarray) -> np.ndarray:
    """Triangles over a grid of vertex ids ``rows (r, c)``, clockwise seen from +z."""
    a, b = rows[:-1, :-1].ravel(), rows[:-1, 1:].ravel()
    c, d = rows[1:, :-1].ravel(), rows[1:, 1:].ravel()
    # a b / c d with y decreasing down the rows: (a, b, c) runs clockwise seen from +z
    return np.concatenate([np.stack([a, b, c], 1), np.stack([b, d, c], 1)])


@pytest.fixture(scope="module")
def bfm_files(tmp_path_factory):
    """BFM 2009 + Deep3DFaceRecon's BFM folder files, tiny but in the real formats."""
    rng = np.random.default_rng(7)
    d = tmp_path_factory.mktemp("BFM")
    k_id, k_exp = 199, 79
    mu = _cap(G)
    raw = {
        "shapeMU": mu.reshape(-1, 1).astype(np.float32),
        "shapePC": rng.normal(size=(3 * N_FULL, k_id)).astype(np.float32) * 0.05,
        "shapeEV": (np.linspace(3000, 10, k_id)).reshape(-1, 1).astype(np.float32),
        "texMU": rng.uniform(60, 200, size=(3 * N_FULL, 1)).astype(np.float32),
        "texPC": rng.normal(size=(3 * N_FULL, k_id)).astype(np.float32) * 0.05,
        "texEV": np.linspace(80, 1, k_id).reshape(-1, 1).astype(np.float32),
        "tl": (_grid_tris(np.arange(N_FULL).reshape(G, G)) + 1).astype(np.float64),
    }
    savemat(d / "01_MorphableModel.mat", raw)
    # Guo et al.'s expression model covers BFM minus its top row, listed in shuffled order
    trim = rng.permutation(np.arange(G, N_FULL))  # 0-based BFM ids
    exp_mu = rng.normal(size=3 * trim.size).astype(np.float32)
    exp_pc = rng.normal(size=(k_exp, 3 * trim.size)).astype(np.float32) * 0.01
    exp_std = np.linspace(40000, 100, k_exp)
    with open(d / "Exp_Pca.bin", "wb") as fh:
        fh.write(np.int32(k_exp).tobytes() + exp_mu.tobytes() + exp_pc.tobytes())
    np.savetxt(d / "std_exp.txt", exp_std)
    savemat(d / "BFM_exp_idx.mat", {"trimIndex": (trim + 1).reshape(-1, 1).astype(np.float64)})
    # front face: the inner (G-2) x (G-2) block, in shuffled order
    inner = np.arange(N_FULL).reshape(G, G)[1:-1, 1:-1]
    order = rng.permutation(inner.size)
    front_bfm = inner.ravel()[order]  # front vertex m -> BFM vertex
    pos_in_trim = {v: i for i, v in enumerate(trim)}
    idx = np.array([pos_in_trim[v] for v in front_bfm])  # 0-based into the expression vertices
    savemat(d / "BFM_front_idx.mat", {"idx": (idx + 1).reshape(-1, 1).astype(np.float64)})
    local = np.empty(N_FULL, np.int64)
    local[front_bfm] = np.arange(front_bfm.size)
    tri = local[_grid_tris(inner)]
    m = front_bfm.size
    keypoints = rng.choice(m, 68, replace=False)
    skin = (rng.uniform(size=m) > 0.5).astype(np.float64)
    frontmask = np.sort(rng.choice(m, 40, replace=False))
    savemat(d / "facemodel_info.mat", {
        "tri": (tri + 1).astype(np.float64), "keypoints": (keypoints + 1).reshape(1, -1).astype(np.float64),
        "skinmask": skin.reshape(1, -1), "frontmask2_idx": (frontmask + 1).reshape(-1, 1).astype(np.float64),
        "point_buf": np.ones((m, 8)), "tri_mask2": (tri[:10] + 1).astype(np.float64)})
    return {"dir": d, "raw": raw, "exp_pc": exp_pc, "exp_std": exp_std, "trim": trim,
            "front_bfm": front_bfm, "idx": idx, "tri": tri, "keypoints": keypoints,
            "skin": skin.astype(bool), "frontmask": frontmask}


def reference_front_vertices(f, alpha: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """Deep3DFaceRecon's front-face vertices (decimetres, re-centred), one vertex at a time."""
    raw = f["raw"]
    out, means = [], []
    for m, g in enumerate(f["front_bfm"]):
        e = f["idx"][m]
        mean = raw["shapeMU"][3 * g: 3 * g + 3, 0].astype(np.float64) / 1e5
        ident = sum(alpha[k] * raw["shapePC"][3 * g: 3 * g + 3, k].astype(np.float64) * raw["shapeEV"][k, 0] / 1e5
                    for k in range(alpha.size))
        expr = sum(beta[j] * f["exp_pc"][j, 3 * e: 3 * e + 3].astype(np.float64) * f["exp_std"][j] / 1e5
                   for j in range(beta.size))
        means.append(mean)
        out.append(mean + ident + expr)
    return np.array(out) - np.mean(means, 0)


def _outward_fraction(model: MorphableModel) -> float:
    """Share of vertex normals pointing away from the centroid (1.0 for a well-wound cap)."""
    v = model()
    n = vertex_normals(v, model.faces)[0]
    return float(((n * (v[0] - v[0].mean(0))).sum(-1) > 0).float().mean())


# -- BFM 2009 ----------------------------------------------------------------------------------

def test_bfm2009_front_matches_reference(bfm_files):
    model = load_bfm2009(bfm_files["dir"] / "01_MorphableModel.mat", cache=False)
    m = bfm_files["front_bfm"].size
    assert (model.n_vertices, model.n_identity, model.n_expression, model.n_albedo) == (m, 80, 64, 80)
    assert model.info.units == "dm" and model.info.exp_is_blendshape is False
    assert model.exp_names[:2] == ["pca00", "pca01"]
    rng = np.random.default_rng(1)
    alpha, beta = rng.normal(size=80), rng.normal(size=64)
    got = model(torch.tensor(alpha[None], dtype=torch.float32), torch.tensor(beta[None], dtype=torch.float32))
    ref = reference_front_vertices(bfm_files, alpha, beta)
    assert np.abs(got[0].double().numpy() - ref).max() < 1e-5 * np.abs(ref).max()
    # albedo: BFM 0-255 texture -> [0, 1], same cropping
    tex = bfm_files["raw"]["texMU"].reshape(-1, 3)[bfm_files["front_bfm"]] / 255.0
    assert np.allclose(model.albedo()[0].numpy(), tex, atol=1e-6)
    assert torch.equal(model.landmarks68, torch.as_tensor(bfm_files["keypoints"]))
    assert torch.equal(model.region("skin"), torch.as_tensor(bfm_files["skin"]))
    assert sorted(model.region("face").nonzero()[:, 0].tolist()) == bfm_files["frontmask"].tolist()
    # the fixture's triangles are clockwise from outside, as the loader must detect and fix
    assert model.info.extra["flipped_winding"] is True
    assert _outward_fraction(model) > 0.99


def test_bfm2009_front_cached_and_from_front_mat(bfm_files, tmp_path):
    src = bfm_files["dir"] / "01_MorphableModel.mat"
    a = load_bfm2009(src)  # converts and caches
    t = time.perf_counter()
    b = load_path_or_name(src)  # dispatcher sniffs shapeMU, reads the cache
    assert time.perf_counter() - t < 1.0
    assert torch.equal(a.mean, b.mean) and torch.equal(a.exp_basis, b.exp_basis)
    # Deep3DFaceRecon's own BFM_model_front.mat (written here the way transferBFM09 writes it)
    raw, f = bfm_files["raw"], bfm_files
    g = f["front_bfm"]
    sel = lambda basis, n: basis[:, :n].reshape(-1, 3, n)[g].reshape(-1, n)  # noqa: E731
    front = {"meanshape": (raw["shapeMU"].reshape(-1, 3) / 1e5)[g].reshape(1, -1),
             "idBase": sel(raw["shapePC"] * raw["shapeEV"].reshape(1, -1) / 1e5, 80),
             "exBase": (f["exp_pc"].T * f["exp_std"].reshape(1, -1) / 1e5)[:, :64].reshape(-1, 3, 64)[f["idx"]].reshape(-1, 64),
             "texBase": sel(raw["texPC"] * raw["texEV"].reshape(1, -1), 80),
             "meantex": raw["texMU"].reshape(-1, 3)[g].reshape(1, -1),
             "tri": f["tri"] + 1.0, "keypoints": f["keypoints"].reshape(1, -1) + 1.0,
             "skinmask": f["skin"].astype(np.float64).reshape(1, -1),
             "frontmask2_idx": f["frontmask"].reshape(-1, 1) + 1.0, "point_buf": np.ones((g.size, 8))}
    savemat(tmp_path / "BFM_model_front.mat", front)
    c = load_path_or_name(tmp_path / "BFM_model_front.mat")
    assert c.name == "bfm-front"
    for buf in ("mean", "id_basis", "exp_basis", "albedo_mean", "albedo_basis", "faces", "landmarks68"):
        assert torch.allclose(getattr(a, buf).double(), getattr(c, buf).double(), rtol=1e-6, atol=1e-7), buf


def test_bfm2009_full_model_and_units(bfm_files, tmp_path):
    import shutil

    src = tmp_path / "01_MorphableModel.mat"  # alone: no Deep3DFaceRecon files beside it
    shutil.copy(bfm_files["dir"] / "01_MorphableModel.mat", src)
    model = load_bfm2009(src, units="mm", recenter=False, cache=False)
    raw = bfm_files["raw"]
    assert (model.n_vertices, model.n_identity, model.n_expression) == (N_FULL, 199, 0)
    assert model.info.units == "mm"
    a = np.zeros(199)
    a[3] = 1.5
    got = model(torch.tensor(a[None], dtype=torch.float32))[0].double().numpy()
    ref = (raw["shapeMU"][:, 0] + 1.5 * raw["shapePC"][:, 3].astype(np.float64) * raw["shapeEV"][3, 0]) / 1000.0
    assert np.abs(got - ref.reshape(-1, 3)).max() < 1e-4
    assert model.faces.min() == 0 and model.faces.max() == N_FULL - 1
    with pytest.raises(ModelNotFoundError, match="Exp_Pca.bin"):
        load_bfm2009(src, front=True)


def test_exp_pca_bin_size_checked(bfm_files, tmp_path):
    import shutil

    d = tmp_path / "BFM"
    shutil.copytree(bfm_files["dir"], d)
    data = (d / "Exp_Pca.bin").read_bytes()
    (d / "Exp_Pca.bin").write_bytes(data[:-8])
    with pytest.raises(InputError, match="Exp_Pca.bin"):
        load_bfm2009(d / "01_MorphableModel.mat", cache=False)


# -- BFM 2017 / 2019 ---------------------------------------------------------------------------

def _orthonormal(rng, rows: int, cols: int) -> np.ndarray:
    q, _ = np.linalg.qr(rng.normal(size=(rows, cols)))
    return q.astype(np.float32)


@pytest.fixture(scope="module")
def bfm_h5(tmp_path_factory):
    rng = np.random.default_rng(3)
    path = tmp_path_factory.mktemp("bfm17") / "model2017-1_face12_nomouth.h5"
    pts = (_cap(G) / 1000.0).astype(np.float32)  # micrometres -> mm
    cells = _grid_tris(np.arange(N_FULL).reshape(G, G))[:, [0, 2, 1]].T  # (3, F), outward
    arrays = {}
    with h5py.File(path, "w") as f:
        for group, k, mean in (("shape", 30, pts.reshape(-1)),
                               ("expression", 10, rng.normal(size=3 * N_FULL).astype(np.float32) * 0.1),
                               ("color", 20, rng.uniform(0.2, 0.8, size=3 * N_FULL).astype(np.float32))):
            basis, var = _orthonormal(rng, 3 * N_FULL, k), np.linspace(400, 1, k).astype(np.float32)
            f[f"{group}/model/mean"] = mean
            f[f"{group}/model/pcaBasis"] = basis
            f[f"{group}/model/pcaVariance"] = var
            f[f"{group}/model/noiseVariance"] = np.float32(0.0)
            f[f"{group}/representer/points"] = pts.T
            f[f"{group}/representer/cells"] = cells.astype(np.int32)
            arrays[group] = (mean.astype(np.float64), basis.astype(np.float64), var.astype(np.float64))
    return path, arrays, cells


def test_bfm_h5_matches_reference(bfm_h5):
    path, arr, cells = bfm_h5
    model = load_path_or_name(path)
    assert model.name == "bfm2017" and model.info.units == "dm"
    assert (model.n_identity, model.n_expression, model.n_albedo) == (30, 10, 20)
    rng = np.random.default_rng(4)
    a, e, t = rng.normal(size=30), rng.normal(size=10), rng.normal(size=20)
    got = model(torch.tensor(a[None], dtype=torch.float32), torch.tensor(e[None], dtype=torch.float32))
    (sm, sb, sv), (em, eb, ev), (cm, cb, cv) = arr["shape"], arr["expression"], arr["color"]
    ref_mm = sm + em + sb @ (np.sqrt(sv) * a) + eb @ (np.sqrt(ev) * e)
    assert np.abs(got[0].double().numpy().reshape(-1) - ref_mm / 100.0).max() < 1e-5
    alb = model.albedo(torch.tensor(t[None], dtype=torch.float32))[0].double().numpy().reshape(-1)
    assert np.abs(alb - (cm + cb @ (np.sqrt(cv) * t))).max() < 1e-5
    assert torch.equal(model.faces, torch.as_tensor(cells.T.astype(np.int64)))
    assert model.info.extra["flipped_winding"] is False and _outward_fraction(model) > 0.99
    mm = load_path_or_name(path, units="mm", n_id=5)
    assert mm.n_identity == 5 and torch.allclose(mm.mean, model.mean * 100, rtol=1e-6)


def test_dispatcher_errors(tmp_path):
    with pytest.raises(ModelNotFoundError, match="expected 'default', 'ict'"):
        load_path_or_name("no-such-model")
    savemat(tmp_path / "x.mat", {"coeff_3dmm": np.zeros((2, 73), np.float32)})
    with pytest.raises(ModelNotFoundError, match="SadTalker coefficient file"):
        load_path_or_name(tmp_path / "x.mat")
    (tmp_path / "junk.h5").write_bytes(b"not hdf5")
    with pytest.raises(InputError, match="HDF5"):
        load_model(str(tmp_path / "junk.h5"))
    with pytest.raises(ModelNotFoundError, match="folder without an ICT"):
        load_model(str(tmp_path))


# -- Deep3DFaceRecon 257-vectors ---------------------------------------------------------------

def _d3dfr_vectors(t: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(t, 257)).astype(np.float32)
    v[:, 224:227] *= 0.3  # angles
    v[:, 227:254] *= 0.2  # gamma offsets
    v[:, 254:257] *= 0.3  # trans (dm)
    return v


def test_d3dfr_round_trip_exact():
    v = _d3dfr_vectors(40)
    c = from_d3dfr(v)
    back = to_d3dfr(c).numpy()
    offset_cols = [227, 236, 245, 256]  # light DC terms and trans z go through an offset
    exact = np.setdiff1d(np.arange(257), offset_cols)
    assert np.array_equal(back[:, exact], v[:, exact])
    assert np.abs(back[:, offset_cols[:3]] - v[:, offset_cols[:3]]).max() <= 6e-8
    assert np.abs(back[:, 256] - v[:, 256]).max() <= 4.8e-7
    # Coefficients -> 257 -> Coefficients is exact too
    again = from_d3dfr(to_d3dfr(c))
    assert torch.equal(again.identity, c.identity) and torch.equal(again.rotation, c.rotation)
    assert torch.allclose(again.lighting, c.lighting, rtol=0, atol=1.2e-7)
    assert torch.allclose(again.translation, c.translation, rtol=0, atol=1e-6)
    assert torch.all(c.lighting[:, [0, 9, 18]] == torch.from_numpy(v[:, [227, 236, 245]] + np.float32(0.8)))
    assert torch.all(c.focal == 1015.0) and from_d3dfr(v, image_size=512).focal[0] == pytest.approx(1015 * 512 / 224)
    zero = from_d3dfr(np.zeros(257))  # Deep3DFaceRecon's "nothing predicted" = talkrig's default light
    defaults = Coefficients.zeros(80, 64, 80, distance=10.0, focal=1015.0)
    assert torch.equal(zero.lighting, defaults.lighting) and torch.equal(zero.translation, defaults.translation)


def _d3dfr_project(model: MorphableModel, vec: np.ndarray) -> np.ndarray:
    """Deep3DFaceRecon's compute_for_render geometry path, rewritten in numpy: rotation matrix
    transposed and right-multiplied, camera at z = 10, focal 1015, centre 112, image v flipped."""
    ident, exp = vec[:, :80], vec[:, 80:144]
    ang, trans = vec[:, 224:227].astype(np.float64), vec[:, 254:257].astype(np.float64)
    shape = (model.mean.double().numpy()[None]
             + np.einsum("bk,knc->bnc", ident, model.id_basis.double().numpy())
             + np.einsum("bk,knc->bnc", exp, model.exp_basis.double().numpy()))
    out = []
    for b in range(vec.shape[0]):
        x, y, z = ang[b]
        rx = np.array([[1, 0, 0], [0, np.cos(x), -np.sin(x)], [0, np.sin(x), np.cos(x)]])
        ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
        rz = np.array([[np.cos(z), -np.sin(z), 0], [np.sin(z), np.cos(z), 0], [0, 0, 1]])
        rot = (rz @ ry @ rx).T
        p = shape[b] @ rot + trans[b]
        p[:, 2] = 10.0 - p[:, 2]
        proj = p @ np.array([[1015.0, 0, 112], [0, 1015.0, 112], [0, 0, 1]]).T
        uv = proj[:, :2] / proj[:, 2:]
        uv[:, 1] = 224 - uv[:, 1]  # their "y direction is opposite to v direction"
        out.append(uv)
    return np.array(out)


def test_d3dfr_projection_matches_talkrig_camera(bfm_files):
    model = load_bfm2009(bfm_files["dir"] / "01_MorphableModel.mat", cache=False)
    vec = _d3dfr_vectors(5, seed=2)
    vec[:, :144] *= 0.5
    c = from_d3dfr(vec)
    pix = Camera(c.focal[0].item(), 224, 224).project(model.vertices(c))[..., :2].double().numpy()
    ref = _d3dfr_project(model, vec)
    assert np.abs(pix - ref).max() < 2e-3  # pixels (float32 pipeline vs float64 reference)
    mm = from_d3dfr(vec, units="mm")
    assert torch.allclose(mm.translation, c.translation * 100, rtol=1e-6)


def test_to_d3dfr_rejects_wrong_sizes():
    with pytest.raises(InputError, match="80 identity"):
        to_d3dfr(Coefficients.zeros(100, 64, 80))
    with pytest.raises(InputError, match=r"\(T, 257\)"):
        from_d3dfr(np.zeros((2, 256)))


# -- SadTalker .mat ----------------------------------------------------------------------------

def test_sadtalker_mat_round_trip(tmp_path):
    t = 6
    full = _d3dfr_vectors(1, seed=5)
    sem = np.concatenate([_d3dfr_vectors(t, seed=6)[:, 80:144], _d3dfr_vectors(t, seed=7)[:, 224:227],
                          _d3dfr_vectors(t, seed=8)[:, 254:257],
                          np.tile(np.float32([[0.4, 140.2, 131.5]]), (t, 1))], 1).astype(np.float32)
    # full_3dmm is frame 0's whole vector, so its exp/angle/trans equal coeff_3dmm[0]'s
    full[:, 80:144], full[:, 224:227], full[:, 254:257] = sem[:1, :64], sem[:1, 64:67], sem[:1, 67:70]
    src = tmp_path / "portrait.mat"
    savemat(src, {"coeff_3dmm": sem, "full_3dmm": full})  # as SadTalker's CropAndExtract writes it
    coeffs, crop = load_sadtalker_mat(src)
    assert coeffs.frames == t and torch.equal(crop, torch.from_numpy(sem[:, 70:73]))
    assert torch.equal(coeffs.expression, torch.from_numpy(sem[:, :64]))
    assert torch.equal(coeffs.rotation, torch.from_numpy(sem[:, 64:67]))
    assert torch.equal(coeffs.identity, torch.from_numpy(full[:, :80]).expand(t, -1))
    out = tmp_path / "back.mat"
    save_sadtalker_mat(out, coeffs, crop)
    back = loadmat(out)
    assert back["coeff_3dmm"].dtype == np.float32 and back["coeff_3dmm"].shape == (t, 73)
    assert np.array_equal(np.delete(back["coeff_3dmm"], 69, 1), np.delete(sem, 69, 1))
    assert np.abs(back["coeff_3dmm"][:, 69] - sem[:, 69]).max() <= 4.8e-7
    assert np.allclose(back["full_3dmm"], full, rtol=0, atol=4.8e-7)
    # the 70-column files SadTalker's audio-to-coefficient stage writes
    savemat(tmp_path / "anim.mat", {"coeff_3dmm": sem[:, :70]})
    c70, crop70 = load_sadtalker_mat(tmp_path / "anim.mat")
    assert crop70 is None and torch.all(c70.identity == 0) and torch.all(c70.lighting[:, 0] == np.float32(0.8))
    with pytest.raises(InputError, match="coeff_3dmm"):
        savemat(tmp_path / "bad.mat", {"coeff_3dmm": np.zeros((3, 71))})
        load_sadtalker_mat(tmp_path / "bad.mat")


# -- ICT-FaceKit (needs ../shared) ------------------------------------------------------------

@pytest.fixture(scope="module")
def ict_model():
    from conftest import shared_path

    tarball = shared_path("models", "ICT-FaceKit-FaceXModel.tar.xz")
    from talkrig.model.loaders.ict import load_ict

    t = time.perf_counter()
    model = load_ict(tarball)
    first = time.perf_counter() - t
    return tarball, model, first


def _obj_vertices_from_tar(tarball, names: list[str]) -> dict[str, np.ndarray]:
    """Reference: read OBJ vertex lines the slow, obvious way."""
    import tarfile

    out = {}
    with tarfile.open(tarball) as tar:
        for m in tar:
            base = m.name.rsplit("/", 1)[-1]
            if base in names:
                text = tar.extractfile(m).read().decode()
                out[base] = np.array([[float(t) for t in ln.split()[1:4]] for ln in text.splitlines()
                                      if ln.startswith("v ")])
    return out


@pytest.mark.slow
@pytest.mark.shared
def test_ict_shapes_match_objs(ict_model):
    tarball, model, first = ict_model
    assert (model.n_vertices, model.n_identity, model.faces.shape[0]) == (26719, 100, 52220)
    assert model.info.units == "cm" and model.info.exp_is_blendshape
    assert "MIT License" in model.info.licence and "Institute for Creative Technologies" in model.info.licence
    ids, exps = [0, 17, 99], ["jawOpen", "eyeBlink_L", "mouthSmile_R", "cheekPuff_L", "PupilDilate_R"]
    ref = _obj_vertices_from_tar(tarball, ["generic_neutral_mesh.obj"] + [f"identity{k:03d}.obj" for k in ids]
                                 + [f"{e}.obj" for e in exps])
    neutral = ref["generic_neutral_mesh.obj"]
    assert np.abs(model.mean.double().numpy() - neutral).max() < 1e-4
    for k in ids:
        w = torch.zeros(1, 100)
        w[0, k] = 1
        assert np.abs(model(identity=w)[0].double().numpy() - ref[f"identity{k:03d}.obj"]).max() < 1e-4
    from talkrig.model.arkit import canonical_name

    for e in exps:
        name = canonical_name(e) or e
        got = model(expression=model.expression_vector({name: 1.0})[None])[0].double().numpy()
        assert np.abs(got - ref[f"{e}.obj"]).max() < 1e-4, e


@pytest.mark.slow
@pytest.mark.shared
def test_ict_names_regions_landmarks(ict_model):
    tarball, model, _ = ict_model
    from talkrig.model.arkit import ARKIT_52

    mapped = [n for n in model.exp_names if n in ARKIT_52]
    assert len(mapped) == 49 and "jawOpen" in mapped and "mouthSmileLeft" in mapped
    assert sorted(model.info.extra["unmapped_expressions"]) == sorted(
        ["browInnerUp_L", "browInnerUp_R", "cheekPuff_L", "cheekPuff_R", "cheekRaiser_L", "cheekRaiser_R",
         "PupilDilate_L", "PupilDilate_R"])
    v = model.mean
    lm = v[model.landmarks68]
    assert int(lm[:, 2].argmax()) == 30  # iBUG 31 (nose tip) is the most forward landmark
    assert lm[36:42, 0].mean() < 0 < lm[42:48, 0].mean()  # iBUG right eye on -x (subject's right)
    assert lm[19, 1] > lm[30, 1] > lm[57, 1] > lm[8, 1]  # brow above nose above lip above chin
    assert v[model.region("eye_left"), 0].mean() > 0  # subject's left eye is on +x
    assert v[model.region("teeth"), 1].mean() < v[model.landmarks68[30], 1]
    lips = v[model.region("lips")]
    assert 200 < lips.shape[0] < 3000
    assert lm[48:60, 1].min() <= lips[:, 1].min() and lips[:, 1].max() <= lm[48:60, 1].max()
    assert bool(model.region("face")[model.landmarks68].all())
    n = model.normals(model()[:, :])[0]
    assert n[model.landmarks68[30], 2] > 0.8  # outward-wound: the nose tip's normal faces +z
    # blink closes the subject's left eye: upper lid (iBUG 44) meets the lower lid (iBUG 48)
    blink = model(expression=model.expression_vector({"eyeBlinkLeft": 1.0})[None])[0]
    assert (blink[model.landmarks68[43], 1] - blink[model.landmarks68[47], 1]) < 0.3 * (
        v[model.landmarks68[43], 1] - v[model.landmarks68[47], 1])


@pytest.mark.slow
@pytest.mark.shared
def test_ict_cached_load_fast(ict_model, monkeypatch):
    tarball, model, first = ict_model
    t = time.perf_counter()
    again = load_path_or_name(tarball)
    second = time.perf_counter() - t
    print(f"ICT load: first {first:.2f} s, cached {second:.3f} s")
    assert second < 1.0
    assert torch.equal(again.exp_basis, model.exp_basis) and again.exp_names == model.exp_names
    assert torch.equal(again.uv_faces, model.uv_faces)
    from talkrig.io.cache import cache_dir

    lic = list(cache_dir().glob("ict-*.LICENSE"))
    assert lic and "MIT License" in lic[0].read_text()
    # by name: $TALKRIG_ICT_MODEL, else ../shared/models beside the repo
    from talkrig.model.loaders.ict import find_ict

    monkeypatch.delenv("TALKRIG_ICT_MODEL", raising=False)
    assert find_ict() is not None and find_ict().resolve() == tarball.resolve()
    monkeypatch.setenv("TALKRIG_ICT_MODEL", str(tarball))
    t = time.perf_counter()
    mm = load_model("ict", units="mm")
    assert time.perf_counter() - t < 1.0
    assert mm.info.units == "mm" and torch.allclose(mm.mean, model.mean * 10)
    monkeypatch.setenv("TALKRIG_ICT_MODEL", str(tarball.parent / "missing.tar.xz"))
    with pytest.raises(ModelNotFoundError, match="missing.tar.xz"):
        load_model("ict")
