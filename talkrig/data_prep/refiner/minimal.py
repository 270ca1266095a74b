"""A minimal self-reenactment pipeline for the refiner, needing no 3DMM fit and no renderer.

It stands in for ``talkrig render`` when only frames and MediaPipe landmarks are at hand (tests,
``benchmarks/refiner.py`` before the full pipeline exists). Per frame, cropped to one fixed
square around the face for the whole clip:

* ``render``: the "classical render" stand-in - inside the face oval the frame is low-passed
  (4x down- and up-sampled: no skin detail) and the mouth interior (inner-lip polygon) is a flat
  dark red, as a rasterised 3DMM mouth socket without teeth looks; outside the face, the frame
  (a classical render is composited over the photo there).
* ``mask_face`` (face oval), ``mask_mouth`` (inner lips), ``warped`` = the source frame (not
  warped: the head barely moves in a talking-head clip).
* ``loss_mouth``: the mouth region of :func:`talkrig.eval.landmarks.mouth_mask` (lips grown by a
  margin), used to weight the loss and to score the mouth.

So the refiner must restore skin detail, teeth and mouth interior from the conditioning and the
subject's appearance - the job it has on real renders - but the stand-in is no 3DMM render: its
numbers measure that job on this degradation, not on the classical renderer's output.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from talkrig.eval.landmarks import face_mask, mouth_mask

MINIMAL_COND = {"render": 3, "mask_face": 1, "mask_mouth": 1, "warped": 3}

# MediaPipe 478 topology: inner-lip contour, in order (FACEMESH_LIPS inner ring).
INNER_LIPS_MP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87,
                 178, 88, 95)
MOUTH_SOCKET_RGB = (0.30, 0.09, 0.09)


def clip_crop_box(landmarks: np.ndarray, width: int, height: int, margin: float = 0.35) -> tuple[int, int, int]:
    """One square ``(x0, y0, side)`` holding every frame's face with ``margin`` of its size on
    each side, clamped to the frame. ``landmarks (T, 478, 2+)`` pixels."""
    xy = landmarks[..., :2].reshape(-1, 2)
    lo, hi = np.nanmin(xy, 0), np.nanmax(xy, 0)
    side = float((hi - lo).max()) * (1 + 2 * margin)
    side = int(min(side, width, height))
    c = (lo + hi) / 2
    x0 = int(np.clip(round(c[0] - side / 2), 0, width - side))
    y0 = int(np.clip(round(c[1] - side / 2), 0, height - side))
    return x0, y0, side


def _poly_mask(points: np.ndarray, size: int) -> np.ndarray:
    import cv2

    m = np.zeros((size, size), np.uint8)
    cv2.fillPoly(m, [np.round(points).astype(np.int32)], 1)
    return m


def frame_masks(landmarks: np.ndarray, size: int) -> dict[str, np.ndarray]:
    """Masks of one frame at ``size`` px from its ``(478, 2+)`` landmarks in crop pixels:
    ``mask_face``, ``mask_mouth`` (inner lips), ``loss_mouth`` (lips + margin), uint8 (size, size)."""
    lm = np.asarray(landmarks, np.float64)
    return {"mask_face": face_mask(lm, (size, size)).astype(np.uint8),
            "mask_mouth": _poly_mask(lm[list(INNER_LIPS_MP), :2], size),
            "loss_mouth": mouth_mask(lm, (size, size)).astype(np.uint8)}


def degrade(frames: Tensor, face: Tensor, mouth: Tensor, factor: int = 4) -> Tensor:
    """The stand-in classical render ``(T, 3, S, S)`` of frames ``(T, 3, S, S)`` in [0, 1]
    given face and mouth masks ``(T, 1, S, S)``: see the module docstring."""
    s = frames.shape[-1]
    low = F.interpolate(F.interpolate(frames, scale_factor=1 / factor, mode="area"),
                        size=(s, s), mode="bilinear", align_corners=False)
    socket = torch.tensor(MOUTH_SOCKET_RGB).view(1, 3, 1, 1)
    face_img = low * (1 - mouth) + socket * mouth
    return frames * (1 - face) + face_img * face


def minimal_clip(frames: np.ndarray, landmarks: np.ndarray, size: int, source_index: int = 0,
                 box: tuple[int, int, int] | None = None) -> dict[str, Tensor]:
    """Training/eval clip from ``frames (T, H, W, 3) uint8`` and ``landmarks (T, 478, 2+)`` px.

    Returns a dict of ``(T, C, size, size)`` float32 tensors in [0, 1]: ``target``, the
    :data:`MINIMAL_COND` maps and ``loss_mouth``; ``source`` and ``warped`` (frame
    ``source_index``) are ``(1, 3, size, size)``.
    """
    t, h, w, _ = frames.shape
    x0, y0, side = box or clip_crop_box(landmarks, w, h)
    crop = torch.from_numpy(np.ascontiguousarray(frames[:, y0:y0 + side, x0:x0 + side])).permute(0, 3, 1, 2)
    crop = F.interpolate(crop.float() / 255.0, size=(size, size), mode="area" if side > size else "bilinear")
    crop = crop.clamp(0, 1)
    lm = (np.asarray(landmarks)[..., :2] - [x0, y0]) * (size / side)
    masks = [frame_masks(l, size) for l in lm]
    m = {k: torch.from_numpy(np.stack([mk[k] for mk in masks])).float()[:, None] for k in masks[0]}
    src = crop[source_index:source_index + 1]  # constant over the clip: T == 1
    return {"target": crop, "source": src, "warped": src,
            "render": degrade(crop, m["mask_face"], m["mask_mouth"]), **m}


def track_frames(frames: np.ndarray, fps: float = 25.0):
    """MediaPipe :class:`~talkrig.data_prep.tracking.Track` of ``frames (T, H, W, 3) uint8``."""
    from talkrig.data_prep.tracking import FaceTracker

    session = FaceTracker(max_faces=1).start(fps)
    for i, f in enumerate(frames):
        session.push(f, i)
    return session.finish()


def track_video(frames: np.ndarray, fps: float = 25.0) -> np.ndarray:
    """MediaPipe landmarks ``(T, 478, 3)`` pixels for ``frames (T, H, W, 3) uint8``."""
    return track_frames(frames, fps).landmarks
