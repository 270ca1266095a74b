"""Emotions: FACS regions, intensity, blends, schedules, errors."""

import numpy as np
import pytest

from talkrig.animate import animate
from talkrig.animate.emotion import EMOTIONS, canonical_emotion, emotion_curves, parse_schedule
from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52

TEXT = "We should talk about this later today, after the meeting."
REGIONS = {
    "brows_up": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight"),
    "brows_down": ("browDownLeft", "browDownRight"),
    "lids_wide": ("eyeWideLeft", "eyeWideRight"),
    "lids_tight": ("eyeSquintLeft", "eyeSquintRight"),
    "cheeks": ("cheekSquintLeft", "cheekSquintRight"),
    "nose": ("noseSneerLeft", "noseSneerRight"),
    "corners_up": ("mouthSmileLeft", "mouthSmileRight"),
    "corners_down": ("mouthFrownLeft", "mouthFrownRight"),
    "lip_stretch": ("mouthStretchLeft", "mouthStretchRight"),
    "lip_press": ("mouthPressLeft", "mouthPressRight"),
}
# EMFACS prototypes (Ekman & Friesen) -> regions that must move
EXPECTED = {
    "happy": ("cheeks", "corners_up"),                       # AU6 + AU12
    # sad and fearful: AU4 draws the raised brows together without lowering them (ARKit's
    # browDown can overrule the inner-brow raise; real MEAD faces read AU1 without brow
    # lowering): see test below
    "sad": ("brows_up", "corners_down"),                     # AU1 (+ AU4) + AU15
    "surprised": ("brows_up", "lids_wide"),                  # AU1 + AU2 + AU5
    "fearful": ("brows_up", "lids_wide", "lip_stretch"),     # AU1+2 (+4) +5+20
    # AU4 + AU7 (+ AU23 and a trace of AU5, tested below: MEAD's angry faces show neither)
    "angry": ("brows_down", "lids_tight"),
    # AU9 + AU15, and the brow lowering, cheek raise and lid tightening (AU4, AU6/7) of MEAD's
    # disgusted faces
    "disgusted": ("nose", "corners_down", "brows_down", "cheeks", "lids_tight"),
    "contempt": ("brows_up",),  # + one-sided AU14/AU10 (tested apart): MEAD's contempt
}


@pytest.mark.parametrize("emotion", ["sad", "fearful"])
def test_sad_and_fearful_raise_the_inner_brows_more_than_they_lower_them(emotion, neutral):
    """AU4 is there (the corrugator draws the brows together) but the inner brows end up well
    above rest on the mesh, as MEAD's sad and frightened faces read (inner-brow raise, no brow
    lowering), and fear's brows come together."""
    from talkrig.model import load_model

    anim = animate(TEXT, emotion=emotion, pose="still", seed=1)
    assert _region(anim, "brows_down") > _region(neutral, "brows_down")  # the corrugator is there
    model = load_model("default")
    rest, face = (_face_measures(_still_face_mm(model, e)) for e in ("neutral", emotion))
    assert face["inner_brow"] > rest["inner_brow"] + 5.0  # mm
    assert face["outer_brow"] > rest["outer_brow"] - 1.0  # not lowered
    if emotion == "fearful":
        assert face["brow_gap"] < rest["brow_gap"] - 3.0


def test_anger_presses_the_lips_and_glares_only_a_little(neutral):
    """EMFACS anger has the upper-lid raise (AU5) and the lip press (AU23/24), but MEAD's angry
    speakers show neither as the landmarker reads them (eyeWide +0.01, mouthPress +0.01 over
    neutral); on renders the lid raise pulled anger toward fear and the press read as a smile:
    both are kept small."""
    anim = animate(TEXT, emotion="angry", pose="still", seed=1)
    assert _region(neutral, "lids_wide") + 0.05 < _region(anim, "lids_wide") < 0.2
    assert _region(neutral, "lip_press") + 0.1 < _region(anim, "lip_press") < 0.3


def _region(anim, name):
    idx = [ARKIT_52.index(n) for n in REGIONS[name]]
    return float(anim.expression[:, idx].mean())


@pytest.fixture(scope="module")
def neutral():
    return animate(TEXT, pose="still", seed=1)


@pytest.mark.parametrize("emotion", [e for e in EMOTIONS if e != "neutral"])
def test_each_emotion_moves_its_facs_regions(emotion, neutral):
    anim = animate(TEXT, emotion=emotion, intensity=1.0, pose="still", seed=1)
    for region in EXPECTED[emotion]:
        assert _region(anim, region) > _region(neutral, region) + 0.15, (emotion, region)
    # regions outside the prototype stay near neutral (no whole-face soup)
    quiet = set(REGIONS) - set(EXPECTED[emotion]) - {"lids_tight", "lip_stretch", "lip_press"}
    if emotion == "fearful":
        quiet.discard("brows_down")  # AU4 draws fear's raised brows together (tested above)
    for region in quiet:
        assert _region(anim, region) < _region(neutral, region) + 0.25, (emotion, region)
    if emotion == "contempt":  # unilateral dimpler and upper-lip raise (R14 + R10), no smile
        r = anim.channel("mouthDimpleRight").mean() + anim.channel("mouthUpperUpRight").mean()
        left = anim.channel("mouthDimpleLeft").mean() + anim.channel("mouthUpperUpLeft").mean()
        assert r > left + 0.5
        assert anim.channel("mouthSmileRight").mean() < 0.05


def test_neutral_leaves_the_upper_face_alone(neutral):
    upper = [i for i, n in enumerate(ARKIT_52) if n.startswith(("brow", "cheek", "nose", "eyeWide", "eyeSquint"))]
    assert np.abs(neutral.expression[:, upper]).max() == 0.0


@pytest.mark.parametrize("emotion", ["happy", "sad", "angry", "surprised", "disgusted"])
def test_intensity_is_monotonic(emotion, neutral):
    levels = [0.0, 0.25, 0.5, 0.75, 1.0]
    upper = [i for i, n in enumerate(ARKIT_52) if not n.startswith(("mouth", "jaw", "tongue", "eyeBlink", "eyeLook"))]
    mags = []
    for x in levels:
        a = animate(TEXT, emotion=emotion, intensity=x, pose="still", seed=1, emotional_voice=False)
        mags.append(np.abs(a.expression[:, upper] - neutral.expression[:, upper]).mean())
    assert mags[0] == pytest.approx(0.0, abs=1e-7)
    assert all(b > a + 1e-4 for a, b in zip(mags, mags[1:]))


def test_schedule_switches_at_the_stated_times():
    anim = animate(TEXT + " " + TEXT, emotion="neutral@0,happy@1s,sad@2.5s", pose="still")
    smile, frown = anim.channel("mouthSmileLeft"), anim.channel("mouthFrownLeft")
    cheek, inner = anim.channel("cheekSquintLeft"), anim.channel("browInnerUp")
    f = lambda t: int(round(t * anim.fps))  # noqa: E731
    assert cheek[f(0.5)] == 0 and inner[f(0.5)] == 0
    assert cheek[f(1.6)] > 0.7 and inner[f(1.6)] < 0.05
    assert inner[f(3.2)] > 0.8 and cheek[f(3.2)] < 0.05
    # transitions are centred on the stated times: half-way there at the switch
    assert cheek[f(1.0)] == pytest.approx(0.4, abs=0.1)
    assert inner[f(2.5)] == pytest.approx(0.45, abs=0.1)
    # smooth: no jump larger than a 0.5 s smoothstep allows
    assert np.abs(np.diff(cheek)).max() < 0.15
    assert frown[f(3.2)] > 0.5 and smile[f(3.2)] < 0.05


def test_blend_of_two_emotions():
    times = np.linspace(0, 1, 5)
    mix = emotion_curves(parse_schedule("happy:0.5+surprised:0.5"), times)[0]
    happy = emotion_curves(parse_schedule("happy"), times)[0]
    surprised = emotion_curves(parse_schedule("surprised"), times)[0]
    np.testing.assert_allclose(mix, np.clip(0.5 * happy + 0.5 * surprised, 0, 1), atol=1e-6)
    equal = emotion_curves(parse_schedule("happy+surprised"), times)[0]
    np.testing.assert_allclose(equal, mix, atol=1e-6)


def test_synonyms_and_errors():
    assert canonical_emotion("Fear") == "fearful"
    assert canonical_emotion("surprise") == "surprised"
    assert canonical_emotion("disgust") == "disgusted"
    assert canonical_emotion("anger") == "angry"
    assert canonical_emotion("happiness") == "happy"
    for bad in ("furious", "happy@soon", "happy:2", ""):
        with pytest.raises(InputError) as e:
            parse_schedule(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(InputError):
        animate("hello", emotion="happy", intensity=1.5)


def test_a_calibrated_pattern_table_replaces_the_facs_prototype_but_never_moves_the_jaw(monkeypatch):
    """tools/calibrate_emotion_patterns.py writes emotion_patterns.json; emotions it lists use
    its weights, the others keep their FACS prototype, and a jaw weight in it is ignored."""
    import talkrig.animate.emotion as emo

    table = {"angry": {"browDownLeft": 0.9, "browDownRight": 0.9, "eyeSquintLeft": 0.4, "jawOpen": 0.5}}
    monkeypatch.setattr(emo, "calibrated_patterns", lambda: table)
    v = emo.emotion_vector("anger")
    assert v[ARKIT_52.index("browDownLeft")] == pytest.approx(0.9)
    assert v[ARKIT_52.index("eyeSquintLeft")] == pytest.approx(0.4)
    assert v[ARKIT_52.index("jawOpen")] == 0.0 and v[ARKIT_52.index("eyeSquintRight")] == 0.0
    assert np.array_equal(emo.emotion_vector("sad"), emo.facs_vector("sad"))
    monkeypatch.setattr(emo, "calibrated_patterns", lambda: {})
    assert np.array_equal(emo.emotion_vector("angry"), emo.facs_vector("angry"))


LONG_TEXT = ("We should talk about this later today, after the meeting. I have been thinking about "
             "what you said last week, and I am still not sure that it was the right thing to do. "
             "Let us sit down tomorrow morning and go through it again, one step at a time.")


@pytest.fixture(scope="module")
def head_by_emotion():
    """Rotation (degrees) and gaze of the same long text spoken in every emotion."""
    out = {}
    for e in EMOTIONS:
        a = animate(text=LONG_TEXT, emotion=e, seed=3)
        down = a.expression[:, ARKIT_52.index("eyeLookDownLeft")] - a.expression[:, ARKIT_52.index("eyeLookUpLeft")]
        blinks = int((np.diff((a.expression[:, ARKIT_52.index("eyeBlinkLeft")] > 0.5).astype(int)) == 1).sum())
        out[e] = (np.degrees(a.rotation), down, blinks, a.fps)
    return out


def test_emotions_carry_the_head_and_gaze(head_by_emotion):
    """Sad hangs the head and looks down (Wallbott 1998; Busso et al. 2007), contempt lifts the
    chin and looks down the nose, surprise lifts the head; every clip starts at the photo's pose."""
    held = {e: rot[len(rot) // 3:].mean(0) for e, (rot, *_rest) in head_by_emotion.items()}
    gaze = {e: d[len(d) // 3:].mean() for e, (_, d, *_rest) in head_by_emotion.items()}
    assert held["sad"][0] > held["neutral"][0] + 3.0          # pitch +: chin down
    assert held["contempt"][0] < held["neutral"][0] - 3.0
    assert held["surprised"][0] < held["neutral"][0] - 1.0
    assert abs(held["disgusted"][1] - held["neutral"][1]) > 3.0  # turned away
    # MEAD's sad speakers look down no more than neutral ones (-0.03); the lowered lids and
    # head carry it, the eyes only a little
    assert gaze["sad"] > gaze["neutral"] + 0.05 and gaze["contempt"] > gaze["neutral"] + 0.08
    for rot, *_rest in head_by_emotion.values():
        assert np.abs(rot[0]).max() < 1e-3


def test_emotions_move_the_head_more_or_less(head_by_emotion):
    """Angry and happy speech moves the head more than neutral, sad speech less (Busso et al. 2007)."""
    def motion(e):
        rot = head_by_emotion[e][0]
        return float(np.abs(np.diff(rot, axis=0)).sum())

    assert motion("happy") > 1.15 * motion("neutral") and motion("angry") > 1.15 * motion("neutral")
    assert motion("sad") < 0.7 * motion("neutral")


def test_fear_blinks_more_than_a_surprised_stare(head_by_emotion):
    blinks = {e: b for e, (_, _, b, _) in head_by_emotion.items()}
    assert blinks["fearful"] > blinks["neutral"] > blinks["surprised"], blinks


def test_a_still_pose_stays_still_in_every_emotion():
    for e in ("sad", "contempt"):
        assert np.abs(animate(text=TEXT, emotion=e, pose="still").rotation).max() == 0.0


def _still_face_mm(model, emotion):
    """iBUG-68 landmarks (mm) of the default model's mean face holding ``emotion``'s pattern
    and its held jaw, as a still edit shows it."""
    import torch

    from talkrig.animate.animation import Animation
    from talkrig.animate.emotion import HEAD_STYLES, emotion_vector

    w = emotion_vector(emotion).copy()
    w[ARKIT_52.index("jawOpen")] = HEAD_STYLES[emotion].held_jaw
    coeff = Animation._expression_for(model, torch.from_numpy(w[None]))
    lm = model.landmarks68
    with torch.no_grad():
        p = model.mean[lm] + torch.einsum("te,enk->tnk", coeff, model.exp_basis[:, lm])[0]
    return p.numpy() * 10.0


def _face_measures(p):
    """Named distances (mm; y up) on iBUG-68 points."""
    return {
        "inner_brow": p[[21, 22], 1].mean() - p[[39, 42], 1].mean(),   # above the inner eye corners
        "outer_brow": p[[17, 26], 1].mean() - p[[36, 45], 1].mean(),
        "brow_gap": p[22, 0] - p[21, 0],                                 # drawn together: smaller
        "upper_lip": p[51, 1] - p[33, 1],                                # raised: larger
        "corners": p[[48, 54], 1].mean() - p[[62, 66], 1].mean(),      # up: larger
        "mouth_width": p[54, 0] - p[48, 0],
        "corner_asymmetry": abs(p[48, 1] - p[54, 1]),
    }


def test_confusable_emotions_differ_on_the_mesh():
    """The pairs viewers (and the prior system) confuse differ by millimetres where FACS says
    they should: anger keeps the upper lip and the corners where they are, disgust raises the
    one and turns the others down (both lower the brows: AU4 with anger, AU9/AU4 with MEAD's
    disgust, so the brows do not tell them apart); fear stretches the mouth and draws the raised brows together where
    surprise lifts them higher; sadness lifts the inner brows and lowers the corners; contempt is
    one-sided where happiness lifts both corners."""
    from talkrig.model import load_model

    model = load_model("default")
    f = {e: _face_measures(_still_face_mm(model, e)) for e in EMOTIONS}
    d = lambda a, b, k: f[a][k] - f[b][k]  # noqa: E731
    assert d("disgusted", "angry", "upper_lip") > 3.0 and d("angry", "disgusted", "corners") > 4.0
    assert d("surprised", "fearful", "inner_brow") > 2.0 and d("surprised", "fearful", "outer_brow") > 2.0
    assert d("fearful", "surprised", "mouth_width") > 2.0 and d("surprised", "fearful", "brow_gap") > 1.5
    assert d("sad", "neutral", "inner_brow") > 5.0 and d("neutral", "sad", "corners") > 2.0
    assert f["contempt"]["corner_asymmetry"] > f["happy"]["corner_asymmetry"] + 1.5
    assert d("happy", "contempt", "corners") > 4.0


def test_one_sided_emotion_faces_the_camera():
    """Contempt's one-sided lip raise is drawn on the side the photo shows: a head turned past
    FAR_SIDE_YAW mirrors it onto the near side; a frontal face keeps it where it is, and
    symmetric emotions are never touched."""
    import torch

    from talkrig.animate.animation import FAR_SIDE_YAW
    from talkrig.model import load_model
    from talkrig.model.coefficients import Coefficients

    model = load_model("default")
    anim = animate(TEXT, emotion="contempt", pose="still", seed=1)
    assert anim.metadata["one_sided"] == "right"
    assert animate(TEXT, emotion="happy", pose="still", seed=1).metadata["one_sided"] is None

    def raised(yaw_deg, a=anim):
        base = Coefficients.zeros(model.n_identity, model.n_expression)
        base = base.replace(rotation=torch.tensor([[0.0, np.radians(yaw_deg), 0.0]]))
        e = a.to_coefficients(model, base, calibrate_lids=False).expression.numpy()
        names = list(model.exp_names)
        return e[:, names.index("mouthUpperUpRight")].mean(), e[:, names.index("mouthUpperUpLeft")].mean()

    right, left = raised(0.0)
    assert right > left + 0.5                                   # frontal: as animated
    assert raised(FAR_SIDE_YAW + 20) == (right, left)           # the left turned away: as animated
    assert raised(-FAR_SIDE_YAW - 20) == pytest.approx((left, right))  # the right turned away: mirrored
    anim.metadata["one_sided"] = None                           # e.g. weights set by hand
    assert raised(-FAR_SIDE_YAW - 20, anim) == pytest.approx((right, left))
