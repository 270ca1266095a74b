"""Emotion recognisability from blendshapes and the geometric identity descriptor."""

from __future__ import annotations

import numpy as np
import pytest

from talkrig.errors import InputError
from talkrig.eval.expression import (EMOTION_BLENDSHAPES, EMOTIONS, canonical_emotion,
                                     emotion_scores, identity_descriptor, identity_drift,
                                     recognisability)
from talkrig.model.arkit import ARKIT_52


def _frames(active: dict[str, float], n=10) -> np.ndarray:
    b = np.zeros((n, 52), np.float32)
    for k, v in active.items():
        b[:, ARKIT_52.index(k)] = v
    return b


@pytest.mark.parametrize("emotion", [e for e in EMOTION_BLENDSHAPES])
def test_each_emotion_prototype_is_recognised(emotion):
    b = _frames({k: 0.8 for k in EMOTION_BLENDSHAPES[emotion]})
    r = recognisability(b, emotion)
    assert r["emotion_top"] == emotion and r["emotion_hit"] == 1.0
    assert r["emotion_prob"] > 0.5


def test_neutral_contempt_and_synonyms():
    assert recognisability(_frames({}), "neutral")["emotion_hit"] == 1.0
    assert recognisability(_frames({"mouthSmileLeft": 0.6, "mouthDimpleLeft": 0.5}),
                           "contempt")["emotion_top"] == "contempt"
    assert canonical_emotion("Fear") == "fearful" and canonical_emotion("anger") == "angry"
    with pytest.raises(InputError):
        canonical_emotion("bored")
    s = emotion_scores(_frames({}))
    assert set(s) == set(EMOTIONS) and sum(s.values()) == pytest.approx(1.0)
    nan = np.full((3, 52), np.nan)
    assert np.isnan(recognisability(nan, "happy")["emotion_prob"])


def test_stronger_expression_is_more_recognisable():
    weak = recognisability(_frames({"mouthSmileLeft": 0.2, "mouthSmileRight": 0.2}), "happy")
    strong = recognisability(_frames({"mouthSmileLeft": 0.9, "mouthSmileRight": 0.9,
                                      "cheekSquintLeft": 0.5, "cheekSquintRight": 0.5}), "happy")
    assert strong["emotion_prob"] > weak["emotion_prob"]


def _rot(yaw):
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])


def test_identity_descriptor_is_similarity_invariant():
    rng = np.random.default_rng(0)
    face = rng.uniform(-50, 50, (478, 3))
    moved = 1.7 * face @ _rot(0.4).T + np.array([10.0, -5.0, 3.0])
    assert np.allclose(identity_descriptor(face), identity_descriptor(moved))
    frames = np.stack([face, moved, np.full((478, 3), np.nan)])
    d = identity_drift(frames, face)
    assert d["identity_drift"] == pytest.approx(0.0, abs=1e-9)
    other = face + rng.normal(0, 5, face.shape)  # a different shape
    assert identity_drift(other[None], face)["identity_drift"] > 0.02
