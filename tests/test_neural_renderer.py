"""The StyleGAN2-based neural refiner (talkrig.texture.neural): layers, networks, training,
checkpoints, inference and the train-renderer CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.texture.neural.checkpoint import load_checkpoint
from talkrig.texture.neural.config import RefinerConfig
from talkrig.texture.neural.data import (load_npz_clips, save_clip_npz, stack_conditions,
                                         synthetic_batch)
from talkrig.texture.neural.layers import ModulatedConv2d, minibatch_stddev
from talkrig.texture.neural.networks import Discriminator, Generator
from talkrig.texture.neural.refiner import Refiner, refine_stream
from talkrig.texture.neural.train import RefinerTrainer, train_refiner


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; tiny nets do not gain from threads
    yield
    torch.set_num_threads(n)


TINY = RefinerConfig.preset("tiny")


def test_config_presets_and_json_roundtrip():
    for name in ("tiny", "128", "256", "512"):
        cfg = RefinerConfig.preset(name)
        back = RefinerConfig.from_json(cfg.to_json())
        assert back == cfg
        assert list(back.cond_channels) == list(cfg.cond_channels)  # stacking order kept
        assert cfg.resolution >> cfg.levels == cfg.bottom
    with pytest.raises(InputError):
        RefinerConfig.preset("huge")
    with pytest.raises(InputError):
        TINY.replace(resolution=96)


def test_demodulation_normalises_and_ignores_style_scale():
    torch.manual_seed(0)
    conv = ModulatedConv2d(32, 16, 3, style_dim=8)
    x = torch.randn(2, 32, 16, 16)
    w = torch.randn(2, 8)
    y1 = conv(x, w)
    # demodulated kernels have unit norm, so unit-variance input gives ~unit-variance output
    assert 0.6 < float(y1.detach()[:, :, 1:-1, 1:-1].std()) < 1.4
    # scaling every style by a constant is undone by the demodulation (StyleGAN2 eq. 3)
    with torch.no_grad():
        conv.affine.weight.mul_(5.0)
        conv.affine.bias.mul_(5.0)
    assert torch.allclose(conv(x, w), y1, atol=1e-4)
    # the non-fused form (input/output scaling around one shared kernel) gives the same
    assert torch.allclose(y1, conv.forward_nonfused(x, w), atol=1e-4)
    # a style shared by the batch equals the same style given per sample
    assert torch.allclose(conv(x, w[:1]), conv(x, w[:1].expand(2, -1)), atol=1e-5)
    # per-sample kernels: sample 0's output does not depend on sample 1's style
    w2 = w.clone()
    w2[1] += 3.0
    assert torch.allclose(conv(x, w2)[0], conv(x, w)[0], atol=1e-5)
    assert not torch.allclose(conv(x, w2)[1], conv(x, w)[1], atol=1e-3)


def test_minibatch_stddev_sees_variety():
    same = torch.ones(4, 3, 4, 4)
    out = minibatch_stddev(same, 4)
    assert out.shape == (4, 4, 4, 4) and float(out[:, 3].abs().max()) < 1e-3
    varied = minibatch_stddev(torch.randn(4, 3, 4, 4), 4)
    assert float(varied[:, 3].min()) > 0.3


def test_generator_starts_as_the_render_and_uses_noise_and_style():
    torch.manual_seed(0)
    batch = synthetic_batch(TINY, 2, seed=1)
    g = Generator(TINY)
    cond = stack_conditions(batch, TINY)
    src = batch["source"] * 2 - 1
    out = g(cond, src)
    assert out.shape == (2, 3, 64, 64)
    # zero-initialised ToRGB: an untrained residual generator returns the classical render
    assert torch.allclose(out, batch["render"] * 2 - 1, atol=1e-6)
    with torch.no_grad():  # give the layers some output, then noise and style must matter
        for m in g.modules():
            if m.__class__.__name__ == "ToRGB":
                m.conv.weight.normal_()
            if m.__class__.__name__ == "StyledConv":
                m.noise_strength.fill_(0.5)
    noise = g.make_noise(2, torch.Generator().manual_seed(0))
    a, b = g(cond, src, noise), g(cond, src, noise)
    assert torch.equal(a, b)  # fixed noise: deterministic
    assert not torch.allclose(a, g(cond, src, g.make_noise(2, torch.Generator().manual_seed(1))))
    assert not torch.allclose(a, g(cond, src.flip(0), noise))  # the source photo's style


def test_discriminator_outputs_logits_and_multiscale_features():
    d = Discriminator(TINY)
    batch = synthetic_batch(TINY, 4, seed=0)
    logits, feats = d(batch["target"] * 2 - 1, stack_conditions(batch, TINY))
    assert logits.shape == (4,)
    assert [f.shape[-1] for f in feats] == [32, 16, 8, 8]


def test_missing_condition_is_a_one_line_input_error():
    batch = synthetic_batch(TINY, 1)
    del batch["normals"]
    with pytest.raises(InputError, match="normals"):
        stack_conditions(batch, TINY)


def _l1(trainer, batch, ema):
    return float((trainer.predict(batch, ema=ema) - batch["target"]).abs().mean())


@pytest.mark.slow  # trains the tiny refiner (~12 s)
def test_training_lowers_the_reconstruction_error():
    """Train the tiny config on a small synthetic set: the L1 to the targets falls below the
    classical render's and below the untrained network's (which equals the render)."""
    data = synthetic_batch(TINY, 16, seed=0)
    trainer = RefinerTrainer(TINY)
    render_l1 = float((data["render"] - data["target"]).abs().mean())
    before = _l1(trainer, data, ema=True)
    g = torch.Generator().manual_seed(0)
    logs = []
    for _ in range(60):
        idx = torch.randperm(16, generator=g)[:4]
        logs.append(trainer.train_step({k: v[idx] for k, v in data.items()}))
    after = _l1(trainer, data, ema=True)
    assert abs(before - render_l1) < 1e-3
    assert after < 0.92 * render_l1, (render_l1, after)
    assert {"g_l1", "g_fm", "g_adv", "d", "r1"} <= set().union(*logs)
    assert all(np.isfinite(v) for log in logs for v in log.values())
    assert trainer.step == 60 and trainer.nimg == 240


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _opt_equal(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    if sa["param_groups"] != sb["param_groups"] or sa["state"].keys() != sb["state"].keys():
        return False
    return all(_state_equal(sa["state"][i], sb["state"][i]) for i in sa["state"])


def test_checkpoint_roundtrip_is_exact_and_resume_continues(tmp_path):
    data = synthetic_batch(TINY, 8, seed=0)
    tr = RefinerTrainer(TINY)
    for _ in range(3):
        tr.train_step(data)
    path = tr.save(tmp_path / "last.safetensors")
    back = RefinerTrainer.resume(path)
    assert back.step == 3 and back.nimg == 24 and back.cfg == TINY
    for name in ("G", "G_ema", "D"):
        assert _state_equal(getattr(tr, name).state_dict(), getattr(back, name).state_dict()), name
    assert _opt_equal(tr.opt_G, back.opt_G) and _opt_equal(tr.opt_D, back.opt_D)
    # the next step (same noise) gives bit-identical weights in both
    torch.manual_seed(5)
    tr.train_step(data)
    torch.manual_seed(5)
    back.train_step(data)
    assert back.step == 4
    assert _state_equal(tr.G.state_dict(), back.G.state_dict())
    meta = load_checkpoint(path).meta
    assert json.loads(meta["config"])["resolution"] == 64
    assert json.loads(meta["train_state"]) == {"step": 3, "nimg": 24}


def test_bad_checkpoint_files(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_checkpoint(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(InputError):
        load_checkpoint(junk)
    tr = RefinerTrainer(TINY)
    export = tr.export(tmp_path / "refiner.safetensors")
    with pytest.raises(InputError, match="optimiser"):
        RefinerTrainer.resume(export)
    wrong = RefinerTrainer(RefinerConfig.preset("tiny", base_channels=8))
    with pytest.raises(InputError, match="does not fit"):
        load_checkpoint(export).restore_module("G_ema", wrong.G)


def test_refiner_inference_matches_training_and_is_stable(tmp_path):
    data = synthetic_batch(TINY, 6, seed=3)
    tr = RefinerTrainer(TINY)
    for _ in range(4):
        tr.train_step(data)
    path = tr.export(tmp_path / "refiner.safetensors")
    ref = Refiner(path, device="cpu")
    assert ref.resolution == 64 and ref.condition_names == list(TINY.cond_channels)
    cond = {k: v for k, v in data.items() if k != "target"}
    out = ref.refine(cond)
    assert out.shape == (6, 3, 64, 64) and float(out.min()) >= 0 and float(out.max()) <= 1
    assert torch.allclose(out, tr.predict(data), atol=1e-5)  # same EMA weights, same noise
    assert torch.equal(ref.refine(cond), out)  # fixed noise per video: repeatable
    # one frame at a time gives the same frames as the batch
    assert torch.allclose(ref.refine({k: v[2:3] for k, v in cond.items()}), out[2:3], atol=1e-5)
    # maps at another size are resized in and out
    big = {k: torch.nn.functional.interpolate(v, size=(128, 128)) for k, v in cond.items()}
    assert ref.refine(big).shape == (6, 3, 128, 128)
    # streaming uint8 frames with a fixed source photo; temporal blending smooths
    frames = [{k: (v[i].permute(1, 2, 0).numpy() * 255).astype(np.uint8) for k, v in cond.items()
               if k != "source"} for i in range(6)]
    src = (data["source"][0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    video = list(refine_stream(ref, iter(frames), source=src, batch=4))
    assert len(video) == 6 and video[0].shape == (64, 64, 3) and video[0].dtype == np.uint8
    smooth = Refiner(path, device="cpu", temporal_blend=0.5)
    blended = list(refine_stream(smooth, iter(frames), source=src, batch=4))
    d_raw = np.mean([np.abs(video[i + 1].astype(int) - video[i]).mean() for i in range(5)])
    d_blend = np.mean([np.abs(blended[i + 1].astype(int) - blended[i]).mean() for i in range(5)])
    assert d_blend < d_raw
    with pytest.raises(InputError, match="normals"):
        ref.refine({k: v for k, v in cond.items() if k != "normals"})


def test_conditions_from_renderer_maps_feed_a_full_checkpoint(tmp_path):
    from talkrig.texture.neural.refiner import conditions_from_maps

    b, s = 2, 32
    alpha = torch.zeros(b, s, s, 1)
    alpha[:, 8:24, 8:24] = 1
    normal = torch.nn.functional.normalize(torch.randn(b, s, s, 3), dim=-1)
    smooth = torch.nn.functional.interpolate(torch.rand(b, 3, 4, 4), size=(s, s), mode="bilinear")
    cond = conditions_from_maps(smooth.permute(0, 2, 3, 1), alpha, normal, torch.rand(b, s, s, 2),
                                mouth=torch.zeros(b, s, s), teeth=torch.zeros(b, s, s, 1),
                                warped=torch.rand(b, s, s, 3))
    assert set(cond) == set(TINY.cond_channels)
    assert cond["normals"].shape == (b, 3, s, s) and float(cond["normals"][:, :, 0, 0].abs().max()) == 0
    ref = Refiner(RefinerTrainer(TINY).export(tmp_path / "r.safetensors"), device="cpu")
    ref.set_source(torch.rand(1, 3, s, s))
    out = ref.refine(cond)
    assert out.shape == (b, 3, s, s)
    # an untrained refiner returns the classical render (up to the resize round trip)
    assert float((out - cond["render"]).abs().mean()) < 0.02


def test_npz_clips_roundtrip(tmp_path):
    data = synthetic_batch(TINY, 5, seed=0)
    data["source"] = data["source"][:1]
    save_clip_npz(tmp_path / "a.npz", data)
    ds = load_npz_clips(tmp_path, TINY)
    assert len(ds) == 5
    item = ds[2]
    assert set(TINY.cond_channels) <= set(item)
    assert torch.allclose(item["target"], data["target"][2], atol=1 / 255)
    assert torch.allclose(item["normals"], data["normals"][2], atol=2e-3)  # float16


def test_train_renderer_cli_trains_resumes_and_refuses_bad_input(tmp_path):
    from talkrig.cli.main import main

    clips = tmp_path / "clips"
    clips.mkdir()
    for i in range(2):
        b = synthetic_batch(TINY, 6, seed=i)
        b["source"] = b["source"][:1]
        save_clip_npz(clips / f"c{i}.npz", b)
    run = tmp_path / "run"
    assert main(["train-renderer", str(clips), "-o", str(run), "--config", "tiny", "--steps", "3"]) == 0
    assert (run / "refiner.safetensors").is_file() and (run / "last.safetensors").is_file()
    assert list((run / "samples").glob("*.png"))
    assert load_checkpoint(run / "last.safetensors").train_state["step"] == 3
    # an existing run needs --resume; --resume continues the step count
    assert main(["train-renderer", str(clips), "-o", str(run), "--steps", "5"]) != 0
    assert main(["train-renderer", str(clips), "-o", str(run), "--steps", "5", "--resume"]) == 0
    assert load_checkpoint(run / "last.safetensors").train_state["step"] == 5
    # bad inputs: one-line error, non-zero exit, nothing written
    empty = tmp_path / "empty"
    empty.mkdir()
    for argv in (["train-renderer", str(empty), "-o", str(tmp_path / "r2"), "--steps", "2"],
                 ["train-renderer", str(clips), "-o", str(tmp_path / "r3"), "--config", "huge", "--steps", "2"],
                 ["train-renderer", str(clips), "-o", str(tmp_path / "r4")]):
        assert main(argv) != 0
    assert not any((tmp_path / r).exists() for r in ("r2", "r3", "r4"))


@pytest.mark.slow
@pytest.mark.shared
def test_training_on_real_video_frames_beats_the_degraded_render(shared, tmp_path):
    """Crops of the dev talking-head video with minimal-pipeline conditioning (low-passed face,
    flat mouth socket, MediaPipe masks): a short tiny-config run lowers the weighted L1 on
    the frames below the stand-in render's, and writes readable checkpoints and samples."""
    from talkrig.io.video import read_video
    from talkrig.texture.neural.data import ClipDataset
    from talkrig.data_prep.refiner.minimal import MINIMAL_COND, minimal_clip, track_video

    frames = read_video(shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4")).read_frames(0, 48)
    clip = minimal_clip(frames, track_video(frames), 64)
    assert float(clip["mask_mouth"].sum()) > 0 and float(clip["mask_face"].mean()) > 0.1
    cfg = RefinerConfig.preset("tiny", cond_channels=dict(MINIMAL_COND), sample_every=1000,
                               checkpoint_every=1000)
    data = ClipDataset([clip])
    ev = {k: (v if v.shape[0] == 48 else v.expand(48, -1, -1, -1)) for k, v in clip.items()}
    face = ev["mask_face"]
    render_err = float(((ev["render"] - ev["target"]).abs() * face).sum() / face.sum())
    tr = train_refiner(data, tmp_path / "run", cfg, max_steps=80)
    err = float(((tr.predict(ev) - ev["target"]).abs() * face).sum() / face.sum())
    assert err < 0.9 * render_err, (render_err, err)
    logs = [json.loads(l) for l in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    assert logs[-1]["step"] == 80 and logs[-1]["g_l1"] < logs[0]["g_l1"]
    ref = Refiner(tmp_path / "run" / "refiner.safetensors", device="cpu")
    assert torch.allclose(ref.refine({k: v[:4] for k, v in ev.items()}), tr.predict(
        {k: v[:4] for k, v in ev.items()}), atol=1e-5)


@pytest.mark.slow
@pytest.mark.shared
def test_train_renderer_on_a_prep_folder_holds_out_the_end(shared, tmp_path):
    """``talkrig prep --model default`` output is accepted as DATA: minimal conditioning from its
    aligned crops, classical conditioning from its fitted coefficients replayed over the source
    video (``--videos``); the held-out seconds are not trained on."""
    from talkrig.cli.main import main
    from talkrig.data_prep.refiner.sources import open_training_data

    video = shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4")
    prep = tmp_path / "prep"
    assert main(["prep", str(video), "-o", str(prep), "--workers", "1", "--model", "default"]) == 0
    td = open_training_data(prep, TINY, holdout_seconds=2.0)
    assert td.kind == "prepared" and len(td.train) == 150 and td.heldout[0]["target"].shape[0] == 50
    # the mouth mask sits inside the face mask on the aligned crops
    m, f = td.heldout[0]["mask_mouth"], td.heldout[0]["mask_face"]
    assert float((m * f).sum()) > 0.9 * float(m.sum()) > 0
    # classical: the renderer's masks condition, the real frame's face oval scores
    tc = open_training_data(prep, TINY, holdout_seconds=2.0, videos=video)
    held = tc.heldout[0]
    assert len(tc.train) == 150 and held["render"].shape == (50, 3, 64, 64)
    warped, oval = held["mask_face"], held["loss_face"]
    assert float((warped * oval).sum()) > 0.75 * float(warped.sum()) > 0
    assert float(held["mask_mouth"].sum()) > 0
    with pytest.raises(InputError, match="--videos"):
        open_training_data(prep, TINY, conditioning="classical")
    run = tmp_path / "run"
    assert main(["train-renderer", str(prep), "-o", str(run), "--steps", "2",
                 "--holdout-seconds", "2", "--videos", str(video)]) == 0
    ck = load_checkpoint(run / "refiner.safetensors")
    assert list(ck.config.cond_channels) == ["render", "mask_face", "mask_mouth", "warped"]


@pytest.mark.slow
@pytest.mark.shared
def test_train_renderer_on_one_video_is_classical_and_face_framed(shared, tmp_path):
    """A video DATA defaults to classical conditioning; the checkpoint records the face framing
    ``talkrig render --refiner`` must cut out."""
    from talkrig.cli.main import main
    from talkrig.data_prep.refiner.classical import REFINER_CROP_SCALE

    video = shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4")
    run = tmp_path / "run"
    assert main(["train-renderer", str(video), "-o", str(run), "--steps", "2"]) == 0
    cfg = load_checkpoint(run / "refiner.safetensors").config
    assert cfg.crop_scale == REFINER_CROP_SCALE
    assert list(cfg.cond_channels) == ["render", "mask_face", "mask_mouth", "warped"]


@pytest.mark.slow
@pytest.mark.shared
def test_classical_conditioning_replays_the_video_through_the_renderer(shared):
    """The classical path fits the 3DMM to every frame and renders the fits from frame 0 with
    talkrig's renderer: frame 0 (no motion) matches the real crop over the face, and the later
    frames, with the head moving, stay lined up with the real ones."""
    from talkrig.eval.frames import psnr
    from talkrig.io.video import read_video
    from talkrig.data_prep.refiner.classical import classical_clip

    frames = read_video(shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4")).read_frames(0, 25)
    clip = classical_clip(frames, 25.0, 64)
    assert clip["render"].shape == clip["target"].shape == (25, 3, 64, 64)
    assert clip["source"].shape == (1, 3, 64, 64)
    u8 = lambda x: (x.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)  # noqa: E731
    oval = clip["loss_face"][:, 0].numpy() > 0.5
    assert oval[0].mean() > 0.15
    scores = [psnr(u8(clip["render"][t]), u8(clip["target"][t]), oval[t]) for t in range(25)]
    assert scores[0] > 25.0, scores[0]
    assert np.mean(scores[1:]) > 19.0, scores
    # the source crop is the target's first frame
    assert float((clip["source"][0] - clip["target"][0]).abs().mean()) < 0.02


@pytest.mark.slow
def test_super_resolution_variant_doubles_the_size(tmp_path):
    """upscale=2: conditions at half size, output at full size; untrained it is the bilinear
    upsampling of the render; training lowers its error; the Refiner doubles the input size."""
    cfg = RefinerConfig.preset("tiny", upscale=2)
    assert cfg.cond_resolution == 32 and RefinerConfig.preset("sr512").cond_resolution == 256
    data = synthetic_batch(cfg, 8, seed=0)  # full-resolution maps; the trainer shrinks them
    tr = RefinerTrainer(cfg)
    low = {k: torch.nn.functional.interpolate(v, size=(32, 32), mode="area") for k, v in data.items()}
    up = torch.nn.functional.interpolate(low["render"], size=(64, 64), mode="bilinear", align_corners=False)
    assert torch.allclose(tr.predict(data), up.clamp(0, 1), atol=1e-5)
    before = float((tr.predict(data) - data["target"]).abs().mean())
    for _ in range(40):
        tr.train_step(data)
    assert float((tr.predict(data) - data["target"]).abs().mean()) < before
    ref = Refiner(tr.export(tmp_path / "sr.safetensors"), device="cpu")
    out = ref.refine({k: v for k, v in low.items() if k != "target"})
    assert out.shape == (8, 3, 64, 64)
