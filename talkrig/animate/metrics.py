"""Lip-sync measurements on an :class:`Animation` (used by tests and benchmarks/lipsync.py).

"Mouth closed" is measured geometrically when a face model is given: the mean vertical gap
between the upper and lower inner-lip landmarks (iBUG 61/67, 62/66, 63/65, 0-based) of the
model's mean identity, in model units (cm for the default model); closed means gap <=
:data:`CLOSED_GAP_CM`. Without a model an ARKit-level proxy is used
(:func:`lip_opening_arkit`, closed when <= :data:`CLOSED_ARKIT`).
"""

from __future__ import annotations

import numpy as np

from talkrig.animate.phonemes import BILABIALS, SIL
from talkrig.animate.pipeline import audio_pauses
from talkrig.model.arkit import ARKIT_52

CLOSED_GAP_CM = 0.2  # 2 mm between the inner lip lines
CLOSED_ARKIT = 0.05
_PAIRS = ((61, 67), (62, 66), (63, 65))


def lip_opening_arkit(expression: np.ndarray) -> np.ndarray:
    """``(T,)`` effective lip opening from ARKit weights ``(T, 52)``:
    ``max(0, jawOpen - mouthClose) + 0.5 * mean(lowerDown, upperUp) + 0.3 * funnel``."""
    e = np.asarray(expression)
    g = lambda n: e[:, ARKIT_52.index(n)]  # noqa: E731
    lips = (g("mouthLowerDownLeft") + g("mouthLowerDownRight") + g("mouthUpperUpLeft")
            + g("mouthUpperUpRight")) / 4
    return np.maximum(g("jawOpen") - g("mouthClose"), 0) + 0.5 * lips + 0.3 * g("mouthFunnel")


def lip_gap(expression: np.ndarray, model) -> np.ndarray:
    """``(T,)`` mean inner-lip gap in model units for ARKit weights ``(T, 52)`` on ``model``
    (an ARKit-named :class:`~talkrig.model.MorphableModel` with 68 landmarks)."""
    import torch

    from talkrig.animate.animation import Animation

    lm = model.landmarks68
    up = lm[[a for a, _ in _PAIRS]]
    lo = lm[[b for _, b in _PAIRS]]
    w = torch.from_numpy(np.asarray(expression, np.float32))
    coeff = Animation._expression_for(model, w)  # (T, E)
    basis = model.exp_basis
    with torch.no_grad():
        dy_neutral = model.mean[up, 1] - model.mean[lo, 1]  # (3,)
        dy = (coeff @ (basis[:, up, 1] - basis[:, lo, 1]))  # (T, 3)
        gap = (dy + dy_neutral[None]).mean(1)
    return gap.numpy()


def mouth_closed(expression: np.ndarray, model=None) -> np.ndarray:
    """``(T,)`` bool: lips closed (see module docstring for the thresholds)."""
    if model is not None:
        return lip_gap(expression, model) <= CLOSED_GAP_CM
    return lip_opening_arkit(expression) <= CLOSED_ARKIT


def frames_in(intervals: list[tuple[float, float]], fps: float, n_frames: int) -> np.ndarray:
    """Indices of frames whose time lies inside any interval."""
    t = np.arange(n_frames) / fps
    m = np.zeros(n_frames, bool)
    for a, b in intervals:
        m |= (t >= a) & (t <= b)
    return np.flatnonzero(m)


def pause_closure(closed: np.ndarray, pauses: list[tuple[float, float]], fps: float,
                  lead_s: float | None = None) -> tuple[float, int]:
    """Fraction of frames inside ``pauses`` with the mouth closed, and that frame count.

    The last ``lead_s`` of a pause (default: the animation's lead,
    :data:`talkrig.animate.pipeline.LEAD_S`) belongs to the next sound: a speaker's lips part
    for it before the voice starts, so those frames are not counted as pause."""
    if lead_s is None:
        from talkrig.animate.pipeline import LEAD_S as lead_s
    idx = frames_in([(a, b - lead_s) for a, b in pauses if b - lead_s > a], fps, len(closed))
    return (float(closed[idx].mean()) if len(idx) else float("nan")), int(len(idx))


#: The end of a pause that belongs to the next sound when measuring stillness (s): lips shape
#: (and seal, before /p b m/) the next sound 100-200 ms before it is heard (Chandrasekaran et
#: al. 2009), which is movement for the sound, not in the pause.
ANTICIPATION_S = 0.12


def pause_stillness(gap: np.ndarray, pauses: list[tuple[float, float]], fps: float,
                    tol: float = 0.1, lead_s: float = ANTICIPATION_S) -> tuple[float, int]:
    """Fraction of frames inside ``pauses`` whose lip gap (or opening) ``gap`` ``(T,)`` stays
    within ``tol`` of that pause's median: the mouth does not move while nothing is said,
    whether it rests closed or is held open by the emotion (surprise, fear). The last
    ``lead_s`` of each pause is left out (:data:`ANTICIPATION_S`)."""
    still, total = 0, 0
    for a, b in pauses:
        idx = frames_in([(a, b - lead_s)], fps, len(gap)) if b - lead_s > a else np.array([], int)
        if len(idx):
            g = gap[idx]
            still += int((np.abs(g - np.median(g)) <= tol).sum())
            total += len(idx)
    return (still / total if total else float("nan")), total


def bilabial_closure(closed: np.ndarray, phonemes: list, fps: float) -> tuple[float, int]:
    """Fraction of /p b m/ occurrences during which at least one frame shows closed lips
    (frames within the phone's interval, or the nearest frame when none falls inside)."""
    hits, total = 0, 0
    n = len(closed)
    for a, b, p in phonemes:
        if p not in BILABIALS:
            continue
        total += 1
        idx = frames_in([(a, b)], fps, n)
        if len(idx) == 0:
            idx = np.array([min(int(round((a + b) / 2 * fps)), n - 1)])
        hits += bool(closed[idx].any())
    return (hits / total if total else float("nan")), total


def jaw_loudness_r(expression: np.ndarray, audio: np.ndarray, fps: float, sample_rate: int = 16000,
                   lead_s: float | None = None) -> float:
    """Pearson r between ``jawOpen`` and the loudness envelope (RMS dB over 40 ms windows
    centred on each frame, floored 50 dB below the file's loud level, see
    :func:`talkrig.animate.loudness.envelope`), over all frames. The jaw of frame ``t`` is
    compared with the loudness at ``t + lead_s`` (default: the lead the animation is made
    with, :data:`talkrig.animate.pipeline.LEAD_S`; 0 compares the same instants)."""
    from talkrig.animate.loudness import envelope

    if lead_s is None:
        from talkrig.animate.pipeline import LEAD_S as lead_s
    lt, env = envelope(audio, sample_rate, hop_s=0.01)
    t = np.arange(len(expression)) / fps + lead_s
    from scipy.ndimage import uniform_filter1d

    env40 = uniform_filter1d(env, 4, mode="nearest")
    e = np.interp(t, lt, env40)
    jaw = expression[:, ARKIT_52.index("jawOpen")]
    if jaw.std() < 1e-9 or e.std() < 1e-9:
        return float("nan")
    return float(np.corrcoef(jaw, e)[0, 1])


def edit_pairs(a: list[str], b: list[str]) -> list[tuple[int, int]]:
    """Index pairs of a minimum edit-distance alignment (matches and substitutions: the same
    segment, possibly labelled with another pronunciation variant, e.g. espeak's /i@/ -> IY ER
    against CMUdict's IY R)."""
    n, m = len(a), len(b)
    d = np.zeros((n + 1, m + 1), np.int32)
    d[:, 0], d[0, :] = np.arange(n + 1), np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (a[i - 1] != b[j - 1]))
    pairs, i, j = [], n, m
    while i > 0 and j > 0:
        if d[i, j] == d[i - 1, j - 1] + (a[i - 1] != b[j - 1]):
            pairs.append((i - 1, j - 1))
            i, j = i - 1, j - 1
        elif d[i, j] == d[i - 1, j] + 1:
            i -= 1
        else:
            j -= 1
    return pairs[::-1]


def boundary_accuracy(reference: list, aligned: list, tol: float = 0.05) -> float:
    """Share of the reference's non-pause phones whose counterpart in ``aligned`` (minimum
    edit-distance pairing of the label sequences) starts within ``tol`` seconds."""
    ref = [(a, p) for a, _, p in reference if p != SIL]
    hyp = [(a, p) for a, _, p in aligned if p != SIL]
    if not ref:
        return float("nan")
    pairs = edit_pairs([p for _, p in ref], [p for _, p in hyp])
    return sum(abs(ref[i][0] - hyp[j][0]) <= tol for i, j in pairs) / len(ref)


def self_checks(anim, model) -> dict[str, float]:
    """Cheap checks of an animation on the model's geometry (no video decoding): share of
    frames with closed lips inside pauses >= 150 ms, share of those frames whose mouth does
    not move (closed, or held open by surprise or fear), share of p/b/m with a closed frame,
    and Pearson r of jaw opening against loudness. ``talkrig eval`` measures the same on
    pixels."""
    # pauses as the speech timeline has them (TTS events or alignment); a stop consonant's
    # silent closure is not a pause
    pauses = [(a, b) for a, b, p in anim.phonemes if p == SIL and b - a >= 0.15]
    if not anim.phonemes:
        pauses = audio_pauses(anim.audio)
    gap = lip_gap(anim.expression, model) if model is not None else lip_opening_arkit(anim.expression)
    closed = gap <= (CLOSED_GAP_CM if model is not None else CLOSED_ARKIT)
    pause, _ = pause_closure(closed, pauses, anim.fps)
    still, _ = pause_stillness(gap, pauses, anim.fps, tol=0.1 if model is not None else 0.03)
    pbm, _ = bilabial_closure(closed, anim.phonemes, anim.fps)
    r = jaw_loudness_r(anim.expression, anim.audio, anim.fps, anim.sample_rate)
    return {"closed_in_pauses": pause, "still_in_pauses": still, "closed_on_pbm": pbm, "jaw_loudness_r": r}
