"""Animation for live streams: text that arrives in pieces, utterances that join without jumps,
and idle motion while nothing is said.

A live talking head is a sequence of *segments* on one continuous timeline: speech segments (one
per clause, so the first clause can be spoken while the rest is still being typed or generated)
and idle segments between them. Each segment is animated on its own by the rule-based path
(:func:`talkrig.animate.pipeline.animate_speech`), then :func:`join` eases its first frames from
the pose and expression the previous segment ended on, so head, brows, gaze and an emotion
change blend over :data:`JOIN_S` instead of jumping. Mouths are closed at both ends of every
TTS utterance (it starts and ends in silence), so a join never cuts into a lip movement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from talkrig.animate.animation import Animation
from talkrig.animate.phonemes import SIL
from talkrig.animate.speech import Speech
from talkrig.model.arkit import ARKIT_52

#: How long a segment eases in from where the previous one ended (s); the emotion
#: transitions of a schedule take 0.5 s as well (:func:`talkrig.animate.pipeline.animate_speech`).
JOIN_S = 0.5
#: Length of the idle loop (s): long enough that its blinks and sways do not read as a loop.
IDLE_S = 12.0
#: Breathing while idle: ~15 breaths a minute, a slight nod of the head with each.
BREATH_HZ = 0.25
BREATH_DEG = 0.35

_SENTENCE_END = re.compile(r"[.!?\u3002\uff01\uff1f]+[\"')\]]*(?=\s|$)")
_CLAUSE_END = re.compile(r"[,;:\u3001\uff0c]+(?=\s)")


class ClauseBuffer:
    """Collects text as it streams in and releases it in speakable pieces.

    Sentences are released as soon as their end mark (and the space after it) has arrived;
    a clause inside a sentence (after ``, ; :``) once it holds at least ``min_chars``
    characters, so the first words can be spoken before the sentence is complete without
    chopping the voice into one-word phrases; text longer than ``max_chars`` without any mark
    is cut at its last space. :meth:`flush` releases whatever is left.
    """

    def __init__(self, min_chars: int = 24, max_chars: int = 220):
        self.min_chars = int(min_chars)
        self.max_chars = int(max_chars)
        self._text = ""

    def feed(self, text: str) -> list[str]:
        """Add ``text``; return the pieces that are complete now (maybe none)."""
        self._text += str(text)
        out = []
        while (piece := self._next_piece()) is not None:
            out.append(piece)
        return out

    def flush(self) -> list[str]:
        """Everything still held, as one piece (or none)."""
        rest, self._text = " ".join(self._text.split()), ""
        return [rest] if rest else []

    def _next_piece(self) -> str | None:
        text = self._text
        cut = None
        if m := _SENTENCE_END.search(text):
            cut = m.end()
        else:
            for m in _CLAUSE_END.finditer(text):
                if len(text[:m.end()].strip()) >= self.min_chars:
                    cut = m.end()
                    break
        if cut is None and len(text) > self.max_chars:
            space = text.rfind(" ", 0, self.max_chars)
            cut = space if space > 0 else self.max_chars
        if cut is None:
            return None
        piece, self._text = " ".join(text[:cut].split()), text[cut:].lstrip()
        return piece or self._next_piece()


@dataclass(frozen=True)
class Pose:
    """The last frame of a segment: ARKit weights ``(52,)``, rotation and translation ``(3,)``."""

    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    @classmethod
    def rest(cls) -> Pose:
        return cls(np.zeros(len(ARKIT_52), np.float32), np.zeros(3, np.float32), np.zeros(3, np.float32))

    @classmethod
    def last_of(cls, anim: Animation) -> Pose:
        return cls(anim.expression[-1].copy(), anim.rotation[-1].copy(), anim.translation[-1].copy())


def ease_out(n_frames: int, fps: float, seconds: float = JOIN_S) -> np.ndarray:
    """``(T,)`` weight 1 -> 0 (smoothstep) over the first ``seconds``: how much of the previous
    segment's end is still carried at each frame."""
    x = np.clip(np.arange(n_frames) / fps / max(seconds, 1e-6), 0.0, 1.0)
    return (1.0 - x * x * (3.0 - 2.0 * x)).astype(np.float32)


def join(anim: Animation, previous: Pose | None, seconds: float = JOIN_S, first: Pose | None = None,
         done: int = 0) -> Animation:
    """``anim`` whose first frames ease in from ``previous`` (the last frame before it): frame 0
    continues where the previous segment ended and the difference fades out over ``seconds``.
    ``previous=None`` (the first segment) returns ``anim`` unchanged. An ease that spans several
    pieces of one segment passes ``first`` (the segment's own first frame, from which the
    difference is taken) and ``done`` (frames of the ease already shown)."""
    if previous is None or anim.n_frames == 0:
        return anim
    if first is None:
        first = Pose(anim.expression[0], anim.rotation[0], anim.translation[0])
    w = ease_out(done + anim.n_frames, anim.fps, seconds)[done:, None]
    expression = np.clip(anim.expression + w * (previous.expression - first.expression), 0.0, 1.0)
    rotation = anim.rotation + w * (previous.rotation - first.rotation)
    translation = anim.translation + w * (previous.translation - first.translation)
    return Animation(fps=anim.fps, expression=expression, rotation=rotation, translation=translation,
                     tongue_tip=anim.tongue_tip, audio=anim.audio, sample_rate=anim.sample_rate, phonemes=anim.phonemes,
                     words=anim.words, emotion=anim.emotion, metadata=dict(anim.metadata))


def silence(seconds: float, sample_rate: int = 16000) -> Speech:
    """A :class:`Speech` of ``seconds`` of silence (the input of idle motion)."""
    n = int(round(seconds * sample_rate))
    return Speech(audio=np.zeros(n, np.float32), sample_rate=sample_rate,
                  phonemes=[(0.0, n / sample_rate, SIL)], source="silence")


def idle_animation(emotion: str = "neutral", intensity: float = 1.0, seconds: float = IDLE_S,
                   fps: float = 25.0, seed: int = 0, pose: str = "natural") -> Animation:
    """What a face does while it listens: the emotion held, blinks, glances, a slow sway of the
    head and breathing, with a closed mouth. It is made to loop: its last frame eases back to
    its first over :data:`JOIN_S`, so it can be played again and again without a jump."""
    from talkrig.animate.pipeline import animate_speech

    anim = animate_speech(silence(seconds), emotion=emotion, intensity=intensity, pose=pose,
                          seed=seed, fps=fps)
    t = anim.times
    breath = np.radians(BREATH_DEG) * 0.5 * (1.0 - np.cos(2.0 * np.pi * BREATH_HZ * t))
    rotation = anim.rotation.copy()
    rotation[:, 0] += breath.astype(np.float32)
    # close the loop: the end eases back to the start (a mirrored join)
    w = ease_out(anim.n_frames, fps)[::-1, None]
    expression = anim.expression + w * (anim.expression[0] - anim.expression[-1])
    rotation = rotation + w * (rotation[0] - rotation[-1])
    translation = anim.translation + w * (anim.translation[0] - anim.translation[-1])
    return Animation(fps=fps, expression=np.clip(expression, 0, 1), rotation=rotation,
                     translation=translation, audio=anim.audio, sample_rate=anim.sample_rate,
                     phonemes=anim.phonemes, emotion=anim.emotion, tongue_tip=anim.tongue_tip,
                     metadata={**anim.metadata, "engine": "idle"})


def frames_for(seconds: float, fps: float) -> int:
    """Frames a segment of ``seconds`` gets on the stream's timeline (at least one)."""
    return max(int(round(seconds * fps)), 1)
