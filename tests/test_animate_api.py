"""Animation data contract, coefficients, files, API and CLI."""

import numpy as np
import pytest
import torch

from talkrig.animate import animate
from talkrig.animate.animation import Animation
from talkrig.cli.main import main
from talkrig.errors import InputError
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import ModelInfo, MorphableModel
from talkrig.model.rotation import euler_to_matrix


@pytest.fixture(scope="module")
def anim():
    return animate("Hello there, Bob. How are you?", emotion="happy:0.5", seed=2)


def test_contract(anim):
    assert anim.fps == 25.0 and anim.sample_rate == 16000
    assert anim.expression.shape == (anim.n_frames, 52) and anim.expression.dtype == np.float32
    assert anim.rotation.shape == anim.translation.shape == (anim.n_frames, 3)
    assert 0.0 <= anim.expression.min() and anim.expression.max() <= 1.0
    assert abs(anim.duration - len(anim.audio) / 16000) < 1 / anim.fps
    assert anim.phonemes and anim.words and "happy" in anim.emotion
    assert anim.metadata["seed"] == 2


def test_save_load_roundtrip_without_pickle(anim, tmp_path):
    p = tmp_path / "a.npz"
    anim.save(p)
    with np.load(p, allow_pickle=False) as z:
        assert z["expression"].shape == anim.expression.shape
    b = Animation.load(p)
    np.testing.assert_array_equal(b.expression, anim.expression)
    np.testing.assert_array_equal(b.audio, anim.audio)
    assert b.phonemes == anim.phonemes and b.words == anim.words
    assert b.emotion == anim.emotion and b.metadata == anim.metadata
    assert float(anim.tongue_tip.max()) > 0.5                      # "there", "Hello": /l t d n/
    np.testing.assert_array_equal(b.tongue_tip, anim.tongue_tip)
    assert list(tmp_path.iterdir()) == [p]  # no temp file left behind
    with np.load(p) as z:                                          # a file from before the tongue
        np.savez(tmp_path / "old.npz", **{k: z[k] for k in z.files if k != "tongue_tip"})
    assert float(np.abs(Animation.load(tmp_path / "old.npz").tongue_tip).max()) == 0.0
    (tmp_path / "old.npz").unlink()
    (tmp_path / "junk.npz").write_bytes(b"junk")
    with pytest.raises(InputError):
        Animation.load(tmp_path / "junk.npz")


def _tiny_model(names):
    n = 6
    rng = np.random.default_rng(0)
    return MorphableModel(mean=rng.normal(size=(n, 3)), id_basis=np.zeros((2, n, 3)),
                          exp_basis=rng.normal(size=(len(names), n, 3)), exp_names=names,
                          faces=np.array([[0, 1, 2], [3, 4, 5]]),
                          info=ModelInfo("tiny", "cm", "test", "test"))


def test_to_coefficients_maps_names_and_composes_pose(anim):
    # ICT-style names in another order: weights must land by name
    names = ["jawOpen", "eyeBlink_L", "mouthSmile_R", "browInnerUp"]
    model = _tiny_model(names)
    base = Coefficients.zeros(2, len(names), frames=1)
    base.rotation[0] = torch.tensor([0.1, -0.2, 0.05])
    base.expression[0, 3] = 0.25
    c = anim.to_coefficients(model, base)
    assert c.frames == anim.n_frames
    np.testing.assert_allclose(c.expression[:, 0].numpy(), anim.channel("jawOpen"), atol=1e-6)
    np.testing.assert_allclose(c.expression[:, 1].numpy(), anim.channel("eyeBlinkLeft"), atol=1e-6)
    np.testing.assert_allclose(c.expression[:, 2].numpy(), anim.channel("mouthSmileRight"), atol=1e-6)
    np.testing.assert_allclose(c.expression[:, 3].numpy(), 0.25 + anim.channel("browInnerUp"), atol=1e-6)
    r = euler_to_matrix(c.rotation)
    want = euler_to_matrix(torch.from_numpy(anim.rotation)) @ euler_to_matrix(base.rotation)
    torch.testing.assert_close(r, want, atol=1e-5, rtol=0)
    torch.testing.assert_close(c.translation, base.translation + torch.from_numpy(anim.translation))
    np.testing.assert_allclose(c.tongue[:, 0].numpy(), anim.tongue_tip, atol=1e-6)  # beyond ARKit


def test_split_symmetric_shapes_receive_the_whole_weight(anim):
    model = _tiny_model(["browInnerUp_L", "browInnerUp_R", "cheekPuff_L", "cheekPuff_R", "pupil_L"])
    c = anim.to_coefficients(model, Coefficients.zeros(2, 5, frames=1))
    for k in (0, 1):
        np.testing.assert_allclose(c.expression[:, k].numpy(), anim.channel("browInnerUp"), atol=1e-6)
    assert float(c.expression[:, 4].abs().max()) == 0.0


def test_api_input_errors():
    with pytest.raises(InputError):
        animate()
    with pytest.raises(InputError):
        animate("hi", audio="x.wav")
    with pytest.raises(InputError):
        animate("hi", fps=0)
    with pytest.raises(InputError):
        animate("hi", engine="magic")


def test_audio_path_with_transcript(tmp_path):
    from talkrig.animate.tts import synthesize
    from talkrig.io.audio import save_wav

    sp = synthesize("Maybe we should go home now.")
    wav = tmp_path / "s.wav"
    save_wav(wav, sp.audio)
    anim = animate(audio=wav, transcript="Maybe we should go home now.", pose="calm")
    assert anim.metadata["timings"] == "align"
    assert [w for _, _, w in anim.words] == ["maybe", "we", "should", "go", "home", "now"]
    assert abs(anim.duration - sp.duration) < 0.05


def test_cli_animate(tmp_path):
    out = tmp_path / "anim.npz"
    png = tmp_path / "curves.png"
    rc = main(["animate", "--text", "Bob is happy today.", "--emotion", "neutral@0,happy@0.5s",
               "--intensity", "0.8", "--pose", "calm", "--seed", "3", "--fps", "30",
               "-o", str(out), "--plot", str(png)])
    assert rc == 0 and out.is_file() and png.stat().st_size > 10_000
    a = Animation.load(out)
    assert a.fps == 30.0 and a.metadata["pose"] == "calm"


def test_cli_errors_leave_no_output(tmp_path, capsys):
    out = tmp_path / "anim.npz"
    for args in (["--text", "hi", "--emotion", "furious"],
                 ["--audio", str(tmp_path / "missing.wav")],
                 ["--text", "hi", "--pose", str(tmp_path / "missing.csv")],
                 ["--text", "hi", "--intensity", "3"]):
        rc = main(["animate", *args, "-o", str(out)])
        err = capsys.readouterr().err.strip()
        assert rc != 0 and len(err.splitlines()) == 1 and err.startswith("talkrig: error:"), args
        assert not out.exists()
