"""Log-mel spectrogram features for 16 kHz speech, in numpy (deterministic, one thread).

Defaults: 25 ms Hann window, 10 ms hop (100 feature frames per second, four per video frame at
25 fps), 80 mel bands on the HTK mel scale (2595 log10(1 + f/700)) between 20 and 7600 Hz,
natural log of power with a 1e-5 floor. Frame ``k`` is centred on sample ``k * hop`` (the
signal is reflect-padded by half a window), so feature frame ``k`` describes time
``k / 100`` s and lines up with video frame ``k * fps / 100``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = 16000
    n_fft: int = 512
    win_length: int = 400
    hop_length: int = 160
    n_mels: int = 80
    fmin: float = 20.0
    fmax: float = 7600.0

    @property
    def frames_per_second(self) -> float:
        return self.sample_rate / self.hop_length

    def to_dict(self) -> dict:
        return asdict(self)


def _hz_to_mel(f):
    return 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)


def _mel_to_hz(m):
    return 700.0 * (10.0 ** (np.asarray(m, dtype=np.float64) / 2595.0) - 1.0)


@lru_cache(maxsize=8)
def mel_filterbank(cfg: MelConfig) -> np.ndarray:
    """``(n_mels, n_fft // 2 + 1)`` float64 triangular filters, each of unit area in Hz
    (Slaney-style normalisation, so bands of different width carry comparable energy)."""
    n_bins = cfg.n_fft // 2 + 1
    freqs = np.linspace(0.0, cfg.sample_rate / 2, n_bins)
    edges = _mel_to_hz(np.linspace(_hz_to_mel(cfg.fmin), _hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    lo, mid, hi = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    up = (freqs[None] - lo) / (mid - lo)
    down = (hi - freqs[None]) / (hi - mid)
    fb = np.clip(np.minimum(up, down), 0.0, None)
    return fb * (2.0 / (hi - lo))


def log_mel(audio: np.ndarray, cfg: MelConfig = MelConfig()) -> np.ndarray:
    """Log-mel features of a mono signal.

    Args:
        audio: ``(S,)`` float32 samples at ``cfg.sample_rate``, roughly in [-1, 1].
    Returns:
        ``(ceil(S / hop), n_mels)`` float32 (``(0, n_mels)`` for empty audio).
    """
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    n_frames = -(-audio.shape[0] // cfg.hop_length)
    if n_frames == 0:
        return np.zeros((0, cfg.n_mels), np.float32)
    pad = cfg.n_fft // 2
    mode = "reflect" if audio.shape[0] > pad else "constant"
    x = np.pad(audio.astype(np.float64), (pad, pad + cfg.hop_length), mode=mode)
    idx = np.arange(cfg.n_fft)[None, :] + cfg.hop_length * np.arange(n_frames)[:, None]
    window = np.zeros(cfg.n_fft)
    off = (cfg.n_fft - cfg.win_length) // 2
    window[off:off + cfg.win_length] = np.hanning(cfg.win_length + 1)[:-1]  # periodic Hann
    spec = np.abs(np.fft.rfft(x[idx] * window, axis=1)) ** 2
    mel = spec @ mel_filterbank(cfg).T
    return np.log(np.maximum(mel, 1e-5)).astype(np.float32)
