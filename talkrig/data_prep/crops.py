"""Aligned face crops: a similarity transform per frame from eyes and mouth, smoothed over time
without lag (a centred window, using a few frames of look-ahead), streamed so a long video
never sits in memory.

The crop square follows the FFHQ alignment recipe (Karras et al. 2019, "A Style-Based Generator
Architecture for GANs", appendix A): centre a little below the eyes towards the mouth, x-axis
along the eye line corrected by the eye-to-mouth direction, half-size the larger of 2x the eye
distance and 1.8x the eye-to-mouth distance.
"""

from __future__ import annotations

from collections import deque

import numpy as np

# MediaPipe 478-point indices: eye corners and mouth corners (subject's right eye = image left).
RIGHT_EYE = (33, 133)
LEFT_EYE = (362, 263)
MOUTH = (61, 291)


def crop_params(landmarks: np.ndarray) -> np.ndarray:
    """Crop square of one face.

    Args:
        landmarks: ``(478, 3)`` pixel landmarks.
    Returns:
        ``(4,)`` float64 ``(cx, cy, ax, ay)``: centre and half-side vector along the crop's
        x-axis (its length is half the side, its direction the in-plane rotation).
    """
    p = landmarks[:, :2].astype(np.float64)
    eye_r, eye_l = p[list(RIGHT_EYE)].mean(0), p[list(LEFT_EYE)].mean(0)
    mouth = p[list(MOUTH)].mean(0)
    eye_avg = (eye_r + eye_l) / 2
    eye_to_eye = eye_l - eye_r
    eye_to_mouth = mouth - eye_avg
    x = eye_to_eye - np.array([-eye_to_mouth[1], eye_to_mouth[0]])  # minus rot90(eye_to_mouth)
    x /= max(np.hypot(*x), 1e-9)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    c = eye_avg + eye_to_mouth * 0.1
    return np.array([c[0], c[1], x[0], x[1]])


def default_params(width: int, height: int) -> np.ndarray:
    """The centred square covering the shorter side (used before any face is seen)."""
    return np.array([width / 2, height / 2, min(width, height) / 2, 0.0])


def crop_matrix(params: np.ndarray, size: int) -> np.ndarray:
    """``(2, 3)`` float64 affine mapping source pixels to crop pixels for ``params``."""
    cx, cy, ax, ay = params
    half = max(np.hypot(ax, ay), 1e-6)
    s = size / (2 * half)
    cos, sin = ax / half, ay / half
    # crop = s * R^T (src - c) + size/2, R = [[cos, -sin], [sin, cos]] (x-axis along a)
    m = np.array([[cos, sin], [-sin, cos]]) * s
    t = size / 2 - m @ np.array([cx, cy])
    return np.concatenate([m, t[:, None]], 1)


def warp(frame: np.ndarray, matrix: np.ndarray, size: int) -> np.ndarray:
    """``(size, size, 3)`` uint8 crop of an ``(H, W, 3)`` frame (bilinear, mirrored border)."""
    import cv2

    return cv2.warpAffine(frame, matrix.astype(np.float64), (size, size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101)


class CropStream:
    """Emit aligned crops in frame order, each smoothed over ``+-radius`` frames.

    ``push(frame, landmarks_or_None)`` returns the crops that became final (with their
    ``(2, 3)`` matrices); ``flush()`` returns the rest. Frames without a face reuse the last
    face's square (the first face's for a leading gap longer than the look-ahead, the centred
    square when there was none at all). Weights are a triangle over the window. With
    ``render=False`` only the matrices are computed (the crop images are None).
    """

    def __init__(self, size: int, width: int, height: int, radius: int = 3, render: bool = True):
        self.size, self.radius, self.render = size, radius, render
        self._default = default_params(width, height)
        self._frames: deque = deque()    # frames waiting for look-ahead
        self._params: list = []          # raw params (None = no face), 4 floats a frame
        self._next = 0                   # index of the next frame to emit
        self._last_seen: np.ndarray | None = None

    def push(self, frame: np.ndarray, landmarks: np.ndarray | None) -> list[tuple[np.ndarray, np.ndarray]]:
        self._frames.append(frame)
        self._params.append(None if landmarks is None else crop_params(landmarks))
        out = []
        while self._next + self.radius < len(self._params):
            out.append(self._emit())
        return out

    def flush(self) -> list[tuple[np.ndarray, np.ndarray]]:
        out = []
        while self._frames:
            out.append(self._emit())
        return out

    def _emit(self) -> tuple[np.ndarray, np.ndarray]:
        i = self._next
        lo, hi = max(0, i - self.radius), min(len(self._params), i + self.radius + 1)
        acc, wsum = np.zeros(4), 0.0
        for j in range(lo, hi):
            p = self._params[j]
            if p is not None:
                w = self.radius + 1 - abs(j - i)
                acc += w * p
                wsum += w
        if wsum > 0:
            params = acc / wsum
            self._last_seen = params
        elif self._last_seen is not None:
            params = self._last_seen
        else:
            later = next((p for p in self._params[i:] if p is not None), None)
            params = later if later is not None else self._default
        mat = crop_matrix(params, self.size)
        frame = self._frames.popleft()
        self._next += 1
        return (warp(frame, mat, self.size) if self.render else None), mat
