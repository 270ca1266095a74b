"""Caching converted face models as talkrig ``.npz`` files, keyed by their sources."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path

from talkrig.io.cache import cache_dir, source_key
from talkrig.model.morphable import MorphableModel


def cache_path(tag: str, sources: Iterable[Path], params: str = "") -> Path:
    """Cache file for a conversion of ``sources`` (files or folders) with ``params``; the key
    changes when any source's path, size or mtime changes (see :func:`~talkrig.io.cache.source_key`)."""
    h = hashlib.sha1(params.encode())
    for s in sources:
        h.update(source_key(Path(s)).encode())
    return cache_dir() / f"{tag}-{h.hexdigest()[:16]}.npz"


def cached_model(tag: str, sources: Iterable[Path], build: Callable[[], MorphableModel],
                 params: str = "", cache: bool = True) -> MorphableModel:
    """Load the cached conversion, or ``build()`` it and cache it with its licence notice
    beside it (``<cache>.LICENSE``), so a copy of the data never travels without its terms."""
    if not cache:
        return build()
    path = cache_path(tag, list(sources), params)
    if path.is_file():
        return MorphableModel.load(path)
    model = build()
    model.save(path)
    path.with_suffix(".LICENSE").write_text(model.info.licence + "\n")
    return model
