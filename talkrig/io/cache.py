"""talkrig's cache folder and cheap keys for the sources of cached conversions.

Everything talkrig derives once and reuses (converted face models, dense correspondences,
recognition models, emotion judges) lives under :func:`cache_dir`, keyed by
:func:`source_key` of what it was derived from, so a changed source is never served stale.
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
