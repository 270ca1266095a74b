"""Find and load face models by name or path, caching compact conversions.

Names: ``default`` (embedded, built from CC0 MakeHuman data, always available), ``ict``
(ICT-FaceKit, found via ``$TALKRIG_ICT_MODEL`` or a FaceXModel folder / tarball you point at).
Paths: a BFM 2009 ``01_MorphableModel.mat``, Deep3DFaceRecon's ``BFM_model_front.mat``, a BFM
2017/2019 ``.h5``, an ICT ``FaceXModel`` folder or ``.tar.xz``, or a talkrig ``.npz``.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_dir() -> Path:
    """talkrig's cache folder (``$TALKRIG_CACHE`` or the user cache dir), created on demand."""
    d = Path(os.environ.get("TALKRIG_CACHE") or user_cache_dir("talkrig"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def source_key(path: Path) -> str:
    """A cheap key for a source file or folder: resolved path, size and mtime."""
    path = Path(path).resolve()
    h = hashlib.sha1(str(path).encode())
    items = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for p in items:
        st = p.stat()
        h.update(f"{p.name}:{st.st_size}:{int(st.st_mtime)}".encode())
    return h.hexdigest()[:16]


def load_model(name_or_path: str | Path = "default", **kw):
    """Load a face model: ``"default"`` (the embedded model), ``"ict"``, or a path to a model
    file/folder (see :func:`talkrig.model.loaders.load_path_or_name`). Keyword arguments go to
    the loader (e.g. ``units="mm"``)."""
    if str(name_or_path).lower() == "default":
        from talkrig.model.default import load_default

        return load_default(**kw)
    from talkrig.model.loaders import load_path_or_name

    return load_path_or_name(name_or_path, **kw)
