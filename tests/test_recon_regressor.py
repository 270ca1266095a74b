"""The learned fit initialiser: trained on a real prep output, saved, loaded, used by the fit."""

from __future__ import annotations

import numpy as np
import pytest

from talkrig.cli.main import main
from talkrig.errors import InputError
from talkrig.data_prep.dataset import load_prepared
from talkrig.recon.regressor import CoeffRegressor, RegressorConfig, normalize_landmarks, train_regressor

VIDEO = ("dev", "video", "hdtf_WDA_KatieHill_000.mp4")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The dev talking video through `talkrig prep` (default model): 200 frames."""
    import shutil

    from conftest import shared_path

    from talkrig.data_prep import prepare

    root = tmp_path_factory.mktemp("reg_in")
    shutil.copy(shared_path(*VIDEO), root / VIDEO[-1])
    out = tmp_path_factory.mktemp("reg_out") / "out"
    prepare(root, out, workers=1, progress=False)
    return out


@pytest.fixture(scope="module")
def trained(prepared):
    import talkrig

    model = talkrig.load_model("default")
    data = load_prepared(prepared)
    train = {k: v[data["frame"] < 150] for k, v in data.items()}
    net, losses = train_regressor(train, model, steps=800, hidden=128, synthetic=5000)
    return model, data, net, losses


def test_normalisation_removes_position_and_scale():
    rng = np.random.default_rng(0)
    lm = rng.uniform(100, 300, (2, 478, 3)).astype(np.float32)
    a = normalize_landmarks(lm)
    moved = lm.copy()
    moved[..., :2] = moved[..., :2] * 3.0 + 50.0
    assert a.shape == (2, 956) and np.allclose(normalize_landmarks(moved), a, atol=1e-5)
    with pytest.raises(InputError):
        normalize_landmarks(np.zeros((2, 68, 2)))


@pytest.mark.slow  # prep of the dev video + regressor training (~10 s)
@pytest.mark.shared
def test_training_on_prepared_frames_learns_expressions(trained):
    model, data, net, losses = trained
    assert len(data["landmarks"]) == len(data["expression"]) == len(data["identity"]) == 200
    assert np.mean(losses[-50:]) < 0.7 * np.mean(losses[:10])  # half of each batch: synthetic faces
    # held-out frames (the last 2 s): better than always guessing the training frames' mean
    test = data["frame"] >= 150
    _, expr = net.predict(data["landmarks"][test])
    truth = data["expression"][test]
    baseline = data["expression"][~test].mean(0)
    assert ((expr - truth) ** 2).mean() < 0.8 * ((baseline - truth) ** 2).mean()  # measured 0.67


@pytest.mark.slow  # prep of the dev video + regressor training (~10 s)
@pytest.mark.shared
def test_checkpoint_round_trip_and_model_check(trained, tmp_path):
    model, data, net, _ = trained
    path = tmp_path / "init.safetensors"
    net.save(path)
    back = CoeffRegressor.load(path)
    a, b = net.predict(data["landmarks"][:5]), back.predict(data["landmarks"][:5])
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert back.config.model_name == "default" and back.config.n_expression == 52
    (tmp_path / "bad.safetensors").write_bytes(b"nope")
    with pytest.raises(InputError):
        CoeffRegressor.load(tmp_path / "bad.safetensors")
    with pytest.raises(InputError, match="trained for"):
        CoeffRegressor(RegressorConfig(n_identity=3, n_expression=52)).check_model(model)


@pytest.mark.slow  # prep of the dev video + regressor training (~10 s)
@pytest.mark.shared
def test_fit_starts_from_the_regressor(trained, shared):
    import av

    from talkrig.model.arkit import ARKIT_52
    from talkrig.recon import reconstruct
    from talkrig.recon.landmarker import FaceDetection

    _, data, net, _ = trained
    with av.open(str(shared(*VIDEO))) as c:
        img = next(f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i == 180)
    lm = data["landmarks"][data["frame"] == 180][0]
    scores = data["blendshapes"][data["frame"] == 180][0]  # MediaPipe's, as prep stored them
    det = FaceDetection(landmarks=lm, blendshapes=dict(zip(ARKIT_52, map(float, scores))),
                        bbox=(*lm[:, :2].min(0), *lm[:, :2].max(0)))
    plain = reconstruct(img, detection=det)
    started = reconstruct(img, detection=det, initializer=net)
    assert plain.meta["fit_start"] == "mean" and started.meta["fit_start"] == "regressor"
    assert started.meta["fit_rms_px"] <= 1.1 * plain.meta["fit_rms_px"]  # same objective, no worse


@pytest.mark.slow  # prep of the dev video + regressor training (~10 s)
@pytest.mark.shared
def test_cli_trains_and_uses_a_checkpoint(prepared, tmp_path, capsys, shared):
    ckpt = tmp_path / "init.safetensors"
    assert main(["train-recon-init", str(prepared), "-o", str(ckpt), "--steps", "20", "--hidden", "16"]) == 0
    assert ckpt.is_file() and "wrote" in capsys.readouterr().out
    photo = shared("dev", "portraits", "lfpw_test_image_0007.png")
    assert main(["recon", str(photo), "-o", str(tmp_path / "f.npz"), "--init", str(ckpt)]) == 0
    for argv in (["train-recon-init", str(prepared), "-o", str(tmp_path / "x.pt")],
                 ["train-recon-init", str(tmp_path), "-o", str(tmp_path / "y.safetensors")],
                 ["recon", str(photo), "-o", str(tmp_path / "g.npz"), "--init", str(tmp_path / "none.safetensors")]):
        rc = main(argv)
        err = capsys.readouterr().err.strip().splitlines()
        assert rc != 0 and err and err[-1].startswith("talkrig: error:"), argv
    assert not (tmp_path / "g.npz").exists()
