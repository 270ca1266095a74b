"""Exact conversions between :class:`Coefficients` and other tools' coefficient files.

Deep3DFaceRecon (Deng et al. 2019, the ``sicxu/Deep3DFaceRecon_pytorch`` code) predicts a
257-vector per image::

    id 0:80 | exp 80:144 | tex 144:224 | angle 224:227 | gamma 227:254 | trans 254:257

and renders with ``R = Rz Ry Rx`` applied as ``v @ R.T`` (``compute_rotation`` returns ``R.T``),
``v' = R v + trans``, then moves the camera to ``z = 10`` (``to_camera``: ``z_cam = 10 - z``) and
projects with focal 1015 and centre 112 in a 224 x 224 crop, the image v axis flipped. In
talkrig's camera (origin, looking down -z, :mod:`talkrig.render.camera`) that is the same
projection with the model moved by ``-10`` along z. So, with the model in decimetres
(Deep3DFaceRecon's BFM unit: micrometres / 1e5):

    rotation    = angle                       (same Euler convention, see talkrig.model.rotation)
    translation = (trans - (0, 0, 10)) * s     (s = model units per decimetre, 1 for the BFM front
                                                model, 100 for the same face in mm)
    lighting    = gamma + float32(0.8) on the three DC terms (indices 0, 9, 18): Deep3DFaceRecon adds its
                  ``init_lit`` (0.8 ambient) inside ``compute_color``; talkrig stores the light
                  actually applied, so zero talkrig lighting is darkness and 0.8 is its default
    focal       = 1015 * image_size / 224

Arithmetic is done in float64 and rounded once to float32, except the light offset, added in
float32 exactly as Deep3DFaceRecon adds it. identity, expression, albedo and
rotation round-trip bit-exactly; the three DC light terms and translation z go through an offset,
so their float32 round trip is exact to half an ulp of the offset value (<= 6e-8 for the light,
<= 4.8e-7 dm for z): a float32 cannot hold ``t - 10`` exactly for every ``t``.

SadTalker (``OpenTalker/SadTalker``) stores Deep3DFaceRecon's output in a ``.mat``:
``coeff_3dmm`` (T, 73) = exp 64 | angle 3 | trans 3 | crop 3, the crop being ``trans_params[2:]``
of Deep3DFaceRecon's ``align_img`` (scale, tx, ty); its audio-to-coefficient stage writes the
same key with 70 columns (no crop). ``full_3dmm`` (1, 257) is the full vector of the FIRST frame
only (``np.array(full_coeffs)[0]``); SadTalker's renderer repeats it over time and overwrites
exp/angle/trans per frame, which is what :func:`load_sadtalker_mat` does too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from talkrig.errors import InputError
from talkrig.model.coefficients import Coefficients
from talkrig.model.loaders.units import unit_factor

D3DFR_DIMS = {"id": 80, "exp": 64, "tex": 80, "angle": 3, "gamma": 27, "trans": 3}
D3DFR_SLICES: dict[str, slice] = {}
_at = 0
for _k, _n in D3DFR_DIMS.items():
    D3DFR_SLICES[_k] = slice(_at, _at + _n)
    _at += _n
D3DFR_SIZE = _at  # 257
D3DFR_CAMERA_DISTANCE = 10.0  # decimetres, ParametricFaceModel(camera_distance=10.)
D3DFR_FOCAL = 1015.0
D3DFR_IMAGE_SIZE = 224
D3DFR_INIT_LIGHT = 0.8
LIGHT_DC = (0, 9, 18)  # gamma reshaped (3, 9): the constant SH term of R, G and B


def units_per_decimetre(units: str) -> float:
    """How many ``units`` make one decimetre (Deep3DFaceRecon's length unit)."""
    return unit_factor("dm", units)


def _as64(x, name: str, width: int) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, Tensor) else np.asarray(x)
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[None]
    if a.ndim != 2 or a.shape[1] != width:
        raise InputError(f"{name}: expected shape (T, {width}), got {tuple(np.shape(x))}")
    if not np.isfinite(a).all():
        raise InputError(f"{name}: contains NaN or infinite values")
    return a


def _f32(a: np.ndarray) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def from_d3dfr(vec, units: str = "dm", image_size: int = D3DFR_IMAGE_SIZE) -> Coefficients:
    """Coefficients from Deep3DFaceRecon 257-vectors.

    Args:
        vec: ``(T, 257)`` or ``(257,)`` array or tensor.
        units: length unit of the model the coefficients will drive (``"dm"`` for a BFM model
            loaded with talkrig's Deep3DFaceRecon-compatible loaders).
        image_size: side of the square image the focal length is wanted for.
    Returns:
        :class:`Coefficients` with ``T`` frames (80 identity, 64 expression, 80 albedo).
    """
    a = _as64(vec, "Deep3DFaceRecon coefficients", D3DFR_SIZE)
    part = {k: a[:, s] for k, s in D3DFR_SLICES.items()}
    # float32 like Deep3DFaceRecon's ``gamma + init_lit``: the stored light is bit-identical to
    # the one it shades with
    light = part["gamma"].astype(np.float32)
    light[:, LIGHT_DC] += np.float32(D3DFR_INIT_LIGHT)
    trans = part["trans"].copy()
    trans[:, 2] -= D3DFR_CAMERA_DISTANCE
    trans *= units_per_decimetre(units)
    focal = np.full(a.shape[0], D3DFR_FOCAL * image_size / D3DFR_IMAGE_SIZE)
    return Coefficients(identity=_f32(part["id"]), expression=_f32(part["exp"]),
                        albedo=_f32(part["tex"]), rotation=_f32(part["angle"]),
                        translation=_f32(trans), lighting=_f32(light), focal=_f32(focal))


def to_d3dfr(coeffs: Coefficients, units: str = "dm") -> Tensor:
    """Deep3DFaceRecon 257-vectors ``(T, 257)`` float32 from Coefficients (inverse of
    :func:`from_d3dfr`). Identity/albedo/expression must have 80/80/64 columns; the focal length
    is not part of the vector (Deep3DFaceRecon's is fixed)."""
    want = {"identity": 80, "expression": 64, "albedo": 80}
    for f, n in want.items():
        if getattr(coeffs, f).shape[1] != n:
            raise InputError(f"Deep3DFaceRecon needs {n} {f} coefficients, got {getattr(coeffs, f).shape[1]}")
    c = {f: getattr(coeffs, f).detach().cpu().double().numpy() for f in
         ("identity", "expression", "albedo", "rotation", "translation")}
    gamma = coeffs.lighting.detach().cpu().numpy().astype(np.float32)
    gamma[:, LIGHT_DC] -= np.float32(D3DFR_INIT_LIGHT)
    trans = c["translation"] / units_per_decimetre(units)
    trans[:, 2] += D3DFR_CAMERA_DISTANCE
    out = np.concatenate([c["identity"], c["expression"], c["albedo"], c["rotation"], gamma, trans], 1)
    return _f32(out)


# -- SadTalker .mat ------------------------------------------------------------------------

def load_sadtalker_mat(path: str | Path, units: str = "dm") -> tuple[Coefficients, Tensor | None]:
    """Read a SadTalker coefficient ``.mat``.

    Returns:
        ``(coeffs, crop)``: Coefficients with ``T`` frames (identity, albedo and lighting from
        ``full_3dmm`` when present, else zero identity/albedo and Deep3DFaceRecon's default
        light), and ``crop`` ``(T, 3)`` float32 (align_img scale, tx, ty) or None for 70-column
        files.
    """
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise InputError(f"SadTalker coefficient file not found: {path}")
    try:
        mat = loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise InputError(f"cannot read {path} as a MATLAB file: {exc}") from None
    if "coeff_3dmm" not in mat:
        raise InputError(f"{path} is not a SadTalker coefficient file (no 'coeff_3dmm')")
    sem = np.asarray(mat["coeff_3dmm"], dtype=np.float64)
    if sem.ndim != 2 or sem.shape[1] not in (70, 73):
        raise InputError(f"{path}: coeff_3dmm must be (T, 70) or (T, 73), got {sem.shape}")
    t = sem.shape[0]
    if "full_3dmm" in mat:
        full = _as64(mat["full_3dmm"], f"{path}: full_3dmm", D3DFR_SIZE)[:1].repeat(t, 0)
    else:
        full = np.zeros((t, D3DFR_SIZE))
    full[:, D3DFR_SLICES["exp"]] = sem[:, 0:64]
    full[:, D3DFR_SLICES["angle"]] = sem[:, 64:67]
    full[:, D3DFR_SLICES["trans"]] = sem[:, 67:70]
    crop = _f32(sem[:, 70:73]) if sem.shape[1] == 73 else None
    return from_d3dfr(full, units=units), crop


def save_sadtalker_mat(path: str | Path, coeffs: Coefficients, crop=None, units: str = "dm",
                       full: bool = True) -> None:
    """Write a SadTalker coefficient ``.mat`` (``coeff_3dmm`` (T, 73) with ``crop`` (T, 3) or
    (T, 70) without; ``full_3dmm`` (1, 257) from the first frame when ``full``), float32 like
    SadTalker's own files. Written atomically."""
    from scipy.io import savemat

    from talkrig.io.files import atomic_path

    vec = to_d3dfr(coeffs, units=units).numpy()
    cols = [vec[:, D3DFR_SLICES["exp"]], vec[:, D3DFR_SLICES["angle"]], vec[:, D3DFR_SLICES["trans"]]]
    if crop is not None:
        crop = np.asarray(crop.cpu() if isinstance(crop, Tensor) else crop, dtype=np.float32)
        crop = np.broadcast_to(crop.reshape(-1, 3), (vec.shape[0], 3))
        cols.append(crop)
    data = {"coeff_3dmm": np.concatenate(cols, 1).astype(np.float32)}
    if full:
        data["full_3dmm"] = vec[:1]
    with atomic_path(Path(path)) as tmp:
        savemat(str(tmp), data)
