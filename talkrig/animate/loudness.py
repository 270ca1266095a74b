"""Loudness envelope and voice activity of 16 kHz mono speech."""

from __future__ import annotations

import numpy as np

HOP_S = 0.01
WIN_S = 0.03
FLOOR_DB = -50.0  # envelope floor relative to the loud end of the file


def rms_db(audio: np.ndarray, sample_rate: int = 16000, hop_s: float = HOP_S,
           win_s: float = WIN_S) -> tuple[np.ndarray, np.ndarray]:
    """Short-time RMS level.

    Args:
        audio: ``(S,)`` float32.
    Returns:
        ``(times (F,) float64 s, level (F,) float32 dB re full scale)``, window centred on
        ``times`` (frame ``k`` at ``k * hop_s``).
    """
    hop = max(int(round(hop_s * sample_rate)), 1)
    win = max(int(round(win_s * sample_rate)), hop)
    n = int(np.ceil(len(audio) / hop)) or 1
    padded = np.pad(np.asarray(audio, np.float64), (win // 2, win + n * hop))
    csum = np.concatenate([[0.0], np.cumsum(padded ** 2)])
    starts = np.arange(n) * hop
    energy = (csum[starts + win] - csum[starts]) / win
    level = 10.0 * np.log10(energy + 1e-10)
    return np.arange(n) * hop_s, level.astype(np.float32)


def envelope(audio: np.ndarray, sample_rate: int = 16000, hop_s: float = HOP_S) -> tuple[np.ndarray, np.ndarray]:
    """Loudness in [0, 1]: RMS dB mapped linearly from ``FLOOR_DB`` below the file's loud
    level (its 98th percentile, robust to clicks) up to that level.

    Returns ``(times (F,), env (F,) float32)``.
    """
    times, db = rms_db(audio, sample_rate, hop_s)
    top = float(np.percentile(db, 98)) if len(db) else 0.0
    env = np.clip((db - (top + FLOOR_DB)) / -FLOOR_DB, 0.0, 1.0)
    return times, env.astype(np.float32)


def voice_activity(audio: np.ndarray, sample_rate: int = 16000, min_pause_s: float = 0.15,
                   min_voice_s: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Frames (10 ms) that carry speech energy.

    The threshold sits between the noise floor (10th percentile level) and the loud level
    (98th percentile): 35% of the way up in dB, at least 6 dB above the floor. Pauses shorter
    than ``min_pause_s`` and bursts shorter than ``min_voice_s`` are removed.

    Returns ``(times (F,), active (F,) bool)``.
    """
    times, db = rms_db(audio, sample_rate)
    floor, top = np.percentile(db, 10), np.percentile(db, 98)
    thr = max(floor + 0.35 * (top - floor), floor + 6.0)
    active = db > thr
    active = _fill_runs(active, False, int(round(min_pause_s / HOP_S)))
    active = _fill_runs(active, True, int(round(min_voice_s / HOP_S)))
    return times, active


def runs(mask: np.ndarray) -> list[tuple[int, int, bool]]:
    """Runs of equal values: ``[(start, stop, value)]`` with ``stop`` exclusive."""
    mask = np.asarray(mask, bool)
    if mask.size == 0:
        return []
    edges = np.flatnonzero(np.diff(mask.astype(np.int8))) + 1
    bounds = np.concatenate([[0], edges, [mask.size]])
    return [(int(a), int(b), bool(mask[a])) for a, b in zip(bounds[:-1], bounds[1:])]


def _fill_runs(mask: np.ndarray, value: bool, min_len: int) -> np.ndarray:
    """Flip interior runs of ``value`` shorter than ``min_len`` to the other value."""
    out = mask.copy()
    for a, b, v in runs(mask):
        if v == value and b - a < min_len and a > 0 and b < mask.size:
            out[a:b] = not value
    return out
