"""Face track of a video: MediaPipe landmarks and blendshapes for every frame.

Every landmark-based metric (LMD, mouth opening, lip sync, emotion, identity) reads one
:class:`FaceTrack`, computed once per video with the recon stage's
:class:`talkrig.recon.landmarker.FaceLandmarker` in VIDEO (tracking) mode.

Anything with a ``detect_video(frame, timestamp_ms) -> list`` method whose items have
``.landmarks`` ``(478, 3)`` and ``.blendshapes`` ``{name: score}`` can stand in for the
landmarker (see :class:`Landmarker`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52


class Landmarker(Protocol):
    """What :func:`track_frames` needs from a landmarker."""

    def detect_video(self, frame: np.ndarray, timestamp_ms: int) -> list: ...


@dataclass
class FaceTrack:
    """Per-frame face measurements of one video.

    Attributes:
        fps: frame rate of the video.
        size: ``(width, height)`` of the frames in pixels.
        points: ``(T, 478, 3)`` float32 MediaPipe landmarks (pixel x, pixel y, relative
            depth in pixels); NaN on frames without a face.
        blendshapes: ``(T, 52)`` float32 ARKit blendshape scores in :data:`ARKIT_52` order
            (``tongueOut`` is not estimated: 0); NaN on frames without a face.
    """

    fps: float
    size: tuple[int, int]
    points: np.ndarray
    blendshapes: np.ndarray

    @property
    def n_frames(self) -> int:
        return int(self.points.shape[0])

    @property
    def found(self) -> np.ndarray:
        """``(T,)`` bool: a face was detected on the frame."""
        return np.isfinite(self.points[:, 0, 0])

    @property
    def landmarks68(self) -> np.ndarray:
        """``(T, 68, 2)`` iBUG-68 landmarks in pixels (NaN where no face)."""
        from talkrig.recon.landmarker import mediapipe_to_ibug68

        return mediapipe_to_ibug68(self.points[..., :2]).astype(np.float32)

    def blendshape(self, name: str) -> np.ndarray:
        """``(T,)`` scores of one ARKit blendshape."""
        return self.blendshapes[:, ARKIT_52.index(name)]

    def save(self, path: str | Path) -> None:
        from talkrig.io.files import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez_compressed(fh, fps=np.float64(self.fps), size=np.array(self.size),
                                    points=self.points, blendshapes=self.blendshapes)

    @classmethod
    def load(cls, path: str | Path) -> FaceTrack:
        with np.load(path, allow_pickle=False) as z:
            return cls(float(z["fps"]), tuple(int(v) for v in z["size"]), z["points"],
                       z["blendshapes"])


def track_frames(frames: Iterable[np.ndarray], fps: float,
                 landmarker: Landmarker | None = None) -> FaceTrack:
    """Run the landmarker over ``(H, W, 3) uint8`` frames (largest face per frame).

    A landmarker is created (VIDEO mode, one face) and closed when none is given.
    """
    own = landmarker is None
    if own:
        from talkrig.recon.landmarker import FaceLandmarker

        landmarker = FaceLandmarker(num_faces=1, video=True)
    pts, bss, size = [], [], None
    try:
        for i, f in enumerate(frames):
            size = (f.shape[1], f.shape[0])
            faces = landmarker.detect_video(f, int(round(i * 1000.0 / fps)))
            if faces:
                d = faces[0]
                pts.append(np.asarray(d.landmarks, np.float32)[:478, :3])
                bss.append(np.array([d.blendshapes.get(n, 0.0) for n in ARKIT_52], np.float32))
            else:
                pts.append(np.full((478, 3), np.nan, np.float32))
                bss.append(np.full(len(ARKIT_52), np.nan, np.float32))
    finally:
        if own:
            landmarker.close()
    if not pts:
        raise InputError("no frames to track")
    return FaceTrack(float(fps), size, np.stack(pts), np.stack(bss))


def track_video(path: str | Path, landmarker: Landmarker | None = None) -> FaceTrack:
    """:func:`track_frames` over a video file."""
    from talkrig.io.video import read_video

    clip = read_video(path)
    return track_frames(clip.frames(), clip.fps, landmarker)


def detect_photo(image) -> tuple[np.ndarray, np.ndarray]:
    """Landmarks ``(478, 3)`` and blendshapes ``(52,)`` of the largest face in a photo."""
    from talkrig.recon.landmarker import FaceLandmarker

    with FaceLandmarker(num_faces=1) as lm:
        d = lm.detect_one(image, name=str(image) if isinstance(image, (str, Path)) else "photo")
    return (np.asarray(d.landmarks, np.float32),
            np.array([d.blendshapes.get(n, 0.0) for n in ARKIT_52], np.float32))
