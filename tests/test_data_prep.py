"""data_prep: layouts, features, crops, and a real job over the dev video plus derived clips."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from talkrig.data_prep.crops import CropStream, crop_matrix, crop_params
from talkrig.data_prep.features import MelConfig, log_mel
from talkrig.data_prep.layouts import clip_id_for, discover, parse_labels
from talkrig.errors import InputError

VIDEO = ("dev", "video", "hdtf_WDA_KatieHill_000.mp4")


# -- layouts -------------------------------------------------------------------------------
@pytest.mark.parametrize("rel, layout, want", [
    ("M030/video/front/happy/level_3/001.mp4", "mead",
     {"speaker": "M030", "emotion": "happy", "emotion_raw": "happy", "intensity": 3}),
    ("W015/video/left_30/fear/level_1/012.mp4", "mead",
     {"speaker": "W015", "emotion": "fearful", "emotion_raw": "fear", "intensity": 1}),
    ("Actor_24/01-01-05-02-01-01-24.mp4", "ravdess",
     {"speaker": "Actor_24", "emotion": "angry", "emotion_raw": "angry", "intensity": 2}),
    ("02-01-02-01-02-02-07.mp4", "ravdess",  # calm is not one of the eight: neutral, raw kept
     {"speaker": "Actor_07", "emotion": "neutral", "emotion_raw": "calm", "intensity": 1}),
    ("dev/mp4/id00012/21Uxsk56VDQ/00001.mp4", "voxceleb2", {"speaker": "id00012"}),
    ("main/5535415699068794046/00001.mp4", "lrs2", {"speaker": "5535415699068794046"}),
    ("WDA_KatieHill_000.mp4", "hdtf", {"speaker": "KatieHill"}),
    ("RD_Radio31_000.mp4", "hdtf", {"speaker": "Radio31"}),
    ("holiday/me.mp4", "plain", {}),
])
def test_layouts_parse_labels(rel, layout, want):
    assert parse_labels(rel, "auto") == (layout, want)
    assert parse_labels(rel, layout) == (layout, want)


def test_explicit_layout_rejects_other_files(tmp_path):
    (tmp_path / "holiday").mkdir()
    (tmp_path / "holiday" / "me.mp4").write_bytes(b"x")
    with pytest.raises(InputError, match="do not follow the mead layout"):
        discover(tmp_path, "mead")
    with pytest.raises(InputError, match="unknown layout"):
        discover(tmp_path, "celebv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no video files"):
        discover(tmp_path / "empty", "auto")
    with pytest.raises(InputError, match="input not found"):
        discover(tmp_path / "missing", "auto")


def test_lrs2_transcript_and_ids(tmp_path):
    d = tmp_path / "main" / "5535415699068794046"
    d.mkdir(parents=True)
    (d / "00001.mp4").write_bytes(b"x")
    (d / "00001.txt").write_text("Text:  WE HAVE TO BE CAREFUL\nConf:  5\n")
    (tmp_path / "a b.mp4").write_bytes(b"x")
    (tmp_path / "a b.avi").write_bytes(b"x")
    clips = {c.rel_path: c for c in discover(tmp_path)}
    assert clips["main/5535415699068794046/00001.mp4"].text == "WE HAVE TO BE CAREFUL"
    ids = [c.clip_id for c in clips.values()]
    assert len(set(ids)) == len(ids)  # same stem, two suffixes: still distinct
    assert clip_id_for("x/y.mp4") == "x__y"


# -- features ------------------------------------------------------------------------------
def test_log_mel_tone_lands_in_the_right_band():
    cfg = MelConfig()
    t = np.arange(16000) / 16000
    feats = log_mel(np.sin(2 * np.pi * 1000 * t).astype(np.float32), cfg)
    assert feats.shape == (100, 80) and feats.dtype == np.float32
    # HTK mel of 1 kHz, as a fraction of the [fmin, fmax] mel range
    mel = lambda f: 2595 * np.log10(1 + f / 700)  # noqa: E731
    expect = (mel(1000) - mel(cfg.fmin)) / (mel(cfg.fmax) - mel(cfg.fmin)) * (cfg.n_mels + 1) - 1
    assert abs(int(np.median(feats[5:-5].argmax(1))) - expect) <= 1
    assert log_mel(np.zeros(0, np.float32)).shape == (0, 80)


# -- crops ---------------------------------------------------------------------------------
def _face(cx: float, cy: float, scale: float = 1.0) -> np.ndarray:
    lm = np.zeros((478, 3), np.float32)
    for idx, (x, y) in {33: (-30, 0), 133: (-10, 0), 362: (10, 0), 263: (30, 0),
                        61: (-20, 40), 291: (20, 40)}.items():
        lm[idx, :2] = (cx + x * scale, cy + y * scale)
    return lm


def test_crop_matrix_maps_face_centre_to_crop_centre():
    p = crop_params(_face(100, 80))
    m = crop_matrix(p, 256)
    centre = m @ np.array([p[0], p[1], 1.0])
    assert np.allclose(centre, [128, 128])
    # the eye line is horizontal in the crop
    eyes = m @ np.array([[70, 80, 1.0], [130, 80, 1.0]]).T
    assert abs(eyes[1, 0] - eyes[1, 1]) < 1e-6


def test_crop_smoothing_has_no_lag_and_bounded_lookahead():
    """A face moving at constant speed: the centred window reproduces every frame's own
    square exactly (a causal filter would trail behind), and frames come out after at most
    ``radius`` frames of look-ahead."""
    stream = CropStream(64, 320, 240, radius=3)
    frame = np.zeros((240, 320, 3), np.uint8)
    mats = []
    for i in range(20):
        got = stream.push(frame, _face(100 + 5 * i, 120) if i != 7 else None)
        assert len(mats) + len(got) >= i - 3
        mats += [m for _, m in got]
    mats += [m for _, m in stream.flush()]
    assert len(mats) == 20
    for i in (3, 11, 15):  # windows clear of the faceless frame 7
        want = crop_matrix(crop_params(_face(100 + 5 * i, 120)), 64)
        assert np.allclose(mats[i], want, atol=1e-6), i


# -- a real job ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """A job (one in-process worker) over clips derived from the dev video."""
    from conftest import shared_path

    import prep_media
    from talkrig.data_prep import prepare

    root = tmp_path_factory.mktemp("prep_in")
    prep_media.make_dataset(shared_path(*VIDEO), root)
    out = tmp_path_factory.mktemp("prep_out") / "out"
    summary = prepare(root, out, workers=1, progress=False)
    return root, out, summary


@pytest.fixture(scope="module")
def prepared_full(tmp_path_factory):
    """The whole 8 s dev video (512 px, 200 frames) through the job."""
    from conftest import shared_path

    from talkrig.data_prep import prepare

    root = tmp_path_factory.mktemp("prep_full_in")
    shutil.copy(shared_path(*VIDEO), root / VIDEO[-1])
    out = tmp_path_factory.mktemp("prep_full_out") / "out"
    return out, prepare(root, out, workers=1, progress=False)


@pytest.mark.shared
def test_manifest_is_right(prepared):
    _root, out, summary = prepared
    rows = {r["clip_id"]: r for r in summary.rows}
    assert [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()] == summary.rows
    assert list(rows) == sorted(rows)
    assert summary.total == summary.processed == 7 and summary.skipped == 0

    mead = rows["M030__video__front__happy__level_3__001"]
    assert (mead["status"], mead["frames"], mead["speaker"], mead["emotion"], mead["intensity"]) == \
        ("ok", 30, "M030", "happy", 3)
    rav = rows["03-01-05-02-01-01-24"]
    assert (rav["status"], rav["speaker"], rav["emotion"], rav["intensity"]) == ("ok", "Actor_24", "angry", 2)
    re = rows["plain__reencoded"]
    assert (re["status"], re["frames"], re["fps"], re["has_audio"]) == ("ok", 18, 12.5, False)
    two = rows["plain__twofaces"]
    assert (two["status"], two["faces"], two["width"]) == ("ok", 2, 320)

    assert rows["plain__solid"]["status"] == "no_face" and rows["plain__solid"]["frames"] == 25
    for bad in ("plain__truncated", "plain__garbage"):
        assert rows[bad]["status"] == "error" and "cannot open video" in rows[bad]["error"]
        assert "/" not in rows[bad]["error"]  # no machine-specific paths in the manifest
    assert sorted(p.stem for p in (out / "errors").glob("*.json")) == \
        ["plain__garbage", "plain__solid", "plain__truncated"]


@pytest.mark.shared
def test_every_shard_loads_with_consistent_shapes(prepared):
    from talkrig.data_prep.shard import load_shard
    from talkrig.model.coefficients import Coefficients

    _root, out, summary = prepared
    ok = [r for r in summary.rows if r["status"] == "ok"]
    assert len(ok) == 4
    for r in ok:
        path = out / "shards" / f"{r['clip_id']}.npz"
        d = load_shard(path)
        t = r["frames"]
        assert d["landmarks"].shape == (t, 478, 3) and d["blendshapes"].shape == (t, 52)
        assert d["face_found"].mean() >= 0.5 and d["crop_affine"].shape == (t, 2, 3)
        assert np.isfinite(d["landmarks"]).all()
        lm = d["landmarks"][d["face_found"]]
        assert lm[..., 0].min() > -5 and lm[..., 0].max() < r["width"] + 5  # pixel coordinates
        c = Coefficients.load(path, prefix="coef_")
        assert c.frames == t
        assert np.degrees(float(c.rotation[:, 1].abs().max())) < 45  # near-frontal speakers
        assert (c.translation[:, 2] < 0).all()  # in front of the camera
        n_audio = int(round(r["duration"] * 16000)) if r["has_audio"] else 0
        assert abs(d["audio"].shape[0] - n_audio) <= 1600
        assert d["mel"].shape == (-(-d["audio"].shape[0] // 160), 80)
        crops = out / "shards" / f"{r['clip_id']}.crop.mp4"
        import av

        with av.open(str(crops)) as cv:
            n = sum(1 for _ in cv.decode(video=0))
            assert n == t and cv.streams.video[0].codec_context.width == 256
        assert d["meta"]["status"] == "ok" and d["meta"]["clip_id"] == r["clip_id"]
    # two faces side by side: the track stays on one of them for the whole clip
    two = load_shard(out / "shards" / "plain__twofaces.npz")
    centre_x = two["landmarks"][..., 0].mean(1)
    assert two["n_faces"].max() == 2 and ((centre_x < 160).all() or (centre_x > 160).all())


@pytest.mark.shared
@pytest.mark.slow
def test_full_video_row_and_jaw(prepared_full):
    """The dev video's manifest row, and real behaviour on real speech: jawOpen varies while
    she talks, and the mouth opening measured from landmarks agrees with it."""
    from talkrig.data_prep.shard import load_shard
    from talkrig.model.arkit import ARKIT_52

    out, summary = prepared_full
    (full,) = summary.rows
    assert (full["status"], full["frames"], full["fps"], full["duration"]) == ("ok", 200, 25.0, 8.0)
    assert (full["width"], full["height"], full["faces"], full["has_audio"]) == (512, 512, 1, True)
    assert full["layout"] == "hdtf" and full["speaker"] == "KatieHill"
    d = load_shard(out / "shards" / "hdtf_WDA_KatieHill_000.npz")
    jaw = d["blendshapes"][:, ARKIT_52.index("jawOpen")]
    gap = d["landmarks"][:, 14, 1] - d["landmarks"][:, 13, 1]  # inner lips, lower minus upper
    assert jaw.std() > 0.03
    assert np.corrcoef(jaw, gap)[0, 1] > 0.6


@pytest.mark.shared
@pytest.mark.slow
def test_tracked_3dmm_fits_the_landmarks(prepared_full):
    """One identity for the whole clip; posed model points land on the tracked landmarks
    (within 3% of the face size on average) and the model's mouth follows hers."""
    import torch

    from talkrig.data_prep.shard import load_shard
    from talkrig.model.coefficients import Coefficients
    from talkrig.model.rotation import euler_to_matrix
    from talkrig.recon.context import model_context
    from talkrig.render.camera import project

    out, _ = prepared_full
    path = out / "shards" / "hdtf_WDA_KatieHill_000.npz"
    d, c = load_shard(path), Coefficients.load(path, prefix="coef_")
    ctx = model_context("default")
    assert c.identity.shape == (200, ctx.model.n_identity)
    assert torch.equal(c.identity, c.identity[:1].expand_as(c.identity)) and c.identity.abs().sum() > 0
    with torch.no_grad():
        pts = ctx.surface.points(c.identity, c.expression)
        cam = pts @ euler_to_matrix(c.rotation).transpose(1, 2) + c.translation[:, None]
        uv = project(cam, c.focal, 256.0, 256.0)[..., :478, :2].numpy()
    lm = d["landmarks"][..., :2]
    face = np.linalg.norm(lm.max(1) - lm.min(1), axis=-1)
    err = np.linalg.norm(uv - lm, axis=-1).mean(1) / face
    assert err.mean() < 0.03, err.mean()
    # the fitted mouth opens and closes with hers (inner lip midpoints 13 / 14)
    gap = lm[:, 14, 1] - lm[:, 13, 1]
    model_gap = uv[:, 14, 1] - uv[:, 13, 1]
    assert np.corrcoef(model_gap, gap)[0, 1] > 0.5  # r ~ 0.6-0.7 with the default model (12:50)


@pytest.mark.shared
def test_rerun_skips_everything_and_changes_nothing(prepared):
    from talkrig.data_prep import prepare

    root, out, first = prepared
    before = {p.name: p.read_bytes() for p in (out / "shards").iterdir()}
    again = prepare(root, out, workers=1, progress=False)
    assert (again.skipped, again.processed) == (7, 0)
    assert again.rows == first.rows
    assert {p.name: p.read_bytes() for p in (out / "shards").iterdir()} == before


@pytest.mark.shared
def test_manifest_is_rebuilt_from_shards(prepared):
    from talkrig.data_prep.shard import OutputDir, rebuild_manifest

    _root, out, first = prepared
    (out / "manifest.jsonl").unlink()
    assert rebuild_manifest(OutputDir(out)) == first.rows


@pytest.mark.shared
def test_clip_dataset_windows(prepared):
    from talkrig.data_prep.dataset import EMOTIONS, ClipDataset

    _root, out, summary = prepared
    ds = ClipDataset(out, window=10, stride=5, crops=True)
    fr = {r["clip_id"]: r["frames"] for r in summary.rows if r["status"] == "ok"}
    assert len(ds) == sum((t - 10) // 5 + 1 for t in fr.values())
    i = next(k for k, (c, s) in enumerate(ds.index) if c.startswith("M030") and s == 5)
    s = ds[i]
    assert s["mel"].shape == (40, 80) and s["audio"].shape == (6400,)
    assert s["expression"].shape == (10, 52) and s["rotation"].shape == (10, 3)
    assert s["crops"].shape == (10, 3, 256, 256) and 0 <= float(s["crops"].min()) <= float(s["crops"].max()) <= 1
    assert int(s["emotion"]) == EMOTIONS.index("happy") and int(s["intensity"]) == 3
    # the crop frames are the right ones: frame 5.. of the clip decoded in full
    from talkrig.data_prep.dataset import read_crop_frames

    full = read_crop_frames(out / "shards" / f"{s['clip_id']}.crop.mp4", 0, 15, 25.0)
    assert np.array_equal(full[5:15], s["crops"].numpy())
    batch = next(iter(__import__("torch").utils.data.DataLoader(ds, batch_size=3)))
    assert batch["mel"].shape[0] == 3


def test_cli_prep_errors_are_one_line(tmp_path, capsys):
    from talkrig.cli.main import main

    assert main(["prep", str(tmp_path / "missing"), "-o", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input not found" in err[0]
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "x.mp4").write_bytes(b"junk")
    assert main(["prep", str(tmp_path / "v"), "-o", str(tmp_path / "o"), "--engine", "spark"]) == 2
    assert "unknown engine" in capsys.readouterr().err


@pytest.mark.shared
def test_retry_errors_redoes_failed_clips_only(prepared, tmp_path):
    from talkrig.data_prep import prepare
    from talkrig.data_prep.shard import OutputDir, manifest_row, write_error

    root, out, first = prepared
    out2 = tmp_path / "out"
    shutil.copytree(out, out2)
    cid = "03-01-05-02-01-01-24"
    (out2 / "shards" / f"{cid}.npz").unlink()  # pretend it failed in an earlier run
    write_error(OutputDir(out2), manifest_row({"clip_id": cid, "status": "error", "error": "transient"}))
    kept = prepare(root, out2, workers=1, progress=False)
    assert kept.processed == 0 and next(r for r in kept.rows if r["clip_id"] == cid)["error"] == "transient"
    redo = prepare(root, out2, workers=1, progress=False, retry_errors=True)
    assert redo.processed == 4  # the three real failures fail again, the transient one recovers
    assert redo.rows == first.rows and not (out2 / "errors" / f"{cid}.json").exists()


@pytest.mark.shared
def test_output_inside_input_and_changed_settings(prepared, tmp_path):
    from talkrig.data_prep import PrepConfig, prepare

    root, _out, _ = prepared
    src = tmp_path / "videos"
    shutil.copytree(root / "M030", src / "M030")
    first = prepare(src, src / "prep", workers=1, progress=False)
    assert (first.total, first.processed) == (1, 1)
    assert list((src / "prep" / "shards").glob("*.crop.mp4"))
    again = prepare(src, src / "prep", workers=1, progress=False)  # its own crops are not input
    assert (again.total, again.processed) == (1, 0)
    with pytest.raises(InputError, match="other settings"):
        prepare(src, src / "prep", workers=1, progress=False, config=PrepConfig(crop_size=512))
    with pytest.raises(InputError, match="other settings"):
        prepare(src, src / "prep", workers=1, progress=False, layout="plain")


@pytest.mark.shared
def test_fitted_pose_agrees_with_the_trackers_own_head_pose(prepared):
    """Two independent estimates of the head's rotation -- MediaPipe's facial transform
    (``--model none``) and our 3DMM fit to the landmarks -- move together, frame by frame."""
    from talkrig.data_prep.fitting import coefficients_from_track
    from talkrig.data_prep.shard import load_shard
    from talkrig.data_prep.tracking import Track
    from talkrig.model.coefficients import Coefficients

    _root, out, _ = prepared
    path = out / "shards" / "M030__video__front__happy__level_3__001.npz"
    d = load_shard(path)
    track = Track(d["landmarks"], d["blendshapes"], d["head_transform"], d["face_found"], d["n_faces"])
    mp_pose = coefficients_from_track(track, 160)
    fit = Coefficients.load(path, prefix="coef_")
    assert mp_pose.identity.shape == (30, 0) and mp_pose.expression.shape == (30, 52)
    for k in range(3):  # pitch, yaw, roll
        a, b = np.degrees(mp_pose.rotation[:, k].numpy()), np.degrees(fit.rotation[:, k].numpy())
        assert np.corrcoef(a, b)[0, 1] > 0.9, k
    yaw_roll = np.degrees((mp_pose.rotation - fit.rotation)[:, 1:].abs().mean(0).numpy())
    assert (yaw_roll < 3).all(), yaw_roll  # pitch differs by the canonical faces' tilt


@pytest.mark.shared
def test_a_model_that_cannot_load_stops_the_job_without_blaming_clips(prepared, tmp_path):
    from talkrig.data_prep import PrepConfig, prepare
    from talkrig.errors import TalkrigError

    root, _out, _ = prepared
    with pytest.raises(TalkrigError):
        prepare(root, tmp_path / "o", workers=2, progress=False,
                config=PrepConfig(model=str(tmp_path / "no_such_model.npz")))
    assert not list((tmp_path / "o" / "errors").glob("*.json"))  # nothing recorded as the clips' fault
    assert not list((tmp_path / "o" / "shards").glob("*"))


def test_one_job_per_output_folder(tmp_path):
    import fcntl

    from talkrig.data_prep import prepare

    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.mp4").write_bytes(b"junk")
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".lock", "a+") as fh:  # as a running job holds it
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InputError, match="another prep job"):
            prepare(tmp_path / "in", out, workers=1, progress=False)
