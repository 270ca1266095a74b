"""Blinks on real photos: does a full blink close the rendered eyes, and how far does it push?

For each photo (the astronaut and every dev portrait), the talking-head renderer draws the photo's
face with a still head at blink weight 0, 0.5 and 1 (neutral and "happy", whose squint raises
the lower lids), two ways: the blendshape weight as it is (baseline: what talkrig did before
``talkrig.animate.lids``) and calibrated (weight = closure for this face). Printed per row:
the mesh's lid gap at a full blink (upper minus lower lid landmarks, mm; negative = the upper
lid pushed through the lower one) and MediaPipe's eyeBlink score (mean of both eyes) on the
rendered 512 px frames at 0 / 0.5 / 1.

    python benchmarks/blinks.py [--shared ../shared]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np

REPO = Path(__file__).resolve().parents[1]
LEVELS = (0.0, 0.5, 1.0)


def _scores(values) -> str:
    return " / ".join(f"{x:.2f}" for x in values)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(REPO.parent / "shared")))
    args = ap.parse_args()

    import talkrig
    from talkrig.animate.lids import lid_gaps
    from talkrig.model.arkit import ARKIT_52
    from talkrig.recon.landmarker import shared_landmarker
    from talkrig.synth.frames import TalkingHeadRenderer

    folder = Path(args.shared) / "dev" / "portraits"
    photos = [REPO / "examples" / "astronaut.jpg"]
    photos += sorted(p for p in folder.glob("*") if p.suffix.lower() in (".jpg", ".png")) if folder.is_dir() else []
    lm = shared_landmarker()
    print(f"{'emotion':8s} {'photo':28s} {'gap raw':>8s} {'gap cal':>8s}   {'MediaPipe raw 0/.5/1':>22s}   "
          f"{'MediaPipe cal 0/.5/1':>22s}")
    for emotion in ("neutral", "happy"):
        line = talkrig.api.animate(text="Hello there.", emotion=emotion, pose="still", seed=0)
        for photo in photos:
            rec = talkrig.reconstruct(photo)
            model = talkrig.load_model(rec.model_name)
            renderer = TalkingHeadRenderer(model, rec, size=512)
            expr = np.repeat(line.expression[:1], len(LEVELS), 0)
            for side in ("Left", "Right"):
                expr[:, ARKIT_52.index(f"eyeWide{side}")] = 0.0
                expr[:, ARKIT_52.index(f"eyeBlink{side}")] = LEVELS
            still = np.zeros((len(LEVELS), 3), np.float32)
            anim = dataclasses.replace(line, expression=expr, rotation=still, translation=still)
            row = {}
            for cal in (False, True):
                c = anim.to_coefficients(model, talkrig.api.neutral_base(rec), calibrate_lids=cal)
                gap_mm = 10.0 * float(lid_gaps(model, c.identity[:1], c.expression[-1:]).mean())
                scores = []
                for f in renderer.render(c).numpy():
                    faces = lm.detect(f)
                    bs = faces[0].blendshapes if faces else {}
                    scores.append((bs.get("eyeBlinkLeft", np.nan) + bs.get("eyeBlinkRight", np.nan)) / 2)
                row[cal] = (gap_mm, scores)
            print(f"{emotion:8s} {photo.name[:28]:28s} {row[False][0]:8.1f} {row[True][0]:8.1f}   "
                  f"{_scores(row[False][1]):>22s}   {_scores(row[True][1]):>22s}")


if __name__ == "__main__":
    main()
