"""Peak memory and time of `talkrig render` on very large photos.

Prints a table against the baseline in the same run: the same render from the 512 px example
photo. The large photos are that photo scaled up (4096 and 8000 px JPEGs), so the face and the
work after loading are the same; only decoding, detection and the fit's image sampling see the
extra pixels.

    python benchmarks/photo_memory.py [--size 256]

Target (issue 16): an 8000x8000 photo must not take much more memory than a small one
(it took 2.5 GB for a 256 px render before photos were capped at 4096 px on loading).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

REPO = Path(__file__).resolve().parents[1]


def run(photo: Path, out: Path, size: int) -> tuple[float, float, int]:
    """(wall s, peak RSS MB, exit code) of one render in a child process."""
    exe = Path(sys.executable).parent / "talkrig"
    cmd = [str(exe), "render", str(photo), "--text", "Hello there, this is a test of a very large photo.",
           "--size", str(size), "--no-check", "--quiet", "-o", str(out)]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    return time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)


def main() -> None:
    from PIL import Image

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    args = ap.parse_args()
    src = REPO / "examples" / "astronaut.jpg"
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        photos = [("512 px (baseline)", src)]
        for side in (4096, 8000):
            p = tmp / f"photo_{side}.jpg"
            Image.open(src).convert("RGB").resize((side, side), Image.Resampling.BICUBIC).save(p, quality=90)
            photos.append((f"{side} px ({p.stat().st_size / 1e6:.1f} MB JPEG)", p))
        rows = [(label, *run(p, tmp / "out.mp4", args.size)) for label, p in photos]
    base = rows[0]
    print(f"talkrig render --size {args.size}, one child process per row")
    print("| photo | wall s | peak RSS MB | vs baseline | exit |")
    print("| --- | --- | --- | --- | --- |")
    for label, wall, rss, code in rows:
        print(f"| {label} | {wall:.1f} | {rss:.0f} | {rss / base[2]:.2f}x | {code} |")


if __name__ == "__main__":
    main()
