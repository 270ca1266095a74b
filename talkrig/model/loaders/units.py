"""Length units of face models and rescaling a model to another unit."""

from __future__ import annotations

from dataclasses import replace

from talkrig.errors import InputError
from talkrig.model.morphable import MorphableModel

UNITS_PER_METRE = {"m": 1.0, "dm": 10.0, "cm": 100.0, "mm": 1000.0, "um": 1e6}


def unit_factor(src: str, dst: str) -> float:
    """Multiply lengths in ``src`` units by this to get ``dst`` units."""
    for u in (src, dst):
        if u not in UNITS_PER_METRE:
            raise InputError(f"unknown length unit {u!r} (known: {', '.join(UNITS_PER_METRE)})")
    return UNITS_PER_METRE[dst] / UNITS_PER_METRE[src]


def scale_model(model: MorphableModel, units: str) -> MorphableModel:
    """A copy of ``model`` with its geometry (mean and shape bases) expressed in ``units``."""
    k = unit_factor(model.info.units, units)
    regions = {r: model.region(r) for r in model.region_names}
    return MorphableModel(
        mean=model.mean * k, id_basis=model.id_basis * k, id_std=model.id_std,
        exp_basis=model.exp_basis * k, exp_std=model.exp_std, exp_names=model.exp_names,
        albedo_mean=model.albedo_mean if model.has_albedo else None,
        albedo_basis=model.albedo_basis, albedo_std=model.albedo_std, faces=model.faces,
        uvs=model.uvs, uv_faces=model.uv_faces, landmarks68=model.landmarks68, regions=regions,
        info=replace(model.info, units=units))
