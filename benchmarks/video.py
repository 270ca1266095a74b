"""End-to-end speed and memory of `talkrig render` (recon + animation + frames + encoding).

Prints a table: frames/s over a ~20 s clip at 512 px for talkrig as shipped, and in the same run
the baseline of the same pipeline done naively (one frame at a time through the plain-torch
reference rasterizer); then the peak memory (max RSS of a child process) for a ~60 s clip.

    python benchmarks/video.py [--photo examples/astronaut.jpg] [--size 512] [--seconds 20]

Targets (issue 6): >= 25 frames/s end to end at 512 on a 2-core CPU; <= 2 GB for 60 s.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

REPO = Path(__file__).resolve().parents[1]

SENTENCES = [
    "Good morning, and welcome to the weekly briefing from the flight deck.",
    "Today we will talk about the mission plan, the crew schedule and the experiments on board.",
    "The launch went perfectly, and every system has been working just as we expected.",
    "Please remember that the next window opens at noon, so be ready a little earlier.",
    "Thank you all for your patience, your hard work and your excellent questions.",
    "We will meet again tomorrow at the same time. Have a pleasant evening, everybody.",
]


def text_for(seconds: float) -> str:
    words, out = 0, []
    while words < seconds * 2.6:  # espeak's default rate is about 2.6 words/s
        s = SENTENCES[len(out) % len(SENTENCES)]
        out.append(s)
        words += len(s.split())
    return " ".join(out)


def run_once(photo: Path, text: str, size: int, out: Path, naive: bool) -> dict:
    import talkrig
    from talkrig import api
    from talkrig.io.video import VideoWriter
    from talkrig.synth.frames import TalkingHeadRenderer

    t0 = time.perf_counter()
    recon = api.reconstruct(photo)
    t1 = time.perf_counter()
    anim = api.animate(text=text, emotion="happy", seed=0)
    t2 = time.perf_counter()
    model = talkrig.load_model(recon.model_name)
    coeffs = anim.to_coefficients(model, api.neutral_base(recon))
    renderer = TalkingHeadRenderer(model, recon, size=size, backend="torch" if naive else "auto")
    with VideoWriter(out, anim.fps, (size, size), audio=anim.audio, sample_rate=anim.sample_rate,
                     crf=20, preset="veryfast") as w:
        for f in renderer.iter_frames(coeffs, batch=1 if naive else 8):
            w.write(f)
    t3 = time.perf_counter()
    return {"frames": anim.n_frames, "audio_s": anim.duration, "recon_s": t1 - t0,
            "animate_s": t2 - t1, "render_s": t3 - t2, "total_s": t3 - t0,
            "fps": anim.n_frames / (t3 - t0)}


def child_peak_rss(photo: Path, seconds: float, size: int) -> dict:
    """Render a clip in a child process and return its max RSS (MB)."""
    with tempfile.TemporaryDirectory() as d:
        code = (f"import json, sys; sys.path.insert(0, {str(REPO)!r}); from benchmarks.video import run_once, text_for;"
                f"from pathlib import Path; r = run_once(Path({str(photo)!r}), text_for({seconds}), {size},"
                f" Path({d!r}) / 'm.mp4', False); print(json.dumps(r))")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        info = json.loads(res.stdout.strip().splitlines()[-1])
        info["peak_rss_mb"] = max(peak, before) / 1024
        return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photo", type=Path, default=REPO / "examples" / "astronaut.jpg")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--memory-seconds", type=float, default=60.0)
    ap.add_argument("--skip-naive", action="store_true")
    args = ap.parse_args()

    import torch

    text = text_for(args.seconds)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        run_once(args.photo, "Warm up.", args.size, Path(d) / "w.mp4", False)  # JIT, models
        rows.append(("talkrig (cpu backend, batched)", run_once(args.photo, text, args.size, Path(d) / "a.mp4", False)))
        if not args.skip_naive:
            rows.append(("naive: torch rasterizer, 1 frame/step", run_once(args.photo, text, args.size, Path(d) / "b.mp4", True)))
    print(f"\n{args.size}x{args.size}, threads={torch.get_num_threads()}, photo={args.photo.name}")
    print(f"{'pipeline':40s} {'frames':>7s} {'audio s':>8s} {'recon s':>8s} {'anim s':>7s} "
          f"{'render s':>9s} {'total s':>8s} {'fps':>6s}")
    for name, r in rows:
        print(f"{name:40s} {r['frames']:7d} {r['audio_s']:8.1f} {r['recon_s']:8.2f} {r['animate_s']:7.2f} "
              f"{r['render_s']:9.2f} {r['total_s']:8.2f} {r['fps']:6.1f}")
    if args.memory_seconds > 0:
        m = child_peak_rss(args.photo, args.memory_seconds, args.size)
        print(f"\npeak memory, {m['audio_s']:.0f} s clip at {args.size}: {m['peak_rss_mb']:.0f} MB "
              f"(max RSS of the rendering process; target <= 2048 MB)")


if __name__ == "__main__":
    main()
