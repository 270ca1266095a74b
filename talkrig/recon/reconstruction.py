"""`Reconstruction`: everything recovered from one portrait photo.

Saved as one ``.npz`` of plain arrays (``allow_pickle=False``), written atomically. The camera
works in full-image pixels, so rendering ``model.vertices(coeffs)`` with ``camera`` at
``(camera.width, camera.height)`` lands exactly on ``image``; ``crop`` is a square box around the
face for renderers that work on a face crop (:meth:`Reconstruction.crop_camera`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52
from talkrig.model.coefficients import FIELDS, Coefficients
from talkrig.render.camera import Camera

FORMAT = "talkrig.reconstruction/1"


def crop_camera(camera: Camera, box, size: int) -> Camera:
    """``camera`` restricted to the square ``box (x0, y0, x1, y1)`` resampled to ``size`` pixels."""
    x0, y0, x1, _ = (float(v) for v in box)
    s = size / (x1 - x0)
    cx, cy = camera.principal
    return Camera(float(torch.as_tensor(camera.focal).reshape(-1)[0]) * s, size, size, (cx - x0) * s, (cy - y0) * s)


@dataclass
class Reconstruction:
    """One fitted photo.

    Attributes:
        image: ``(H, W, 3)`` uint8, full resolution, upright (EXIF applied).
        coeffs: :class:`Coefficients` with ``T == 1``.
        camera: pinhole camera in full-image pixels.
        texture: ``(S, S, 3)`` uint8 UV texture (row 0 = v = 1, i.e. image-style, v up).
        texture_mask: ``(S, S)`` uint8: 255 where the texel was seen in the photo, 128 where it
            was filled (symmetry / albedo), 0 outside the UV layout.
        landmarks478: ``(478, 2)`` float32 detected MediaPipe landmarks, pixels.
        landmarks68: ``(68, 2)`` float32 detected iBUG landmarks, pixels.
        blendshapes: ``(52,)`` float32 detected ARKit scores in :data:`ARKIT_52` order.
        bbox: ``(4,)`` float32 face box ``x0, y0, x1, y1`` (pixels).
        crop: ``(4,)`` float32 square face crop ``x0, y0, x1, y1`` (may extend past the image).
        model_name: name of the face model the coefficients belong to.
        skin_mask: ``(H, W)`` bool, pixels used for the photometric fit.
        vertex_colors: ``(N, 3)`` float32 in [0, 1]: per-vertex albedo estimated from the
            photo (what a renderer without the texture should use).
        meta: free-form JSON-able dict (timings, fit errors, versions).
        rest_expression: ``(E,)`` float32, the part of ``coeffs.expression`` that is the face
            at rest (brows and upper lids as the photo holds them;
            :func:`talkrig.recon.fit.rest_expression`); None (files written before it):
            rest is the zero expression.
    """

    image: np.ndarray
    coeffs: Coefficients
    camera: Camera
    texture: np.ndarray
    texture_mask: np.ndarray
    landmarks478: np.ndarray
    landmarks68: np.ndarray
    blendshapes: np.ndarray
    bbox: np.ndarray
    crop: np.ndarray
    model_name: str
    skin_mask: np.ndarray
    vertex_colors: np.ndarray
    meta: dict = field(default_factory=dict)
    rest_expression: np.ndarray | None = None

    def crop_camera(self, size: int, box=None) -> Camera:
        """The camera for rendering only the square ``box`` (default :attr:`crop`) at
        ``size x size`` pixels; paste such a render back at ``box`` scaled by ``box side / size``."""
        return crop_camera(self.camera, self.crop if box is None else box, size)

    def neutral_coeffs(self) -> Coefficients:
        """The photo's coefficients with the face at rest (:attr:`rest_expression`: brows and
        upper lids where the photo holds them, everything else 0): animations add their weights
        to it, so a photo with an open or smiling mouth still closes its lips in pauses."""
        c = self.coeffs
        if self.rest_expression is None:
            return c.replace(expression=torch.zeros_like(c.expression))
        rest = torch.as_tensor(np.asarray(self.rest_expression), dtype=c.expression.dtype)
        return c.replace(expression=rest.reshape(c.expression.shape).clone())

    @property
    def blendshape_dict(self) -> dict[str, float]:
        return {n: float(v) for n, v in zip(ARKIT_52, self.blendshapes)}

    # -- files -----------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        cx, cy = self.camera.principal
        arrays = {f"coeffs_{k}": v for k, v in self.coeffs.detach().to_numpy().items()}
        arrays.update(
            image=np.ascontiguousarray(self.image, dtype=np.uint8),
            camera=np.array([float(torch.as_tensor(self.camera.focal).reshape(-1)[0]), self.camera.width,
                             self.camera.height, cx, cy], dtype=np.float64),
            texture=np.ascontiguousarray(self.texture, dtype=np.uint8),
            texture_mask=np.ascontiguousarray(self.texture_mask, dtype=np.uint8),
            landmarks478=np.asarray(self.landmarks478, np.float32),
            landmarks68=np.asarray(self.landmarks68, np.float32),
            blendshapes=np.asarray(self.blendshapes, np.float32),
            bbox=np.asarray(self.bbox, np.float32),
            crop=np.asarray(self.crop, np.float32),
            model_name=np.array(self.model_name),
            skin_mask=np.asarray(self.skin_mask, bool),
            vertex_colors=np.asarray(self.vertex_colors, np.float32),
            meta_json=np.array(json.dumps(self.meta)),
            format=np.array(FORMAT),
        )
        if self.rest_expression is not None:
            arrays["rest_expression"] = np.asarray(self.rest_expression, np.float32)
        return arrays

    def save(self, path: str | Path) -> None:
        """Write ``.npz`` atomically (compressed; loadable with ``allow_pickle=False``)."""
        from talkrig.io.files import save_npz

        save_npz(path, self.to_arrays(), compressed=True)

    @classmethod
    def load(cls, path: str | Path) -> "Reconstruction":
        from talkrig.io.files import load_npz

        path = Path(path)
        a = load_npz(path, "reconstruction")
        if str(a.get("format", "")) != FORMAT:
            raise InputError(f"{path} is not a talkrig reconstruction file")
        coeffs = Coefficients(**{f: torch.from_numpy(np.array(a[f"coeffs_{f}"], np.float32)) for f in FIELDS})
        rest = a.get("rest_expression")
        if rest is not None and rest.size != coeffs.expression.shape[-1]:
            raise InputError(f"{path}: rest expression has {rest.size} weights, the coefficients "
                             f"{coeffs.expression.shape[-1]}")
        f, w, h, cx, cy = a["camera"].tolist()
        return cls(image=a["image"], coeffs=coeffs, camera=Camera(float(f), int(w), int(h), cx, cy),
                   texture=a["texture"], texture_mask=a["texture_mask"], landmarks478=a["landmarks478"],
                   landmarks68=a["landmarks68"], blendshapes=a["blendshapes"], bbox=a["bbox"],
                   crop=a["crop"], model_name=str(a["model_name"]), skin_mask=a["skin_mask"],
                   vertex_colors=a["vertex_colors"], meta=json.loads(str(a["meta_json"])),
                   rest_expression=rest)
