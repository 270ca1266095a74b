"""ARKit semantics on a model with unnamed PCA expressions (transfer from the default model)."""

import numpy as np
import pytest
import torch

from talkrig.animate.animation import Animation
from talkrig.animate.transfer import arkit_mapping, similarity
from talkrig.model.arkit import ARKIT_52
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import ModelInfo, MorphableModel
from talkrig.model.rotation import euler_to_matrix


def test_similarity_recovers_transform():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(68, 3))
    r = euler_to_matrix(torch.tensor([0.2, -0.3, 0.1], dtype=torch.float64)).numpy()
    s, rr, t = similarity(p, 10.0 * p @ r.T + [1, 2, 3])
    assert s == pytest.approx(10.0) and np.allclose(rr, r) and np.allclose(t, [1, 2, 3])


@pytest.fixture(scope="module")
def default_model():
    from talkrig.model import load_model

    return load_model("default")


def _pca_face(src):
    """The default model's face region, in millimetres, turned and moved, with its ARKit
    shapes mixed by a random rotation and renamed: a BFM-like PCA model."""
    keep = src.region("face").numpy().copy()
    keep[src.landmarks68.numpy()] = True
    new_index = -np.ones(src.n_vertices, np.int64)
    new_index[keep] = np.arange(keep.sum())
    faces = src.faces.numpy()
    faces = new_index[faces[keep[faces].all(1)]]
    r = euler_to_matrix(torch.tensor([0.1, 0.2, -0.05], dtype=torch.float64)).numpy()
    mean = 10.0 * src.mean.double().numpy()[keep] @ r.T + [5.0, -3.0, 2.0]
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(52, 52)))
    basis = np.einsum("ek,kni->eni", q, 10.0 * src.exp_basis.double().numpy()[:, keep] @ r.T)
    model = MorphableModel(mean=mean, id_basis=np.zeros((0, len(mean), 3)), exp_basis=basis,
                           exp_names=[f"pca{i:02d}" for i in range(52)], faces=faces,
                           landmarks68=new_index[src.landmarks68.numpy()],
                           info=ModelInfo("pca-test", "mm", "test", "test", exp_is_blendshape=False))
    return model, keep, r


@pytest.mark.slow
def test_transfer_reproduces_arkit_shapes(default_model):
    tgt, keep, r = _pca_face(default_model)
    m = arkit_mapping(tgt, default_model)
    assert m.shape == (52, 52)
    for name in ("jawOpen", "mouthPucker", "eyeBlinkLeft", "mouthSmileRight", "browInnerUp"):
        w = torch.zeros(1, 52)
        w[0, ARKIT_52.index(name)] = 1.0
        got = (tgt(None, w @ m) - tgt.mean)[0].numpy()
        want = 10.0 * (default_model(None, w) - default_model.mean)[0].double().numpy()[keep] @ r.T
        err = np.linalg.norm(got - want) / np.linalg.norm(want)
        assert err < 0.15, (name, err)
    # cached: the second call reads the file and gives the same map
    torch.testing.assert_close(arkit_mapping(tgt, default_model), m)


@pytest.mark.slow
def test_animation_drives_a_pca_model(default_model):
    from talkrig.animate import animate

    tgt, _, _ = _pca_face(default_model)
    anim = animate("Open wide.", pose="still")
    c = anim.to_coefficients(tgt, Coefficients.zeros(0, 52, frames=1))
    assert c.expression.shape == (anim.n_frames, 52)
    def gap(model, coeffs):
        lm = model.landmarks68
        v = model.vertices(coeffs, posed=False)
        return (v[:, lm[62]] - v[:, lm[66]]).norm(dim=-1).numpy()

    # the PCA model opens and closes its lips as the ARKit model it was mapped from does
    ref = anim.to_coefficients(default_model, Coefficients.zeros(default_model.n_identity, 52, frames=1))
    want = gap(default_model, ref)
    assert want.max() > 0.3  # the mouth does open (cm)
    assert np.corrcoef(gap(tgt, c), want)[0, 1] > 0.9


@pytest.mark.slow
@pytest.mark.shared
def test_transfer_across_topologies_matches_ict_own_shapes(shared, default_model):
    """ICT-FaceKit (26k vertices, its own artists' ARKit shapes) stripped of its names and
    mixed into an unnamed basis: the shapes transferred from the default model (4.8k vertices)
    must point the same way as ICT's own shapes."""
    from talkrig.model import load_model

    ict = load_model(shared("models", "ICT-FaceKit-FaceXModel.tar.xz"))
    q, _ = np.linalg.qr(np.random.default_rng(1).normal(size=(ict.n_expression,) * 2))
    pca = MorphableModel(mean=ict.mean.numpy(), id_basis=np.zeros((0, ict.n_vertices, 3)),
                         exp_basis=np.einsum("ek,kni->eni", q, ict.exp_basis.double().numpy()),
                         exp_names=[f"p{i}" for i in range(ict.n_expression)], faces=ict.faces.numpy(),
                         landmarks68=ict.landmarks68.numpy(), info=ModelInfo("ict-pca", "cm", "t", "t"))
    m = arkit_mapping(pca, default_model)
    face = ict.region("face").numpy()
    for name in ("jawOpen", "mouthClose", "mouthPucker", "mouthSmileLeft", "eyeBlinkLeft"):
        w = torch.zeros(1, 52)
        w[0, ARKIT_52.index(name)] = 1.0
        got = (pca(None, w @ m) - pca.mean)[0].numpy()[face]
        want = (ict(None, Animation._expression_for(ict, w)) - ict.mean)[0].numpy()[face]
        cos = (got * want).sum() / np.linalg.norm(got) / np.linalg.norm(want)
        assert cos > 0.85, (name, cos)
