"""Learned speech-to-face predictor: trains, saves/loads (safetensors), plugs into animate()."""

import numpy as np
import pytest
import torch

from talkrig.animate import animate
from talkrig.animate import predictor as P
from talkrig.errors import InputError

TEXTS = ["Bob bought a big blue balloon.", "Who would move through the room?",
         "See me seek the sea.", "Five fine vases fell."]


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    ex = P.examples_from_rules(TEXTS, ["neutral", "happy", "sad"])
    model, losses = P.train(ex, steps=200, lr=3e-3, cfg=P.PredictorConfig(hidden=32))
    return model, losses, ex


def test_training_reduces_loss(trained):
    _, losses, _ = trained
    first, last = np.mean(losses[:8]), np.mean(losses[-8:])
    assert last < 0.6 * first


def test_learned_mouth_tracks_jaw(trained):
    model, _, ex = trained
    e, _ = P.predict(model, ex[0].audio, ex[0].emotion, ex[0].expression.shape[0])
    from talkrig.model.arkit import ARKIT_52

    j = ARKIT_52.index("jawOpen")
    r = np.corrcoef(e[:, j], ex[0].expression[:, j].numpy())[0, 1]
    assert r > 0.5


def test_checkpoint_roundtrip_and_engine(trained, tmp_path):
    model, _, ex = trained
    ck = tmp_path / "s2f.safetensors"
    P.save_checkpoint(model, ck)
    again = P.load_checkpoint(ck)
    n = ex[1].expression.shape[0]
    a = P.predict(model, ex[1].audio, ex[1].emotion, n)
    b = P.predict(again, ex[1].audio, ex[1].emotion, n)
    np.testing.assert_array_equal(a[0], b[0])
    anim = animate("Maybe tomorrow.", emotion="happy", engine="learned", checkpoint=ck, seed=1)
    rules = animate("Maybe tomorrow.", emotion="happy", seed=1)
    assert anim.metadata["engine"] == "learned"
    assert anim.expression.shape == rules.expression.shape
    blink = [i for i, n in enumerate(P.ARKIT_52) if n.startswith("eyeBlink")]
    np.testing.assert_array_equal(anim.expression[:, blink], rules.expression[:, blink])
    assert not np.array_equal(anim.expression, rules.expression)


def test_bad_checkpoint(tmp_path):
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"nope")
    with pytest.raises(InputError):
        P.load_checkpoint(bad)
    with pytest.raises(InputError):
        animate("hi", engine="learned")


def test_emotion_weights_follow_schedule():
    w = P.emotion_weights("neutral@0,happy:0.5@1s", 50, 25.0)
    assert w[10, P.EMOTIONS.index("neutral")] == 1.0
    assert w[30, P.EMOTIONS.index("happy")] == 0.5 and w[30].sum() == 0.5
