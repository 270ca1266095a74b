"""Find and load face models by name or path, caching compact conversions.

Names: ``default`` (embedded, built from CC0 MakeHuman data, always available), ``ict``
(ICT-FaceKit, found via ``$TALKRIG_ICT_MODEL`` or a FaceXModel folder / tarball you point at).
Paths: a BFM 2009 ``01_MorphableModel.mat``, Deep3DFaceRecon's ``BFM_model_front.mat``, a BFM
2017/2019 ``.h5``, an ICT ``FaceXModel`` folder or ``.tar.xz``, or a talkrig ``.npz``.
"""

from __future__ import annotations

from pathlib import Path


def load_model(name_or_path: str | Path = "default", **kw):
    """Load a face model: ``"default"`` (the embedded model), ``"ict"``, or a path to a model
    file/folder (see :func:`talkrig.model.loaders.load_path_or_name`). Keyword arguments go to
    the loader (e.g. ``units="mm"``)."""
    if str(name_or_path).lower() == "default":
        from talkrig.model.default import load_default

        return load_default(**kw)
    from talkrig.model.loaders import load_path_or_name

    return load_path_or_name(name_or_path, **kw)
