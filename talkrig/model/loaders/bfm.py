"""Basel Face Model loaders -> :class:`MorphableModel`.

Three sources (none ships with talkrig; their licences bind whoever downloads them):

* **BFM 2009** ``01_MorphableModel.mat`` (Paysan et al. 2009): ``shapeMU (3N,1)``,
  ``shapePC (3N,199)``, ``shapeEV (199,1)`` and the ``tex*`` equivalents, ``tl (F,3)`` 1-based
  triangles; N = 53,490, lengths in micrometres, ``EV`` are standard deviations. With
  Deep3DFaceRecon's BFM folder files (Guo et al.'s ``Exp_Pca.bin`` + ``std_exp.txt`` expression
  PCA, ``BFM_exp_idx.mat``, ``BFM_front_idx.mat``, ``facemodel_info.mat``) it is converted the
  way Deep3DFaceRecon's ``transferBFM09`` does, to its 35,709-vertex front face with 80 identity,
  64 expression and 80 albedo components -- the same arrays as its ``BFM_model_front.mat``.
* **Deep3DFaceRecon** ``BFM_model_front.mat``: ``meanshape (1,3N)``, ``idBase (3N,80)``,
  ``exBase (3N,64)``, ``meantex (1,3N)`` 0-255, ``texBase (3N,80)``, ``tri (F,3)``,
  ``keypoints (1,68)``, ``frontmask2_idx``, ``skinmask`` (all indices 1-based).
* **BFM 2017 / 2019** ``.h5`` (statismo layout): ``{shape,color,expression}/model/{mean,
  pcaBasis,pcaVariance}`` with orthonormal ``pcaBasis (3N,K)`` and ``pcaVariance`` = eigenvalues,
  ``shape/representer/cells (3,F)`` 0-based; millimetres; colour in [0, 1].

Conventions of the result (all three): bases are PCA directions scaled by their standard
deviation, so every coefficient has a standard-normal prior (``id_std = exp_std = albedo_std =
1``), as in Deep3DFaceRecon; expressions are unnamed PCA modes ``pca00``... (``info.
exp_is_blendshape`` False); albedo in [0, 1]. Units default to decimetres, Deep3DFaceRecon's
unit (micrometres / 1e5), so its 257-vectors drive the model unchanged (:mod:`talkrig.model.
convert`); pass ``units="mm"`` etc. for others. Geometry is right-handed with y up and the face
looking down +z, which is how BFM stores it (Deep3DFaceRecon views it from +z: ``z_cam = 10 -
z``). Triangles are oriented so their counter-clockwise normals point out of the face
(``info.extra["flipped_winding"]`` records whether the source's order was reversed).
Like Deep3DFaceRecon, the mean shape is re-centred on its centroid by default (``recenter``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.model.loaders.cache import cached_model
from talkrig.model.loaders.units import unit_factor
from talkrig.model.morphable import ModelInfo, MorphableModel

BFM_LICENCE = ("Basel Face Model (University of Basel): use is governed by the licence accepted "
               "when downloading it; talkrig does not redistribute it.")
GUO_LICENCE = ("Expression basis Exp_Pca.bin from Guo et al. (3DDFA / Deep3DFaceRecon), built on "
               "FaceWarehouse; research use per its providers' terms.")
D3DFR_FILES = ("Exp_Pca.bin", "std_exp.txt", "BFM_exp_idx.mat", "BFM_front_idx.mat", "facemodel_info.mat")
MICROMETRES_IN_DM = 1e5  # Deep3DFaceRecon divides BFM 2009 lengths by 1e5 ("decimeter")


# -- file reading ---------------------------------------------------------------------------

def read_mat(path: Path, keys: tuple[str, ...] | None = None) -> dict[str, np.ndarray]:
    """Variables of a MATLAB file (v5 via scipy; v7.3/HDF5 via h5py, transposed back to MATLAB's
    row/column order)."""
    from scipy.io import loadmat

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"file not found: {path}")
    try:
        return loadmat(str(path), variable_names=keys)
    except NotImplementedError:  # MATLAB v7.3 files are HDF5
        import h5py

        with h5py.File(path, "r") as f:
            return {k: np.asarray(f[k]).T for k in (keys or f.keys()) if k in f}
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise InputError(f"cannot read {path} as a MATLAB file: {exc}") from None


def mat_keys(path: Path) -> set[str]:
    """Variable names in a MATLAB file without reading the arrays."""
    from scipy.io import whosmat

    try:
        return {name for name, _, _ in whosmat(str(path))}
    except NotImplementedError:
        import h5py

        with h5py.File(path, "r") as f:
            return set(f.keys())
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read {path} as a MATLAB file: {exc}") from None


def _need(d: dict, keys: tuple[str, ...], path: Path) -> None:
    missing = [k for k in keys if k not in d]
    if missing:
        raise InputError(f"{path}: missing {', '.join(missing)}")


def read_exp_pca(bin_path: Path, std_path: Path, n_vertices: int = 53215) -> tuple[np.ndarray, np.ndarray]:
    """Guo et al.'s expression PCA as distributed with Deep3DFaceRecon.

    ``Exp_Pca.bin`` (native byte order, little-endian in practice): int32 ``K`` (79), float32 mean
    ``(3 * 53215)`` (unused by Deep3DFaceRecon, and here), then float32 ``K x (3 * 53215)``, one
    component per row. ``std_exp.txt``: K standard deviations.

    Returns:
        ``pc (3N, K)`` float32 and ``std (K,)`` float64.
    """
    raw = Path(bin_path).read_bytes()
    if len(raw) < 4:
        raise InputError(f"{bin_path}: too short for an Exp_Pca.bin")
    k = int(np.frombuffer(raw, np.int32, 1)[0])
    want = 4 + 4 * 3 * n_vertices * (1 + k)
    if k <= 0 or len(raw) != want:
        raise InputError(f"{bin_path}: {len(raw)} bytes, expected {want} for {k} components of "
                         f"{n_vertices} vertices")
    pc = np.frombuffer(raw, np.float32, k * 3 * n_vertices, offset=4 + 4 * 3 * n_vertices)
    std = np.loadtxt(std_path, dtype=np.float64).reshape(-1)
    if std.size != k:
        raise InputError(f"{std_path}: {std.size} values for {k} expression components")
    return pc.reshape(k, 3 * n_vertices).T, std


# -- BFM 2009 -------------------------------------------------------------------------------

def _d3dfr_paths(mat_path: Path, d3dfr_dir: Path | None, **paths) -> dict[str, Path | None]:
    """Where Deep3DFaceRecon's files are: explicit paths, else ``d3dfr_dir``, else beside the
    .mat (Deep3DFaceRecon's ``BFM`` folder layout)."""
    base = Path(d3dfr_dir) if d3dfr_dir is not None else Path(mat_path).parent
    out = {}
    for name in D3DFR_FILES:
        key = name.split(".")[0].lower()
        p = paths.get(key)
        out[name] = Path(p) if p is not None else (base / name if (base / name).is_file() else None)
    return out


def bfm2009_front_arrays(mat_path: Path, files: dict[str, Path], n_id: int = 80, n_exp: int = 64,
                         n_tex: int = 80) -> dict[str, np.ndarray]:
    """Deep3DFaceRecon's ``BFM_model_front`` arrays from BFM 2009 + its index files (the steps of
    its ``transferBFM09``, in the same dtypes, so the result matches that file)."""
    bfm = read_mat(mat_path, ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV"))
    _need(bfm, ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV"), mat_path)
    front = read_mat(files["BFM_front_idx.mat"], ("idx",))
    trim = read_mat(files["BFM_exp_idx.mat"], ("trimIndex",))
    _need(front, ("idx",), files["BFM_front_idx.mat"])
    _need(trim, ("trimIndex",), files["BFM_exp_idx.mat"])
    # trimIndex lists BFM's vertices that the expression model has (53,215 of 53,490)
    exp_pc, exp_std = read_exp_pca(files["Exp_Pca.bin"], files["std_exp.txt"], trim["trimIndex"].size)
    n_bfm = np.size(bfm["shapeMU"]) // 3
    trim_idx = _index(trim["trimIndex"], n_bfm, "trimIndex", files["BFM_exp_idx.mat"])
    idx_exp = _index(front["idx"], trim_idx.size, "idx", files["BFM_front_idx.mat"])
    idx_shape = trim_idx[idx_exp]  # front vertex -> BFM vertex

    def select(basis: np.ndarray, n: int, idx: np.ndarray) -> np.ndarray:
        basis = basis[:, :n]
        return basis.reshape(-1, 3, basis.shape[1])[idx].reshape(-1, basis.shape[1])

    # same operations in the same order and dtypes as transferBFM09: scale by the standard
    # deviations, micrometres -> decimetres, keep the leading components, crop the vertices
    row = lambda e: np.reshape(e, (1, -1))  # noqa: E731
    id_base = select(bfm["shapePC"] * row(bfm["shapeEV"]) / MICROMETRES_IN_DM, n_id, idx_shape)
    ex_base = select(exp_pc * row(exp_std) / MICROMETRES_IN_DM, n_exp, idx_exp)
    tex_base = select(bfm["texPC"] * row(bfm["texEV"]), n_tex, idx_shape)
    mean = (np.reshape(bfm["shapeMU"], (-1, 3)) / MICROMETRES_IN_DM)[idx_shape].reshape(1, -1)
    mean_tex = np.reshape(bfm["texMU"], (-1, 3))[idx_shape].reshape(1, -1)
    info = read_mat(files["facemodel_info.mat"])
    _need(info, ("tri", "keypoints"), files["facemodel_info.mat"])
    out = {"meanshape": mean, "idBase": id_base, "exBase": ex_base, "meantex": mean_tex,
           "texBase": tex_base}
    out.update({k: info[k] for k in ("tri", "keypoints", "skinmask", "frontmask2_idx", "point_buf")
                if k in info})
    return out


def load_bfm2009(mat_path: str | Path, d3dfr_dir: str | Path | None = None, front: bool | None = None,
                 units: str = "dm", recenter: bool = True, cache: bool = True,
                 **paths) -> MorphableModel:
    """Load BFM 2009's ``01_MorphableModel.mat``.

    With Deep3DFaceRecon's files (``d3dfr_dir``, keyword paths ``exp_pca``, ``std_exp``,
    ``bfm_exp_idx``, ``bfm_front_idx``, ``facemodel_info``, or found beside the .mat) and
    ``front`` not False: the 35,709-vertex front model with expressions (see module doc).
    Otherwise: the full 53,490-vertex model, 199 identity and 199 albedo components, no
    expressions, no landmarks.
    """
    mat_path = Path(mat_path)
    files = _d3dfr_paths(mat_path, d3dfr_dir, **paths)
    have = all(files.values())
    if front and not have:
        missing = [n for n, p in files.items() if p is None]
        raise ModelNotFoundError(f"BFM front conversion needs Deep3DFaceRecon's {', '.join(missing)} "
                                 f"(pass d3dfr_dir= or put them beside {mat_path.name})")
    if have and front is not False:
        def build() -> MorphableModel:
            arrays = bfm2009_front_arrays(mat_path, files)
            return front_model(arrays, source=str(mat_path), units=units, recenter=recenter,
                               name="bfm2009-front", licence=BFM_LICENCE + " " + GUO_LICENCE)

        # converting reads ~300 MB of BFM arrays: keep the 35,709-vertex result
        return cached_model("bfm2009-front", [mat_path, *files.values()], build,
                            params=f"{units}:{recenter}", cache=cache)
    bfm = read_mat(mat_path, ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV", "tl"))
    _need(bfm, ("shapeMU", "shapePC", "shapeEV", "texMU", "texPC", "texEV", "tl"), mat_path)
    k = unit_factor("um", units)
    return build_model(
        mean=np.reshape(bfm["shapeMU"], (-1, 3)).astype(np.float64) * k,
        id_basis=_components(bfm["shapePC"] * np.reshape(bfm["shapeEV"], (1, -1))) * k,
        exp_basis=None,
        albedo_mean=np.reshape(bfm["texMU"], (-1, 3)) / 255.0,
        albedo_basis=_components(bfm["texPC"] * np.reshape(bfm["texEV"], (1, -1))) / 255.0,
        faces=np.asarray(bfm["tl"], np.int64) - 1, landmarks68=None, regions={},
        recenter=recenter,
        info=ModelInfo(name="bfm2009", units=units, licence=BFM_LICENCE, provenance=str(mat_path),
                       exp_is_blendshape=False))


# -- Deep3DFaceRecon front model --------------------------------------------------------------

def load_d3dfr_front(path: str | Path, units: str = "dm", recenter: bool = True) -> MorphableModel:
    """Load Deep3DFaceRecon's ``BFM_model_front.mat`` (see module doc)."""
    path = Path(path)
    arrays = read_mat(path)
    return front_model(arrays, source=str(path), units=units, recenter=recenter,
                       name="bfm-front", licence=BFM_LICENCE + " " + GUO_LICENCE)


def front_model(a: dict, source: str, units: str, recenter: bool, name: str, licence: str) -> MorphableModel:
    """MorphableModel from ``BFM_model_front`` arrays (lengths in decimetres, texture 0-255)."""
    _need(a, ("meanshape", "idBase", "exBase", "meantex", "texBase", "tri", "keypoints"), Path(source))
    n = np.size(a["meanshape"]) // 3
    k = unit_factor("dm", units)
    regions = {}
    if "skinmask" in a:
        regions["skin"] = _mask(a["skinmask"], n, "skinmask", source)
    if "frontmask2_idx" in a:
        regions["face"] = _mask(a["frontmask2_idx"], n, "frontmask2_idx", source, indices=True)
    exp_basis = _components(a["exBase"])
    keypoints = np.asarray(a["keypoints"], np.int64).reshape(-1) - 1
    if keypoints.size != 68 or keypoints.min() < 0 or keypoints.max() >= n:
        raise InputError(f"{source}: keypoints must be 68 vertex ids in 1..{n}")
    return build_model(
        mean=np.reshape(a["meanshape"], (-1, 3)).astype(np.float64) * k,
        id_basis=_components(a["idBase"]) * k, exp_basis=exp_basis * k,
        albedo_mean=np.reshape(a["meantex"], (-1, 3)) / 255.0,
        albedo_basis=_components(a["texBase"]) / 255.0,
        faces=np.asarray(a["tri"], np.int64) - 1, landmarks68=keypoints, regions=regions,
        recenter=recenter,
        info=ModelInfo(name=name, units=units, licence=licence, provenance=source,
                       exp_is_blendshape=False))


def _index(v, n: int, what: str, source) -> np.ndarray:
    """0-based vertex ids from a MATLAB 1-based index array, checked against ``n``."""
    idx = np.asarray(v).reshape(-1).astype(np.int64) - 1
    if idx.size == 0 or idx.min() < 0 or idx.max() >= n:
        raise InputError(f"{source}: {what} must hold vertex ids in 1..{n}")
    return idx


def _mask(v, n: int, what: str, source: str, indices: bool = False) -> np.ndarray:
    """A region from a 0/1 per-vertex array or a list of 1-based vertex ids."""
    v = np.asarray(v).reshape(-1)
    if not indices and v.size == n and set(np.unique(v)) <= {0, 1}:
        return v.astype(bool)
    idx = v.astype(np.int64) - 1
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"{source}: {what} holds vertex ids outside 1..{n}")
    m = np.zeros(n, bool)
    m[idx] = True
    return m


# -- BFM 2017 / 2019 ----------------------------------------------------------------------------

def load_bfm_h5(path: str | Path, units: str = "dm", recenter: bool = False,
                n_id: int | None = None, n_exp: int | None = None, n_tex: int | None = None) -> MorphableModel:
    """Load a BFM 2017/2019 ``.h5`` (see module doc). ``n_*`` keep only the leading components.
    The expression model's mean (its average offset from neutral) is added to the mean shape."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"file not found: {path}")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"cannot read {path} as HDF5: {exc}") from None
    with f:
        if "shape/model/mean" not in f:
            raise InputError(f"{path} is not a Basel Face Model .h5 (no shape/model/mean)")

        def part(group: str, keep: int | None):
            if f"{group}/model/mean" not in f:
                return None, None
            mean = np.asarray(f[f"{group}/model/mean"], np.float64).reshape(-1, 3)
            basis = np.asarray(f[f"{group}/model/pcaBasis"], np.float64)
            var = np.asarray(f[f"{group}/model/pcaVariance"], np.float64).reshape(-1)
            if basis.shape[0] != mean.size and basis.shape[1] == mean.size:
                basis = basis.T  # tolerate (K, 3N) writers
            basis = (basis * np.sqrt(np.clip(var, 0, None))[None])[:, :keep]
            return mean, _components(basis)

        shape_mean, id_basis = part("shape", n_id)
        exp_mean, exp_basis = part("expression", n_exp)
        tex_mean, tex_basis = part("color", n_tex)
        cells = np.asarray(f["shape/representer/cells"], np.int64)
    faces = cells.T if cells.shape[0] == 3 and cells.shape[1] != 3 else cells
    k = unit_factor("mm", units)
    mean = shape_mean + (exp_mean if exp_mean is not None else 0.0)
    name = next((f"bfm{y}" for y in ("2019", "2017", "2009") if y in path.name), "bfm-h5")
    return build_model(
        mean=mean * k, id_basis=id_basis * k,
        exp_basis=exp_basis * k if exp_basis is not None else None,
        albedo_mean=tex_mean, albedo_basis=tex_basis, faces=faces, landmarks68=None, regions={},
        recenter=recenter,
        info=ModelInfo(name=name, units=units, licence=BFM_LICENCE, provenance=str(path),
                       exp_is_blendshape=False, extra={"expression_mean_added": exp_mean is not None}))


# -- shared assembly ----------------------------------------------------------------------------

def _components(basis: np.ndarray) -> np.ndarray:
    """``(3N, K)`` column-per-component (x, y, z interleaved) -> ``(K, N, 3)``."""
    basis = np.asarray(basis)
    return basis.T.reshape(basis.shape[1], -1, 3)


def build_model(*, mean, id_basis, exp_basis, albedo_mean, albedo_basis, faces, landmarks68,
                regions, recenter: bool, info: ModelInfo) -> MorphableModel:
    """Assemble a PCA model: re-centre, orient triangles outward, name the PCA expressions."""
    n = mean.shape[0]
    if faces.ndim != 2 or faces.shape[1] != 3 or faces.min() < 0 or faces.max() >= n:
        raise InputError(f"{info.provenance}: triangles must be (F, 3) vertex ids within the {n} vertices")
    if recenter:  # Deep3DFaceRecon's ParametricFaceModel(recenter=True)
        info.extra["recenter_offset"] = mean.mean(0).tolist()
        mean = mean - mean.mean(0, keepdims=True)
    faces, flipped = orient_outward(mean, faces)
    info.extra["flipped_winding"] = flipped
    exp_basis = exp_basis if exp_basis is not None else np.zeros((0, n, 3), np.float32)
    names = [f"pca{i:02d}" for i in range(exp_basis.shape[0])]
    return MorphableModel(mean=mean, id_basis=id_basis, exp_basis=exp_basis, exp_names=names,
                          faces=faces, info=info, albedo_mean=albedo_mean, albedo_basis=albedo_basis,
                          landmarks68=landmarks68, regions=regions)


def orient_outward(vertices: np.ndarray, faces: np.ndarray) -> tuple[np.ndarray, bool]:
    """Reverse every triangle when most of the surface faces inward.

    "Outward" is measured by the signed sum of (counter-clockwise) triangle normals dotted with
    the triangle's offset from the mesh centroid -- positive for an outward-wound face mask or
    head. Returns ``(faces, flipped)``.
    """
    v = np.asarray(vertices, np.float64)
    a, b, c = v[faces[:, 0]], v[faces[:, 1]], v[faces[:, 2]]
    normal = np.cross(b - a, c - a)
    centre = (a + b + c) / 3 - v.mean(0)
    if np.einsum("ij,ij->", normal, centre) < 0:
        return faces[:, [0, 2, 1]], True
    return faces, False
