"""Metrics on the real dev video: itself, a degraded copy, shifted audio, a still face."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from talkrig.eval.evaluate import METRICS, evaluate
from talkrig.eval.frames import PSNR_CAP
from talkrig.eval.landmarks import mouth_opening
from talkrig.eval.lipsync import lip_sync, loudness_db, voice_activity
from talkrig.eval.track import detect_photo, track_frames
from talkrig.io.video import read_video, write_video

pytestmark = pytest.mark.shared
SR, FPS = 16000, 25


@pytest.fixture(scope="module")
def dev_video():
    from conftest import shared_path

    return shared_path("dev", "video", "hdtf_WDA_KatieHill_000.mp4")


def _degrade(frames, seed=0):
    """Blur, noise and brightness jitter that changes every frame."""
    import cv2

    rng = np.random.default_rng(seed)
    for f in frames:
        g = cv2.GaussianBlur(f, (0, 0), 1.5).astype(np.float32)
        g += rng.normal(0, 4, g.shape) + rng.uniform(-8, 8)
        yield np.clip(g, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def reports(dev_video, tmp_path_factory):
    clip = read_video(dev_video)
    bad = tmp_path_factory.mktemp("eval") / "degraded.mp4"
    write_video(bad, _degrade(clip.frames()), clip.fps, audio=clip.audio(), crf=28)
    same = evaluate(dev_video, reference=dev_video, emotion="happy", cpbd_every=4)
    worse = evaluate(bad, reference=dev_video, emotion="happy", cpbd_every=4)
    return same, worse


@pytest.mark.slow
def test_real_video_against_itself(reports):
    same, _ = reports
    v = same.values
    assert v["psnr"] == PSNR_CAP and v["psnr_face"] == PSNR_CAP and v["psnr_mouth"] == PSNR_CAP
    assert v["ssim"] == pytest.approx(1.0, abs=1e-6) and v["mse"] == 0.0
    assert v["m_lmd"] == pytest.approx(0.0, abs=1e-6) and v["f_lmd"] == pytest.approx(0.0, abs=1e-6)
    assert v["mouth_corr"] == pytest.approx(1.0) and v["mouth_lag"] == 0
    if "vmaf" in v:
        assert v["vmaf"] > 95
    assert v["face_found"] == 1.0
    # no-reference metrics equal the reference column (it is the same video)
    for k in ("cpbd", "flicker", "env_corr", "av_offset", "identity_drift"):
        assert v[k] == pytest.approx(same.reference_values[k])
    d = same.as_dict()
    json.dumps(d)  # serialisable, NaN as null
    assert set(d["metrics"]) <= set(METRICS)


@pytest.mark.slow
def test_degraded_copy_is_worse_on_every_quality_metric(reports):
    same, worse = reports
    a, b = same.values, worse.values
    for k, (_, better, group) in METRICS.items():
        if k not in a or k not in b or better == "" or group in ("lip sync", "emotion"):
            continue
        if k in ("face_found", "identity_same"):  # shares that may stay at 1.0
            assert b[k] <= a[k], k
            continue
        if better == "higher":
            assert b[k] < a[k], k
        else:
            assert b[k] > a[k], k
    # the degradation is spatial/photometric: lip motion itself is unchanged
    assert abs(b["speech_motion"] - a["speech_motion"]) < 0.01
    assert b["mouth_lag"] == 0 and b["mouth_corr"] > 0.8
    assert b["m_lmd"] < 3.0  # pixels, at 512x512


@pytest.mark.slow
def test_lip_sync_offset_finds_a_three_frame_shift(dev_video):
    clip = read_video(dev_video)
    audio = clip.audio()
    track = track_frames(clip.frames(), clip.fps)
    opening = mouth_opening(track.landmarks68)
    base = lip_sync(opening, audio, SR, FPS).av_offset
    k = 3
    late_audio = np.concatenate([np.zeros(k * SR // FPS, np.float32), audio])[:len(audio)]
    assert lip_sync(opening, late_audio, SR, FPS).av_offset == base + k  # the mouth now leads by k more
    # the same shift from the video side: the face starts k frames late
    late_face = np.concatenate([np.full(k, np.nan), opening])[:len(opening)]
    assert lip_sync(late_face, audio, SR, FPS).av_offset == base - k
    # and against the real mouth (self-reenactment), where in sync is exactly 0
    from talkrig.eval.lipsync import mouth_lag

    assert mouth_lag(late_face, opening)[1] == k
    assert mouth_lag(opening, opening) == (pytest.approx(1.0), 0)


@pytest.mark.slow
def test_still_face_over_speech(dev_video):
    clip = read_video(dev_video)
    first = next(clip.frames())
    track = track_frames([first] * 100, clip.fps)
    rep = lip_sync(mouth_opening(track.landmarks68), clip.audio()[:4 * SR], SR, FPS)
    assert rep.speech_motion < 0.005
    assert rep.av_offset is None and rep.env_corr == 0.0  # jitter is not lip motion
    real = track_frames(clip.frames(stop=100), clip.fps)
    real_rep = lip_sync(mouth_opening(real.landmarks68), clip.audio()[:4 * SR], SR, FPS)
    assert real_rep.speech_motion > 10 * rep.speech_motion
    assert real_rep.av_offset is not None


@pytest.mark.slow
def test_identity_and_emotion_on_real_faces(dev_video, shared):
    from talkrig.eval.expression import identity_drift, recognisability

    clip = read_video(dev_video)
    track = track_frames(clip.frames(stop=50), clip.fps)
    own = identity_drift(track.points, track.points[0])["identity_drift"]
    for name in ("lfpw_test_image_0003.png", "skimage_astronaut.png"):
        pts, _ = detect_photo(shared("dev", "portraits", name))
        assert identity_drift(track.points, pts)["identity_drift"] > own * 1.3, name
    for name in ("lfpw_test_image_0014.png", "skimage_astronaut.png"):  # broad smiles
        _, bs = detect_photo(shared("dev", "portraits", name))
        assert recognisability(bs[None], "happy")["emotion_hit"] == 1.0, name


def test_cli_eval_writes_json(dev_video, tmp_path):
    import cv2

    from talkrig.cli.main import main

    clip = read_video(dev_video)
    small = tmp_path / "small.mp4"
    frames = (cv2.resize(f, (256, 256), interpolation=cv2.INTER_AREA)
              for f in clip.frames(stop=40))
    write_video(small, frames, clip.fps, audio=clip.audio()[:40 * SR // FPS])
    out = tmp_path / "m.json"
    assert main(["eval", str(small), "--reference", str(small), "--emotion", "happy",
                 "--json", str(out), "--cpbd-every", "5"]) == 0
    d = json.loads(out.read_text())
    assert d["metrics"]["psnr"] == PSNR_CAP and d["metrics"]["emotion_top"]
    assert d["metrics"]["m_lmd"] == 0.0
    assert any("FID" in n for n in d["notes"])
    bad = tmp_path / "none.json"
    assert main(["eval", str(tmp_path / "missing.mp4"), "--json", str(bad)]) == 2
    assert main(["eval", str(small), "--emotion", "bored", "--json", str(bad)]) == 2
    assert not bad.exists()
    assert not math.isnan(d["metrics"]["cpbd"])


@pytest.mark.slow
def test_bilabial_closure_with_forced_alignment(shared):
    """'go forward ten meters': the /m/ of 'meters' is found by the aligner; a mouth that
    closes there passes, one that never closes fails."""
    from talkrig.eval.evaluate import _phones
    from talkrig.eval.lipsync import bilabial_closure
    from talkrig.io.audio import load_audio

    audio, _ = load_audio(shared("dev", "audio", "pocketsphinx_goforward.wav"))
    notes = []
    phones = _phones(audio, "go forward ten meters", notes)
    ms = [(s, e) for ph, s, e in phones if ph == "M"]
    assert len(ms) == 1 and not notes
    n = int(len(audio) / SR * FPS)
    opening = np.full(n, 0.2)
    assert bilabial_closure(opening, FPS, phones) == (0.0, 1)
    opening[int((ms[0][0] + ms[0][1]) / 2 * FPS)] = 0.0
    assert bilabial_closure(opening, FPS, phones) == (1.0, 1)


@pytest.mark.slow
def test_learned_identity_separates_people(dev_video, shared):
    pytest.importorskip("dlib")
    from talkrig.eval import face_id
    from talkrig.io.image import load_image

    if not face_id.available():
        pytest.skip("face-recognition-models not installed (extra 'identity')")
    clip = read_video(dev_video)
    track = track_frames(clip.frames(stop=30), clip.fps)
    desc = face_id.FaceDescriptor()
    first = next(clip.frames())
    own = face_id.identity_similarity(clip.frames(stop=30), track.points, first,
                                      track.points[0], descriptor=desc)
    assert own["identity_dist"] < face_id.SAME_PERSON and own["identity_same"] == 1.0
    for name in ("lfpw_test_image_0003.png", "skimage_astronaut.png"):
        p = shared("dev", "portraits", name)
        other = face_id.identity_similarity(clip.frames(stop=30), track.points, load_image(p),
                                            detect_photo(p)[0], descriptor=desc)
        assert other["identity_dist"] > face_id.SAME_PERSON, name
        assert other["identity_cos"] < own["identity_cos"], name


@pytest.mark.slow
def test_cli_with_user_weights(dev_video, tmp_path):
    """--syncnet and --inception load weight files of the published layouts (random values
    here) and report LSE-D/LSE-C and FID."""
    import cv2
    import torch

    from talkrig.cli.main import main
    from talkrig.eval.fid import FIDInception
    from talkrig.eval.syncnet import SyncNet

    torch.manual_seed(0)
    sn, inc = tmp_path / "syncnet_v2.model", tmp_path / "pt_inception.pth"
    torch.save(SyncNet().state_dict(), sn)
    torch.save(FIDInception().state_dict(), inc)
    clip = read_video(dev_video)
    small = tmp_path / "small.mp4"
    write_video(small, (cv2.resize(f, (256, 256)) for f in clip.frames(stop=16)), clip.fps,
                audio=clip.audio()[:16 * SR // FPS])
    out = tmp_path / "m.json"
    assert main(["eval", str(small), "-r", str(small), "--syncnet", str(sn), "--inception",
                 str(inc), "--no-vmaf", "--json", str(out)]) == 0
    m = json.loads(out.read_text())["metrics"]
    assert m["fid"] == pytest.approx(0.0, abs=1e-6)  # same frames on both sides
    assert m["lse_d"] > 0 and m["lse_c"] >= 0 and -15 <= m["syncnet_offset"] <= 15


@pytest.mark.slow
@pytest.mark.parametrize("name,lead", [("dfrf_cnn2_25fps.mp4", 0), ("pcavs_741400163.mp4", 2),
                                       ("pcavs_00086.mp4", 0)])
def test_offset_of_real_in_sync_videos(shared, name, lead):
    """The in-sync dev videos peak where shared/README.md says (mouth leading by 0 or 2 frames),
    and a 3-frame shift of the audio moves the peak by exactly 3 either way."""
    path = shared("dev", "video", name)
    clip = read_video(path)
    audio = clip.audio()
    opening = mouth_opening(track_frames(clip.frames(), clip.fps).landmarks68)
    n = 3 * SR // FPS
    late = np.concatenate([np.zeros(n, np.float32), audio])[:len(audio)]
    early = np.concatenate([audio[n:], np.zeros(n, np.float32)])
    assert lip_sync(opening, audio, SR, FPS).av_offset == lead
    assert lip_sync(opening, late, SR, FPS).av_offset == lead + 3
    assert lip_sync(opening, early, SR, FPS).av_offset == lead - 3


@pytest.mark.slow
def test_offset_of_a_stretch_of_continuous_real_speech(shared):
    """The CNN presenter's first 4 s hold no pause: the quietest tenth of the clip is speech, not
    a noise floor. Still most frames count as speech (a 10th-percentile floor left 3 %) and the
    offset stays within a frame of the whole clip's 0 (it peaked at -13)."""
    clip = read_video(shared("dev", "video", "dfrf_cnn2_25fps.mp4"))
    n = 4 * FPS
    audio = clip.audio()[:n * SR // FPS]
    opening = mouth_opening(track_frames(clip.frames(stop=n), clip.fps).landmarks68)
    assert voice_activity(loudness_db(audio, SR, FPS, n)).mean() > 0.5
    assert abs(lip_sync(opening, audio, SR, FPS).av_offset) <= 1
