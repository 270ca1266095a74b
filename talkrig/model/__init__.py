"""The face-model core: morphable models, coefficients, rotations, loaders.

The names below load on first use (PEP 562), so importing a light submodule such as
:mod:`talkrig.model.arkit` does not import torch (worker processes of the speech recognizer
import only what they need).
"""

from talkrig.model.arkit import ARKIT_52, canonical_name

__all__ = ["ARKIT_52", "canonical_name", "Coefficients", "ModelInfo", "MorphableModel", "REGIONS",
           "euler_to_matrix", "matrix_to_euler", "load_model"]

_LAZY = {"Coefficients": "talkrig.model.coefficients", "ModelInfo": "talkrig.model.morphable",
         "MorphableModel": "talkrig.model.morphable", "REGIONS": "talkrig.model.morphable",
         "euler_to_matrix": "talkrig.model.rotation", "matrix_to_euler": "talkrig.model.rotation"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'talkrig.model' has no attribute {name!r}")


def load_model(name: str = "default", **kw):
    """Load a face model by name (``default``, ``ict``) or path (see :mod:`talkrig.model.registry`);
    returns a :class:`~talkrig.model.morphable.MorphableModel`."""
    from talkrig.model.registry import load_model as _load

    return _load(name, **kw)
