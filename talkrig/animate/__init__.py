"""Speech -> facial motion: ARKit-52 expression, head pose and eye curves at the video rate.

    from talkrig import api

    anim = api.animate(text="Hello there.", emotion="happy", intensity=0.8)
    anim = api.animate(audio="speech.wav", transcript="hello there", pose="calm")
    anim.save("anim.npz")

Stages: :mod:`.tts` (espeak-ng with phoneme events) or :mod:`.align` (pocketsphinx alignment /
recognition) -> :mod:`.visemes` (coarticulated mouth) + :mod:`.emotion` (FACS patterns,
schedules) + :mod:`.head` (pose, blinks, gaze) -> :class:`Animation`. A learned predictor
(:mod:`.predictor`) can replace the rule-based curves (``engine="learned"``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkrig.animate.animation import Animation
from talkrig.animate.emotion import EMOTIONS
from talkrig.animate.speech import Speech

__all__ = ["Animation", "EMOTIONS", "Speech", "animate"]


def animate(text: str | None = None, *, audio: str | Path | np.ndarray | None = None,
            transcript: str | None = None, emotion: str = "neutral", intensity: float = 1.0,
            pose: str | Path = "natural", seed: int = 0, fps: float = 25.0,
            voice: str | None = None, rate: int | None = None, tts_engine: str = "espeak",
            engine: str = "rules", checkpoint: str | Path | None = None,
            workers: int | None = None, emotional_voice: bool = True) -> Animation:
    """Animate a face from text (spoken by TTS) or from speech audio.

    Args:
        text: words to speak (mutually exclusive with ``audio``).
        audio: a speech file (wav/mp3/flac/m4a/mp4, any rate/channels) or 16 kHz float32 samples.
        transcript: what ``audio`` says; enables forced alignment (else recognition).
        emotion: ``"happy"``, ``"happy:0.7+sad:0.3"`` or a schedule
            ``"neutral@0,happy@1.5s,sad@4s"`` (see :mod:`talkrig.animate.emotion`).
        intensity: 0..1, scales the emotion.
        pose: ``still``, ``calm``, ``natural``, ``expressive`` or a CSV file (yaw,pitch,roll
            degrees per frame).
        seed: makes head motion, blinks and gaze repeatable.
        fps: video frame rate.
        voice, rate: TTS voice/language (e.g. ``en-us``, ``de``, ``en-us+f3``) and words/minute.
        engine: ``rules`` (default) or ``learned`` (needs ``checkpoint``).
        workers: processes for word recognition (audio without transcript). ``None``: two
            where the CPUs allow, one inside worker processes or threads (or as
            ``$TALKRIG_RECOGNIZE_WORKERS`` says); ``1``: this process only. Same result either way.
        emotional_voice: for ``text``, speak with the emotion's voice (pitch, range, rate,
            loudness; a schedule sentence by sentence); False keeps the TTS voice neutral.
    Returns:
        :class:`Animation`.
    """
    from talkrig.animate.pipeline import animate_speech, speech_from_inputs
    from talkrig.errors import InputError

    speech = speech_from_inputs(text=text, audio=audio, transcript=transcript, voice=voice,
                                rate=rate, tts_engine=tts_engine, workers=workers,
                                emotion=emotion if emotional_voice else None, intensity=intensity)
    anim = animate_speech(speech, emotion=emotion, intensity=intensity, pose=pose, seed=seed, fps=fps)
    if engine == "rules":
        return anim
    if engine == "learned":
        if checkpoint is None:
            raise InputError("engine 'learned' needs a checkpoint (.safetensors)")
        from talkrig.animate.predictor import apply_predictor

        return apply_predictor(anim, checkpoint)
    raise InputError(f"unknown animation engine {engine!r} (rules or learned)")
