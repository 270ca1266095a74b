"""Judge talkrig's own emotional renders the way the emotion judge was validated on real faces.

:class:`talkrig.eval.expression.EmotionJudge` was fitted and validated on MEAD clips, each
speaker's emotional clips judged against the same speaker's neutral clip. A render is judged the
same way: every emotion is rendered speaking the same words as a neutral render of the same face,
and named against that neutral render; the neutral render itself is named against the source
photo (the face at rest). Used by ``benchmarks/emotion.py`` and
``tools/calibrate_emotion_patterns.py --check``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from talkrig.eval.expression import EMOTIONS, EmotionJudge, clip_features


@dataclass
class RenderVerdict:
    """The judge's reading of one emotional render."""

    emotion: str                 # what was asked for
    intensity: float
    top: str                     # what the judge names
    probabilities: dict[str, float]
    render_s: float              # seconds to animate and render
    frames: int

    @property
    def hit(self) -> bool:
        return self.top == self.emotion


def judge_emotion_renders(recon, text: str, emotions=EMOTIONS, intensity: float = 1.0, size: int = 512,
                          seed: int = 1, judge: EmotionJudge | None = None) -> list[RenderVerdict]:
    """Render ``text`` in every one of ``emotions`` on ``recon`` (speaking, natural head motion)
    and judge each against the neutral render (neutral itself against the photo)."""
    from talkrig.animate import animate
    from talkrig.eval.track import track_frames
    from talkrig.model import load_model
    from talkrig.synth.frames import TalkingHeadRenderer

    judge = judge or EmotionJudge.load()
    model = load_model(recon.model_name)
    renderer = TalkingHeadRenderer(model, recon, size=size)

    def render(emotion: str):
        t0 = time.perf_counter()
        anim = animate(text=text, emotion=emotion, intensity=intensity if emotion != "neutral" else 1.0,
                       pose="natural", seed=seed)
        frames = list(renderer.iter_frames(anim.to_coefficients(model, recon.neutral_coeffs())))
        seconds = time.perf_counter() - t0
        return clip_features(track_frames(frames, anim.fps).blendshapes), seconds, len(frames)

    neutral, n_s, n_frames = render("neutral")
    out = []
    for emo in emotions:
        if emo == "neutral":
            feats, seconds, frames = neutral, n_s, n_frames
            p = judge.probabilities(feats, clip_features(np.asarray(recon.blendshapes, float)[None]))
        else:
            feats, seconds, frames = render(emo)
            p = judge.probabilities(feats, neutral)
        probs = dict(zip(EMOTIONS, (float(v) for v in p)))
        top = max(probs, key=probs.get) if np.isfinite(p).all() else ""
        out.append(RenderVerdict(emo, intensity, top, probs, seconds, frames))
    return out


def confusion(verdicts: list[RenderVerdict]) -> np.ndarray:
    """``(8, 8)`` counts: rows what was asked, columns what the judge named (EMOTIONS order)."""
    m = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    for v in verdicts:
        if v.top:
            m[EMOTIONS.index(v.emotion), EMOTIONS.index(v.top)] += 1
    return m
