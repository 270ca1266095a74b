"""talkrig: emotional talking-face generation on a 3D morphable model.

Python API (each a plain function over small typed objects, see :mod:`talkrig.api`):

    from talkrig import api

    recon = api.reconstruct(image)              -> Reconstruction
    anim = api.animate(text=|audio=, ...)       -> Animation
    api.render_image(recon, ...)                -> HxWx3 uint8
    api.render_video(recon, anim, path)         -> VideoReport

The stages are subpackages (``talkrig.recon``, ``talkrig.animate``, ``talkrig.synth``, ...; see
docs/architecture.md). Importing talkrig is cheap and has no side effects: torch and the stages
load on first use.
"""

__version__ = "0.1.0"

from talkrig.errors import InputError, NoFaceError, TalkrigError
from talkrig.model import ARKIT_52, load_model

_API = ("reconstruct", "render_video", "render_image", "edit_coefficients", "stream", "stream_mp4")

__all__ = ["ARKIT_52", "Coefficients", "InputError", "MorphableModel", "NoFaceError",
           "TalkrigError", "api", "load_model", "__version__", *_API]


def __getattr__(name: str):
    # The pipeline functions and the torch-backed model classes load on first use only, so
    # `import talkrig.animate.align` in a recognition worker does not import torch.
    import importlib

    if name in ("Coefficients", "MorphableModel"):
        return getattr(importlib.import_module("talkrig.model"), name)
    if name in _API:
        return getattr(importlib.import_module("talkrig.api"), name)
    if name in ("api", "animate", "recon", "synth", "render", "texture", "eval", "data_prep", "io"):
        return importlib.import_module(f"talkrig.{name}")
    raise AttributeError(f"module 'talkrig' has no attribute {name!r}")
