"""Small scenes and an independent brute-force reference for the render tests."""

from __future__ import annotations

import numpy as np
import torch

from talkrig.render.camera import Camera


def random_scene(seed: int = 0, n_tri: int = 20, size=(48, 64), focal: float = 60.0):
    """Random overlapping triangles in front of the camera (camera space, float64).

    Returns (vertices (1, 3*n_tri, 3), faces (n_tri, 3), camera)."""
    rng = np.random.default_rng(seed)
    h, w = size
    cam = Camera(focal=focal, width=w, height=h)
    centres = np.stack([rng.uniform(-1.2, 1.2, n_tri), rng.uniform(-0.9, 0.9, n_tri),
                        -rng.uniform(3.0, 6.0, n_tri)], 1)
    verts = centres[:, None, :] + rng.normal(0, 0.6, (n_tri, 3, 3)) * np.array([1.0, 1.0, 0.5])
    faces = np.arange(3 * n_tri).reshape(n_tri, 3)
    return torch.from_numpy(verts.reshape(1, -1, 3)), torch.from_numpy(faces), cam


def raycast(vertices: np.ndarray, faces: np.ndarray, cam: Camera):
    """Brute force: cast a ray through every pixel centre, intersect every triangle
    (Moller-Trumbore in camera space), keep the nearest hit.

    Returns ids (H, W) int (-1 none), depth (H, W) (-z of the hit, 0 none), hit points (H, W, 3).
    """
    cx, cy = cam.principal
    f = float(cam.focal)
    h, w = cam.height, cam.width
    jj, ii = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    d = np.stack([(jj - cx) / f, -(ii - cy) / f, -np.ones_like(jj)], -1)  # (H, W, 3), d_z = -1
    ids = np.full((h, w), -1)
    depth = np.zeros((h, w))
    best = np.full((h, w), np.inf)
    for t, (a, b, c) in enumerate(faces):
        v0, v1, v2 = vertices[a], vertices[b], vertices[c]
        e1, e2 = v1 - v0, v2 - v0
        p = np.cross(d, e2)
        det = p @ e1
        with np.errstate(divide="ignore", invalid="ignore"):
            inv = 1.0 / det
            s = -v0  # ray origin is the camera centre
            u = (p @ s) * inv
            q = np.cross(s, e1)
            v = (d * q).sum(-1) * inv
            tt = (q @ e2) * inv
        hit = (np.abs(det) > 1e-12) & (u >= 0) & (v >= 0) & (u + v <= 1) & (tt > 0) & (tt < best)
        best[hit] = tt[hit]
        ids[hit] = t
    depth[ids >= 0] = best[ids >= 0]  # d_z = -1, so the ray parameter is the depth
    return ids, depth, d * best[..., None]


def icosphere(subdiv: int = 3, radius: float = 1.0):
    """Unit-ish icosphere (vertices (N,3) float64, faces (F,3) int64, CCW from outside)."""
    import trimesh

    m = trimesh.creation.icosphere(subdivisions=subdiv, radius=radius)
    return torch.from_numpy(np.asarray(m.vertices, np.float64)), torch.from_numpy(np.asarray(m.faces, np.int64))


def ict_neutral(tarball):
    """ICT-FaceKit neutral head from the release tarball: vertices (N,3) float32 cm, faces (F,3)
    (quads fan-split), uvs (M,2), uv_faces (F,3)."""
    import io
    import tarfile

    v, vt, f, ft = [], [], [], []
    with tarfile.open(tarball, "r:xz") as tf:
        member = next(m for m in tf if m.name.endswith("generic_neutral_mesh.obj"))
        for line in io.TextIOWrapper(tf.extractfile(member)):
            if line.startswith("v "):
                v.append([float(a) for a in line.split()[1:4]])
            elif line.startswith("vt "):
                vt.append([float(a) for a in line.split()[1:3]])
            elif line.startswith("f "):
                p = [q.split("/") for q in line.split()[1:]]
                for k in range(1, len(p) - 1):
                    f.append([int(p[0][0]) - 1, int(p[k][0]) - 1, int(p[k + 1][0]) - 1])
                    ft.append([int(p[0][1]) - 1, int(p[k][1]) - 1, int(p[k + 1][1]) - 1])
    return (torch.tensor(v, dtype=torch.float32), torch.tensor(f), torch.tensor(vt, dtype=torch.float32),
            torch.tensor(ft))
