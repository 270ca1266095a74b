"""Write meshes (OBJ with UVs + .mtl + texture, PLY, GLB) and landmarks (.npy, iBUG .pts).

Every file goes through :func:`talkrig.io.files.atomic_path`: it appears whole or not at all.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from talkrig.errors import InputError
from talkrig.io.files import atomic_path

MESH_SUFFIXES = (".obj", ".ply", ".glb")
LANDMARK_SUFFIXES = (".pts", ".npy")


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if hasattr(a, "detach") else np.asarray(a)


def export_mesh(path: str | Path, vertices, faces, *, uvs=None, uv_faces=None, texture=None,
                vertex_colors=None) -> Path:
    """Write a triangle mesh; the format follows the suffix (``.obj``, ``.ply``, ``.glb``).

    Args:
        vertices: ``(N, 3)`` float. faces: ``(F, 3)`` int.
        uvs: ``(M, 2)`` in [0, 1] (v up) with ``uv_faces`` ``(F, 3)`` into them (OBJ keeps them
            as they are; PLY/GLB get vertices split at uv seams).
        texture: ``(H, W, 3)`` float [0, 1] or uint8 image, written beside an OBJ as
            ``<stem>.png`` (with ``<stem>.mtl``) and embedded in a GLB.
        vertex_colors: ``(N, 3)`` float [0, 1] for PLY/GLB when there is no texture.
    Returns:
        the path written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise InputError(f"cannot write a mesh to {path.name}: use one of {', '.join(MESH_SUFFIXES)}")
    v, f = _np(vertices).astype(np.float64), _np(faces).astype(np.int64)
    uv = _np(uvs).astype(np.float64) if uvs is not None and len(uvs) else None
    uvf = _np(uv_faces).astype(np.int64) if uv is not None else None
    tex = _to_uint8(texture) if texture is not None else None
    if suffix == ".obj":
        _write_obj(path, v, f, uv, uvf, tex)
    else:
        _write_trimesh(path, v, f, uv, uvf, tex, vertex_colors)
    return path


def _to_uint8(img) -> np.ndarray:
    a = _np(img)
    return a if a.dtype == np.uint8 else (np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8)


def _write_obj(path: Path, v, f, uv, uvf, tex) -> None:
    from PIL import Image

    lines = []
    if tex is not None:
        with atomic_path(path.with_suffix(".png")) as tmp:
            Image.fromarray(tex).save(tmp, format="PNG")
        mtl = path.with_suffix(".mtl")
        with atomic_path(mtl) as tmp:
            tmp.write_text(f"newmtl skin\nKd 1 1 1\nKa 0 0 0\nKs 0 0 0\nd 1\nillum 1\nmap_Kd {path.stem}.png\n")
        lines += [f"mtllib {mtl.name}", "usemtl skin"]
    lines += [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in v]
    if uv is not None:
        lines += [f"vt {a:.6f} {b:.6f}" for a, b in uv]
        lines += [f"f {a + 1}/{ta + 1} {b + 1}/{tb + 1} {c + 1}/{tc + 1}"
                  for (a, b, c), (ta, tb, tc) in zip(f, uvf)]
    else:
        lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in f]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def split_seams(v, f, uv, uvf):
    """Duplicate vertices so every (vertex, uv) pair is one vertex: ``(v2, f2, uv2, src)``
    where ``src`` maps each new vertex to its original."""
    pairs = np.stack([f.ravel(), uvf.ravel()], 1)
    uniq, inv = np.unique(pairs, axis=0, return_inverse=True)
    return v[uniq[:, 0]], inv.reshape(-1, 3), uv[uniq[:, 1]], uniq[:, 0]


def _write_trimesh(path: Path, v, f, uv, uvf, tex, colors) -> None:
    import trimesh
    from PIL import Image

    src = np.arange(len(v))
    if uv is not None:
        v, f, uv, src = split_seams(v, f, uv, uvf)
    mesh = trimesh.Trimesh(v, f, process=False)
    if uv is not None and tex is not None and path.suffix.lower() == ".glb":
        mesh.visual = trimesh.visual.TextureVisuals(uv=uv, image=Image.fromarray(tex))
    elif colors is not None:
        c = _to_uint8(_np(colors)[src])
        mesh.visual = trimesh.visual.ColorVisuals(mesh, vertex_colors=np.concatenate(
            [c, np.full((len(c), 1), 255, np.uint8)], 1))
    data = mesh.export(file_type=path.suffix.lower()[1:])
    with atomic_path(path) as tmp:
        tmp.write_bytes(data if isinstance(data, bytes) else data.encode())


def export_landmarks(path: str | Path, points) -> Path:
    """Write ``(68, 2|3)`` landmarks as iBUG ``.pts`` (x y per line) or ``.npy``."""
    path = Path(path)
    p = _np(points).astype(np.float64)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, p)
    elif suffix == ".pts":
        body = "\n".join(" ".join(f"{c:.6f}" for c in row[:2]) for row in p)
        with atomic_path(path) as tmp:
            tmp.write_text(f"version: 1\nn_points: {len(p)}\n{{\n{body}\n}}\n")
    else:
        raise InputError(f"cannot write landmarks to {path.name}: use .pts or .npy")
    return path


def read_pts(path: str | Path) -> np.ndarray:
    """Read an iBUG ``.pts`` file into ``(P, 2)`` float64, the values as written (1-based
    datasets: see :func:`talkrig.recon.evaluate.read_pts`). Raises a one-line
    :class:`InputError` for a missing or malformed file."""
    path = Path(path)
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read landmarks {path}: {getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    body = re.search(r"\{(.*)\}", text, re.S)
    try:
        return np.array(body.group(1).split(), dtype=np.float64).reshape(-1, 2)
    except (AttributeError, ValueError):
        raise InputError(f"{path} is not an iBUG .pts file") from None
