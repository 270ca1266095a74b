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
    # lip sync of the same render on the mesh: the share of pause frames whose mouth is still /
    # closed and of /p b m/ with closed lips (the audio/mouth offset needs several sentences:
    # benchmarks/emotion.py)
    still_in_pauses: float = float("nan")
    closed_in_pauses: float = float("nan")
    closed_on_pbm: float = float("nan")

    @property
    def hit(self) -> bool:
        return self.top == self.emotion


def judge_emotion_renders(recon, text: str, emotions=EMOTIONS, intensity: float = 1.0, size: int = 512,
                          seed: int = 1, judge: EmotionJudge | None = None) -> list[RenderVerdict]:
    """Render ``text`` in every one of ``emotions`` on ``recon`` (speaking, natural head motion)
    and judge each against the neutral render (neutral itself against the photo)."""
    from talkrig.animate import animate
    from talkrig.animate.metrics import self_checks
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
        checks = self_checks(anim, model)
        lips = {k: checks[k] for k in ("still_in_pauses", "closed_in_pauses", "closed_on_pbm")}
        return clip_features(track_frames(frames, anim.fps).blendshapes), seconds, len(frames), lips

    neutral, n_s, n_frames, n_lips = render("neutral")
    out = []
    for emo in emotions:
        if emo == "neutral":
            feats, seconds, frames, lips = neutral, n_s, n_frames, n_lips
            p = judge.probabilities(feats, clip_features(np.asarray(recon.blendshapes, float)[None]))
        else:
            feats, seconds, frames, lips = render(emo)
            p = judge.probabilities(feats, neutral)
        probs = dict(zip(EMOTIONS, (float(v) for v in p)))
        top = max(probs, key=probs.get) if np.isfinite(p).all() else ""
        out.append(RenderVerdict(emo, intensity, top, probs, seconds, frames, **lips))
    return out


def recognised(v: RenderVerdict) -> bool:
    """The goal's reading of a verdict (issue #17): the label is the judge's top emotion, and
    fear also counts when it comes second behind surprise (the two share brows, lids and jaw;
    real MEAD fear is itself read as surprise by eye)."""
    if v.hit:
        return True
    if v.emotion == "fearful" and v.top == "surprised":
        second = sorted(v.probabilities, key=v.probabilities.get, reverse=True)[1]
        return second == "fearful"
    return False


def photos_meeting_goal(verdicts: list[RenderVerdict], faces: int, need: int = 7) -> list[bool]:
    """Per photo (``verdicts`` in photo order, the same emotions each), whether at least
    ``need`` of its emotions are :func:`recognised`."""
    per = len(verdicts) // max(faces, 1)
    return [sum(recognised(v) for v in verdicts[k * per:(k + 1) * per]) >= need for k in range(faces)]


def confusion(verdicts: list[RenderVerdict]) -> np.ndarray:
    """``(8, 8)`` counts: rows what was asked, columns what the judge named (EMOTIONS order)."""
    m = np.zeros((len(EMOTIONS), len(EMOTIONS)), int)
    for v in verdicts:
        if v.top:
            m[EMOTIONS.index(v.emotion), EMOTIONS.index(v.top)] += 1
    return m
