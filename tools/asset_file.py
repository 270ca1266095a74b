"""Read and rewrite the default model's asset file (``talkrig/assets/default_head.npz``).

The build tools that amend an existing asset (``default_face_units.py``,
``default_jaw_landmarks.py``) share these two steps: every array in, and every array out
atomically with a note added to the asset's ``info_json`` under ``extra``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def read_asset(asset: Path) -> dict[str, np.ndarray]:
    """Every array of ``asset`` (an ``.npz``), loaded into memory."""
    with np.load(asset, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def write_asset(asset: Path, arrays: dict[str, np.ndarray], extra_key: str, extra_value) -> None:
    """Write ``arrays`` to ``asset`` with ``info_json["extra"][extra_key] = extra_value``;
    through a temporary file and a rename, so a failed write leaves the old asset whole."""
    info = json.loads(str(arrays["info_json"]))
    info.setdefault("extra", {})[extra_key] = extra_value
    arrays = {**arrays, "info_json": np.array(json.dumps(info))}
    tmp = asset.with_name(asset.stem + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(asset)
