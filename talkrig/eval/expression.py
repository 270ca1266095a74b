"""Emotion recognisability and identity drift measured on the frames (no trained weights
beyond the MediaPipe landmarker).

Emotion: each of MEAD's eight emotions is summarised by the ARKit blendshapes of its facial
action units (Ekman & Friesen's FACS prototypes: happy = AU6+12 cheek raise + lip-corner pull,
sad = AU1+4+15 inner-brow raise + lip-corner depress, angry = AU4+5+7+23 brow lower + lid
tighten + lip press, surprised = AU1+2+5+26, fearful = AU1+2+4+5+20+26, disgusted = AU9+10
nose wrinkle + upper-lip raise, contempt = unilateral AU12/14). An emotion's evidence on a
frame is the mean of its blendshape scores (contempt: the left/right smile and dimple
difference); neutral's evidence is a constant :data:`NEUTRAL_LEVEL`, so a face must show an
emotion more strongly than that to leave neutral. Evidence averaged over the video goes
through a softmax (temperature :data:`TEMPERATURE`) giving a distribution over the eight
labels; ``emotion_prob`` is the requested label's share and ``emotion_top`` the argmax.
:func:`emotion_scores` can subtract a portrait's own evidence (``baseline``) to judge only
what the video adds; the report does not, so a smiling portrait counts as smiling.

Identity (always available, no weights): a *geometry* descriptor: distances between 3D
landmarks on the rigid parts of the face (eye corners, nose, brows, cheeks, face outline),
divided by their mean. Identity drift is the
mean over frames of the relative L2 distance between a frame's descriptor and the source
photo's (``identity_drift``; 0 = same shape). It catches a face that morphs over time, not
a change of skin or hair; :mod:`talkrig.eval.face_id` adds a learned descriptor (dlib) when
the optional ``identity`` extra is installed.
"""

from __future__ import annotations

import numpy as np

from talkrig.model.arkit import ARKIT_52

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt")
SYNONYMS = {"fear": "fearful", "surprise": "surprised", "disgust": "disgusted",
            "anger": "angry", "happiness": "happy", "sadness": "sad", "calm": "neutral"}
NEUTRAL_LEVEL = 0.15
TEMPERATURE = 0.05

# blendshapes whose mean is an emotion's evidence (FACS prototypes -> ARKit names)
EMOTION_BLENDSHAPES: dict[str, tuple[str, ...]] = {
    "happy": ("mouthSmileLeft", "mouthSmileRight", "cheekSquintLeft", "cheekSquintRight"),
    "sad": ("browInnerUp", "mouthFrownLeft", "mouthFrownRight", "mouthShrugLower"),
    # eyeSquint (AU7) is left out: MediaPipe raises it with every smile (AU6)
    "angry": ("browDownLeft", "browDownRight", "mouthPressLeft", "mouthPressRight"),
    "surprised": ("browInnerUp", "browOuterUpLeft", "browOuterUpRight", "eyeWideLeft",
                  "eyeWideRight", "jawOpen"),
    "fearful": ("browInnerUp", "eyeWideLeft", "eyeWideRight", "mouthStretchLeft",
                "mouthStretchRight"),
    "disgusted": ("noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight"),
}


def canonical_emotion(label: str) -> str:
    """MEAD label for ``label`` (synonyms accepted); :class:`InputError` when unknown."""
    from talkrig.errors import InputError

    key = label.strip().lower()
    key = SYNONYMS.get(key, key)
    if key not in EMOTIONS:
        raise InputError(f"unknown emotion '{label}' (choose from {', '.join(EMOTIONS)})")
    return key


def _col(name: str) -> int:
    return ARKIT_52.index(name)


def emotion_evidence(blendshapes: np.ndarray) -> np.ndarray:
    """``(T, 8)`` evidence per frame in :data:`EMOTIONS` order from ``(T, 52)`` scores."""
    b = np.atleast_2d(np.asarray(blendshapes, float))
    out = np.zeros((b.shape[0], len(EMOTIONS)))
    out[:, 0] = NEUTRAL_LEVEL
    for e, names in EMOTION_BLENDSHAPES.items():
        out[:, EMOTIONS.index(e)] = b[:, [_col(n) for n in names]].mean(1)
    smile = b[:, _col("mouthSmileLeft")] - b[:, _col("mouthSmileRight")]
    dimple = b[:, _col("mouthDimpleLeft")] - b[:, _col("mouthDimpleRight")]
    out[:, EMOTIONS.index("contempt")] = np.abs(smile + dimple) / 2
    return out


def emotion_scores(blendshapes: np.ndarray, baseline: np.ndarray | None = None,
                   temperature: float = TEMPERATURE) -> dict[str, float]:
    """Distribution over :data:`EMOTIONS` for a video (mean evidence over face frames).

    Args:
        blendshapes: ``(T, 52)`` ARKit scores (NaN rows = no face, skipped).
        baseline: optional ``(52,)`` scores of the source photo, subtracted (emotions only
            count what the video adds to the portrait's own expression).
    """
    b = np.atleast_2d(np.asarray(blendshapes, float))
    b = b[np.isfinite(b).all(1)]
    if len(b) == 0:
        return {e: float("nan") for e in EMOTIONS}
    ev = emotion_evidence(b).mean(0)
    if baseline is not None:
        base = emotion_evidence(np.asarray(baseline, float)[None])[0]
        ev[1:] = ev[1:] - base[1:]
    z = (ev - ev.max()) / temperature
    p = np.exp(z) / np.exp(z).sum()
    return dict(zip(EMOTIONS, (float(v) for v in p)))


def recognisability(blendshapes: np.ndarray, label: str,
                    baseline: np.ndarray | None = None) -> dict[str, float | str]:
    """``emotion_prob`` (share of the requested label), ``emotion_top`` and
    ``emotion_hit`` (1 when the requested label is the most likely)."""
    label = canonical_emotion(label)
    s = emotion_scores(blendshapes, baseline)
    if not np.isfinite(s[label]):
        return {"emotion_prob": float("nan"), "emotion_top": "", "emotion_hit": float("nan")}
    top = max(s, key=s.get)
    return {"emotion_prob": s[label], "emotion_top": top, "emotion_hit": float(top == label)}


# MediaPipe points for the identity descriptor: eye corners, brow ends, nose bridge/tip/wings,
# cheekbones, forehead, and the face outline (FACE_OVAL_MP; its chin part moves with the jaw,
# which the averaging over many distances tolerates). Lips and eyelids are left out. On the
# dev data this set separated a video's own frames (0.021) from seven other people (>= 0.034)
# better than the rigid points alone or all 468 points.
RIGID_POINTS = (33, 133, 362, 263, 70, 107, 336, 300, 168, 6, 197, 4, 1, 98, 327, 151,
                116, 345, 50, 280, 10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288,
                397, 365, 379, 378, 400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93,
                234, 127, 162, 21, 54, 103, 67, 109)


def identity_descriptor(points478: np.ndarray) -> np.ndarray:
    """``(P,)`` scale-free descriptor: pairwise 3D distances between :data:`RIGID_POINTS`
    divided by their mean (NaN when the face is missing)."""
    p = np.asarray(points478, float)[list(RIGID_POINTS), :3]
    i, j = np.triu_indices(len(p), 1)
    d = np.linalg.norm(p[i] - p[j], axis=-1)
    return d / np.nanmean(d)


def identity_drift(frames_points: np.ndarray, source_points: np.ndarray) -> dict[str, float]:
    """Mean and 95th percentile over frames of ``|d_frame - d_source| / |d_source|``."""
    ds = identity_descriptor(source_points)
    vals = []
    for p in np.asarray(frames_points, float):
        if not np.isfinite(p[:, :2]).all():
            continue
        vals.append(np.linalg.norm(identity_descriptor(p) - ds) / np.linalg.norm(ds))
    if not vals:
        return {"identity_drift": float("nan"), "identity_drift_p95": float("nan")}
    v = np.array(vals)
    return {"identity_drift": float(v.mean()), "identity_drift_p95": float(np.percentile(v, 95))}
