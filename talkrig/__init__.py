"""talkrig: emotional talking-face generation on a 3D morphable model.

Python API (each a plain function over small typed objects, see :mod:`talkrig.api`):

    talkrig.load_model(name)            -> MorphableModel
    talkrig.reconstruct(image)          -> Reconstruction
    talkrig.animate(text=|audio=, ...)  -> Animation
    talkrig.render_image(recon, ...)    -> HxWx3 uint8
    talkrig.render_video(recon, anim, path)
"""

__version__ = "0.1.0"

import os as _os

# torch and numba both run OpenMP thread pools; with the default (active) wait policy the idle
# pool spins while the other works, which cost talkrig's frame loop 3x on a 2-core CPU.
# setdefault: a user's own choice wins; it only takes effect if torch is not imported yet.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from talkrig.errors import InputError, NoFaceError, TalkrigError  # noqa: E402
from talkrig.model import ARKIT_52, load_model  # noqa: E402

# `talkrig.animate` is the stage package, made callable (see the end of
# talkrig/animate/__init__.py), so `talkrig.animate(text=...)` is the API function.
import talkrig.animate as animate  # noqa: E402

_API = ("reconstruct", "render_video", "render_image", "edit_coefficients")

__all__ = ["ARKIT_52", "Coefficients", "InputError", "MorphableModel", "NoFaceError",
           "TalkrigError", "animate", "load_model", "__version__", *_API]


def __getattr__(name: str):
    # The pipeline functions and the torch-backed model classes load on first use only, so
    # `import talkrig.animate.align` in a recognition worker does not import torch.
    if name in ("Coefficients", "MorphableModel"):
        import talkrig.model

        return getattr(talkrig.model, name)
    if name in _API:
        from talkrig import api

        return getattr(api, name)
    if name == "api":
        import importlib

        return importlib.import_module("talkrig.api")
    raise AttributeError(f"module 'talkrig' has no attribute {name!r}")
