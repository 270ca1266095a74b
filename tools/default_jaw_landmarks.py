#!/usr/bin/env python
"""The default model's iBUG jaw landmarks (0-16), transferred from the ICT Face Model.

    python tools/default_jaw_landmarks.py [--ict PATH] [--asset talkrig/assets/default_head.npz]

The default model's first 68 landmark vertices came from MediaPipe run on a frontal render of
the neutral head, mapped to iBUG 68 point by point. For the jaw that is the weak part: MediaPipe's
face oval is not the iBUG jaw line, and the nearest vertices of a coarse mesh made the points
unevenly spaced along the jaw and asymmetric (the mesh itself is exactly mirror-symmetric).
ICT-FaceKit ships authoritative iBUG-68 vertex ids (``vertex_indices.json``), so the jaw is
re-defined by registering the ICT neutral to the default neutral and carrying ICT's jaw points
over:

1. correspondences: the MediaPipe 478 points on both models (the default model's stored
   correspondence, ICT's computed by :func:`talkrig.recon.correspondence.get_correspondence`),
   kept where both surfaces face the camera (normal z > 0.5; near the outline a back-projected
   point can slide centimetres along the surface);
2. similarity (Umeyama) on them, then a thin-plate-spline warp, refined by non-rigid ICP: ICT's
   face vertices are pulled to their nearest points on the default skin (ears, eyes and the
   mouth interior excluded), a few rounds;
3. each warped ICT jaw vertex goes to its nearest point on the default skin (a triangle and
   barycentric weights, not a vertex: the mesh is coarse there, ~1 cm), then the 17 points are
   made mirror-symmetric (point k averaged with the mirror image of point 16 - k, projected
   exactly onto the nearest triangle).

The result is stored in the asset as ``landmarks68_face`` ``(68,)`` / ``landmarks68_bary``
``(68, 3)`` (jaw from ICT; brows, eyes, nose and lips the one-hot of ``landmarks68``, which is
left as it was). :mod:`talkrig.recon` uses these surface points when a model has them.
``tools/build_default_model.py`` runs this step when the ICT model is found; without it the
asset has no surface landmarks and the vertex ids are used.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from asset_file import read_asset, write_asset  # noqa: E402

FRONTAL_NZ = 0.5  # correspondences used where both surfaces' normals have z above this
ICP_ROUNDS = 6
ICP_SAMPLES = 1500
ICP_REJECT_CM = 1.5  # ICP pairs further apart than this (in the default model's cm) are dropped
SUBDIV = 8  # surface samples per triangle edge for closest-point queries (~1 mm on this mesh)
SKIN_EXCLUDE = ("ears", "eyes", "mouth_interior", "teeth", "tongue", "lips", "eyelids")


def ict_path_default() -> Path | None:
    """``$TALKRIG_ICT_MODEL`` or ``../shared/models/ICT-FaceKit-FaceXModel.tar.xz``, if present."""
    env = os.environ.get("TALKRIG_ICT_MODEL")
    cands = [Path(env)] if env else []
    cands.append(ROOT.parent / "shared" / "models" / "ICT-FaceKit-FaceXModel.tar.xz")
    return next((p for p in cands if p.exists()), None)


def _umeyama(a: np.ndarray, b: np.ndarray):
    """Similarity ``b ~ s R a + t`` (least squares)."""
    ma, mb = a.mean(0), b.mean(0)
    u, sv, vt = np.linalg.svd((b - mb).T @ (a - ma))
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    r = u @ d @ vt
    s = float((sv * np.diag(d)).sum() / ((a - ma) ** 2).sum())
    return s, r, mb - s * ma @ r.T


def _tps(src: np.ndarray, dst: np.ndarray, smoothing: float):
    from scipy.interpolate import RBFInterpolator

    f = RBFInterpolator(src, dst - src, kernel="thin_plate_spline", smoothing=smoothing)
    return lambda x: x + f(x)


def _normals(v: np.ndarray, f: np.ndarray) -> np.ndarray:
    n = np.zeros_like(v)
    fn = np.cross(v[f[:, 1]] - v[f[:, 0]], v[f[:, 2]] - v[f[:, 0]])
    for k in range(3):
        np.add.at(n, f[:, k], fn)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)


def _at(v: np.ndarray, f: np.ndarray, fid: np.ndarray, bary: np.ndarray) -> np.ndarray:
    return (v[f[fid]] * bary[..., None]).sum(1)


class _Surface:
    """Dense barycentric samples of some triangles, for closest-point queries."""

    def __init__(self, v: np.ndarray, f: np.ndarray, tri: np.ndarray, n: int = SUBDIV):
        from scipy.spatial import cKDTree

        a, b = np.meshgrid(np.arange(n + 1), np.arange(n + 1))
        m = a + b <= n
        w = np.stack([a[m], b[m], n - a[m] - b[m]], 1) / n
        self.fid = np.repeat(tri, len(w))
        self.bary = np.tile(w, (len(tri), 1))
        self.pts = _at(v, f, self.fid, self.bary)
        self.tree = cKDTree(self.pts)

    def closest(self, x: np.ndarray):
        d, j = self.tree.query(x)
        return d, self.pts[j], self.fid[j], self.bary[j]

    def project(self, x: np.ndarray, v: np.ndarray, f: np.ndarray):
        """Exact closest points on the triangles near ``x`` ``(P, 3)``: ``(points, fid, bary)``
        (a point outside every nearby triangle keeps its nearest sample)."""
        _, pts, fid, bary = self.closest(x)
        pts, fid, bary = pts.copy(), fid.copy(), bary.copy()
        _, near = self.tree.query(x, k=32)
        for i, p in enumerate(x):
            best = np.linalg.norm(pts[i] - p)
            for t in np.unique(self.fid[near[i]]):
                a, b, c = v[f[t]]
                m = np.stack([b - a, c - a], 1)
                uv, *_ = np.linalg.lstsq(m, p - a, rcond=None)
                w = np.array([1 - uv.sum(), uv[0], uv[1]])
                if (w < -1e-9).any():
                    continue
                q = a + m @ uv
                if np.linalg.norm(q - p) < best:
                    best, pts[i], fid[i], bary[i] = np.linalg.norm(q - p), q, t, w
        return pts, fid, bary


def transfer_jaw(mean: np.ndarray, faces: np.ndarray, regions: dict, mp_face: np.ndarray, mp_bary: np.ndarray,
                 ict, verbose: bool = True) -> tuple[np.ndarray, np.ndarray, dict]:
    """ICT's 17 iBUG jaw points on the default surface.

    Args:
        mean ``(N, 3)``, faces ``(F, 3)``: the default neutral; regions: name -> ``(N,)`` bool;
        mp_face ``(478,)`` / mp_bary ``(478, 3)``: the default model's MediaPipe correspondence;
        ict: the loaded ICT :class:`~talkrig.model.morphable.MorphableModel`.
    Returns:
        ``(face_ids (17,), bary (17, 3), stats)``.
    """
    from talkrig.recon.correspondence import get_correspondence

    vd, fd = np.asarray(mean, np.float64), np.asarray(faces)
    vi, fi = ict.mean.double().numpy(), ict.faces.numpy()
    ci = get_correspondence(ict)
    pd_, pi_ = _at(vd, fd, mp_face, mp_bary.astype(np.float64)), _at(vi, fi, ci.face_ids, ci.bary.astype(np.float64))
    nd, ni = _at(_normals(vd, fd), fd, mp_face, mp_bary), _at(_normals(vi, fi), fi, ci.face_ids, ci.bary)
    use = ci.valid.copy()
    use[468:] = False  # iris points sit on the eyeballs
    use &= (nd[:, 2] > FRONTAL_NZ) & (ni[:, 2] > FRONTAL_NZ)
    s, r, t = _umeyama(pi_[use], pd_[use])
    x0 = s * vi @ r.T + t  # ICT in the default frame
    src_c, dst_c = s * pi_[use] @ r.T + t, pd_[use]
    sim_res = float(np.linalg.norm(src_c - dst_c, axis=1).mean())

    bad = np.zeros(len(vd), bool)
    for k in SKIN_EXCLUDE:
        if k in regions:
            bad |= regions[k]
    surf = _Surface(vd, fd, np.flatnonzero(~bad[fd].any(1)))
    ireg = {k: ict.region(k).numpy() for k in ict.region_names}
    drive = ireg["face"].copy()
    for k in ("lips", "eyes", "mouth_interior", "eye_extras"):
        if k in ireg:
            drive &= ~ireg[k]
    drive = np.flatnonzero(drive)
    drive = np.random.default_rng(0).choice(drive, min(ICP_SAMPLES, len(drive)), replace=False)
    warp = _tps(src_c, dst_c, 1.0)
    for _ in range(ICP_ROUNDS):
        d, q, _, _ = surf.closest(warp(x0[drive]))
        ok = d < ICP_REJECT_CM
        src = np.concatenate([src_c, x0[drive][ok]])
        warp = _tps(src, np.concatenate([dst_c, q[ok]]), len(src) / len(src_c))
    d_icp, _, _, _ = surf.closest(warp(x0[drive]))

    jaw = warp(x0[ict.landmarks68.numpy()[:17]])
    _, p, _, _ = surf.closest(jaw)
    mirror = p[::-1] * np.array([-1.0, 1.0, 1.0])  # point 16 - k, mirrored to the side of k
    _, fid, bary = surf.project((p + mirror) / 2, vd, fd)
    stats = {"correspondences": int(use.sum()), "similarity_scale": s, "similarity_residual_cm": sim_res,
             "icp_mean_cm": float(d_icp.mean()), "icp_p90_cm": float(np.percentile(d_icp, 90)),
             "asymmetry_cm": float(np.linalg.norm(p - mirror, axis=1).max())}
    if verbose:
        print("ICT -> default registration: " + ", ".join(f"{k} {v:.3g}" for k, v in stats.items()))
    return fid.astype(np.int64), bary.astype(np.float32), stats


def surface_landmarks(faces: np.ndarray, lm68: np.ndarray, jaw_face: np.ndarray, jaw_bary: np.ndarray):
    """``(68,)`` triangles and ``(68, 3)`` barycentrics: the jaw given, the rest one-hot of
    the vertex ids ``lm68``."""
    fid = np.zeros(68, np.int64)
    bary = np.zeros((68, 3), np.float32)
    for k, v in enumerate(lm68):
        f = int(np.flatnonzero((faces == v).any(1))[0])
        fid[k], bary[k] = f, (faces[f] == v)
    fid[:17], bary[:17] = jaw_face, jaw_bary
    return fid, bary


def load_ict(path: Path):
    from talkrig.model import load_model

    os.environ["TALKRIG_ICT_MODEL"] = str(path)
    return load_model("ict")


def update_asset(asset: Path, ict_path: Path) -> dict:
    """Add / replace ``landmarks68_face`` / ``landmarks68_bary`` in an existing asset file."""
    arrays = read_asset(asset)
    names = [str(x) for x in arrays["region_names"]]
    regions = {k: arrays[f"region_{k}"].astype(bool) for k in names}
    fid, bary, stats = transfer_jaw(arrays["mean"], arrays["faces"], regions, arrays["mp478_face"],
                                    arrays["mp478_bary"], load_ict(ict_path))
    f68, b68 = surface_landmarks(arrays["faces"], arrays["landmarks68"], fid, bary)
    arrays["landmarks68_face"], arrays["landmarks68_bary"] = f68.astype(np.int32), b68
    write_asset(asset, arrays, "landmarks68_surface", (
        "landmarks68_face/_bary: jaw (0-16) transferred from the ICT Face Model's iBUG-68 vertex ids by "
        "tools/default_jaw_landmarks.py (MediaPipe-correspondence similarity + TPS + non-rigid ICP, "
        "mirror-symmetrised); 17-67 one-hot of landmarks68"))
    return stats


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--ict", default=None, help="ICT FaceXModel folder or .tar.xz (default: $TALKRIG_ICT_MODEL "
                                                "or ../shared/models/ICT-FaceKit-FaceXModel.tar.xz)")
    ap.add_argument("--asset", default=str(ROOT / "talkrig" / "assets" / "default_head.npz"))
    a = ap.parse_args(argv)
    ict = Path(a.ict) if a.ict else ict_path_default()
    if ict is None or not ict.exists():
        print("the ICT Face Model was not found (--ict or $TALKRIG_ICT_MODEL)", file=sys.stderr)
        return 2
    update_asset(Path(a.asset), ict)
    print(f"updated {a.asset}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
