"""Speed of `talkrig eval` on the dev talking-head video (512x512, 200 frames, 25 fps).

Prints ms per frame for each stage, and in the same run the baseline of the per-frame image
metrics done naively (SSIM with a 2-D float32 torch convolution per region, the textbook
way) against talkrig's (one separable float32 SSIM map shared by the whole/face/mouth
regions).

    OMP_NUM_THREADS=1 python benchmarks/eval.py [--video ../shared/dev/video/hdtf_WDA_KatieHill_000.mp4]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]


def naive_ssim(a, b, mask=None) -> float:
    """Baseline: 2-D 11x11 Gaussian window, float32 grouped torch conv, recomputed per
    region. (In float64 torch's CPU conv is ~200x slower still: not a fair baseline.)"""
    ta = torch.from_numpy(np.array(a, np.float32)).permute(2, 0, 1)[None]
    tb = torch.from_numpy(np.array(b, np.float32)).permute(2, 0, 1)[None]
    x = torch.arange(11, dtype=torch.float32) - 5
    g = torch.exp(-x ** 2 / (2 * 1.5 ** 2))
    g = g / g.sum()
    w = (g[:, None] * g[None, :])[None, None].repeat(3, 1, 1, 1)
    conv = lambda t: F.conv2d(t, w, groups=3)  # noqa: E731
    ma, mb = conv(ta), conv(tb)
    saa, sbb, sab = conv(ta * ta) - ma ** 2, conv(tb * tb) - mb ** 2, conv(ta * tb) - ma * mb
    c1, c2 = 6.5025, 58.5225
    s = (((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma ** 2 + mb ** 2 + c1) * (saa + sbb + c2)))[0].mean(0)
    if mask is None:
        return float(s.mean())
    m = torch.from_numpy(np.asarray(mask, np.float32))[5:-5, 5:-5]
    return float((s * m).sum() / m.sum())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--video", default=str(REPO.parent / "shared/dev/video/hdtf_WDA_KatieHill_000.mp4"))
    ap.add_argument("--frames", type=int, default=10, help="frames for the per-frame timings")
    args = ap.parse_args()

    import cv2
    from rich.console import Console
    from rich.table import Table

    from talkrig.eval.cpbd import cpbd
    from talkrig.eval.evaluate import evaluate
    from talkrig.eval.frames import FlickerMeter, frame_metrics
    from talkrig.eval.landmarks import face_mask, mouth_mask
    from talkrig.eval.track import track_frames
    from talkrig.io.video import read_video

    clip = read_video(args.video)
    t = time.perf_counter()
    real = clip.read_frames(stop=args.frames)
    t_decode = (time.perf_counter() - t) / len(real)
    fake = np.stack([cv2.GaussianBlur(f, (0, 0), 1.5) for f in real])
    t = time.perf_counter()
    track = track_frames(real, clip.fps)
    t_track = (time.perf_counter() - t) / len(real)
    masks = [{"face": face_mask(p, clip.size), "mouth": mouth_mask(p, clip.size)} for p in track.points]

    t = time.perf_counter()
    for f, r, m in zip(fake, real, masks):
        frame_metrics(f, r, m)
    t_ours = (time.perf_counter() - t) / len(real)
    t = time.perf_counter()
    for f, r, m in zip(fake, real, masks):
        for region in (None, m["face"], m["mouth"]):
            naive_ssim(f, r, region)
            d = (f.astype(np.float64) - r) ** 2
            _ = d.mean() if region is None else d[region].mean()
    t_naive = (time.perf_counter() - t) / len(real)
    t = time.perf_counter()
    for f in real:
        cpbd(f)
    t_cpbd = (time.perf_counter() - t) / len(real)
    t = time.perf_counter()
    fm = FlickerMeter()
    for f in real:
        fm.update(f)
    t_flicker = (time.perf_counter() - t) / len(real)

    t = time.perf_counter()
    evaluate(args.video, reference=args.video, use_vmaf=True)
    t_full = (time.perf_counter() - t) / clip.n_frames

    table = Table(title=f"talkrig eval speed, {clip.width}x{clip.height}, "
                        f"torch threads {torch.get_num_threads()}")
    table.add_column("stage")
    table.add_column("ms / frame", justify="right")
    for name, v in [("decode", t_decode), ("landmarker (VIDEO mode)", t_track),
                    ("PSNR/SSIM/MSE x3 regions: talkrig", t_ours),
                    ("PSNR/SSIM/MSE x3 regions: naive baseline", t_naive),
                    ("CPBD", t_cpbd), ("flicker (Farneback warp)", t_flicker),
                    ("full evaluate with reference (both videos, VMAF)", t_full)]:
        table.add_row(name, f"{v * 1000:.1f}")
    Console().print(table)
    print(f"image metrics speed-up over the naive baseline: {t_naive / t_ours:.1f}x")


if __name__ == "__main__":
    main()
