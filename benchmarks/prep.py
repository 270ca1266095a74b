"""Dataset preprocessing speed: landmarks + 3DMM coefficients, frames per second.

    python benchmarks/prep.py [VIDEO] [--clips 4] [--workers 2] [--baseline-frames 40]

Rows (same run, same machine):
  naive      one frame at a time in one process: MediaPipe in IMAGE mode (face detector on
             every frame) + recon's single-image landmark fit from a cold start per frame
  ours       `talkrig prep`'s path: VIDEO-mode tracking (detector only when the track is lost),
             one identity per clip, per-frame fit warm-started from the previous frame, one
             process per core; landmarks + coefficients only (no crops, audio or mel)
  ours+media the whole job: also 256 px crop video, 16 kHz audio and log-mel

"f/s wall" includes starting the workers and loading models; "f/s steady" is frames over the
workers' busy time (what a large dataset sees); "f/s idle-CPU" is frames over the workers' CPU
time (one core each), i.e. the steady rate on an otherwise idle machine -- the machine this was
written on is shared, so wall-clock rates there depend on the neighbours' load.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

REPO = Path(__file__).resolve().parents[1]
DEFAULT_VIDEO = REPO.parent / "shared" / "dev" / "video" / "hdtf_WDA_KatieHill_000.mp4"


def naive(video: Path, frames: int) -> tuple[float, int, float]:
    """Per-frame detect + cold-start fit over the first ``frames`` frames; returns
    (wall seconds, frames, CPU seconds)."""
    import numpy as np

    from talkrig.data_prep import media
    from talkrig.recon.context import model_context
    from talkrig.recon.fit import arkit_init, default_focal, fit_landmarks
    from talkrig.recon.landmarker import FaceLandmarker
    from talkrig.render.camera import Camera

    ctx = model_context("default")
    lm = FaceLandmarker(num_faces=1)
    n = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for frame in media.iter_frames(video):
        if n == frames:
            break
        h, w = frame.shape[:2]
        det = lm.detect_one(frame)
        target = np.concatenate([det.points, det.landmarks68]).astype(np.float64)
        fit_landmarks(ctx.model, ctx.surface, target, ctx.weights, Camera(default_focal(w, h), w, h),
                      arkit_init(ctx.model, det.blendshapes))
        n += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    lm.close()
    return dt, n, cpu


def ours(src: Path, out: Path, workers: int, crops: bool) -> tuple[float, int, float]:
    """A real job; returns (wall seconds, frames, summed per-clip wall and CPU seconds)."""
    from talkrig.data_prep import PrepConfig, prepare

    cfg = PrepConfig(crop_size=256 if crops else 0)
    t0 = time.perf_counter()
    s = prepare(src, out, workers=workers, config=cfg, progress=False)
    wall = time.perf_counter() - t0
    log = [json.loads(line) for line in (out / "log" / "timings.jsonl").read_text().splitlines()]
    return wall, s.frames, sum(r["seconds"] for r in log), sum(r["cpu_seconds"] for r in log)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("video", nargs="?", type=Path, default=DEFAULT_VIDEO)
    ap.add_argument("--clips", type=int, default=4, help="copies of the video in the job")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--baseline-frames", type=int, default=40)
    args = ap.parse_args()
    if not args.video.is_file():
        sys.exit(f"video not found: {args.video}")
    tmp = Path(tempfile.mkdtemp(prefix="talkrig-prep-bench-"))
    try:
        src = tmp / "in"
        src.mkdir()
        for i in range(args.clips):
            os.symlink(args.video.resolve(), src / f"clip{i:02d}{args.video.suffix}")
        rows = []
        dt, n, cpu = naive(args.video, args.baseline_frames)
        # the naive loop is one process: on an idle machine it gets one core
        rows.append(("naive (1 process, per-frame detect + cold fit)", n, dt, n / dt, n / dt, n / cpu))
        for name, crops in (("ours (track + warm fit)", False), ("ours+media (crops 256, audio, mel)", True)):
            wall, frames, busy, cpu = ours(src, tmp / name.split()[0], args.workers, crops)
            rows.append((f"{name}, {args.workers} workers", frames, wall, frames / wall,
                         frames / (busy / args.workers), frames / (cpu / args.workers)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    print(f"{'method':52s} {'frames':>6s} {'seconds':>8s} {'f/s wall':>9s} {'f/s steady':>11s} {'f/s idle-CPU':>13s}")
    for name, n, s, fw, fs, fc in rows:
        print(f"{name:52s} {n:6d} {s:8.2f} {fw:9.1f} {fs:11.1f} {fc:13.1f}")
    print(f"speed-up, ours vs naive: {rows[1][4] / rows[0][4]:.1f}x steady, {rows[1][5] / rows[0][5]:.1f}x idle-CPU; "
          "target >= 50 frames/s")


if __name__ == "__main__":
    main()
