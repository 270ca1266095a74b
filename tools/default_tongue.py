#!/usr/bin/env python
"""Seat the default model's tongue in the lower jaw and let it follow the jaw.

    python tools/default_tongue.py [--asset talkrig/assets/default_head.npz]

MakeHuman's helper tongue (the default model's tongue) has two faults that showed in every open
mouth as a flat slab filling the opening:

* The Face Units move the tongue far less than the lower jaw that carries it: at jawOpen 0.5 the
  lower incisors drop 1.35 cm but the back of the tongue 0.35 cm, so the tongue's back rose above
  the upper teeth's biting edge and filled the whole opening from the front, where a real open
  mouth shows the tongue low and the dark of the mouth and throat above it.
* Its back sits high: at rest it rises 0.3 cm above the lower incisors' edge behind the molars.

This step moves every tongue vertex with the lower teeth in each jaw unit (jawOpen, jawForward,
jawLeft, jawRight: the affine motion that best fits the lower teeth's, so the tongue stays
seated inside the lower arch), lowers the back of the tongue (behind the molars) by
:data:`REST_DROP_CM` at rest and by :data:`OPEN_DROP_CM` more per unit of jawOpen (the tongue
body drops with an opening jaw, as in open vowels), and grooves its midline a little in front of
that (:data:`GROOVE`). The margins along the molars stay where they were, against the teeth's
inner faces. ``tools/build_default_model.py`` runs it on every build; this script applies it to
an existing asset once (the asset records it under ``extra["tongue_seat"]``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from asset_file import read_asset, write_asset  # noqa: E402

JAW_UNITS = ("jawOpen", "jawForward", "jawLeft", "jawRight")
REST_DROP_CM = 0.5   # the back of the tongue lowered at rest,
OPEN_DROP_CM = 1.0   # and per unit of jawOpen
BACK_CM = (5.0, 3.5)  # the back: nothing in front of z = 5 cm (the first molars), all behind 3.5
GROOVE = 0.5         # share of that drop along the midline further forward (a grooved dorsum)
GROOVE_HALF_WIDTH_CM = 1.9
NOTE = ("tongue moved with the lower teeth in the jaw units, its back lowered by "
        f"{REST_DROP_CM} cm at rest and {OPEN_DROP_CM} cm per unit of jawOpen "
        "(tools/default_tongue.py)")


def drop_profile(rest: np.ndarray) -> np.ndarray:
    """``(Nt,)`` share of the drop each tongue vertex ``rest`` ``(Nt, 3)`` (cm) takes: 1 behind
    the molars, a smoothstep to 0 in front of them, and a shallow groove along the midline
    (none at the tip)."""
    z = rest[:, 2]
    front, back = BACK_CM
    s = np.clip((front - z) / (front - back), 0, 1)
    behind = s * s * (3 - 2 * s)
    along = (z - z.min()) / max(float(z.max() - z.min()), 1e-9)  # 0 at the root, 1 at the tip
    groove = np.clip(1 - (rest[:, 0] / GROOVE_HALF_WIDTH_CM) ** 2, 0, 1) * (along < 0.8)
    return np.maximum(behind, GROOVE * groove)


def seat_tongue(mean: np.ndarray, exp_basis: np.ndarray, names: list[str], tongue: np.ndarray,
                lower_teeth: np.ndarray) -> None:
    """Amend ``mean`` ``(N, 3)`` and ``exp_basis`` ``(E, N, 3)`` (cm) in place for the bool
    masks ``tongue`` and ``lower_teeth`` ``(N,)`` (see the module docstring)."""
    rest = mean[tongue].astype(np.float64)
    lower = mean[lower_teeth].astype(np.float64)
    ones = lambda p: np.concatenate([p, np.ones((len(p), 1))], 1)  # noqa: E731
    for name in JAW_UNITS:
        k = names.index(name)
        motion, *_ = np.linalg.lstsq(ones(lower), exp_basis[k][lower_teeth].astype(np.float64), rcond=None)
        exp_basis[k][tongue] = (ones(rest) @ motion).astype(exp_basis.dtype)
    drop = drop_profile(rest)
    k = names.index("jawOpen")
    exp_basis[k][tongue, 1] = (exp_basis[k][tongue, 1].astype(np.float64) - OPEN_DROP_CM * drop).astype(exp_basis.dtype)
    mean[tongue, 1] = (rest[:, 1] - REST_DROP_CM * drop).astype(mean.dtype)


def update_asset(asset: Path) -> bool:
    """Apply :func:`seat_tongue` to an asset file once (written atomically); False when the
    asset already has it."""
    import json

    arrays = read_asset(asset)
    if "tongue_seat" in json.loads(str(arrays["info_json"])).get("extra", {}):
        return False
    names = [str(x) for x in arrays["exp_names"]]
    mean, basis = arrays["mean"].copy(), arrays["exp_basis"].copy()
    seat_tongue(mean, basis, names, arrays["region_tongue"], arrays["region_lower_teeth"])
    arrays["mean"], arrays["exp_basis"] = mean, basis
    write_asset(asset, arrays, "tongue_seat", NOTE)
    return True


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--asset", default=str(ROOT / "talkrig" / "assets" / "default_head.npz"))
    a = ap.parse_args(argv)
    print("tongue seated" if update_asset(Path(a.asset)) else "the asset's tongue is already seated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
