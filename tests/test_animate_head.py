"""Head pose, blinks and gaze: seeded, smooth, natural statistics; pose files."""

import numpy as np
import pytest

from talkrig.animate.head import STYLES, blink_curve, blink_times, load_pose_csv
from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52

TEXT = ("I walked down to the river this morning. The water was high, and the birds were loud. "
        "Then I went home, made some tea, and read for an hour.")


@pytest.fixture(scope="module")
def speech():
    from talkrig.animate.tts import synthesize

    return synthesize(TEXT)


def _anim(speech, **kw):
    from talkrig.animate.pipeline import animate_speech

    return animate_speech(speech, **kw)


def test_seeded_and_repeatable(speech):
    a, b = _anim(speech, seed=3), _anim(speech, seed=3)
    np.testing.assert_array_equal(a.rotation, b.rotation)
    np.testing.assert_array_equal(a.expression, b.expression)
    c = _anim(speech, seed=4)
    assert np.abs(a.rotation - c.rotation).max() > 1e-3


def test_styles_scale_motion_and_still_is_still(speech):
    amp = {s: np.degrees(np.abs(_anim(speech, pose=s).rotation)).max() for s in STYLES}
    assert amp["still"] == 0.0
    assert 0.3 < amp["calm"] < amp["natural"] < amp["expressive"] < 15.0
    still = _anim(speech, pose="still")
    assert np.abs(still.translation).max() == 0.0


def test_no_jitter_and_starts_at_photo_pose(speech):
    a = _anim(speech, pose="expressive")
    assert np.abs(a.rotation[0]).max() < 1e-6
    acc = np.diff(a.rotation, 2, axis=0)  # per-frame^2, radians
    vel = np.diff(a.rotation, axis=0)
    assert np.degrees(np.abs(acc)).max() < 1.0
    assert np.degrees(np.abs(vel)).max() < 1.5
    # jitter would put power at high frequencies: keep > 99% of it below 3 Hz
    x = a.rotation - a.rotation.mean(0)
    spec = np.abs(np.fft.rfft(x, axis=0)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / a.fps)
    assert spec[freqs > 3.0].sum() < 0.01 * spec.sum()
    # the neck pivot makes nods move the head a little (cm), never a lot
    assert 0.0 < np.abs(a.translation).max() < 2.0


def test_nods_follow_stressed_syllables(speech):
    """Pitch rises (chin down) more around stressed vowels than elsewhere."""
    from talkrig.animate.head import head_motion, prominences
    from talkrig.animate.loudness import envelope

    lt, env = envelope(speech.audio)
    n = int(speech.duration * 25)
    fps = 25.0
    rot_nods, _ = head_motion(n, fps, speech.phonemes, lt, env, "natural", seed=0, accents=speech.accents)
    rot_none, _ = head_motion(n, fps, [], lt, env, "natural", seed=0)
    nod = np.degrees(rot_nods[:, 0] - rot_none[:, 0])
    proms = prominences(speech.phonemes, lt, env, speech.accents)
    assert len(proms) >= 6
    impulses = np.zeros(n)
    for t, w in proms:
        impulses[min(int(round(t * fps)), n - 1)] += w
    lags = np.arange(-10, 11)
    nod = nod - nod.mean()
    xc = np.array([np.dot(np.roll(impulses, k), nod) for k in lags])
    best = lags[int(np.argmax(xc))] / fps
    assert 0.0 <= best <= 0.3  # the chin dips just after the stressed vowel starts
    assert xc.max() > 0


def test_blink_statistics():
    times = blink_times(600.0, seed=7)
    gaps = np.diff([t for t, _ in times])
    lengths = np.array([d for _, d in times])
    assert gaps.min() >= 2.0 - 1e-9 and gaps.max() <= 6.0 + 1e-9
    assert 2.8 < gaps.mean() < 4.5
    assert lengths.min() >= 0.1 and lengths.max() <= 0.15
    curve = blink_curve(int(60 * 30), 30.0, seed=7)
    peaks = [i for i in range(1, len(curve) - 1) if curve[i] >= 0.99 and curve[i] >= curve[i - 1]]
    assert len(peaks) == len([t for t, _ in times if t < 60 - 0.1])  # every blink reaches closure


def test_blinks_independent_of_pose_and_gaze_small(speech):
    a, b = _anim(speech, pose="still", seed=5), _anim(speech, pose="expressive", seed=5)
    blink = ARKIT_52.index("eyeBlinkLeft")
    np.testing.assert_array_equal(a.expression[:, blink], b.expression[:, blink])
    look = [i for i, n in enumerate(ARKIT_52) if n.startswith("eyeLook")]
    g = a.expression[:, look]
    assert 0.02 < g.max() <= 0.15
    changes = np.flatnonzero(np.abs(np.diff(g, axis=0)).max(1) > 1e-4)
    assert len(changes) >= 2  # saccades happen


def test_pose_csv(tmp_path, speech):
    p = tmp_path / "pose.csv"
    rows = ["yaw,pitch,roll"] + [f"{10 + i * 0.1},{-5},{2}" for i in range(20)]
    p.write_text("\n".join(rows))
    a = _anim(speech, pose=p)
    assert a.rotation.shape == (a.n_frames, 3)
    np.testing.assert_allclose(a.rotation[0], 0, atol=1e-7)  # relative to the first row
    np.testing.assert_allclose(np.degrees(a.rotation[10, 1]), 1.0, atol=1e-4)  # yaw
    np.testing.assert_allclose(a.rotation[-1], a.rotation[19], atol=1e-7)  # holds the last pose
    bad = tmp_path / "bad.csv"
    bad.write_text("1,2,3\n4,five,6\n")
    with pytest.raises(InputError):
        load_pose_csv(bad, 10)
    with pytest.raises(InputError):
        _anim(speech, pose="wobbly")


def test_natural_motion_stays_small_on_short_clips():
    # a 2 s clip is shorter than the drift's time scale; its pose must still stay a few degrees
    import numpy as np

    from talkrig.animate import animate

    for seed in range(6):
        a = animate(text="I miss the old house.", emotion="sad", seed=seed)
        assert np.degrees(np.abs(a.rotation)).max() < 10.0
