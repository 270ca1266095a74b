"""Drive models with unnamed (PCA) expressions, such as the Basel Face Model, in ARKit terms.

The default model's 52 ARKit shapes are carried over to the target model and projected into
its expression space, giving a linear map ``M`` (52, E): ``coefficients = weights @ M``.

1. Register the two neutral templates: a similarity transform (Umeyama 1991) on the 68 iBUG
   landmarks fixes scale/units, rotation and position; a thin-plate-spline warp driven by the
   same landmarks then bends the source onto the target's proportions.
2. Correspondence: each target vertex takes the closest warped source vertex among its
   nearest neighbours whose normal agrees (so upper and lower lips are not confused).
3. Each ARKit shape's displacements are brought into the target frame (rotation x scale) and
   fitted by the target's expression basis in the least-squares sense with a small ridge term
   (a linear stand-in for deformation transfer, Sumner & Popovic 2004, projected into the
   target's space).

The map is cached on disk per (target, source) pair.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch

from talkrig.errors import InputError

_RIDGE = 1e-3
_MAX_DIST = 0.08  # of the face size: farther target vertices get no displacement


def _model_key(model) -> str:
    h = hashlib.sha1()
    for t in (model.mean, model.exp_basis, model.landmarks68):
        a = t.detach().cpu().numpy()
        h.update(str(a.shape).encode())
        h.update(np.ascontiguousarray(a[..., ::max(1, a.shape[-1] // 3)]).tobytes()[:1 << 20])
    return h.hexdigest()[:16]


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Umeyama least-squares similarity ``dst ~ s * R @ src + t`` for ``(K, 3)`` point sets."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a / len(src))
    d = np.eye(3)
    d[2, 2] = np.sign(np.linalg.det(u @ vt))
    r = u @ d @ vt
    s = float(np.trace(np.diag(sig) @ d) / (a ** 2).sum(1).mean())
    return s, r, mu_d - s * r @ mu_s


def _normals(v: np.ndarray, faces: np.ndarray) -> np.ndarray:
    from talkrig.model.geometry import vertex_normals

    return vertex_normals(torch.from_numpy(v[None]).float(), torch.from_numpy(faces))[0].numpy()


def correspondence(src_v: np.ndarray, src_faces: np.ndarray, src_lm: np.ndarray,
                   dst_v: np.ndarray, dst_faces: np.ndarray, dst_lm: np.ndarray):
    """Register source to target and match vertices.

    Returns ``(index (Nt,) into source vertices, valid (Nt,) bool, scale, R (3, 3))`` where
    ``scale * R`` maps source displacements into the target frame.
    """
    from scipy.interpolate import RBFInterpolator
    from scipy.spatial import cKDTree

    s, r, t = similarity(src_v[src_lm], dst_v[dst_lm])
    aligned = (s * src_v @ r.T) + t
    warp = RBFInterpolator(aligned[src_lm], dst_v[dst_lm] - aligned[src_lm],
                           kernel="thin_plate_spline", smoothing=1e-3 * s)
    warped = aligned + warp(aligned)
    n_src, n_dst = _normals(warped, src_faces), _normals(dst_v, dst_faces)
    tree = cKDTree(warped)
    dist, idx = tree.query(dst_v, k=8)
    agree = np.einsum("nkc,nc->nk", n_src[idx], n_dst) > 0.3
    first = np.where(agree.any(1), agree.argmax(1), 0)
    pick = idx[np.arange(len(dst_v)), first]
    d = dist[np.arange(len(dst_v)), first]
    size = np.linalg.norm(dst_v[dst_lm].max(0) - dst_v[dst_lm].min(0))
    return pick, d < _MAX_DIST * size, s, r


def compute_mapping(target, source) -> np.ndarray:
    """``(52, E)`` float32 map from ARKit weights to ``target``'s expression coefficients."""
    from talkrig.model.arkit import ARKIT_52, canonical_name

    for m, role in ((target, "target"), (source, "source")):
        if m.landmarks68.numel() != 68:
            raise InputError(f"{role} model {m.name!r} has no 68 landmarks for ARKit transfer")
    names = [canonical_name(n) for n in source.exp_names]
    order = [names.index(n) for n in ARKIT_52 if n in names]
    if len(order) != len(ARKIT_52):
        raise InputError(f"source model {source.name!r} lacks some ARKit shapes")
    src_v = source.mean.double().cpu().numpy()
    dst_v = target.mean.double().cpu().numpy()
    pick, valid, s, r = correspondence(src_v, source.faces.cpu().numpy(), source.landmarks68.cpu().numpy(),
                                       dst_v, target.faces.cpu().numpy(), target.landmarks68.cpu().numpy())
    src_d = source.exp_basis.double().cpu().numpy()[order]  # (52, Ns, 3)
    disp = s * np.einsum("kni,ji->knj", src_d[:, pick], r)  # (52, Nt, 3) in the target frame
    disp[:, ~valid] = 0.0
    b = target.exp_basis.double().cpu().numpy()[:, valid].reshape(target.n_expression, -1)  # (E, 3Nv)
    d = disp[:, valid].reshape(len(ARKIT_52), -1)  # (52, 3Nv)
    gram = b @ b.T
    lam = _RIDGE * np.trace(gram) / max(len(gram), 1)
    m = np.linalg.solve(gram + lam * np.eye(len(gram)), b @ d.T).T  # (52, E)
    return m.astype(np.float32)


def arkit_mapping(model, source=None) -> torch.Tensor:
    """Cached ``(52, E)`` map for ``model`` (transfer from ``source``, default: the default
    model)."""
    from talkrig.model import load_model
    from talkrig.io.cache import cache_dir

    source = source if source is not None else load_model("default")
    path = cache_dir() / f"arkit_transfer_{_model_key(model)}_{_model_key(source)}.npy"
    if path.is_file():
        m = np.load(path, allow_pickle=False)
        if m.shape == (52, model.n_expression):
            return torch.from_numpy(m)
    m = compute_mapping(model, source)
    from talkrig.io.files import atomic_path

    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, m)
    return torch.from_numpy(m)
