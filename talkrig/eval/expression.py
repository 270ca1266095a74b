"""Emotion recognisability and identity drift measured on the frames (no trained weights
beyond the MediaPipe landmarker).

Emotion (:class:`EmotionJudge`): MediaPipe's ARKit blendshape scores of each frame are turned
into facial action-unit features (:data:`AU_FEATURES`: inner/outer brow raise, brow lowerer,
upper-lid raise, lid tightening, upper-lip raise, lip-corner pull, dimpler, depressor,
stretcher, press, jaw drop, chin raise, left/right asymmetries, gaze down, lid closure); a
video is summarised by their medians over the frames with a face. The judge is a nearest-
centroid classifier over the eight MEAD labels: each emotion's centroid is the mean feature
vector of real MEAD clips of that emotion (tracked by this project, intensity level 3) mixed
with its FACS prototype (Ekman & Friesen's EMFACS: happy = AU6+12, sad = AU1+4+15+17,
angry = AU4+5+7+23, surprised = AU1+2+5+26, fearful = AU1+2+4+5+7+20+26, disgusted =
AU9/10+15+17, contempt = unilateral AU12+14) placed on the neutral centroid; distances are
scaled by each feature's spread, and a softmax over ``-d^2 / 2T`` gives the distribution. The
table is derived by ``tools/calibrate_emotion_judge.py`` and shipped as
``talkrig/eval/emotion_judge.json``; validated leave-one-speaker-out on the real clips (see
docs/metrics.md). An optional neutral ``baseline`` (the source photo's scores) moves a face's
features by how its neutral differs from the judge's neutral.

Identity (always available, no weights): a *geometry* descriptor: distances between 3D
landmarks on the rigid parts of the face (eye corners, nose, brows, cheeks, face outline),
divided by their mean. Identity drift is the
mean over frames of the relative L2 distance between a frame's descriptor and the source
photo's (``identity_drift``; 0 = same shape). It catches a face that morphs over time, not
a change of skin or hair; :mod:`talkrig.eval.face_id` adds a learned descriptor (dlib) when
the optional ``identity`` extra is installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkrig.model.arkit import ARKIT_52

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt")
SYNONYMS = {"fear": "fearful", "surprise": "surprised", "disgust": "disgusted",
            "anger": "angry", "happiness": "happy", "sadness": "sad", "calm": "neutral"}
JUDGE_PATH = Path(__file__).with_name("emotion_judge.json")


def _pair(b: np.ndarray, name: str) -> np.ndarray:
    return (b[:, ARKIT_52.index(name + "Left")] + b[:, ARKIT_52.index(name + "Right")]) / 2


def _asym(b: np.ndarray, name: str) -> np.ndarray:
    return np.abs(b[:, ARKIT_52.index(name + "Left")] - b[:, ARKIT_52.index(name + "Right")])


def _one(b: np.ndarray, name: str) -> np.ndarray:
    return b[:, ARKIT_52.index(name)]


#: Action-unit features: name, how it is read from the blendshapes (both sides averaged).
AU_FEATURES: tuple[tuple[str, object], ...] = (
    ("AU1 inner brow raise", lambda b: _one(b, "browInnerUp")),
    ("AU2 outer brow raise", lambda b: _pair(b, "browOuterUp")),
    ("AU4 brow lowerer", lambda b: _pair(b, "browDown")),
    ("AU5 upper lid raise", lambda b: _pair(b, "eyeWide")),
    ("AU6/7 lid tightener", lambda b: _pair(b, "eyeSquint")),
    ("AU10 upper lip raise", lambda b: _pair(b, "mouthUpperUp")),
    ("AU12 lip corner pull", lambda b: _pair(b, "mouthSmile")),
    ("AU14 dimpler", lambda b: _pair(b, "mouthDimple")),
    ("AU15 lip corner depressor", lambda b: _pair(b, "mouthFrown")),
    ("AU20 lip stretch", lambda b: _pair(b, "mouthStretch")),
    ("AU23/24 lip press", lambda b: _pair(b, "mouthPress")),
    ("AU26 jaw drop", lambda b: _one(b, "jawOpen")),
    ("AU17 chin raise", lambda b: _one(b, "mouthShrugLower")),
    ("AU12 asymmetry", lambda b: _asym(b, "mouthSmile")),
    ("AU14 asymmetry", lambda b: _asym(b, "mouthDimple")),
    ("AU10 asymmetry", lambda b: _asym(b, "mouthUpperUp")),
    ("gaze down", lambda b: _pair(b, "eyeLookDown")),
    ("lid closure", lambda b: _pair(b, "eyeBlink")),
    ("AU9 nose wrinkle", lambda b: _pair(b, "noseSneer")),
    ("upper lip shrug", lambda b: _one(b, "mouthShrugUpper")),
    ("lip pucker", lambda b: _one(b, "mouthPucker")),
)
FEATURE_NAMES = tuple(n for n, _ in AU_FEATURES)

#: EMFACS prototypes (Ekman & Friesen 1978; Matsumoto & Ekman 2004) on :data:`AU_FEATURES`:
#: the features each emotion raises. AU6 and AU7 share one feature (MediaPipe's eyeSquint);
#: AU9 and AU10 both stand for disgust's nose/upper-lip raise.
FACS_PROTOTYPES: dict[str, tuple[str, ...]] = {
    "neutral": (),
    "happy": ("AU6/7 lid tightener", "AU12 lip corner pull"),
    "sad": ("AU1 inner brow raise", "AU4 brow lowerer", "AU15 lip corner depressor", "AU17 chin raise"),
    "angry": ("AU4 brow lowerer", "AU5 upper lid raise", "AU6/7 lid tightener", "AU23/24 lip press"),
    "surprised": ("AU1 inner brow raise", "AU2 outer brow raise", "AU5 upper lid raise", "AU26 jaw drop"),
    "fearful": ("AU1 inner brow raise", "AU2 outer brow raise", "AU4 brow lowerer", "AU5 upper lid raise",
                "AU6/7 lid tightener", "AU20 lip stretch", "AU26 jaw drop"),
    "disgusted": ("AU10 upper lip raise", "AU9 nose wrinkle", "AU15 lip corner depressor", "AU17 chin raise"),
    "contempt": ("AU12 asymmetry", "AU14 asymmetry", "AU14 dimpler"),
}


def canonical_emotion(label: str) -> str:
    """MEAD label for ``label`` (synonyms accepted); :class:`InputError` when unknown."""
    from talkrig.errors import InputError

    key = label.strip().lower()
    key = SYNONYMS.get(key, key)
    if key not in EMOTIONS:
        raise InputError(f"unknown emotion '{label}' (choose from {', '.join(EMOTIONS)})")
    return key


def au_features(blendshapes: np.ndarray) -> np.ndarray:
    """``(T, F)`` action-unit features (:data:`AU_FEATURES`) from ``(T, 52)`` ARKit scores."""
    b = np.atleast_2d(np.asarray(blendshapes, float))
    return np.stack([f(b) for _, f in AU_FEATURES], 1)


def clip_features(blendshapes: np.ndarray) -> np.ndarray:
    """``(F,)`` medians of :func:`au_features` over the frames with a face (NaN rows skipped;
    all NaN when there is none). The median keeps what is held through a clip and drops the
    moments of speech."""
    b = np.atleast_2d(np.asarray(blendshapes, float))
    b = b[np.isfinite(b).all(1)]
    if len(b) == 0:
        return np.full(len(AU_FEATURES), np.nan)
    return np.median(au_features(b), 0)


@dataclass
class EmotionJudge:
    """Nearest-centroid emotion classifier on :func:`clip_features` (see the module docstring).

    Attributes:
        centroids: ``(8, F)`` in :data:`EMOTIONS` order.
        scale: ``(F,)`` spread of each feature (distances are measured in these units).
        temperature: softmax temperature on ``d^2 / 2``.
        meta: provenance (clips, settings, validation).
    """

    centroids: np.ndarray
    scale: np.ndarray
    temperature: float = 1.0
    meta: dict | None = None

    @property
    def neutral(self) -> np.ndarray:
        return self.centroids[EMOTIONS.index("neutral")]

    @classmethod
    def fit(cls, features: np.ndarray, labels, prior_weight: float = 0.3, gain: float = 0.5,
            temperature: float = 1.0, meta: dict | None = None) -> "EmotionJudge":
        """Centroids from labelled clip features ``(N, F)`` (labels: emotion names), each mixed
        with its FACS prototype: the neutral centroid plus ``gain`` x the feature's 10-90 %
        range on the prototype's features, weight ``prior_weight`` (an emotion without clips
        gets the prototype alone)."""
        x = np.asarray(features, float)
        y = np.array([canonical_emotion(v) for v in labels])
        neutral = x[y == "neutral"].mean(0) if (y == "neutral").any() else np.percentile(x, 20, axis=0)
        spread = np.percentile(x, 90, axis=0) - np.percentile(x, 10, axis=0)
        cents = np.zeros((len(EMOTIONS), x.shape[1]))
        for k, emo in enumerate(EMOTIONS):
            proto = neutral.copy()
            for name in FACS_PROTOTYPES[emo]:
                j = FEATURE_NAMES.index(name)
                proto[j] += gain * spread[j]
            have = y == emo
            cents[k] = (1 - prior_weight) * x[have].mean(0) + prior_weight * proto if have.any() else proto
        return cls(cents, x.std(0) + 0.03, float(temperature), meta)

    def distances(self, features: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
        """``(8,)`` squared scaled distances of clip ``features`` ``(F,)`` to the centroids.
        ``baseline``: clip features of the same face at rest; the face's features are moved by
        how that differs from the judge's neutral."""
        f = np.asarray(features, float)
        if baseline is not None:
            f = f - (np.asarray(baseline, float) - self.neutral)
        return (((f[None] - self.centroids) / self.scale) ** 2).sum(1)

    def probabilities(self, features: np.ndarray, baseline: np.ndarray | None = None) -> np.ndarray:
        """``(8,)`` distribution over :data:`EMOTIONS` (NaN when ``features`` are)."""
        d = self.distances(features, baseline)
        if not np.isfinite(d).all():
            return np.full(len(EMOTIONS), np.nan)
        z = -(d - d.min()) / (2 * self.temperature)
        p = np.exp(z)
        return p / p.sum()

    def save(self, path: str | Path) -> None:
        from talkrig.io.files import atomic_path

        data = {"emotions": list(EMOTIONS), "features": list(FEATURE_NAMES),
                "centroids": np.round(self.centroids, 5).tolist(), "scale": np.round(self.scale, 5).tolist(),
                "temperature": self.temperature, "meta": self.meta or {}}
        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path = JUDGE_PATH) -> "EmotionJudge":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if tuple(data["emotions"]) != EMOTIONS or tuple(data["features"]) != FEATURE_NAMES:
            raise ValueError(f"{path} was made for other emotions or features")
        return cls(np.asarray(data["centroids"], float), np.asarray(data["scale"], float),
                   float(data["temperature"]), data.get("meta"))


def emotion_scores(blendshapes: np.ndarray, baseline: np.ndarray | None = None,
                   judge: EmotionJudge | None = None) -> dict[str, float]:
    """Distribution over :data:`EMOTIONS` for a video.

    Args:
        blendshapes: ``(T, 52)`` ARKit scores (NaN rows = no face, skipped).
        baseline: optional ``(52,)`` scores of the same face at rest (the source photo).
        judge: the classifier (default: the shipped table, :data:`JUDGE_PATH`).
    """
    judge = judge or EmotionJudge.load()
    base = clip_features(np.asarray(baseline, float)[None]) if baseline is not None else None
    p = judge.probabilities(clip_features(blendshapes), base)
    return dict(zip(EMOTIONS, (float(v) for v in p)))


#: A source photo that the judge itself names as an emotion with at least this probability is
#: not a face at rest: judging a video relative to a beaming portrait reads every render as
#: "less happy than the photo" (the README's happy astronaut read as disgusted).
REST_MAX_EMOTION = 0.5


def rest_reference(photo_blendshapes: np.ndarray) -> tuple[np.ndarray | None, str]:
    """The photo's ``(52,)`` scores as the face at rest, or ``(None, why)`` when the photo
    itself shows an emotion (:data:`REST_MAX_EMOTION`)."""
    scores = emotion_scores(np.asarray(photo_blendshapes, float)[None])
    top = max(scores, key=scores.get)
    if top != "neutral" and scores[top] >= REST_MAX_EMOTION:
        return None, f"the source photo itself reads {top} ({scores[top]:.2f}), so it is not used as the face at rest"
    return np.asarray(photo_blendshapes, float), ""


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
