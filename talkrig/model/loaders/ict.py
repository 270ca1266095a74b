"""ICT-FaceKit "FaceXModel" (ICT Face Model Light) -> :class:`MorphableModel`.

Source format (ICT-FaceKit, MIT, (c) 2020 USC Institute for Creative Technologies): a folder, or a
``.tar.xz`` holding one, with ``generic_neutral_mesh.obj`` (26,719 vertices, quads and some
triangles, UVs), ``identity000..099.obj`` (PCA identity modes as full meshes),
one OBJ per expression shape (full meshes, ARKit-style names with ``_L``/``_R``) and
``vertex_indices.json`` (68 iBUG landmark vertex ids and fitting/rigid vertex sets). Every shape
OBJ repeats the neutral topology; a basis vector is ``shape - neutral``.

Conversion (units cm, right-handed, y up, the face looks down +z, exactly as ICT stores it):
  * identity coefficients are the weights of the identity modes (ICT applies them unscaled, so
    ``id_std`` is 1);
  * expression coefficients are blendshape weights in [0, 1]; names go through
    :func:`talkrig.model.arkit.canonical_name`. ICT has no ``tongueOut`` and splits ARKit's
    ``browInnerUp`` and ``cheekPuff`` into ``_L``/``_R`` halves; those halves, and ICT's extra
    ``cheekRaiser_L/_R`` and ``PupilDilate_L/_R``, keep their ICT names.
    ``info.extra["arkit_split"]`` says which halves make up an ARKit shape;
  * UVs are kept as ICT stores them, in UDIM tiles (u in [0, 7): tile 0 the face and eyeballs,
    1 head/neck and sockets, 2 gums and tongue, 3 teeth, 4-6 eye parts) -- ``info.extra["uv_udim"]``;
  * regions come from ICT's documented vertex ranges (ICT-FaceKit README, "Face Model Topology").

The OBJs are read straight out of the tarball (nothing is unpacked to disk) and the conversion is
cached as a talkrig ``.npz`` in :func:`talkrig.io.cache.cache_dir`, keyed by the source, with
ICT's LICENSE beside it; a second load reads only that file.
"""

from __future__ import annotations

import json
import os
import queue
import tarfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.model.arkit import canonical_name
from talkrig.model.loaders.cache import cached_model
from talkrig.model.loaders.objparse import obj_mesh, obj_vertices
from talkrig.model.loaders.units import scale_model
from talkrig.model.morphable import ModelInfo, MorphableModel

N_VERTICES = 26719
NEUTRAL = "generic_neutral_mesh.obj"
LICENCE_FALLBACK = ("MIT License. Copyright (c) 2020 USC Institute for Creative Technologies "
                    "(ICT-FaceKit); the copyright and permission notice must be kept with copies.")

# Vertex ranges [start, stop) of ICT's geometry parts, from the ICT-FaceKit README table
# ("Face Model Topology"); they match the OBJ's material groups.
_PARTS = {
    "face": (0, 9409), "head_neck": (9409, 11248), "mouth_socket": (11248, 13294),
    "eye_socket_left": (13294, 13678), "eye_socket_right": (13678, 14062),
    "gums_tongue": (14062, 17039), "teeth": (17039, 21451),
    "eye_left": (21451, 23021), "eye_right": (23021, 24591),
    "eye_extras": (24591, 26719),  # lacrimal fluid, eye blend, occlusion, eyelashes
}


def find_ict(cwd: Path | None = None) -> Path | None:
    """Where an ICT FaceXModel is: ``$TALKRIG_ICT_MODEL``, else a ``FaceXModel`` folder or
    ``ICT-FaceKit*.tar.xz`` in ``../shared/models`` next to the current directory or the repo;
    None when there is none."""
    env = os.environ.get("TALKRIG_ICT_MODEL")
    if env:
        return Path(env)
    repo = Path(__file__).resolve().parents[3]
    for base in (Path(cwd or Path.cwd()).resolve().parent, repo.parent):
        models = base / "shared" / "models"
        if (models / "FaceXModel").is_dir():
            return models / "FaceXModel"
        tars = sorted(models.glob("*FaceXModel*.tar.xz")) if models.is_dir() else []
        if tars:
            return tars[0]
    return None


def load_ict(path: str | Path | None = None, units: str = "cm", cache: bool = True) -> MorphableModel:
    """Load ICT-FaceKit's FaceXModel from a folder or ``.tar.xz`` (default: :func:`find_ict`).

    The first load parses the OBJs (a few seconds) and writes a cached ``.npz``; later loads of
    the same unchanged source read the cache.
    """
    src = Path(path) if path is not None else find_ict()
    if src is None:
        raise ModelNotFoundError("ICT face model not found: set TALKRIG_ICT_MODEL to a FaceXModel "
                                 "folder or ICT-FaceKit .tar.xz")
    if not src.exists():
        raise ModelNotFoundError(f"ICT face model not found: {src}")
    model = cached_model("ict", [src], lambda: ict_from_files(_prefetch(_read_sources(src)), str(src)),
                         cache=cache)
    return scale_model(model, units) if units != model.info.units else model


def _read_sources(src: Path) -> Iterator[tuple[str, bytes]]:
    """``(file name, contents)`` for the OBJ/JSON/LICENSE files of a FaceXModel folder or tarball."""
    wanted = (".obj", ".json")
    if src.is_dir():
        folder = src / "FaceXModel" if (src / "FaceXModel").is_dir() else src
        for p in sorted(folder.iterdir()):
            if p.suffix in wanted or p.name == "LICENSE":
                yield p.name, p.read_bytes()
        return
    try:
        with tarfile.open(src, "r:*") as tar:
            for member in tar:  # stream in archive order: no random access into the xz stream
                name = member.name.rsplit("/", 1)[-1]
                if member.isfile() and (name.endswith(wanted) or name == "LICENSE"):
                    yield name, tar.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise InputError(f"cannot read ICT model archive {src}: {exc}") from None


def _prefetch(items: Iterator[tuple[str, bytes]], depth: int = 4) -> Iterator[tuple[str, bytes]]:
    """Iterate ``items`` in a background thread, ``depth`` ahead: xz decompression releases the
    GIL, so it overlaps with OBJ parsing in the caller."""
    q: queue.Queue = queue.Queue(maxsize=depth)
    done, stop = object(), threading.Event()

    def put(x) -> bool:
        while not stop.is_set():  # give up when the consumer has stopped reading
            try:
                q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for it in items:
                if not put(it):
                    return
            put(done)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer
            put(exc)

    threading.Thread(target=work, daemon=True).start()
    try:
        while (it := q.get()) is not done:
            if isinstance(it, BaseException):
                raise it
            yield it
    finally:
        stop.set()


def ict_from_files(files: Iterable[tuple[str, bytes]], provenance: str = "ICT-FaceKit") -> MorphableModel:
    """Build the model from the FaceXModel files' ``(name, contents)``, parsing each OBJ as it
    arrives so only vertex arrays (not 387 MB of text) are held."""
    shapes: dict[str, np.ndarray] = {}
    text: dict[str, bytes] = {}
    mesh = None
    for name, data in files:
        if name == NEUTRAL:
            mesh = obj_mesh(data, name)
        elif name.endswith(".obj"):
            shapes[name[:-4]] = obj_vertices(data, name)
        else:
            text[name] = data
    if mesh is None:
        raise InputError(f"{provenance} is not an ICT FaceXModel (no {NEUTRAL})")
    neutral = mesh["vertices"]
    n = neutral.shape[0]
    index = json.loads(text["vertex_indices.json"]) if "vertex_indices.json" in text else {}

    id_src = sorted(f for f in shapes if f.startswith("identity"))
    exp_order = list(index.get("expressions", []))
    exp_src = ([e for e in exp_order if e in shapes]
               + sorted(f for f in shapes if not f.startswith("identity") and f not in exp_order))

    def deltas(names: list[str]) -> np.ndarray:
        out = np.empty((len(names), n, 3), np.float32)
        for i, name in enumerate(names):
            v = shapes.pop(name)
            if v.shape != neutral.shape:
                raise InputError(f"{name}.obj: {v.shape[0]} vertices, the neutral mesh has {n}")
            out[i] = v - neutral  # float64 difference, one rounding to float32
        return out

    id_basis = deltas(id_src)
    exp_basis = deltas(exp_src)
    exp_names = [canonical_name(e) or e for e in exp_src]
    unmapped = [e for e in exp_src if canonical_name(e) is None]
    if len(set(exp_names)) != len(exp_names):
        raise InputError(f"{provenance}: expression names collide after ARKit mapping")

    regions = _regions(n, neutral, index.get("idx_to_landmark_verts"))
    licence = text.get("LICENSE", b"").decode("utf-8", "replace").strip() or LICENCE_FALLBACK
    info = ModelInfo(
        name="ict", units="cm", licence=licence, provenance=provenance, exp_is_blendshape=True,
        extra={"source": "ICT-FaceKit FaceXModel (ICT Face Model Light)",
               "unmapped_expressions": unmapped,
               "arkit_split": {a: [f"{a}_L", f"{a}_R"] for a in ("browInnerUp", "cheekPuff")
                               if f"{a}_L" in exp_names},
               "uv_udim": True})
    lm = index.get("idx_to_landmark_verts")
    return MorphableModel(mean=neutral.astype(np.float32), id_basis=id_basis, exp_basis=exp_basis,
                          exp_names=exp_names, faces=mesh["faces"], uvs=mesh["uvs"],
                          uv_faces=mesh["uv_faces"], info=info,
                          landmarks68=np.asarray(lm, np.int64) if lm and len(lm) == 68 else None,
                          regions=regions)


def _regions(n: int, neutral: np.ndarray, landmarks) -> dict[str, np.ndarray]:
    """Boolean vertex masks from ICT's part ranges (only for the 26,719-vertex topology)."""
    if n != N_VERTICES:
        return {}
    mask = {}
    for name, (a, b) in _PARTS.items():
        m = np.zeros(n, bool)
        m[a:b] = True
        mask[name] = m
    mask["eyes"] = mask["eye_left"] | mask["eye_right"]
    mask["skin"] = mask["face"] | mask["head_neck"]
    mask["mouth_interior"] = mask["mouth_socket"] | mask["gums_tongue"] | mask["teeth"]
    if landmarks is not None and len(landmarks) == 68:
        mask["lips"] = mask["face"] & _inside_outline(neutral, neutral[np.asarray(landmarks)[48:60]])
    return mask


def _inside_outline(points: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """Which ``points (N, 3)`` fall inside the closed polygon ``outline (P, 3)`` seen along z
    (even-odd rule, vectorised over points and edges). Used for the lips: the face vertices
    inside the outer lip contour of the 68 landmarks (iBUG points 49-60)."""
    x, y = points[:, 0:1], points[:, 1:2]
    x0, y0 = outline[:, 0][None], outline[:, 1][None]
    x1, y1 = np.roll(outline[:, 0], -1)[None], np.roll(outline[:, 1], -1)[None]
    crosses = (y0 > y) != (y1 > y)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) * (x1 - x0) / (y1 - y0)
    return ((crosses & (x < xc)).sum(1) % 2).astype(bool)
