"""Learned identity similarity with dlib's face descriptor (optional extra ``identity``).

``pip install talkrig[identity]`` installs ``dlib-bin`` (dlib 20, Boost Software License) and
``face-recognition-models`` 0.3.0 (an sdist whose LICENSE file is CC0 1.0; its README says the
models by Davis King are public domain or CC0). We use two of its files:
``dlib_face_recognition_resnet_model_v1.dat`` (128-d ResNet face descriptor; dlib reports
99.38% on LFW, and "same person" when the Euclidean distance is below 0.6) and
``shape_predictor_5_face_landmarks.dat`` (5-point alignment for the 150x150 face chip). The
package also carries a 68-point predictor trained on 300-W (non-commercial): used only on
request, by :mod:`talkrig.recon.dlib68`.
The package's own ``__init__`` needs ``pkg_resources``, so the files are located without
importing it.

The face box given to dlib comes from the MediaPipe landmarks (iBUG-68 extent), so no dlib
detector runs. Papers report CSIM (cosine similarity of ArcFace embeddings); ``identity_cos``
here is the same statistic on dlib embeddings, so the numbers are not interchangeable.
"""

from __future__ import annotations

import importlib.util

import numpy as np

from talkrig.recon.dlib68 import models_dir

SAME_PERSON = 0.6  # dlib's threshold on the Euclidean descriptor distance


def available() -> bool:
    """Whether dlib and the descriptor weights are installed."""
    d = models_dir()
    return (importlib.util.find_spec("dlib") is not None and d is not None
            and (d / "dlib_face_recognition_resnet_model_v1.dat").is_file()
            and (d / "shape_predictor_5_face_landmarks.dat").is_file())


class FaceDescriptor:
    """dlib ResNet descriptor of a face located by MediaPipe landmarks."""

    def __init__(self):
        import dlib

        from talkrig.errors import ModelNotFoundError

        if not available():
            raise ModelNotFoundError("identity descriptor needs: pip install 'talkrig[identity]'")
        d = models_dir()
        self._dlib = dlib
        self._sp = dlib.shape_predictor(str(d / "shape_predictor_5_face_landmarks.dat"))
        self._net = dlib.face_recognition_model_v1(str(d / "dlib_face_recognition_resnet_model_v1.dat"))

    def describe(self, image: np.ndarray, points478: np.ndarray) -> np.ndarray | None:
        """``(128,)`` float32 descriptor of the face whose MediaPipe landmarks are given
        (``(478, >=2)`` pixels in ``image``, an ``(H, W, 3)`` uint8 RGB array); None when
        the landmarks are missing."""
        from talkrig.recon.landmarker import mediapipe_to_ibug68

        p = np.asarray(points478, float)[:, :2]
        if not np.isfinite(p).all():
            return None
        lm = mediapipe_to_ibug68(p)
        x0, y0 = lm.min(0)
        x1, y1 = lm.max(0)
        rect = self._dlib.rectangle(int(x0), int(y0), int(x1), int(y1))
        img = np.ascontiguousarray(image, dtype=np.uint8)
        shape = self._sp(img, rect)
        return np.asarray(self._net.compute_face_descriptor(img, shape), np.float32)


def identity_similarity(frames, points: np.ndarray, source_image: np.ndarray,
                        source_points: np.ndarray, every: int = 5,
                        descriptor: FaceDescriptor | None = None) -> dict[str, float]:
    """Descriptor distance / cosine similarity of every ``every``-th face frame to the source.

    Returns ``identity_dist`` (mean Euclidean distance; < 0.6 = same person for dlib),
    ``identity_cos`` (mean cosine similarity, CSIM-style) and ``identity_same`` (share of
    sampled frames under the 0.6 threshold).
    """
    desc = descriptor or FaceDescriptor()
    ref = desc.describe(source_image, source_points)
    nan = {"identity_dist": float("nan"), "identity_cos": float("nan"),
           "identity_same": float("nan")}
    if ref is None:
        return nan
    dists, coss = [], []
    for i, f in enumerate(frames):
        if i >= len(points):
            break
        if i % every:
            continue
        d = desc.describe(f, points[i])
        if d is None:
            continue
        dists.append(float(np.linalg.norm(d - ref)))
        coss.append(float(d @ ref / (np.linalg.norm(d) * np.linalg.norm(ref))))
    if not dists:
        return nan
    dists = np.array(dists)
    return {"identity_dist": float(dists.mean()), "identity_cos": float(np.mean(coss)),
            "identity_same": float(np.mean(dists < SAME_PERSON))}
