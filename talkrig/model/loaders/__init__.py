"""Face-model loaders: turn third-party model files into :class:`MorphableModel`.

:func:`load_path_or_name` picks the loader from a name (``ict``) or the file itself:

=========================================  ============================================
``ict``, a ``FaceXModel`` folder / .tar.xz  :func:`talkrig.model.loaders.ict.load_ict`
``.mat`` with ``shapeMU`` (BFM 2009)        :func:`talkrig.model.loaders.bfm.load_bfm2009`
``.mat`` with ``meanshape``/``idBase``      :func:`talkrig.model.loaders.bfm.load_d3dfr_front`
``.h5`` (BFM 2017/2019)                     :func:`talkrig.model.loaders.bfm.load_bfm_h5`
talkrig ``.npz``                            :meth:`MorphableModel.load`
=========================================  ============================================
"""

from __future__ import annotations

from pathlib import Path

from talkrig.errors import ModelNotFoundError
from talkrig.model.morphable import MorphableModel

ACCEPTED = ("'default', 'ict', or a path to a BFM 2009 01_MorphableModel.mat, Deep3DFaceRecon "
            "BFM_model_front.mat, BFM 2017/2019 .h5, ICT FaceXModel folder or .tar.xz, or talkrig .npz")


def load_path_or_name(name_or_path: str | Path, device=None, **kw) -> MorphableModel:
    """Load a model by name (``ict``) or path onto ``device`` (default CPU); other keyword
    arguments go to the chosen loader (e.g. ``units="mm"``, which every loader accepts).
    Raises :class:`ModelNotFoundError` when nothing matches."""
    if kw.get("units", "") is None:  # None = the loader's default unit
        del kw["units"]
    model = _dispatch(name_or_path, **kw)
    check_finite(model, name_or_path)
    return model.to(device) if device is not None else model


def check_finite(model: MorphableModel, source) -> None:
    """Refuse a model whose bases hold NaN or infinite values (every mesh made from it would)."""
    import torch

    for name, buf in model.named_buffers():
        if buf.is_floating_point() and not bool(torch.isfinite(buf).all()):
            raise ModelNotFoundError(f"face model {source} holds non-finite values (NaN or inf) in {name!r}")


def _dispatch(name_or_path: str | Path, **kw) -> MorphableModel:
    from talkrig.model.loaders import bfm, ict

    if str(name_or_path).lower() == "ict":
        return ict.load_ict(**kw)
    path = Path(name_or_path).expanduser()
    if not path.exists():
        if path.suffix or len(path.parts) > 1:  # meant as a file
            raise ModelNotFoundError(f"face model file not found: {path}")
        raise ModelNotFoundError(f"unknown face model {str(name_or_path)!r}: expected {ACCEPTED}")
    name = path.name.lower()
    if path.is_dir():
        if (path / ict.NEUTRAL).is_file() or (path / "FaceXModel" / ict.NEUTRAL).is_file():
            return ict.load_ict(path, **kw)
        raise ModelNotFoundError(f"{path} is a folder without an ICT FaceXModel: expected {ACCEPTED}")
    if name.endswith((".tar.xz", ".txz", ".tar.gz", ".tar")):
        return ict.load_ict(path, **kw)
    if name.endswith(".npz"):
        return _load_npz(path, **kw)
    if name.endswith((".h5", ".hdf5")):
        return bfm.load_bfm_h5(path, **kw)
    if name.endswith(".mat"):
        keys = bfm.mat_keys(path)
        if "shapeMU" in keys:
            return bfm.load_bfm2009(path, **kw)
        if {"meanshape", "idBase"} <= keys:
            return bfm.load_d3dfr_front(path, **kw)
        if "coeff_3dmm" in keys:
            raise ModelNotFoundError(f"{path} is a SadTalker coefficient file, not a face model: "
                                     f"expected {ACCEPTED}")
        raise ModelNotFoundError(f"{path} is not a face model talkrig can load: expected {ACCEPTED}")
    raise ModelNotFoundError(f"cannot tell what face model {path} is: expected {ACCEPTED}")


def _load_npz(path: Path, units: str | None = None) -> MorphableModel:
    from talkrig.model.loaders.units import scale_model

    try:
        model = MorphableModel.load(path)
    except KeyError as exc:
        raise ModelNotFoundError(f"{path} is not a talkrig model file (missing {exc})") from None
    return scale_model(model, units) if units and units != model.info.units else model
