"""Procedural head pose, blinks and gaze: seeded, smooth, speech-aware.

Head motion (rotation relative to the photo's pose):
  * slow drift: band-limited noise (< ~0.4 Hz) per axis, so the head is never frozen;
  * nods on stressed syllables: a smooth pitch dip-and-return (~0.45 s) whose size follows the
    syllable's prominence (loudness x duration), with a little yaw;
  * phrase ends (a pause after speech): a slower downward settle and a small roll change.
  Speakers' head movement is tied to prosody, stressed syllables and phrase boundaries
  (Hadar et al. 1983; Graf et al. 2002, "Visual prosody"); amplitudes here are a few degrees.
Everything is a sum of smooth kernels, then low-pass filtered: no frame-to-frame jitter.

Blinks: inter-blink intervals drawn from 2-6 s (gamma-shaped around ~3.5 s), each blink
100-150 ms with a fast close and slower opening (spontaneous blink dynamics, e.g. Kwon et al.
2013 report ~100-150 ms full-closure blinks), peak aligned to a video frame so it is seen.

Gaze: small fixational saccades every 0.6-2.5 s to a nearby target (eyeLook* <= 0.15),
each saccade ~40 ms.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkrig.animate.phonemes import SIL, VOWELS
from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52

DEG = np.pi / 180.0


@dataclass(frozen=True)
class PoseStyle:
    drift_deg: tuple[float, float, float]  # pitch, yaw, roll std of the slow drift
    nod_deg: float  # pitch of a full-prominence nod
    phrase_deg: float  # pitch of a phrase-end settle


STYLES: dict[str, PoseStyle] = {
    "still": PoseStyle((0.0, 0.0, 0.0), 0.0, 0.0),
    "calm": PoseStyle((0.8, 1.2, 0.5), 1.2, 1.0),
    "natural": PoseStyle((1.5, 2.0, 1.0), 2.5, 2.0),
    "expressive": PoseStyle((2.5, 4.5, 2.0), 4.5, 3.5),
}


def _rng(seed: int | None, salt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed or 0) & 0xFFFFFFFF, salt])


def _lowpass_noise(rng: np.random.Generator, n: int, fps: float, cutoff_hz: float) -> np.ndarray:
    """Unit-std Gaussian noise band-limited to ``cutoff_hz`` (Gaussian filter)."""
    from scipy.ndimage import gaussian_filter1d

    if n == 0:
        return np.zeros(0)
    sigma = fps / (2 * np.pi * cutoff_hz)
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma)[pad:pad + n]
    # Scale by the filter's analytic output std, 1 / sqrt(2 sqrt(pi) sigma), not by the sample
    # std: over a clip shorter than the filter's time scale the sample std is tiny, and dividing
    # by it blew a slow drift up into a 30-degree head turn.
    return np.clip(x * np.sqrt(2 * np.sqrt(np.pi) * sigma), -3.0, 3.0)


def prominences(phonemes: list, loud_times: np.ndarray, loudness: np.ndarray,
                accents: list | None = None) -> list[tuple[float, float]]:
    """Stressed syllables ``[(time_s, prominence 0..1)]``.

    Vowel nuclei are scored by mean loudness x sqrt(duration); nuclei in the top third of the
    file, or marked as stressed by the speech source (``accents``), count.
    """
    nuclei = []
    for a, b, p in phonemes:
        if p in VOWELS:
            m = (loud_times >= a) & (loud_times < b)
            lv = float(loudness[m].mean()) if m.any() else 0.0
            nuclei.append((a, lv * np.sqrt(max(b - a, 1e-3))))
    if not nuclei:
        return []
    scores = np.array([s for _, s in nuclei])
    thr = np.quantile(scores, 2 / 3)
    top = scores.max() + 1e-9
    acc = np.array(sorted(accents or []))
    out = []
    for (t, s) in nuclei:
        near = acc.size and np.min(np.abs(acc - t)) < 0.06
        if s >= thr or near:
            out.append((t, float(np.clip(s / top, 0.3, 1.0))))
    return out


def phrase_ends(phonemes: list, min_pause_s: float = 0.15) -> list[float]:
    """Start times of pauses (>= ``min_pause_s``) that follow speech."""
    out = []
    for i, (a, b, p) in enumerate(phonemes):
        if p == SIL and b - a >= min_pause_s and i > 0:
            out.append(a)
    return out


def _kernel(times: np.ndarray, t0: float, width: float) -> np.ndarray:
    """Smooth bump (raised cosine) starting at ``t0`` lasting ``width`` s, peak 1."""
    x = (times - t0) / width
    return np.where((x > 0) & (x < 1), 0.5 - 0.5 * np.cos(2 * np.pi * np.clip(x, 0, 1)), 0.0)


def start_ramp(n_frames: int, fps: float, seconds: float = 0.8) -> np.ndarray:
    """``(T,)`` 0 -> 1 smoothstep over the first ``seconds``: head motion eases in from the
    photo's pose, so frame 0 is the photo."""
    x = np.clip(np.arange(n_frames) / fps / seconds, 0, 1)
    return x * x * (3 - 2 * x)


def styled_head(rotation: np.ndarray, offsets_deg: np.ndarray, motion_gain: np.ndarray,
                fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Speech-driven head ``rotation`` ``(T, 3)`` (radians, pitch/yaw/roll) given an emotion's
    style: its motion scaled by ``motion_gain`` ``(T,)`` and the held offsets ``offsets_deg``
    ``(T, 3)`` eased in by :func:`start_ramp`. Returns rotation and the matching neck translation."""
    ramp = start_ramp(len(rotation), fps)[:, None]
    rot = rotation * motion_gain[:, None] + np.radians(offsets_deg) * ramp
    return rot.astype(np.float32), neck_translation(rot).astype(np.float32)


def head_motion(n_frames: int, fps: float, phonemes: list, loud_times: np.ndarray,
                loudness: np.ndarray, style: str = "natural", seed: int | None = 0,
                accents: list | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Procedural head pose.

    Returns:
        ``rotation (T, 3)`` pitch/yaw/roll radians and ``translation (T, 3)`` cm, both relative
        to the photo's pose (frame 0 starts at the photo's pose, ramping in over 0.5 s).
    """
    if style not in STYLES:
        raise InputError(f"unknown pose style {style!r} (choose from {', '.join(STYLES)} or a CSV file)")
    st = STYLES[style]
    t = np.arange(n_frames) / fps
    rot = np.zeros((n_frames, 3))
    if style == "still" or n_frames == 0:
        return rot.astype(np.float32), np.zeros((n_frames, 3), np.float32)
    from scipy.ndimage import gaussian_filter1d

    rng = _rng(seed, 1)
    ramp = start_ramp(n_frames, fps)[:, None]  # start exactly at the photo's pose
    for k in range(3):
        rot[:, k] = st.drift_deg[k] * DEG * _lowpass_noise(rng, n_frames, fps, cutoff_hz=0.25)
    rot *= ramp
    nods = np.zeros((n_frames, 3))
    for ts, prom in prominences(phonemes, loud_times, loudness, accents):
        bump = _kernel(t, ts - 0.1, 0.45)
        nods[:, 0] += st.nod_deg * DEG * prom * bump  # positive pitch: chin down (x axis)
        nods[:, 1] += 0.3 * st.nod_deg * DEG * prom * rng.uniform(-1, 1) * bump
    # Dense accents would add up to a lowered head: keep nods moving about the baseline.
    nods -= gaussian_filter1d(nods, 0.8 * fps, axis=0, mode="nearest")
    rot += nods
    for te in phrase_ends(phonemes):
        bump = _kernel(t, te - 0.2, 0.9)
        rot[:, 0] += st.phrase_deg * DEG * bump
        rot[:, 2] += 0.5 * st.phrase_deg * DEG * rng.choice([-1, 1]) * bump
    rot = gaussian_filter1d(rot, 0.06 * fps, axis=0, mode="nearest")
    rot *= ramp
    return rot.astype(np.float32), neck_translation(rot).astype(np.float32)


def neck_translation(rotation: np.ndarray, pivot_cm: tuple[float, float, float] = (0.0, -9.0, -4.0)) -> np.ndarray:
    """Translation of the head origin when it turns about a neck pivot.

    The head rotates about a point roughly 9 cm below and 4 cm behind its centre (upper
    cervical spine); turning about the head's own origin is then corrected by
    ``p - R p`` for pivot offset ``p``. Returns ``(T, 3)`` cm.
    """
    import torch

    from talkrig.model.rotation import euler_to_matrix

    r = euler_to_matrix(torch.as_tensor(rotation, dtype=torch.float64)).numpy()
    p = np.asarray(pivot_cm, np.float64)
    return p[None] - np.einsum("tij,j->ti", r, p)


def load_pose_csv(path: str | Path, n_frames: int) -> np.ndarray:
    """Read a pose file: one row per frame ``yaw,pitch,roll`` in degrees (a header row is
    allowed; columns named ``*_rad`` are taken as radians). Shorter files hold their last
    pose; longer ones are cut. Returns ``(T, 3)`` pitch/yaw/roll radians, relative to row 0.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"pose file not found: {path}")
    rows, radians = [], False
    try:
        with open(path, newline="") as fh:
            for i, row in enumerate(csv.reader(fh)):
                if not row or not "".join(row).strip():
                    continue
                try:
                    rows.append([float(v) for v in row[:3]])
                except ValueError:
                    if i == 0 and not rows:
                        radians = any("rad" in c.lower() for c in row)
                        continue
                    raise InputError(f"{path}: row {i + 1} is not three numbers yaw,pitch,roll") from None
                if len(rows[-1]) != 3:
                    raise InputError(f"{path}: row {i + 1} is not three numbers yaw,pitch,roll")
    except UnicodeDecodeError:
        raise InputError(f"{path} is not a text CSV file") from None
    if not rows:
        raise InputError(f"{path}: no poses")
    ypr = np.array(rows, np.float64)
    if not np.isfinite(ypr).all():
        raise InputError(f"{path}: non-finite pose values")
    ypr = ypr if radians else ypr * DEG
    if len(ypr) < n_frames:
        ypr = np.concatenate([ypr, np.repeat(ypr[-1:], n_frames - len(ypr), 0)])
    ypr = ypr[:n_frames]
    rot = np.stack([ypr[:, 1], ypr[:, 0], ypr[:, 2]], 1)  # -> pitch, yaw, roll
    return (rot - rot[:1]).astype(np.float32)


def blink_times(duration: float, seed: int | None = 0, rate: float = 1.0) -> list[tuple[float, float]]:
    """``[(peak_time_s, length_s)]``: intervals 2-6 s (gamma, mean ~3.6 s) divided by ``rate``
    (an emotion's blink-rate factor), length 100-150 ms."""
    rng = _rng(seed, 2)
    rate = float(np.clip(rate, 0.25, 4.0))
    out, t = [], rng.uniform(0.8, 3.0) / rate
    while t < duration - 0.1:
        out.append((t, float(rng.uniform(0.10, 0.15))))
        t += float(np.clip(2.0 + rng.gamma(2.0, 0.8), 2.0, 6.0)) / rate
    return out


def blink_curve(n_frames: int, fps: float, seed: int | None = 0, rate: float = 1.0) -> np.ndarray:
    """``(T,)`` eyelid closure 0..1: close in 40% of the blink, reopen in 60%, with each
    blink's peak snapped to a frame so it is seen at any frame rate."""
    t = np.arange(n_frames) / fps
    out = np.zeros(n_frames, np.float32)
    for peak, length in blink_times(n_frames / fps, seed, rate):
        peak = round(peak * fps) / fps
        a, b = peak - 0.4 * length, peak + 0.6 * length
        up = (t >= a) & (t <= peak)
        dn = (t > peak) & (t <= b)
        v = np.zeros(n_frames)
        v[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - a) / (peak - a))
        v[dn] = 0.5 + 0.5 * np.cos(np.pi * (t[dn] - peak) / (b - peak))
        out = np.maximum(out, v.astype(np.float32))
    return out


def gaze_curves(n_frames: int, fps: float, seed: int | None = 0, amplitude: float = 0.12) -> np.ndarray:
    """``(T, 2)`` gaze (horizontal: + toward the subject's left; vertical: + up) in eyeLook
    units, piecewise constant fixations joined by ~40 ms saccades."""
    rng = _rng(seed, 3)
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, 2))
    cur, time = np.zeros(2), rng.uniform(0.5, 1.5)
    while time < t[-1] if n_frames else False:
        nxt = np.clip(rng.normal(0, amplitude / 2, 2) * [1.0, 0.6], -amplitude, amplitude)
        s = np.clip((t - time) / 0.04, 0, 1)[:, None]
        out = out + (nxt - cur)[None] * s
        cur, time = nxt, time + rng.uniform(0.6, 2.5)
    return out.astype(np.float32)


def eye_weights(n_frames: int, fps: float, seed: int | None = 0, gaze: bool = True,
                blink_rate: float = 1.0, gaze_offset: np.ndarray | None = None) -> np.ndarray:
    """``(T, 52)`` ARKit weights for blinks and gaze (eyeBlink*, eyeLook*). ``blink_rate``
    scales how often the eyes blink; ``gaze_offset`` ``(T,)`` is a held vertical gaze in eyeLook
    units (+ up, - down: a sad face looks down) added to the saccades."""
    out = np.zeros((n_frames, len(ARKIT_52)), np.float32)
    put = lambda n, v: out.__setitem__((slice(None), ARKIT_52.index(n)), v)  # noqa: E731
    blink = blink_curve(n_frames, fps, seed, blink_rate)
    put("eyeBlinkLeft", blink)
    put("eyeBlinkRight", blink)
    if gaze and n_frames:
        g = gaze_curves(n_frames, fps, seed)
        h, v = g[:, 0], g[:, 1] + (0.0 if gaze_offset is None else np.asarray(gaze_offset, np.float32))
        put("eyeLookOutLeft", np.maximum(h, 0))
        put("eyeLookInRight", np.maximum(h, 0))
        put("eyeLookInLeft", np.maximum(-h, 0))
        put("eyeLookOutRight", np.maximum(-h, 0))
        put("eyeLookUpLeft", np.maximum(v, 0))
        put("eyeLookUpRight", np.maximum(v, 0))
        put("eyeLookDownLeft", np.maximum(-v, 0))
        put("eyeLookDownRight", np.maximum(-v, 0))
    return out
