"""SyncNet scoring (tiny random network), MFCC, FID distance math and the Inception network."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.eval.fid import (FIDInception, feature_stats, frechet_distance, inception_features,
                              load_fid_inception)
from talkrig.eval.syncnet import (SyncNet, _pad_dists, crop_face, face_boxes, load_syncnet,
                                  mfcc, sync_score)


# -- MFCC -----------------------------------------------------------------------------------

def test_mfcc_shape_and_energy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(16000) * 1000
    m = mfcc(x)
    assert m.shape == (99, 13)  # 1 + ceil((16000 - 400) / 160) frames
    # c0 is the log energy of the pre-emphasised frame's power spectrum
    pre = np.append(x[0], x[1:] - 0.97 * x[:-1])
    frame = pre[160:560]
    energy = (np.abs(np.fft.rfft(frame, 512)) ** 2 / 512).sum()
    assert m[1, 0] == pytest.approx(np.log(energy))
    # louder by 20 dB: only c0 changes (log-mel offset lands in c0 alone, which c0 replaces)
    m2 = mfcc(x * 10)
    assert np.allclose(m2[:, 1:], m[:, 1:], atol=1e-6)
    assert np.allclose(m2[:, 0] - m[:, 0], np.log(100))


def test_mfcc_matches_python_speech_features():
    psf = pytest.importorskip("python_speech_features")
    x = (np.random.default_rng(1).standard_normal(8000) * 3000).astype(np.int16)
    assert np.allclose(mfcc(x.astype(float)), psf.mfcc(x, 16000), atol=1e-8)


# -- SyncNet scoring ------------------------------------------------------------------------

def test_offset_and_confidence_from_features():
    """Video feature i equals audio feature i + 2: the procedure must report offset -2 with
    zero distance there (reference sign: offset = vshift - argmin)."""
    rng = np.random.default_rng(0)
    af = torch.from_numpy(rng.standard_normal((60, 8)).astype(np.float32))
    vf = torch.zeros_like(af)
    vf[:-2] = af[2:]
    d = _pad_dists(vf, af, 15)
    mdist = d[:-2].mean(0)
    assert int(15 - torch.argmin(mdist)) == -2
    assert float(mdist.min()) == pytest.approx(0.0, abs=1e-5)


def test_sync_score_runs_on_a_tiny_random_network():
    torch.manual_seed(0)
    net = SyncNet(scale=1 / 32)
    rng = np.random.default_rng(0)
    n = 12
    crops = rng.uniform(0, 255, (n, 224, 224, 3)).astype(np.float32)
    audio = (rng.standard_normal(n * 640) * 0.1).astype(np.float32)
    s = sync_score(net, crops, audio)
    assert s.distances.shape == (31,)
    assert s.lse_d == pytest.approx(float(s.distances.min()))
    assert s.lse_c == pytest.approx(float(np.median(s.distances) - s.distances.min()), abs=1e-5)
    assert s.lse_c >= 0 and -15 <= s.offset <= 15
    assert sync_score(net, crops, audio).lse_d == s.lse_d  # eval mode: deterministic
    with pytest.raises(InputError):
        sync_score(net, crops[:4], audio[:4 * 640])


def test_full_syncnet_shapes_and_weight_file(tmp_path):
    net = SyncNet().eval()
    with torch.no_grad():
        assert net.forward_aud(torch.zeros(2, 1, 13, 20)).shape == (2, 1024)
        assert net.forward_lip(torch.zeros(1, 3, 5, 224, 224)).shape == (1, 1024)
    # the reference code's state dict layout (optionally under "__S__.") loads back
    p = tmp_path / "syncnet_v2.model"
    torch.save({f"__S__.{k}": v for k, v in net.state_dict().items()}, p)
    loaded = load_syncnet(p)
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    bad = tmp_path / "bad.model"
    torch.save({"netcnnaud.0.weight": torch.zeros(3)}, bad)
    with pytest.raises(InputError):
        load_syncnet(bad)
    with pytest.raises(ModelNotFoundError):
        load_syncnet(tmp_path / "missing.model")


def test_face_crops():
    pts = np.zeros((5, 10, 2))
    pts[:, :, 0] = np.linspace(100, 200, 10)  # face 100 px wide at x 100-200
    pts[:, :, 1] = np.linspace(150, 250, 10)
    pts[2] = np.nan  # a frame without a face takes its neighbours' box
    boxes = face_boxes(pts)
    assert np.allclose(boxes, [150, 200, 50])
    frame = np.zeros((400, 400, 3), np.uint8)
    frame[..., 0] = 255  # red in RGB
    c = crop_face(frame, boxes[0])
    assert c.shape == (224, 224, 3) and c.dtype == np.float32
    assert c[112, 112, 2] == 255 and c[112, 112, 0] == 0  # BGR order


# -- FID -----------------------------------------------------------------------------------

def test_frechet_distance_known_cases():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((200, 6))
    mu, s = feature_stats(a)
    assert frechet_distance(mu, s, mu, s) == pytest.approx(0.0, abs=1e-9)
    # diagonal covariances: |dmu|^2 + sum (sqrt(v1) - sqrt(v2))^2
    mu1, mu2 = np.zeros(4), np.array([1.0, 2.0, 0.0, 0.0])
    v1, v2 = np.array([1.0, 4.0, 9.0, 1.0]), np.array([4.0, 1.0, 1.0, 1.0])
    exp = 5.0 + (1 + 1 + 4 + 0)
    assert frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(exp)
    # general covariances against scipy's matrix square root
    from scipy.linalg import sqrtm

    b = rng.standard_normal((300, 6)) @ rng.standard_normal((6, 6))
    mb, sb = feature_stats(b)
    ref = float(((mu - mb) ** 2).sum() + np.trace(s + sb - 2 * np.real(sqrtm(s @ sb))))
    assert frechet_distance(mu, s, mb, sb) == pytest.approx(ref, rel=1e-6)
    # symmetric, positive, grows with the shift
    assert frechet_distance(mb, sb, mu, s) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(mu, s, mu + 1, s) == pytest.approx(6.0)
    with pytest.raises(InputError):
        feature_stats(a[:1])


def test_fid_inception_network_and_weight_file(tmp_path):
    torch.manual_seed(0)
    net = FIDInception().eval()
    n_params = sum(p.numel() for p in net.parameters())
    # torchvision's Inception v3 has 27,161,264 parameters; without fc (2,049,000) and the
    # auxiliary classifier (3,326,696) that leaves 21,785,568
    assert n_params == 21_785_568
    f = inception_features(net, [np.zeros((64, 48, 3), np.uint8), np.full((64, 48, 3), 200, np.uint8)])
    assert f.shape == (2, 2048) and np.isfinite(f).all()
    p = tmp_path / "pt_inception-2015-12-05.pth"
    state = dict(net.state_dict())
    state["fc.weight"] = torch.zeros(1008, 2048)  # extra tensors of the real file are ignored
    torch.save(state, p)
    loaded = load_fid_inception(p)
    g = inception_features(loaded, [np.zeros((64, 48, 3), np.uint8)])
    assert np.allclose(g[0], f[0], atol=1e-5)
    with pytest.raises(ModelNotFoundError):
        load_fid_inception(tmp_path / "none.pth")
