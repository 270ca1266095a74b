"""Fast, vectorised reading of the parts of Wavefront OBJ files that face models use.

Face-model shape files (ICT-FaceKit ships 150+ of them, 2.5 MB each) repeat one topology and differ
only in their ``v`` lines, so :func:`obj_vertices` reads just that block with one numpy call;
:func:`obj_mesh` also reads UVs and polygons (quads split into triangles) for the one mesh whose
topology is needed.
"""

from __future__ import annotations

import numpy as np

from talkrig.errors import InputError


def _block(data: bytes, tag: bytes) -> bytes:
    """The bytes from the first to the last line starting with ``tag`` (e.g. ``b"v "``)."""
    if data.startswith(tag):
        start = 0
    else:
        start = data.find(b"\n" + tag) + 1
        if start == 0:
            return b""
    last = data.rfind(b"\n" + tag)
    end = data.find(b"\n", last + 1)
    return data[start: len(data) if end < 0 else end]


def _numbers(block: bytes, tag: bytes, width: int, name: str) -> np.ndarray:
    """Parse a block of ``tag x y z`` lines into a ``(n, width)`` float64 array.

    Falls back to line-by-line parsing when other lines are interleaved in the block (the fast
    path assumes the block holds only ``tag`` lines, which is how exporters write them)."""
    n_lines = block.count(b"\n") + 1 if block else 0
    flat = np.fromstring(block.replace(tag, b" " * len(tag)), dtype=np.float64, sep=" ")  # noqa: NPY201
    if flat.size == n_lines * width:
        return flat.reshape(n_lines, width)
    rows = [ln.split()[1: width + 1] for ln in block.split(b"\n") if ln.startswith(tag)]
    try:
        out = np.array(rows, dtype=np.float64)
    except ValueError:
        raise InputError(f"{name}: malformed '{tag.decode().strip()}' lines") from None
    if out.ndim != 2 or out.shape[1] != width:
        raise InputError(f"{name}: malformed '{tag.decode().strip()}' lines")
    return out


def obj_vertices(data: bytes, name: str = "obj") -> np.ndarray:
    """``(V, 3)`` float64 vertex positions of an OBJ file's contents (``v x y z`` lines;
    extra per-vertex colour columns are not supported)."""
    block = _block(data, b"v ")
    if not block:
        raise InputError(f"{name}: no vertices")
    return _numbers(block, b"v ", 3, name)


def obj_mesh(data: bytes, name: str = "obj") -> dict[str, np.ndarray]:
    """Vertices, UVs and triangulated faces of an OBJ file's contents.

    Returns a dict with ``vertices (V, 3) float64``, ``uvs (M, 2) float64`` (empty when absent),
    ``faces (F, 3) int64`` and ``uv_faces (F, 3) int64`` (0-based; ``uv_faces`` empty when the file
    has no texture indices). Polygons are fanned: a quad ``a b c d`` becomes ``a b c`` and ``a c d``,
    which keeps each triangle's winding (so outward normals stay outward).
    """
    verts = obj_vertices(data, name)
    vt = _block(data, b"vt ")
    uvs = _numbers(vt, b"vt ", 2, name) if vt else np.zeros((0, 2))
    lines = [ln.split()[1:] for ln in data.split(b"\n") if ln.startswith(b"f ")]
    if not lines:
        raise InputError(f"{name}: no faces")
    tris, uv_tris = [], []
    for k in sorted({len(ln) for ln in lines}):
        if k < 3:
            raise InputError(f"{name}: a face with {k} corners")
        group = b" ".join(b" ".join(ln) for ln in lines if len(ln) == k).replace(b"//", b"/0/")
        n_fields = lines[0][0].replace(b"//", b"/0/").count(b"/") + 1
        flat = np.fromstring(group.replace(b"/", b" "), dtype=np.int64, sep=" ")  # noqa: NPY201
        if flat.size % (k * n_fields):
            raise InputError(f"{name}: malformed 'f' lines (mixed index formats)")
        c = flat.reshape(-1, k, n_fields)
        v = c[..., 0]
        t = c[..., 1] if n_fields > 1 and (c[..., 1] != 0).all() else None
        for j in range(1, k - 1):  # fan triangulation
            tris.append(v[:, [0, j, j + 1]])
            if t is not None:
                uv_tris.append(t[:, [0, j, j + 1]])
    faces = _fix_index(np.concatenate(tris), len(verts), name)
    uv_faces = (_fix_index(np.concatenate(uv_tris), len(uvs), name) if len(uv_tris) == len(tris)
                else np.zeros((0, 3), np.int64))
    return {"vertices": verts, "uvs": uvs, "faces": faces, "uv_faces": uv_faces}


def _fix_index(idx: np.ndarray, n: int, name: str) -> np.ndarray:
    """OBJ indices are 1-based, negative ones count from the end; return 0-based, checked."""
    idx = np.where(idx < 0, idx + n, idx - 1)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise InputError(f"{name}: face index out of range (1..{n})")
    return idx
