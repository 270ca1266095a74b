"""Benchmark: per-subject neural refiner vs the classical render, on held-out frames.

    python benchmarks/refiner.py [--video V | --prepared DIR] [--minutes 20] [--config 128]

Takes one talking-head video (default: the dev clip in ../shared), prepares it with
``talkrig prep`` (aligned face crops + MediaPipe landmarks; ``--no-prep`` uses the raw video
with one fixed crop instead), holds out its last ``--holdout`` seconds, trains the per-subject
refiner on the rest for ``--minutes`` on this machine, then refines the held-out frames
(self-reenactment: the source photo is the clip's first frame) and prints PSNR and SSIM over
the face and over the mouth, classical vs refined, side by side, plus the refiner's inference
speed at 256 px (the fused grouped modulated convolution used here vs the non-fused form).

WHAT "CLASSICAL" IS (``--conditioning``):
* ``classical`` (default): talkrig's own renderer. ``talkrig prep --model default`` tracks the
  video and fits the 3DMM to every frame (one identity, per-frame pose and expression); the
  first frame is reconstructed and given its fitted coefficients, and every frame's fitted
  coefficients are rendered from it by ``TalkingHeadRenderer`` exactly as ``talkrig render``
  renders an animation (:mod:`talkrig.data_prep.refiner.classical`); the real frames are cropped
  the same way. The refiner learns render -> real and is conditioned on the same maps
  ``talkrig render --refiner`` gives it (render, the renderer's face and mouth masks, source).
* ``minimal``: no 3DMM - the real frame low-passed inside the face (4x down/up) with the mouth
  interior painted as a flat socket (:mod:`talkrig.data_prep.refiner.minimal`); it measures how
  much detail, teeth and mouth the refiner restores from that degradation.
Face and mouth regions for scoring (face oval; lips grown by a margin) come from MediaPipe
landmarks of the real frames in both cases.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DEV_VIDEO = Path(os.environ.get("TALKRIG_SHARED", REPO.parent / "shared")) / "dev/video/hdtf_WDA_KatieHill_000.mp4"


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """``(3, H, W)`` [0, 1] -> ``(H, W, 3)`` uint8."""
    return (x.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def region_scores(pred: torch.Tensor, clip: dict[str, torch.Tensor]) -> dict[str, float]:
    """Mean PSNR/SSIM over frames inside the face and the mouth masks for ``pred (T,3,H,W)``."""
    from talkrig.eval.frames import psnr, ssim

    out = {}
    face_key = "loss_face" if "loss_face" in clip else "mask_face"
    for region, key in (("face", face_key), ("mouth", "loss_mouth")):
        ps, ss = [], []
        for t in range(pred.shape[0]):
            a, b = to_uint8(pred[t]), to_uint8(clip["target"][t])
            m = clip[key][t, 0].numpy() > 0.5
            if m.sum() < 16:
                continue
            ps.append(psnr(a, b, m))
            ss.append(ssim(a, b, m))
        out[f"{region} PSNR"] = float(np.mean(ps))
        out[f"{region} SSIM"] = float(np.mean(ss))
    return out


def inference_fps(ckpt: Path, size: int, batch: int, nonfused: bool = False, repeats: int = 3) -> float:
    """Frames per second of :class:`Refiner` refining ``size`` px maps, ``batch`` at a time,
    style fixed per video. ``nonfused``: run every modulated convolution in StyleGAN2's
    non-fused form (input/output scaling around one batched convolution) - the baseline -
    instead of the fused grouped convolution the package uses."""
    from talkrig.texture.neural.layers import ModulatedConv2d
    from talkrig.texture.neural.refiner import Refiner

    ref = Refiner(ckpt)
    cond = {k: torch.rand(batch, c, size, size) for k, c in ref.cfg.cond_channels.items()}
    ref.set_source(torch.rand(1, 3, size, size))
    fast = ModulatedConv2d.forward
    if nonfused:
        ModulatedConv2d.forward = ModulatedConv2d.forward_nonfused
    try:
        ref.refine(cond)  # warm-up
        t0 = time.perf_counter()
        for _ in range(repeats):
            ref.refine(cond)
        return batch * repeats / (time.perf_counter() - t0)
    finally:
        ModulatedConv2d.forward = fast


def prepare(video: Path, out: Path, model: str) -> Path:
    """Run ``talkrig prep`` on ``video`` into ``out`` (resumes a finished run at no cost)."""
    import subprocess

    cmd = [sys.executable, "-m", "talkrig.cli.main", "prep", str(video), "-o", str(out),
           "--workers", "1", "--model", model]
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--video", type=Path, default=DEV_VIDEO)
    ap.add_argument("--prepared", type=Path, default=None,
                    help="an existing talkrig prep folder of --video (--model default for classical)")
    ap.add_argument("--conditioning", default="classical", choices=("classical", "minimal"),
                    help="classical: talkrig's renderer replays the fitted video on its first frame; "
                         "minimal: degraded frames (see the module docstring)")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--config", default="128", help="refiner preset to train (tiny|128|256|512)")
    ap.add_argument("--holdout", type=float, default=2.0, help="seconds held out at the end")
    ap.add_argument("--out", type=Path, default=Path("/tmp/talkrig-refiner-bench"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--adv-start", type=int, default=1000,
                    help="generator step at which the GAN losses switch on (L1 only before: a "
                         "short CPU budget goes to the reconstruction first)")
    args = ap.parse_args(argv)
    if args.prepared is None and not args.video.is_file():
        print(f"refiner benchmark: video not found: {args.video}", file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)

    from talkrig.texture.neural.config import RefinerConfig
    from talkrig.texture.neural.refiner import Refiner
    from talkrig.data_prep.refiner.sources import open_training_data
    from talkrig.io.image import save_image
    from talkrig.texture.neural.train import RefinerTrainer, train_refiner
    from talkrig.texture.neural.data import grid_image

    over = {"adv_start": args.adv_start, **({"batch_size": args.batch_size} if args.batch_size else {})}
    cfg = RefinerConfig.preset(args.config, **over)
    t0 = time.perf_counter()
    cond_kind = args.conditioning
    model = "default" if cond_kind == "classical" else "none"
    data = args.prepared or prepare(args.video, args.out / f"prep_{model}", model)
    td = open_training_data(data, cfg, holdout_seconds=args.holdout, conditioning=cond_kind,
                            videos=args.video)
    cfg = td.config(cfg)
    held = td.heldout[0]
    prep_s = time.perf_counter() - t0
    run = args.out / f"run_{args.config}"
    if (run / "last.safetensors").exists():
        for f in run.glob("*.safetensors"):
            f.unlink()
        (run / "log.jsonl").unlink(missing_ok=True)
    t0 = time.perf_counter()
    tr = train_refiner(td.train, run, cfg, minutes=args.minutes)
    train_s = time.perf_counter() - t0

    ref = Refiner(run / "refiner.safetensors", device="cpu")
    n = held["target"].shape[0]
    cond = {k: (v if v.shape[0] == n else v.expand(n, -1, -1, -1)) for k, v in held.items()}
    refined = torch.cat([ref.refine({k: v[i:i + 8] for k, v in cond.items()}) for i in range(0, n, 8)])
    base = region_scores(held["render"], held)
    new = region_scores(refined, held)
    idx = np.linspace(0, n - 1, 6).astype(int)
    save_image(args.out / "heldout_grid.png",
              grid_image([held["render"][idx], refined[idx], held["target"][idx]]))

    # speed at 256: the trained network when it is 256 px, else a 256 network of the same family
    if cfg.resolution == 256:
        ck256 = run / "refiner.safetensors"
    else:
        ck256 = RefinerTrainer(RefinerConfig.preset("256", cond_channels=td.cond_channels)).export(
            args.out / "untrained_256.safetensors")
    fps = {(b, g): inference_fps(ck256, 256, b, g) for b in (1, 8) for g in (True, False)}

    what = {"classical": "talkrig's classical render (TalkingHeadRenderer replaying the fitted motion)",
            "minimal": "minimal stand-in: low-passed face + flat mouth socket (see docstring)"}[cond_kind]
    print(f"\nrefiner benchmark: {data} ({td.kind}); 'classical' = {what}")
    print(f"  train: {len(td.train)} frames at {cfg.resolution}px, config {args.config}, "
          f"{tr.step} steps ({tr.nimg} images, GAN from step {cfg.adv_start}) in {train_s / 60:.1f} min, "
          f"{args.threads} threads; "
          f"data prep {prep_s:.1f} s")
    print(f"  held out: last {args.holdout:g} s = {n} frames\n")
    print(f"  {'metric':<12} {'classical':>10} {'refined':>10} {'gain':>8}")
    for k in base:
        print(f"  {k:<12} {base[k]:>10.3f} {new[k]:>10.3f} {new[k] - base[k]:>+8.3f}")
    print(f"\n  inference at 256 px, cpu, {args.threads} threads (frames/s):")
    print(f"  {'batch':<6} {'non-fused modconv (baseline)':>29} {'talkrig (fused / shared kernel)':>32}")
    for b in (1, 8):
        print(f"  {b:<6} {fps[(b, True)]:>29.1f} {fps[(b, False)]:>32.1f}")
    print(f"  grid of held-out frames (classical / refined / real): {args.out / 'heldout_grid.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
