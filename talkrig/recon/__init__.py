"""Single-photo face reconstruction: detection, dense landmarks, 3DMM fit, lighting, texture.

    from talkrig.recon import reconstruct
    rec = reconstruct("photo.jpg", model="default")
    rec.save("face.npz")

For video frames and other stages: :class:`FaceLandmarker` (IMAGE or VIDEO mode),
:func:`shared_landmarker` (one per process) and :func:`mediapipe_to_ibug68`.
See docs/recon.md.
"""

from talkrig.recon.landmarker import FaceDetection, FaceLandmarker, mediapipe_to_ibug68, shared_landmarker
from talkrig.recon.reconstruction import Reconstruction


def reconstruct(image, model="default", **kw) -> Reconstruction:
    """See :func:`talkrig.recon.api.reconstruct`."""
    from talkrig.recon.api import reconstruct as _reconstruct

    return _reconstruct(image, model, **kw)


__all__ = ["FaceDetection", "FaceLandmarker", "Reconstruction", "mediapipe_to_ibug68", "reconstruct",
           "shared_landmarker"]
