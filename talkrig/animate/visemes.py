"""Phonemes -> articulation curves -> ARKit mouth weights.

Three layers, in the spirit of JALI (Edwards et al., SIGGRAPH 2016: jaw and lip actions are
separate and the jaw follows loudness) on top of Cohen & Massaro's coarticulation model
(Cohen & Massaro 1993, "Modeling coarticulation in synthetic visual speech"):

1. Each phone has a target for a few articulation channels (jaw opening, lip seal, rounding,
   spreading, lower-lip tuck, ...) and a dominance ``D(t) = alpha * exp(-theta * d)`` where
   ``d`` is the distance to the phone's interval (zero inside it). Every channel is the
   dominance-weighted mean of the targets, so neighbours blend (anticipatory rounding in
   "soon", a wide /s/ in "see") while strong phones hold their shape.
2. Hard articulatory constraints the blend alone cannot guarantee: the lips seal on /p b m/,
   the lower lip tucks under the teeth on /f v/ (each held for at least one frame period so
   every frame rate shows it), and the whole mouth relaxes to closed in pauses.
3. The jaw opening is scaled by the loudness envelope (louder speech, wider jaw).

Channels are computed at 100 Hz and sampled at the video frame times.
"""

from __future__ import annotations

import numpy as np

from talkrig.animate.phonemes import BILABIALS, LABIODENTALS, SIL, VOWELS
from talkrig.model.arkit import ARKIT_52

RATE = 100.0  # Hz, internal curve rate
# jawOpen per unit of the jaw channel. Measured with MediaPipe on real talking video (the 4 dev
# videos and MEAD's neutral clips: inner-lip gap / eye distance median 0.01-0.12, 90th percentile
# 0.06-0.17; MediaPipe jawOpen median 0.00-0.12), talkrig's renders opened 1.6-2x wider (0.12-0.13 /
# 0.24-0.28 / jawOpen 0.24-0.31) with a gain of 1, which also read as a dropped jaw (surprise,
# anger) under every emotion. 0.6 puts renders at 0.08-0.09 / 0.15-0.19 / 0.07-0.09.
JAW_GAIN = 0.6
CHANNELS = ("jaw", "seal", "press", "funnel", "pucker", "stretch", "roll_lower", "roll_upper",
            "lower_down", "upper_up", "tongue", "tip")
_C = {c: i for i, c in enumerate(CHANNELS)}
_LIP = [_C[c] for c in CHANNELS if c != "jaw"]

# Articulation targets per ARPAbet phone (0..1). Unlisted channels are 0. ``tip`` lifts the
# tongue's tip to the alveolar ridge (/l t d n/ touch it, /s z sh ch/ come close;
# :mod:`talkrig.model.tongue`); ``tongue`` pushes it forward (ARKit tongueOut): /th dh/ take both,
# half a lift and most of the push, which puts the tip between the incisors' edges (tongueOut
# alone, 0.25 before, left it behind the lower teeth, unseen). Values are design
# choices informed by viseme charts (e.g. the Preston Blair / Disney sets and the 15 visemes
# of MPEG-4 FBA), not measurements.
TARGETS: dict[str, dict[str, float]] = {
    SIL: {},
    "P": {"jaw": 0.06, "seal": 1.0, "press": 0.35}, "B": {"jaw": 0.06, "seal": 1.0, "press": 0.25},
    "M": {"jaw": 0.06, "seal": 1.0, "press": 0.15},
    "F": {"jaw": 0.08, "roll_lower": 0.65, "upper_up": 0.2},
    "V": {"jaw": 0.08, "roll_lower": 0.6, "upper_up": 0.2},
    "TH": {"jaw": 0.16, "tongue": 0.7, "tip": 0.5, "lower_down": 0.15},
    "DH": {"jaw": 0.14, "tongue": 0.6, "tip": 0.5, "lower_down": 0.15},
    "S": {"jaw": 0.06, "stretch": 0.3, "lower_down": 0.25, "upper_up": 0.2, "tip": 0.6},
    "Z": {"jaw": 0.06, "stretch": 0.3, "lower_down": 0.25, "upper_up": 0.2, "tip": 0.6},
    "SH": {"jaw": 0.1, "funnel": 0.5, "pucker": 0.2, "lower_down": 0.25, "upper_up": 0.25, "tip": 0.5},
    "ZH": {"jaw": 0.1, "funnel": 0.5, "pucker": 0.2, "lower_down": 0.25, "upper_up": 0.25, "tip": 0.5},
    "CH": {"jaw": 0.12, "funnel": 0.45, "pucker": 0.2, "lower_down": 0.2, "upper_up": 0.2, "tip": 0.7},
    "JH": {"jaw": 0.12, "funnel": 0.45, "pucker": 0.2, "lower_down": 0.2, "upper_up": 0.2, "tip": 0.7},
    "T": {"jaw": 0.14, "lower_down": 0.1, "tip": 0.9}, "D": {"jaw": 0.15, "lower_down": 0.1, "tip": 0.9},
    "N": {"jaw": 0.14, "lower_down": 0.05, "tip": 0.9}, "L": {"jaw": 0.22, "lower_down": 0.1, "tip": 1.0},
    "K": {"jaw": 0.2}, "G": {"jaw": 0.2}, "NG": {"jaw": 0.18},
    "HH": {"jaw": 0.3}, "R": {"jaw": 0.14, "funnel": 0.35, "pucker": 0.25, "tip": 0.3},
    "W": {"jaw": 0.08, "pucker": 0.85, "funnel": 0.25}, "Y": {"jaw": 0.1, "stretch": 0.35},
    "AA": {"jaw": 0.7, "lower_down": 0.2}, "AE": {"jaw": 0.55, "stretch": 0.3, "lower_down": 0.2},
    "AH": {"jaw": 0.45, "lower_down": 0.1}, "AO": {"jaw": 0.55, "funnel": 0.4, "pucker": 0.1},
    "AW": {"jaw": 0.55, "funnel": 0.35, "pucker": 0.3}, "AY": {"jaw": 0.55, "stretch": 0.2},
    "EH": {"jaw": 0.4, "stretch": 0.25, "lower_down": 0.1}, "ER": {"jaw": 0.22, "funnel": 0.4, "pucker": 0.2},
    "EY": {"jaw": 0.32, "stretch": 0.35}, "IH": {"jaw": 0.25, "stretch": 0.3},
    "IY": {"jaw": 0.16, "stretch": 0.5, "upper_up": 0.1},
    "OW": {"jaw": 0.38, "funnel": 0.55, "pucker": 0.45}, "OY": {"jaw": 0.38, "funnel": 0.45, "pucker": 0.3},
    "UH": {"jaw": 0.22, "funnel": 0.35, "pucker": 0.5}, "UW": {"jaw": 0.12, "funnel": 0.35, "pucker": 0.85},
}

_TONGUE = [_C["tongue"], _C["tip"]]
TIP_FREE = 0.25  # dominance of phones without a target for the tongue's channels over them,
TIP_THETA = 40.0  # and how fast (1/s) every phone's hold on it falls off

_LIP_STRONG = BILABIALS | LABIODENTALS | {"W", "SH", "ZH", "CH", "JH", "UW", "OW"}


def _dominance(phone: str) -> tuple[float, float, float]:
    """``(alpha_jaw, alpha_lips, theta)``: how strongly and how far (1/s) a phone holds."""
    if phone == SIL:
        return 0.8, 0.8, 25.0
    if phone in VOWELS:  # vowels own the jaw; their lip shape spreads to neighbours
        return 1.0, 0.7 if phone in _LIP_STRONG else 0.5, 12.0
    if phone in BILABIALS or phone in LABIODENTALS:
        return 0.5, 1.0, 30.0
    return 0.35, 0.8 if phone in _LIP_STRONG else 0.15, 20.0


def _phone_table(phonemes: list) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Arrays over segments: start, end (S,), targets (S, C), alpha (S, C), theta (S, C)."""
    n = len(phonemes)
    start = np.array([p[0] for p in phonemes], np.float64)
    end = np.array([p[1] for p in phonemes], np.float64)
    targets = np.zeros((n, len(CHANNELS)), np.float32)
    alpha = np.zeros((n, len(CHANNELS)), np.float32)
    theta = np.zeros((n, len(CHANNELS)), np.float32)
    for i, (_, _, ph) in enumerate(phonemes):
        for k, v in TARGETS.get(ph, TARGETS["AH"]).items():
            targets[i, _C[k]] = v
        aj, al, th = _dominance(ph)
        alpha[i, 0], alpha[i, _LIP], theta[i] = aj, al, th
        # the tongue's tip is fast and free of the lips: the phones that need it hold it and
        # let go quickly; the rest (vowels included) barely pull on it
        for k in _TONGUE:
            alpha[i, k] = 1.0 if targets[i, k] > 0 else TIP_FREE
            theta[i, k] = TIP_THETA
    return start, end, targets, alpha, theta


def coarticulate(phonemes: list, times: np.ndarray, window_s: float = 0.5) -> np.ndarray:
    """Cohen-Massaro blend of the phone targets.

    Args:
        phonemes: ``[(start_s, end_s, phone)]``.
        times: ``(N,)`` sample times in seconds (sorted).
    Returns:
        ``(N, C)`` float32 channel values in [0, 1], ``C = len(CHANNELS)``.
    """
    out = np.zeros((len(times), len(CHANNELS)), np.float32)
    if not phonemes:
        return out
    start, end, targets, alpha, theta = _phone_table(phonemes)
    num = np.zeros_like(out, dtype=np.float64)
    den = np.full_like(out, 1e-6, dtype=np.float64)  # tiny rest pull where nothing is near
    # Each segment touches only samples within window_s of it: loop over segments in blocks
    # of samples instead of building an (S, N) matrix for long files.
    block = 1000
    for b0 in range(0, len(times), block):
        t = times[b0:b0 + block]
        lo = np.searchsorted(end, t[0] - window_s)
        hi = np.searchsorted(start, t[-1] + window_s)
        if hi <= lo:
            continue
        d = np.maximum(np.maximum(start[lo:hi, None] - t[None], t[None] - end[lo:hi, None]), 0.0)
        dom = np.exp(-theta[lo:hi, None, :] * d[:, :, None]) * alpha[lo:hi, None, :]  # (s, n, C)
        num[b0:b0 + block] = np.einsum("snc,sc->nc", dom, targets[lo:hi])
        den[b0:b0 + block] += dom.sum(0)
    return (num / den).astype(np.float32)


def _pulse(times: np.ndarray, intervals: list[tuple[float, float]], ramp_in: float,
           ramp_out: float) -> np.ndarray:
    """``(N,)`` max over intervals of a plateau of 1 on ``[a, b]`` with raised-cosine ramps of
    ``ramp_in`` before ``a`` and ``ramp_out`` after ``b``."""
    out = np.zeros(len(times), np.float32)
    for a, b in intervals:
        lo, hi = np.searchsorted(times, a - ramp_in), np.searchsorted(times, b + ramp_out)
        t = times[lo:hi]
        v = np.ones(len(t))
        up = t < a
        v[up] = 0.5 - 0.5 * np.cos(np.pi * (t[up] - (a - ramp_in)) / max(ramp_in, 1e-6))
        dn = t > b
        v[dn] = 0.5 + 0.5 * np.cos(np.pi * (t[dn] - b) / max(ramp_out, 1e-6))
        out[lo:hi] = np.maximum(out[lo:hi], v)
    return out


def _held(phonemes: list, names: frozenset, min_half: float) -> list[tuple[float, float]]:
    """Intervals of the given phones, widened symmetrically to at least ``2 * min_half``."""
    out = []
    for a, b, p in phonemes:
        if p in names:
            c, h = (a + b) / 2, max((b - a) / 2, min_half)
            out.append((c - h, c + h))
    return out


def pause_intervals(phonemes: list, vad_pauses: list[tuple[float, float]] | None = None,
                    min_pause_s: float = 0.1) -> list[tuple[float, float]]:
    """Silences long enough to close the mouth: ``SIL`` phones >= ``min_pause_s`` plus any
    pauses found in the audio itself."""
    sil = [(a, b) for a, b, p in phonemes if p == SIL]
    out = [(a, b) for a, b in sil if b - a >= min_pause_s]
    for a, b in vad_pauses or []:
        # Quiet consonants (/f/, /th/, stop closures) can look like silence to an energy
        # detector: trust it only where the timings agree or the silence is long.
        covered = sum(max(0.0, min(b, d) - max(a, c)) for c, d in sil)
        if covered >= 0.5 * (b - a) or b - a >= 0.3:
            out.append((a, b))
    return sorted(out)


def articulation(phonemes: list, times: np.ndarray, loudness: np.ndarray | None = None,
                 pauses: list[tuple[float, float]] | None = None, fps: float = 25.0,
                 articulation_gain: float = 1.0, lead_s: float = 0.0,
                 loudness_ahead: np.ndarray | None = None) -> np.ndarray:
    """All three layers (see module docstring).

    Args:
        phonemes: ``[(start_s, end_s, phone)]`` covering the audio.
        times: ``(N,)`` sample times (s) at :data:`RATE`.
        loudness: ``(N,)`` envelope in [0, 1] at ``times`` or None.
        pauses: intervals where the mouth must rest closed.
        fps: output frame rate; lip closures last at least ``1 / fps``.
        articulation_gain: scales lip shapes (JALI's "LI" axis), 1 = normal.
        lead_s: the blended mouth shapes (layer 1, and the jaw's loudness scaling, which then
            reads ``loudness_ahead``: the envelope at ``times + lead_s``) run this far ahead
            of the sound, as a speaker's gestures precede the sound they make; the lip seal of
            /p b m/ and the tuck of /f v/ start that much earlier but release on the acoustic
            timing (the lips stay closed while the closure is silent), and the rest in pauses
            stays on the acoustic timing.
    Returns:
        ``(N, C)`` float32 channels.
    """
    ch = coarticulate(phonemes, times + lead_s)
    ch[:, _LIP] *= articulation_gain
    if lead_s and loudness_ahead is not None:
        loudness = loudness_ahead
    if loudness is not None:  # JALI "JA": the jaw follows the voice
        # scaled by loudness, plus a small loudness-driven opening so loud rounded vowels
        # (/u/ has a nearly closed jaw target) still open a little; bilabial seals, f/v tucks
        # and pauses below override it.
        ch[:, _C["jaw"]] = ch[:, _C["jaw"]] * np.clip(0.3 + 0.9 * loudness, 0.0, 1.3) + 0.12 * loudness ** 2
    ch = _smooth(ch, sigma_s=0.012)
    # In pauses the mouth rests closed: it closes over the last ~40 ms of the preceding sound
    # (the voice has already decayed there) and reopens just as the next sound starts.
    rest = _pulse(times, [(a, b - 0.015) for a, b in pauses or [] if b - a > 0.09], 0.04, 0.035)
    ch *= (1.0 - rest)[:, None]
    # Lip constraints come last so a closure right after a pause is not faded by it.
    half = 0.5 / fps + 0.002  # a closure spans at least one frame period: some frame shows it
    # with a lead, a closing gesture starts that much earlier; its release stays on the sound
    early = lambda iv: [(a - lead_s, b) for a, b in iv]  # noqa: E731
    seal = _pulse(times, early(_held(phonemes, BILABIALS, half)), 0.035, 0.03)
    ch[:, _C["seal"]] = np.maximum(ch[:, _C["seal"]], seal)
    for k in ("lower_down", "upper_up", "stretch"):
        ch[:, _C[k]] *= 1.0 - seal
    ch[:, _C["funnel"]] *= 1.0 - 0.7 * seal
    tuck = _pulse(times, early(_held(phonemes, LABIODENTALS, half)), 0.035, 0.03)
    ch[:, _C["roll_lower"]] = np.maximum(ch[:, _C["roll_lower"]], 0.6 * tuck)
    ch[:, _C["lower_down"]] *= 1.0 - tuck
    ch[:, _C["jaw"]] = np.minimum(ch[:, _C["jaw"]], 0.12 + (1.0 - tuck))
    return np.clip(ch, 0.0, 1.0)


def _smooth(x: np.ndarray, sigma_s: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter1d

    return gaussian_filter1d(x, sigma_s * RATE, axis=0, mode="nearest").astype(np.float32)


def to_arkit(ch: np.ndarray) -> np.ndarray:
    """``(N, C)`` articulation channels -> ``(N, 52)`` ARKit weights (mouth only).

    ``mouthClose`` is ARKit's lips-together-while-jaw-open shape, so a seal of 1 sets it equal
    to ``jawOpen`` (lips meet whatever the jaw does).
    """
    out = np.zeros((ch.shape[0], len(ARKIT_52)), np.float32)
    g = lambda c: ch[:, _C[c]]  # noqa: E731
    seal = g("seal")

    def put(name, v):
        out[:, ARKIT_52.index(name)] = v

    put("jawOpen", JAW_GAIN * g("jaw"))
    put("mouthClose", JAW_GAIN * g("jaw") * seal)
    put("mouthFunnel", g("funnel"))
    put("mouthPucker", g("pucker"))
    put("mouthRollLower", g("roll_lower"))
    put("mouthRollUpper", g("roll_upper"))
    put("tongueOut", g("tongue"))
    for side in ("Left", "Right"):
        put(f"mouthPress{side}", g("press") * seal)
        put(f"mouthStretch{side}", g("stretch"))
        put(f"mouthLowerDown{side}", g("lower_down") * (1 - seal))
        put(f"mouthUpperUp{side}", g("upper_up") * (1 - seal))
    return out
