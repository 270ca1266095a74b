"""Landmark metrics (M-LMD, F-LMD), region masks from landmarks, mouth opening.

LMD (landmark distance) was introduced by Chen et al. 2018, "Lip Movements Generation at a
Glance" (ECCV), and split into a mouth (M-LMD) and a full-face (F-LMD) version by later
talking-face papers (e.g. EAMM, Ji et al. 2022; EAT, Gan et al. 2023). Per frame the 68
iBUG landmarks of the generated and the reference frame are each centred on their own
centroid (removing global translation), then LMD is the mean Euclidean distance between
corresponding points: over the 20 mouth points (48-67) for M-LMD, over all 68 for F-LMD.
The video score is the mean over frames where both faces were found. Units: pixels of the
generated video (reference landmarks are rescaled when the two sizes differ).
"""

from __future__ import annotations

import numpy as np

MOUTH = np.arange(48, 68)
INNER_UPPER = (61, 62, 63)
INNER_LOWER = (67, 66, 65)
EYE_OUTER = (36, 45)


def _centred(lm: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():  # frames without a face are all-NaN: stay NaN quietly
        warnings.simplefilter("ignore", RuntimeWarning)
        return lm - np.nanmean(lm, axis=-2, keepdims=True)


def lmd_per_frame(gen68: np.ndarray, ref68: np.ndarray, points=None) -> np.ndarray:
    """Per-frame landmark distance.

    Args:
        gen68, ref68: ``(T, 68, 2)`` landmarks (NaN where no face).
        points: indices averaged over (all 68 when None).
    Returns:
        ``(T,)`` mean point distance in pixels (NaN where either face is missing).
    """
    g, r = _centred(np.asarray(gen68, float)), _centred(np.asarray(ref68, float))
    if points is not None:
        g, r = g[:, points], r[:, points]
    return np.linalg.norm(g - r, axis=-1).mean(axis=-1)


def lmd(gen68: np.ndarray, ref68: np.ndarray, gen_size=None, ref_size=None) -> dict[str, float]:
    """M-LMD and F-LMD of two landmark tracks (frames paired by index, shortest length).

    ``gen_size``/``ref_size`` (``(width, height)``) rescale the reference to the generated
    video's pixels when they differ.
    """
    n = min(len(gen68), len(ref68))
    g, r = np.asarray(gen68[:n], float), np.asarray(ref68[:n], float)
    if gen_size is not None and ref_size is not None and tuple(gen_size) != tuple(ref_size):
        r = r * (np.array(gen_size, float) / np.array(ref_size, float))
    m = lmd_per_frame(g, r, MOUTH)
    f = lmd_per_frame(g, r)
    return {"m_lmd": float(np.nanmean(m)) if np.isfinite(m).any() else float("nan"),
            "f_lmd": float(np.nanmean(f)) if np.isfinite(f).any() else float("nan"),
            "lmd_frames": int(np.isfinite(f).sum())}


def mouth_opening(lm68: np.ndarray) -> np.ndarray:
    """``(T,)`` inner-lip gap divided by the outer-eye-corner distance (scale-free).

    About 0 with lips together, 0.1-0.3 while speaking, NaN where no face.
    """
    lm = np.asarray(lm68, float)
    gap = np.linalg.norm(lm[:, list(INNER_UPPER)] - lm[:, list(INNER_LOWER)], axis=-1).mean(-1)
    iod = np.linalg.norm(lm[:, EYE_OUTER[0]] - lm[:, EYE_OUTER[1]], axis=-1)
    return gap / np.maximum(iod, 1e-6)


# MediaPipe face-mesh silhouette (face oval), in order around the face; from the canonical
# mesh topology (FACEMESH_FACE_OVAL). Used for the face mask.
FACE_OVAL_MP = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378,
                400, 377, 152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21,
                54, 103, 67, 109)


def _fill(poly: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    w, h = size
    m = np.zeros((h, w), np.uint8)
    if np.isfinite(poly).all():
        cv2.fillPoly(m, [np.round(poly).astype(np.int32)], 1)
    return m.astype(bool)


def face_mask(points478: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool mask inside the face oval of one frame's MediaPipe landmarks."""
    return _fill(np.asarray(points478)[list(FACE_OVAL_MP), :2], size)


def mouth_mask(points478: np.ndarray, size: tuple[int, int], margin: float = 0.15) -> np.ndarray:
    """``(H, W)`` bool mask over the mouth: the outer-lip hull grown by ``margin`` of the
    mouth width on every side (so a wrongly shaped mouth is still inside)."""
    import cv2

    from talkrig.recon.landmarker import mediapipe_to_ibug68

    lips = mediapipe_to_ibug68(np.asarray(points478)[None, :, :2])[0, 48:60]
    if not np.isfinite(lips).all():
        return np.zeros((size[1], size[0]), bool)
    width = np.linalg.norm(lips[6] - lips[0])
    hull = cv2.convexHull(np.round(lips).astype(np.int32))[:, 0]
    m = _fill(hull.astype(float), size).astype(np.uint8)
    k = max(1, int(round(margin * width)))
    m = cv2.dilate(m, np.ones((2 * k + 1, 2 * k + 1), np.uint8))
    return m.astype(bool)
