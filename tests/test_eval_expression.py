"""Emotion recognisability from blendshapes and the geometric identity descriptor."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from talkrig.errors import InputError
from talkrig.eval.expression import (EMOTIONS, FEATURE_NAMES, EmotionJudge, canonical_emotion, clip_features,
                                     emotion_scores, identity_descriptor, identity_drift, recognisability)
from talkrig.model.arkit import ARKIT_52


def _frames(active: dict[str, float], n=10) -> np.ndarray:
    b = np.zeros((n, 52), np.float32)
    for k, v in active.items():
        b[:, ARKIT_52.index(k)] = v
    return b


def test_shipped_judge_is_complete():
    j = EmotionJudge.load()
    assert j.centroids.shape == (len(EMOTIONS), len(FEATURE_NAMES)) and (j.scale > 0).all()
    assert j.meta["tool"] == "tools/calibrate_emotion_judge.py" and len(j.meta["clips"]) >= 20


def test_rest_face_is_neutral_and_scores_are_a_distribution():
    assert recognisability(_frames({}), "neutral")["emotion_hit"] == 1.0
    s = emotion_scores(_frames({}))
    assert set(s) == set(EMOTIONS) and sum(s.values()) == pytest.approx(1.0)
    nan = np.full((3, 52), np.nan)
    assert np.isnan(recognisability(nan, "happy")["emotion_prob"])
    assert canonical_emotion("Fear") == "fearful" and canonical_emotion("anger") == "angry"
    with pytest.raises(InputError):
        canonical_emotion("bored")


def test_stronger_expression_is_more_recognisable():
    weak = recognisability(_frames({"mouthSmileLeft": 0.2, "mouthSmileRight": 0.2}), "happy")
    strong = recognisability(_frames({"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7, "eyeSquintLeft": 0.6,
                                      "eyeSquintRight": 0.6, "mouthUpperUpLeft": 0.5, "mouthUpperUpRight": 0.5}),
                             "happy")
    assert strong["emotion_hit"] == 1.0 and strong["emotion_prob"] > weak["emotion_prob"]


def test_judge_fit_mixes_data_with_the_facs_prototype():
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 0.1, (16, len(FEATURE_NAMES)))
    labels = ["neutral"] * 8 + ["happy"] * 8
    smile = FEATURE_NAMES.index("AU12 lip corner pull")
    x[8:, smile] += 0.6
    j = EmotionJudge.fit(x, labels, prior_weight=0.3)
    assert j.centroids[EMOTIONS.index("happy"), smile] > j.centroids[0, smile] + 0.3
    # an emotion without clips gets its prototype: neutral plus its action units
    brow = FEATURE_NAMES.index("AU4 brow lowerer")
    assert j.centroids[EMOTIONS.index("angry"), brow] > j.centroids[0, brow]
    f = clip_features(_frames({"mouthSmileLeft": 0.7, "mouthSmileRight": 0.7}))
    assert EMOTIONS[int(np.argmax(j.probabilities(f)))] == "happy"


@pytest.mark.slow
@pytest.mark.shared
def test_judge_names_real_clips_of_unseen_speakers(shared):
    """The issue's bar, leave-one-speaker-out on real MEAD clips: >= 6 of W011's 8 and >= 5 of
    the 6 of M030 and of W009 (tracked by the project, judged by a judge fitted without them)."""
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import calibrate_emotion_judge as cal

    tr = cal.tracks(shared("dev", "emotion"))
    feats, labels, speakers, _ = cal.mead_table(tr)
    pred, _ = cal.loso(feats, labels, speakers, EmotionJudge.load().temperature)
    hits = {s: sum(p == y for p, y, v in zip(pred, labels, speakers) if v == s) for s in set(speakers)}
    assert hits["W011"] >= 6 and hits["M030"] >= 5 and hits["W009"] >= 5, hits
    ref = cal.loso_with_reference(feats, labels, speakers, EmotionJudge.load().temperature)
    hits = {s: sum(p == y for p, y, v in zip(ref, labels, speakers) if v == s) for s in set(speakers)}
    assert hits["W011"] >= 6 and hits["M030"] >= 5 and hits["W009"] >= 5, hits  # with a face at rest
    # the shipped table is what the tool derives from these clips
    again = EmotionJudge.fit(feats, labels, cal.PRIOR_WEIGHT, cal.GAIN)
    assert np.allclose(again.centroids, EmotionJudge.load().centroids, atol=1e-4)


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


@pytest.mark.slow
def test_renders_are_judged_against_the_same_face_speaking_neutrally():
    """The render check used by benchmarks/emotion.py: a happy render of the example photo is
    named happy against its neutral render, and the neutral render neutral against the photo."""
    from pathlib import Path

    from talkrig import api
    from talkrig.eval.emotion_renders import confusion, judge_emotion_renders

    rec = api.reconstruct(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")
    got = judge_emotion_renders(rec, "I am so glad to see you again.", emotions=("neutral", "happy"), size=256)
    assert [v.emotion for v in got] == ["neutral", "happy"]
    for v in got:
        assert abs(sum(v.probabilities.values()) - 1) < 1e-6 and v.frames > 20 and v.render_s > 0
    assert got[0].hit and got[1].hit, [(v.emotion, v.top, round(v.probabilities[v.emotion], 2)) for v in got]
    assert confusion(got).trace() == 2


def test_a_beaming_photo_is_not_taken_as_the_face_at_rest():
    """The README's example photo smiles broadly: judged against it, a happy render read as
    disgusted. Such a photo is not used as the rest reference; a plain one is."""
    from pathlib import Path

    from talkrig.eval.expression import rest_reference
    from talkrig.eval.track import detect_photo

    beaming = detect_photo(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")[1]
    rest, why = rest_reference(beaming)
    assert rest is None and "reads happy" in why
    plain = np.zeros(52)
    rest, why = rest_reference(plain)
    assert rest is not None and why == ""
