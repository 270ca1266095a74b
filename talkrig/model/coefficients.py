"""`Coefficients`: the parameters of one face (or one face over time) in a morphable model.

All fields carry a leading time axis ``T`` (``T == 1`` for a single photo). Tensors are float32
on any device. ``identity`` and ``albedo`` are usually constant over time but are stored per
frame so a sequence can be sliced without special cases.

Conventions:
    rotation     (T, 3)  (pitch, yaw, roll) radians, see :mod:`talkrig.model.rotation`
    translation  (T, 3)  model units, in camera space (camera at the origin looking down -z,
                         y up, see :mod:`talkrig.render.camera`)
    lighting     (T, 27) second-order SH, 9 coefficients x RGB laid out as Deep3DFaceRecon's
                         ``gamma`` (3 x 9, channel-major)
    focal        (T,)    focal length in pixels
    tongue       (T, 1)  articulation beyond the expression shapes: how far the tongue's tip is
                         raised to the alveolar ridge, in [0, 1] (:mod:`talkrig.model.tongue`);
                         optional: zeros when not given or not in a file
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from talkrig.errors import InputError

FIELDS = ("identity", "expression", "albedo", "rotation", "translation", "lighting", "focal")
#: Fields a file or caller may leave out (zeros then), after the required ones.
OPTIONAL = ("tongue",)
ALL_FIELDS = FIELDS + OPTIONAL
_FIXED_WIDTH = {"rotation": 3, "translation": 3, "lighting": 27, "tongue": 1}


@dataclass
class Coefficients:
    identity: Tensor
    expression: Tensor
    albedo: Tensor
    rotation: Tensor
    translation: Tensor
    lighting: Tensor
    focal: Tensor
    tongue: Tensor | None = None

    # -- construction -------------------------------------------------------------------
    @classmethod
    def zeros(cls, n_identity: int, n_expression: int, n_albedo: int = 0, frames: int = 1,
              focal: float = 1000.0, distance: float = 50.0, device=None) -> "Coefficients":
        """Neutral face facing the camera ``distance`` model units away, lit by ambient
        white light (SH DC term 0.8, Deep3DFaceRecon's initial value)."""
        z = lambda *s: torch.zeros(*s, dtype=torch.float32, device=device)  # noqa: E731
        light = z(frames, 27)
        light[:, [0, 9, 18]] = 0.8
        trans = z(frames, 3)
        trans[:, 2] = -distance
        return cls(z(frames, n_identity), z(frames, n_expression), z(frames, n_albedo),
                   z(frames, 3), trans, light, torch.full((frames,), float(focal), device=device))

    def __post_init__(self) -> None:
        if self.tongue is None:
            rot = torch.as_tensor(self.rotation)
            self.tongue = torch.zeros(rot.shape[0] if rot.ndim else 0, 1, device=rot.device)
        for f in ALL_FIELDS:
            v = getattr(self, f)
            if not isinstance(v, Tensor):
                v = torch.as_tensor(np.asarray(v), dtype=torch.float32)
            if v.dtype != torch.float32:
                v = v.float()
            setattr(self, f, v)
        self.validate()

    # -- checks -------------------------------------------------------------------------
    @property
    def frames(self) -> int:
        return int(self.rotation.shape[0])

    def validate(self) -> None:
        """Raise :class:`InputError` on wrong shapes or non-finite values."""
        t = self.rotation.shape[0] if self.rotation.ndim == 2 else None
        for f in ALL_FIELDS:
            v = getattr(self, f)
            want_ndim = 1 if f == "focal" else 2
            if v.ndim != want_ndim:
                raise InputError(f"coefficients: {f} must have {want_ndim} dims (T, ...), got shape {tuple(v.shape)}")
            if v.shape[0] != t:
                raise InputError(f"coefficients: {f} has {v.shape[0]} frames, rotation has {t}")
            if f in _FIXED_WIDTH and v.shape[1] != _FIXED_WIDTH[f]:
                raise InputError(f"coefficients: {f} must be (T, {_FIXED_WIDTH[f]}), got {tuple(v.shape)}")
            if not torch.isfinite(v).all():
                raise InputError(f"coefficients: {f} contains NaN or infinite values")

    # -- time axis ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.frames

    def __getitem__(self, index) -> "Coefficients":
        """Slice along time; an integer index keeps a time axis of length 1."""
        if isinstance(index, int):
            index = slice(index, index + 1 if index != -1 else None)
        return Coefficients(**{f: getattr(self, f)[index] for f in ALL_FIELDS})

    def repeat(self, frames: int) -> "Coefficients":
        """Tile a single-frame set to ``frames`` frames."""
        if self.frames != 1:
            raise ValueError("repeat() needs a single-frame Coefficients")
        return Coefficients(**{f: getattr(self, f).expand(frames, *getattr(self, f).shape[1:]).clone()
                               for f in ALL_FIELDS})

    def interpolate(self, times: Tensor, src_fps: float) -> "Coefficients":
        """Linearly resample to the given times (seconds), frame ``i`` being at ``i / src_fps``."""
        pos = (torch.as_tensor(times, dtype=torch.float32) * src_fps).clamp(0, self.frames - 1)
        lo = pos.floor().long()
        hi = (lo + 1).clamp(max=self.frames - 1)
        w = (pos - lo.float())
        out = {}
        for f in ALL_FIELDS:
            v = getattr(self, f)
            ww = w.reshape(-1, *([1] * (v.ndim - 1))).to(v.device)
            out[f] = v[lo] * (1 - ww) + v[hi] * ww
        return Coefficients(**out)

    @staticmethod
    def cat(items: list["Coefficients"]) -> "Coefficients":
        return Coefficients(**{f: torch.cat([getattr(c, f) for c in items]) for f in ALL_FIELDS})

    def to(self, device) -> "Coefficients":
        return Coefficients(**{f: getattr(self, f).to(device) for f in ALL_FIELDS})

    def detach(self) -> "Coefficients":
        return Coefficients(**{f: getattr(self, f).detach() for f in ALL_FIELDS})

    def clone(self) -> "Coefficients":
        return Coefficients(**{f: getattr(self, f).clone() for f in ALL_FIELDS})

    def replace(self, **changes) -> "Coefficients":
        return replace(self, **changes)

    # -- files --------------------------------------------------------------------------
    def to_numpy(self) -> dict[str, np.ndarray]:
        return {f: getattr(self, f).detach().cpu().numpy() for f in ALL_FIELDS}

    def save(self, path: str | Path, metadata: dict | None = None) -> None:
        """Write ``.npz`` (plain arrays, loadable with ``allow_pickle=False``) or
        ``.safetensors``, chosen by the suffix. Written atomically."""
        from talkrig.io.files import atomic_path

        path = Path(path)
        arrays = self.to_numpy()
        with atomic_path(path) as tmp:
            if path.suffix == ".safetensors":
                from safetensors.numpy import save_file

                save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(tmp),
                          metadata={"talkrig": json.dumps(metadata or {})})
            else:
                arrays["metadata_json"] = np.array(json.dumps(metadata or {}))
                with open(tmp, "wb") as fh:
                    np.savez(fh, **arrays)

    @classmethod
    def load(cls, path: str | Path, prefix: str = "") -> "Coefficients":
        """Read a file written by :meth:`save` (or any npz with the same keys after ``prefix``)."""
        from talkrig.io.files import load_npz

        path = Path(path)
        if path.suffix != ".safetensors":
            data = load_npz(path, "coefficients")
        elif not path.is_file():
            raise InputError(f"coefficients file not found: {path}")
        else:
            from safetensors.numpy import load_file

            try:
                data = load_file(str(path))
            except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
                raise InputError(f"cannot read coefficients from {path}: {exc}") from None
        missing = [f for f in FIELDS if prefix + f not in data]
        if missing:
            raise InputError(f"{path} is not a coefficients file (missing {', '.join(missing)})")
        present = [f for f in ALL_FIELDS if prefix + f in data]  # older files: no tongue
        return cls(**{f: torch.from_numpy(np.array(data[prefix + f], dtype=np.float32)) for f in present})

    def __eq__(self, other) -> bool:  # exact equality, used by round-trip tests
        if not isinstance(other, Coefficients):
            return NotImplemented
        return all(torch.equal(getattr(self, f).cpu(), getattr(other, f).cpu()) for f in ALL_FIELDS)


def field_names() -> tuple[str, ...]:
    return tuple(f.name for f in fields(Coefficients))
