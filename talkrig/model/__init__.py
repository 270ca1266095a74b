"""The face-model core: morphable models, coefficients, rotations, loaders."""

from talkrig.model.arkit import ARKIT_52, canonical_name
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import REGIONS, ModelInfo, MorphableModel
from talkrig.model.rotation import euler_to_matrix, matrix_to_euler

__all__ = ["ARKIT_52", "canonical_name", "Coefficients", "ModelInfo", "MorphableModel", "REGIONS",
           "euler_to_matrix", "matrix_to_euler", "load_model"]


def load_model(name: str = "default", **kw) -> MorphableModel:
    """Load a face model by name (``default``, ``ict``) or path (see :mod:`talkrig.model.registry`)."""
    from talkrig.model.registry import load_model as _load

    return _load(name, **kw)
