"""Lip-sync checks that need no trained weights: audio envelope vs measured mouth opening.

Inputs are the mouth opening per video frame (:func:`talkrig.eval.landmarks.mouth_opening`,
from the landmarker run on the *generated* frames) and the audio (mono float32, 16 kHz).

- ``env_corr``: Pearson correlation between the mouth opening and the loudness envelope
  (dB), both high-passed (0.5 s moving average removed), over the frames with speech (and
  2 frames around), at zero lag. A still face scores 0.
- ``av_offset``: the lead (frames) in ``[-max_shift, max_shift]`` that maximises that
  correlation; positive means the mouth moves *before* the sound (video early), negative
  after it (video late), and ``offset_corr`` is the correlation there. Real in-sync speech
  peaks at 0 to +2: the mouth starts shaping a sound before it is heard (Chandrasekaran et al.
  2009, "The natural statistics of audiovisual speech", PLoS Comput Biol). Validated on the
  in-sync dev videos (docs/metrics.md): the CNN presenter and the talk-show clip peak at 0, the
  interview clip at +2 (the figures shared/README.md gives for them), and delaying their
  audio by 3 frames moves every peak by exactly 3. The syllable rhythm (~4-5 Hz) makes the
  curve periodic, so a weakly correlated clip can peak a syllable away (the HDTF clip: +9).
- ``pause_closed``: share of frames inside pauses (>= 0.2 s of silence between speech) on
  which the lips are closed (opening < :data:`CLOSED`).
- ``bilabial_closed``: share of /p/, /b/, /m/ phones (from a forced alignment, when the
  transcript is known) during which the lips close at least once.
- ``speech_motion``: standard deviation of the opening over speech frames (a still face
  scores ~0; below :data:`MIN_MOTION` the mouth counts as still, ``env_corr`` is 0 and no
  offset is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLOSED = 0.04  # opening (inner-lip gap / outer-eye distance) below which lips count as closed
MIN_PAUSE_S = 0.2
# below this std of the opening during speech the mouth counts as still: landmark jitter
# of a frozen face (~0.002 on the dev video) must not produce a "best offset"
MIN_MOTION = 0.006
BILABIALS = ("P", "B", "M")
# A frame within this many dB of the clip's peak is speech whatever the floor says. Over whole
# clips the in-sync dev videos put their threshold 14-19 dB below the peak (the HDTF clip 12.4), so
# this never binds there; in a 4 s stretch of continuous speech (the CNN clip's first seconds)
# the 10th percentile is a syllable, not the floor, and without it 3 % of the frames counted as
# speech and the offset peaked at -13 instead of -1.
SPEECH_DEPTH_DB = 12.0


def loudness_db(audio: np.ndarray, sr: int, fps: float, n_frames: int | None = None) -> np.ndarray:
    """``(T,)`` RMS level in dB (floor -80) of a window of two frame periods centred on each
    video frame's time ``t / fps``."""
    audio = np.asarray(audio, np.float32)
    if n_frames is None:
        n_frames = int(np.floor(len(audio) / sr * fps))
    hop = sr / fps
    half = int(round(hop))
    cs = np.concatenate([[0.0], np.cumsum(audio.astype(np.float64) ** 2)])
    centres = np.round((np.arange(n_frames) + 0.5) * hop).astype(int)
    lo = np.clip(centres - half, 0, len(audio))
    hi = np.clip(centres + half, 0, len(audio))
    power = (cs[hi] - cs[lo]) / np.maximum(hi - lo, 1)
    return (10 * np.log10(np.maximum(power, 1e-8))).astype(np.float32)


def voice_activity(db: np.ndarray, margin_db: float = 15.0, range_db: float = 40.0,
                   depth_db: float = SPEECH_DEPTH_DB) -> np.ndarray:
    """``(T,)`` bool speech frames from a loudness track: louder than the noise floor (10th
    percentile) + ``margin_db`` and within ``range_db`` of the peak, and anything within
    ``depth_db`` of the peak in any case (a clip with no pause has no floor to find: its 10th
    percentile is speech); then gaps shorter than 3 frames are closed and blips shorter than
    3 frames removed."""
    db = np.asarray(db, float)
    floor, peak = np.percentile(db, 10), np.percentile(db, 99)
    thr = min(max(floor + margin_db, peak - range_db), peak - depth_db)
    v = db > thr
    return _remove_short(~_remove_short(~v, 3), 3)


def _remove_short(v: np.ndarray, n: int) -> np.ndarray:
    """Clear True runs shorter than ``n`` frames."""
    out = v.copy()
    i = 0
    while i < len(v):
        if v[i]:
            j = i
            while j < len(v) and v[j]:
                j += 1
            if j - i < n:
                out[i:j] = False
            i = j
        else:
            i += 1
    return out


def pauses(speech: np.ndarray, fps: float, min_pause_s: float = MIN_PAUSE_S) -> np.ndarray:
    """``(T,)`` bool: silent frames in runs of at least ``min_pause_s`` seconds."""
    silent = ~np.asarray(speech, bool)
    n = max(1, int(round(min_pause_s * fps)))
    return _remove_short(silent, n)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 5:
        return float("nan")
    a, b = a[ok] - a[ok].mean(), b[ok] - b[ok].mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 1e-12 else 0.0


def highpass(x: np.ndarray, n: int = 13) -> np.ndarray:
    """Subtract a centred ``n``-frame moving average (about 0.5 s at 25 fps): keeps the
    syllable-rate movement both signals share, drops slow drifts (head distance, level)."""
    x = np.asarray(x, float)
    ok = np.isfinite(x)
    filled = np.where(ok, x, np.nanmean(x) if ok.any() else 0.0)
    k = np.ones(n) / n
    avg = np.convolve(np.pad(filled, n // 2, mode="edge"), k, mode="valid")
    return np.where(ok, filled - avg, np.nan)


def lagged_correlation(opening: np.ndarray, db: np.ndarray, max_shift: int = 15,
                       audio_mask: np.ndarray | None = None) -> np.ndarray:
    """``(2*max_shift+1,)`` correlation of ``opening[t]`` with ``db[t - k]`` for
    ``k = -max_shift..max_shift``.

    ``audio_mask`` (on the audio's frames) restricts the pairs to those whose audio frame is
    selected, so shifting the audio shifts the whole curve rigidly.
    """
    op, env = np.asarray(opening, float), np.asarray(db, float)
    n = min(len(op), len(env))
    op, env = op[:n], env[:n]
    if audio_mask is not None:
        env = np.where(np.asarray(audio_mask[:n], bool), env, np.nan)
    out = []
    for k in range(-max_shift, max_shift + 1):
        shifted = np.full(n, np.nan)
        if abs(k) >= n:  # a clip shorter than the shift: no pairs at this offset
            out.append(float("nan"))
            continue
        if k >= 0:
            shifted[k:] = env[:n - k]
        else:
            shifted[:k] = env[-k:]
        out.append(_corr(op, shifted))
    return np.array(out)


def offset_curve(opening: np.ndarray, audio: np.ndarray, sr: int, fps: float, max_shift: int = 15) -> np.ndarray:
    """``(2 * max_shift + 1,)`` correlation of the (high-passed) mouth opening ``(T,)`` with
    the loudness, over the speech frames and a little around them (onsets and closures
    matter); entry ``k + max_shift``: the mouth compared with the sound ``k`` frames later
    (the offset is ``max_shift - argmax``, + = the mouth leads). On a clip of a few seconds
    a peak one or two syllables away can beat the true one: averaging the curves of several
    clips before taking the peak is steadier than any one of them."""
    opening = np.asarray(opening, float)
    db = loudness_db(audio, sr, fps, len(opening))
    near = np.convolve(voice_activity(db).astype(float), np.ones(5), mode="same") > 0
    return lagged_correlation(highpass(opening), highpass(db), max_shift, near)


def pooled_offset(curves: list[np.ndarray]) -> int | None:
    """The offset (frames, + = the mouth leads) at the peak of the mean of several
    :func:`offset_curve` curves of the same length (None when none has a positive peak)."""
    curves = [c for c in curves if c is not None and np.isfinite(c).any()]
    if not curves:
        return None
    mean = np.nanmean(np.stack(curves), 0)
    if not np.nanmax(mean) > 0:
        return None
    return (len(mean) - 1) // 2 - int(np.nanargmax(mean))


@dataclass
class LipSyncReport:
    """Weight-free lip-sync numbers of one video (see module docstring)."""

    env_corr: float
    av_offset: int | None
    offset_corr: float
    pause_closed: float
    speech_motion: float
    speech_share: float
    bilabial_closed: float = float("nan")
    n_bilabials: int = 0

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def lip_sync(opening: np.ndarray, audio: np.ndarray, sr: int, fps: float,
             phones: list[tuple[str, float, float]] | None = None,
             max_shift: int = 15) -> LipSyncReport:
    """Weight-free lip-sync checks for one video.

    Args:
        opening: ``(T,)`` mouth opening per frame (NaN where no face).
        audio: ``(S,)`` float32 mono audio on the same clock as the frames.
        sr, fps: audio rate and frame rate.
        phones: optional ``(phone, start_s, end_s)`` forced alignment (CMU phone names).
        max_shift: largest offset searched, in frames.
    """
    opening = np.asarray(opening, float)
    t = len(opening)
    db = loudness_db(audio, sr, fps, t)
    speech = voice_activity(db)
    corr = offset_curve(opening, audio, sr, fps, max_shift)
    zero = corr[max_shift]
    sp = speech & np.isfinite(opening)
    motion = float(np.std(opening[sp])) if sp.sum() > 1 else float("nan")
    still = not (motion >= MIN_MOTION)
    if still:
        zero = 0.0
    if not still and np.isfinite(corr).any() and np.nanmax(corr) > 0:
        best = int(np.nanargmax(corr))  # index k + max_shift: mouth[t] ~ sound[t - k]
        offset, best_c = max_shift - best, float(corr[best])  # + = mouth leads the sound
    else:  # a still mouth (or no face): no offset is better than another
        offset, best_c = None, float("nan")
    p = pauses(speech, fps) & np.isfinite(opening)
    pause_closed = float(np.mean(opening[p] < CLOSED)) if p.any() else float("nan")
    rep = LipSyncReport(env_corr=float(zero) if np.isfinite(zero) else 0.0, av_offset=offset,
                        offset_corr=best_c, pause_closed=pause_closed, speech_motion=motion,
                        speech_share=float(speech.mean()))
    if phones:
        rep.bilabial_closed, rep.n_bilabials = bilabial_closure(opening, fps, phones)
    return rep


def bilabial_closure(opening: np.ndarray, fps: float,
                     phones: list[tuple[str, float, float]], slack: int = 1) -> tuple[float, int]:
    """Share of /p b m/ phones whose frames (+-``slack``) include a closed-lip frame."""
    hits, n = 0, 0
    for ph, s, e in phones:
        if ph.upper().rstrip("012") not in BILABIALS:
            continue
        a = max(0, int(np.floor(s * fps)) - slack)
        b = min(len(opening), int(np.ceil(e * fps)) + slack)
        seg = opening[a:b]
        seg = seg[np.isfinite(seg)]
        if seg.size == 0:
            continue
        n += 1
        hits += bool((seg < CLOSED).any())
    return (hits / n if n else float("nan")), n


def mouth_lag(gen_opening: np.ndarray, ref_opening: np.ndarray,
              max_shift: int = 15) -> tuple[float, int | None]:
    """Self-reenactment: how the generated mouth follows the real one.

    Returns ``(corr, lag)``: the Pearson correlation of the two (high-passed) mouth-opening
    tracks at zero lag, and the lag in frames in ``[-max_shift, max_shift]`` maximising it
    (positive: the generated mouth moves *later* than the real one; None when either mouth
    is still). Unlike the audio offset this has no natural bias: in sync is 0.
    """
    g, r = np.asarray(gen_opening, float), np.asarray(ref_opening, float)
    n = min(len(g), len(r))
    g, r = g[:n], r[:n]
    if not (np.nanstd(g) >= MIN_MOTION / 2 and np.nanstd(r) >= MIN_MOTION / 2):
        return 0.0, None
    corr = lagged_correlation(highpass(g), highpass(r), max_shift)
    zero = corr[max_shift]
    if not np.isfinite(corr).any() or np.nanmax(corr) <= 0:
        return (float(zero) if np.isfinite(zero) else 0.0), None
    return (float(zero) if np.isfinite(zero) else 0.0), int(np.nanargmax(corr)) - max_shift
