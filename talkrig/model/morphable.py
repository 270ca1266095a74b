"""`MorphableModel`: a linear 3D face model as a torch module.

vertices = mean + identity @ id_basis + expression @ exp_basis

Bases are stored so that a coefficient's prior is ``N(0, std**2)`` with ``std`` in
``id_std`` / ``albedo_std``; for ARKit-named models expression coefficients are blendshape
weights in ``[0, 1]`` (``exp_std`` is then all ones and the model says ``exp_is_blendshape``).

Every model states its units (``"cm"``, ``"mm"``, ``"dm"``...) and is right-handed with y up and
+z pointing out of the face, the face looking down +z at rest.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.model.coefficients import Coefficients
from talkrig.model.geometry import blend, transform, vertex_normals
from talkrig.model.tongue import TongueRig, raise_tongue_tip, tongue_rig

REGIONS = ("face", "skin", "lips", "mouth_interior", "teeth", "upper_teeth", "lower_teeth",
           "tongue", "eyes", "eye_left", "eye_right", "eyelids", "brows", "nose", "cheeks",
           "forehead", "chin", "jaw", "neck", "scalp", "ears")


@dataclass
class ModelInfo:
    """Descriptive metadata that travels with a model's arrays."""

    name: str
    units: str
    licence: str
    provenance: str
    exp_is_blendshape: bool = True
    extra: dict = field(default_factory=dict)


class MorphableModel(nn.Module):
    """A linear face model with named expression shapes, regions, UVs and landmarks.

    Buffers (float32 unless stated; move with ``.to(device)``):
        mean (N, 3); id_basis (K, N, 3); id_std (K,);
        exp_basis (E, N, 3); exp_std (E,);
        albedo_mean (N, 3) in [0, 1] (zeros when the model has none); albedo_basis (A, N, 3);
        albedo_std (A,);
        faces (F, 3) int64; uvs (M, 2) in [0, 1], v up; uv_faces (F, 3) int64 into uvs;
        landmarks68 (68,) int64 vertex ids (iBUG order);
        region_<name> (N,) bool for each region in ``self.region_names``.
    """

    def __init__(self, *, mean, id_basis, exp_basis, exp_names, faces, info: ModelInfo,
                 id_std=None, exp_std=None, albedo_mean=None, albedo_basis=None,
                 albedo_std=None, uvs=None, uv_faces=None, landmarks68=None,
                 regions: dict | None = None):
        super().__init__()
        f32 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.float32)  # noqa: E731
        i64 = lambda a: torch.as_tensor(np.asarray(a), dtype=torch.int64)  # noqa: E731
        mean = f32(mean)
        n = mean.shape[0]
        id_basis = f32(id_basis).reshape(-1, n, 3)
        exp_basis = f32(exp_basis).reshape(-1, n, 3)
        self.register_buffer("mean", mean)
        self.register_buffer("id_basis", id_basis)
        self.register_buffer("id_std", f32(id_std) if id_std is not None else torch.ones(id_basis.shape[0]))
        self.register_buffer("exp_basis", exp_basis)
        self.register_buffer("exp_std", f32(exp_std) if exp_std is not None else torch.ones(exp_basis.shape[0]))
        has_albedo = albedo_mean is not None
        self.register_buffer("albedo_mean", f32(albedo_mean) if has_albedo else torch.zeros(n, 3))
        ab = f32(albedo_basis).reshape(-1, n, 3) if albedo_basis is not None else torch.zeros(0, n, 3)
        self.register_buffer("albedo_basis", ab)
        self.register_buffer("albedo_std", f32(albedo_std) if albedo_std is not None else torch.ones(ab.shape[0]))
        self.register_buffer("faces", i64(faces))
        self.register_buffer("uvs", f32(uvs) if uvs is not None else torch.zeros(0, 2))
        self.register_buffer("uv_faces", i64(uv_faces) if uv_faces is not None else torch.zeros(0, 3, dtype=torch.int64))
        lm = i64(landmarks68) if landmarks68 is not None else torch.zeros(0, dtype=torch.int64)
        self.register_buffer("landmarks68", lm)
        self.region_names: list[str] = []
        for name, mask in (regions or {}).items():
            m = torch.as_tensor(np.asarray(mask))
            if m.dtype != torch.bool:  # index list -> mask
                idx, m = m.long(), torch.zeros(n, dtype=torch.bool)
                m[idx] = True
            self.register_buffer(f"region_{name}", m)
            self.region_names.append(name)
        self.exp_names: list[str] = list(exp_names)
        if len(self.exp_names) != exp_basis.shape[0]:
            raise ValueError(f"{len(self.exp_names)} expression names for {exp_basis.shape[0]} shapes")
        self.info = info
        self.has_albedo = has_albedo
        self._register_tongue()

    def _register_tongue(self) -> None:
        """The tongue-tip rig (:mod:`talkrig.model.tongue`) as non-persistent buffers, so it
        follows ``.to(device)`` and never enters a saved model (it is rebuilt from the mesh)."""
        names = set(self.region_names)
        teeth = "upper_teeth" if "upper_teeth" in names else "teeth" if "teeth" in names else None
        rig = tongue_rig(self.mean, self.region("tongue"), self.region(teeth)) if "tongue" in names and teeth else None
        for k in ("ids", "along", "tip", "ridge", "offset"):
            value = getattr(rig, k) if rig is not None else torch.zeros(0)
            self.register_buffer(f"tongue_{k}", value, persistent=False)

    @property
    def has_tongue_rig(self) -> bool:
        return self.tongue_ids.numel() > 0

    @property
    def tongue_rig(self) -> TongueRig | None:
        """The tongue-tip rig, or None for a model without a tongue and upper teeth."""
        if not self.has_tongue_rig:
            return None
        return TongueRig(self.tongue_ids, self.tongue_along, self.tongue_tip, self.tongue_ridge, self.tongue_offset)

    # -- sizes ----------------------------------------------------------------------------
    @property
    def n_vertices(self) -> int:
        return self.mean.shape[0]

    @property
    def n_identity(self) -> int:
        return self.id_basis.shape[0]

    @property
    def n_expression(self) -> int:
        return self.exp_basis.shape[0]

    @property
    def n_albedo(self) -> int:
        return self.albedo_basis.shape[0]

    @property
    def name(self) -> str:
        return self.info.name

    def region(self, name: str) -> Tensor:
        """``(N,)`` bool mask of a named region."""
        if name not in self.region_names:
            raise KeyError(f"model {self.name!r} has no region {name!r} (has {', '.join(self.region_names)})")
        return getattr(self, f"region_{name}")

    def expression_index(self, name: str) -> int:
        try:
            return self.exp_names.index(name)
        except ValueError:
            raise InputError(f"model {self.name!r} has no expression {name!r}") from None

    def expression_vector(self, weights: dict[str, float]) -> Tensor:
        """``(E,)`` expression coefficients from ``{name: weight}``."""
        e = torch.zeros(self.n_expression, device=self.mean.device)
        for k, v in weights.items():
            e[self.expression_index(k)] = float(v)
        return e

    def coefficients(self, frames: int = 1, **kw) -> Coefficients:
        """Zero coefficients sized for this model (see :meth:`Coefficients.zeros`)."""
        return Coefficients.zeros(self.n_identity, self.n_expression, self.n_albedo, frames,
                                  device=self.mean.device, **kw)

    # -- evaluation -----------------------------------------------------------------------
    def forward(self, identity: Tensor | None = None, expression: Tensor | None = None) -> Tensor:
        """Vertices in model space.

        Args:
            identity: ``(B, K)`` or None (mean identity).
            expression: ``(B, E)`` or None (neutral).
        Returns:
            ``(B, N, 3)`` float32 vertices, ``B = 1`` when both are None.
        """
        b = identity.shape[0] if identity is not None else (expression.shape[0] if expression is not None else 1)
        dev = self.mean.device
        identity = identity if identity is not None else torch.zeros(b, self.n_identity, device=dev)
        expression = expression if expression is not None else torch.zeros(b, self.n_expression, device=dev)
        v = blend(self.mean, self.id_basis, identity)
        if self.n_expression:
            v = v + (expression @ self.exp_basis.reshape(self.n_expression, -1)).reshape(b, -1, 3)
        return v

    def albedo(self, albedo: Tensor | None = None, batch: int = 1) -> Tensor:
        """Per-vertex albedo ``(B, N, 3)`` in [0, 1] from albedo coefficients ``(B, A)``."""
        if albedo is None:
            albedo = torch.zeros(batch, self.n_albedo, device=self.mean.device)
        return blend(self.albedo_mean, self.albedo_basis, albedo)

    def vertices(self, coeffs: Coefficients, posed: bool = True) -> Tensor:
        """``(T, N, 3)`` vertices for a coefficient sequence, rigidly posed into camera space
        when ``posed``; the tongue's tip raised by ``coeffs.tongue`` where the model has a rig."""
        v = self(coeffs.identity, coeffs.expression)
        if self.has_tongue_rig and bool((coeffs.tongue != 0).any()):
            v = raise_tongue_tip(v, self.tongue_rig, coeffs.tongue[:, 0])
        return transform(v, coeffs.rotation, coeffs.translation) if posed else v

    def normals(self, vertices: Tensor) -> Tensor:
        return vertex_normals(vertices, self.faces)

    # -- files ----------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write the compact ``.npz`` form that :meth:`load` reads (used for caches)."""
        from talkrig.io.files import save_npz

        arrays = {k: v.cpu().numpy() for k, v in self.state_dict().items()}
        arrays["exp_names"] = np.array(self.exp_names)
        arrays["region_names"] = np.array(self.region_names)
        arrays["info_json"] = np.array(json.dumps(asdict(self.info) | {"has_albedo": self.has_albedo}))
        save_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "MorphableModel":
        from talkrig.io.files import load_npz

        a = load_npz(path, "model", missing_error=ModelNotFoundError)
        info = json.loads(str(a["info_json"]))
        has_albedo = info.pop("has_albedo")
        regions = {r: a[f"region_{r}"] for r in a["region_names"].tolist()}
        return cls(mean=a["mean"], id_basis=a["id_basis"], id_std=a["id_std"],
                   exp_basis=a["exp_basis"], exp_std=a["exp_std"], exp_names=a["exp_names"].tolist(),
                   albedo_mean=a["albedo_mean"] if has_albedo else None,
                   albedo_basis=a["albedo_basis"], albedo_std=a["albedo_std"], faces=a["faces"],
                   uvs=a["uvs"], uv_faces=a["uv_faces"], landmarks68=a["landmarks68"],
                   regions=regions, info=ModelInfo(**info))

    def extra_repr(self) -> str:
        return (f"name={self.name!r}, vertices={self.n_vertices}, faces={self.faces.shape[0]}, "
                f"identity={self.n_identity}, expression={self.n_expression}, albedo={self.n_albedo}, "
                f"units={self.info.units!r}")
