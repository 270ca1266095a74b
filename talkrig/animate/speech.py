"""`Speech`: audio plus what is said when (the input of the motion generators)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Speech:
    """Mono 16 kHz speech with phoneme and word timings.

    Attributes:
        audio: ``(S,)`` float32 samples in [-1, 1].
        sample_rate: Hz (16000 inside talkrig).
        phonemes: ``[(start_s, end_s, phone)]`` ARPAbet without stress, ``SIL`` for pauses,
            covering the audio without gaps.
        words: ``[(start_s, end_s, word)]``.
        accents: times (s) of stressed syllables, when the source knows them (espeak does).
        source: how the timings were obtained: ``tts:<engine>``, ``align``, ``recognize``,
            ``energy``.
    """

    audio: np.ndarray
    sample_rate: int
    phonemes: list = field(default_factory=list)
    words: list = field(default_factory=list)
    accents: list = field(default_factory=list)
    source: str = ""

    @property
    def duration(self) -> float:
        return len(self.audio) / float(self.sample_rate)
