"""Weight-free lip-sync checks and landmark metrics on synthetic signals with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from talkrig.eval.landmarks import MOUTH, face_mask, lmd, mouth_mask, mouth_opening
from talkrig.eval.lipsync import (CLOSED, bilabial_closure, lip_sync, loudness_db, pauses,
                                  voice_activity)

SR, FPS = 16000, 25


def _speech_like(n_frames=250, seed=0):
    """Audio of syllable-like bursts with pauses, and its per-frame amplitude (the mouth
    opening a perfectly synced face would show)."""
    rng = np.random.default_rng(seed)
    amp = np.zeros(n_frames)
    t = 0
    while t < n_frames:
        n = min(int(rng.integers(3, 8)), n_frames - t)  # a syllable of 3-7 frames
        amp[t:t + n] = np.sin(np.linspace(0, np.pi, n + 2)[1:-1]) * rng.uniform(0.4, 1.0)
        t += n + int(rng.integers(0, 3))
        if rng.random() < 0.15:
            t += int(rng.integers(6, 15))  # a pause
    env = np.repeat(amp, SR // FPS)
    audio = (env * np.sin(2 * np.pi * 180 * np.arange(len(env)) / SR)
             * (1 + 0.3 * rng.standard_normal(len(env)))).astype(np.float32) * 0.3
    return audio, amp


def _shift(x, k):
    """x delayed by k frames (k > 0: later), edge-filled with zeros."""
    out = np.zeros_like(x)
    if k > 0:
        out[k:] = x[:-k]
    elif k < 0:
        out[:k] = x[-k:]
    else:
        out[:] = x
    return out


def test_loudness_and_voice_activity():
    audio, amp = _speech_like()
    db = loudness_db(audio, SR, FPS, len(amp))
    assert db.shape == amp.shape
    speech = voice_activity(db)
    assert 0.4 < speech.mean() < 0.95
    assert speech[amp > 0.3].mean() > 0.9
    long_silence = pauses(amp > 0, FPS)
    assert long_silence.sum() > 10
    # the level window spans +-1 frame: frames whose neighbours are silent too read silence
    quiet = (amp == 0) & (np.roll(amp, 1) == 0) & (np.roll(amp, -1) == 0)
    assert db[quiet].max() < -60
    assert not speech[quiet & long_silence].any()


@pytest.mark.parametrize("k", [0, 3, -2])
def test_offset_search_recovers_a_known_shift(k):
    audio, amp = _speech_like()
    opening = 0.02 + 0.2 * _shift(amp, k)  # the mouth moves k frames after the sound
    rep = lip_sync(opening, audio, SR, FPS)
    assert rep.av_offset == -k  # av_offset is the mouth's lead
    assert rep.offset_corr > 0.5


def test_continuous_speech_is_all_speech():
    """A clip with no pause (a short TTS sentence, a stretch of a presenter's talk) has no noise
    floor to find: its quietest tenth is voiced consonants, 10 dB under the vowels. It is speech
    throughout, and the offset search still finds the synced mouth."""
    n = 100
    rng = np.random.default_rng(1)
    phase = np.cumsum(np.pi / rng.uniform(4, 7, n))  # a syllable every 4-7 frames
    amp = 0.3 + 0.7 * np.abs(np.sin(phase))  # never quieter than a voiced consonant
    t = np.arange(n * SR // FPS) / SR
    audio = (np.repeat(amp, SR // FPS) * np.sin(2 * np.pi * 180 * t)).astype(np.float32) * 0.3
    speech = voice_activity(loudness_db(audio, SR, FPS, n))
    assert speech.mean() > 0.9
    assert lip_sync(0.02 + 0.2 * amp, audio, SR, FPS).av_offset == 0


def test_in_sync_beats_shifted():
    audio, amp = _speech_like(seed=1)
    synced = lip_sync(0.02 + 0.2 * amp, audio, SR, FPS)
    late = lip_sync(0.02 + 0.2 * _shift(amp, 4), audio, SR, FPS)
    assert synced.env_corr > 0.5 > late.env_corr


def test_still_face_over_speech():
    audio, amp = _speech_like(seed=2)
    rep = lip_sync(np.full(len(amp), 0.12), audio, SR, FPS)
    assert rep.speech_motion == pytest.approx(0.0, abs=1e-12)
    assert rep.env_corr == 0.0 and rep.av_offset is None
    assert rep.pause_closed == 0.0  # mouth held open through the pauses
    closed = lip_sync(np.full(len(amp), 0.0), audio, SR, FPS)
    assert closed.pause_closed == 1.0


def test_pause_closure_counts_closed_frames():
    audio, amp = _speech_like(seed=3)
    opening = np.where(amp > 0, 0.2, 0.0)  # closes whenever there is no sound
    rep = lip_sync(opening, audio, SR, FPS)
    assert rep.pause_closed > 0.9


def test_bilabial_closure():
    opening = np.full(50, 0.2)
    opening[10] = 0.0  # closes during the first /m/
    phones = [("M", 0.38, 0.44), ("AA", 0.44, 0.6), ("B", 1.2, 1.26), ("IY", 1.26, 1.4)]
    share, n = bilabial_closure(opening, FPS, phones)
    assert n == 2 and share == 0.5
    assert math.isnan(bilabial_closure(opening, FPS, [("AA", 0, 1)])[0])
    assert opening[10] < CLOSED


# -- landmark metrics ----------------------------------------------------------------------

def _face68(seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(100, 300, (68, 2))


def test_lmd_known_values():
    a = np.stack([_face68(i) for i in range(5)])
    same = lmd(a, a)
    assert same["m_lmd"] == 0.0 and same["f_lmd"] == 0.0
    moved = lmd(a + np.array([7.0, -3.0]), a)  # a translated copy: centring removes it
    assert moved["f_lmd"] == pytest.approx(0.0, abs=1e-9)
    b = a.copy()
    b[:, MOUTH, 1] += 2.0  # mouth points 2 px lower
    d = lmd(b, a)
    shift_c = 2.0 * 20 / 68  # the centroid moves too
    exp_m = 2.0 - shift_c
    exp_f = (20 * exp_m + 48 * shift_c) / 68
    assert d["m_lmd"] == pytest.approx(exp_m) and d["f_lmd"] == pytest.approx(exp_f)
    # resolution: the same face at twice the size compares equal after rescaling
    assert lmd(a * 2, a, (512, 512), (256, 256))["f_lmd"] == pytest.approx(0.0, abs=1e-9)
    # missing faces are skipped
    c = a.copy()
    c[0] = np.nan
    assert lmd(c, a)["lmd_frames"] == 4


def test_mouth_opening_and_masks():
    lm = _face68()[None].repeat(2, 0)
    lm[:, 36], lm[:, 45] = (100, 100), (200, 100)  # eye corners 100 px apart
    for i, j in zip((61, 62, 63), (67, 66, 65)):
        lm[0, i] = lm[0, j] = (150, 250)
        lm[1, i], lm[1, j] = (150, 240), (150, 260)
    op = mouth_opening(lm)
    assert op[0] == 0.0 and op[1] == pytest.approx(0.2)
    # masks from a MediaPipe-shaped point set: a disc of points
    ang = np.linspace(0, 2 * np.pi, 478, endpoint=False)
    pts = np.stack([128 + 60 * np.cos(ang), 128 + 80 * np.sin(ang), 0 * ang], 1)
    fm = face_mask(pts, (256, 256))
    assert fm.shape == (256, 256) and 0.05 < fm.mean() < 0.5 and fm[128, 128]
    mm = mouth_mask(pts, (256, 256))
    assert mm.shape == (256, 256)
    assert not mouth_mask(np.full((478, 3), np.nan), (64, 64)).any()


def test_evaluate_video_without_a_face(tmp_path):
    """Anyone's video, even one with no face: image metrics work, the rest is skipped."""
    from talkrig.eval.evaluate import evaluate
    from talkrig.io.video import write_video

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(8)]
    p = tmp_path / "noise.mp4"
    write_video(p, frames, FPS)
    rep = evaluate(p, reference=p, use_vmaf=False)
    assert rep.values["face_found"] == 0.0
    assert rep.values["psnr"] == 100.0 and "m_lmd" in rep.values
    # a generated video of another size is resized to the reference's for the image metrics
    big = tmp_path / "big.mp4"
    write_video(big, [np.kron(f, np.ones((2, 2, 1), np.uint8)) for f in frames], FPS)
    rep2 = evaluate(big, reference=p, use_vmaf=False)
    assert 10 < rep2.values["psnr"] < 100
    assert "env_corr" not in rep.values and "identity_drift" not in rep.values
    assert any("no face" in n for n in rep.notes)
    assert any("no audio" in n for n in rep.notes)


def test_no_reference_checks_print(tmp_path):
    import io

    from rich.console import Console

    from talkrig.eval.evaluate import print_no_reference_checks
    from talkrig.io.video import write_video

    rng = np.random.default_rng(1)
    p = tmp_path / "clip.mp4"
    write_video(p, [rng.integers(0, 256, (64, 64, 3), dtype=np.uint8) for _ in range(6)], FPS)
    buf = io.StringIO()
    rep = print_no_reference_checks(p, Console(file=buf, width=120))
    text = buf.getvalue()
    assert "self-checks: clip.mp4" in text and "CPBD" in text and "PSNR" not in text
    assert not any(n.startswith(("FID", "LSE")) for n in rep.notes)


@pytest.mark.parametrize("k", [0, 3, -4])
def test_mouth_lag_against_the_real_mouth(k):
    from talkrig.eval.lipsync import mouth_lag

    _, amp = _speech_like(seed=4)
    real = 0.02 + 0.2 * amp
    corr, lag = mouth_lag(0.02 + 0.2 * _shift(amp, k), real)
    assert lag == k
    if k == 0:
        assert corr == pytest.approx(1.0)
    assert mouth_lag(np.full(len(amp), 0.1), real) == (0.0, None)  # a still mouth
