"""Per-frame 3DMM coefficients from a face track, and zero-lag temporal smoothing.

Default path (no model fitter): the tracker's own outputs already are coefficients of an
ARKit-named model: expression = the 52 blendshape scores (in the model's expression order),
rotation / translation = the facial transformation matrix (MediaPipe's canonical face is in
cm, posed into a camera looking down -z: talkrig's convention), focal = MediaPipe's camera
(63 degree vertical field of view). Identity stays zero unless a fitter supplies one.

Smoothing is offline and centred (Savitzky-Golay, Savitzky & Golay 1964), so it adds no lag and
keeps the peaks of quick mouth movements better than a moving average.
"""

from __future__ import annotations

import numpy as np
import torch

from talkrig.data_prep.tracking import Track, mediapipe_focal
from talkrig.model.arkit import ARKIT_52
from talkrig.model.coefficients import Coefficients
from talkrig.model.rotation import matrix_to_euler


def smooth(x: np.ndarray, window: int = 5, order: int = 2) -> np.ndarray:
    """Centred polynomial smoothing along axis 0.

    Args:
        x: ``(T, ...)`` float array.
        window: odd window length in frames (<= 1 disables); shrunk for short clips.
    Returns:
        ``(T, ...)`` float32, same shape.
    """
    from scipy.signal import savgol_filter

    t = x.shape[0]
    w = min(window, t if t % 2 else t - 1)
    if w <= order or w <= 1:
        return x.astype(np.float32, copy=True)
    return savgol_filter(x.astype(np.float64), w, order, axis=0, mode="interp").astype(np.float32)


def pose_from_transform(transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 4, 4)`` facial transformation matrices -> rotation ``(T, 3)`` (pitch, yaw, roll,
    unwrapped over time) and translation ``(T, 3)``, float32."""
    r = torch.from_numpy(np.ascontiguousarray(transform[:, :3, :3], dtype=np.float32))
    # MediaPipe's matrices carry a (near-1) scale: take the rotation's orthonormal part
    u, _, vh = torch.linalg.svd(r.double())
    rot = (u @ vh).float()
    angles = np.unwrap(matrix_to_euler(rot).numpy().astype(np.float64), axis=0)
    return angles.astype(np.float32), transform[:, :3, 3].astype(np.float32)


def arkit_expression(blendshapes: np.ndarray, exp_names: list[str] | None) -> np.ndarray:
    """ARKit scores ``(T, 52)`` reordered to a model's expression names (ARKit order when
    None); names the tracker does not provide get 0."""
    if exp_names is None:
        return blendshapes.astype(np.float32)
    from talkrig.model.arkit import canonical_name

    col = {n: i for i, n in enumerate(ARKIT_52)}
    out = np.zeros((blendshapes.shape[0], len(exp_names)), np.float32)
    for j, name in enumerate(exp_names):
        c = canonical_name(name)
        if c in col:
            out[:, j] = blendshapes[:, col[c]]
    return out


def coefficients_from_track(track: Track, height: int, smooth_window: int = 5,
                            exp_names: list[str] | None = None) -> Coefficients:
    """Smoothed per-frame coefficients of a tracked clip (see module docstring).

    Returns:
        :class:`Coefficients` with ``T = track.frames``; identity and albedo have width 0.
    """
    t = track.frames
    rot, trans = pose_from_transform(track.transform)
    expr = arkit_expression(track.blendshapes, exp_names)
    expr = np.clip(smooth(expr, smooth_window), 0.0, 1.0)
    c = Coefficients.zeros(0, expr.shape[1], 0, t, focal=mediapipe_focal(height))
    return c.replace(expression=torch.from_numpy(expr),
                     rotation=torch.from_numpy(smooth(rot, smooth_window)),
                     translation=torch.from_numpy(smooth(trans, smooth_window)))
