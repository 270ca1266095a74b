"""Measuring a reconstruction against ground truth: 68-point NME and re-render PSNR.

Used by ``benchmarks/recon.py`` and the tests; needs no data of its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from talkrig.model.export import read_pts as parse_pts
from talkrig.recon.api import model_landmarks68, model_source
from talkrig.recon.context import model_context
from talkrig.recon.photometric import psnr
from talkrig.recon.reconstruction import Reconstruction
from talkrig.recon.texture import inner_triangles


def read_pts(path: str | Path, one_based: bool | None = None) -> np.ndarray:
    """Read an iBUG ``.pts`` file as ``(68, 2)`` 0-based pixel coordinates.

    Args:
        one_based: whether the file uses i-bug's 1-based convention (300-W, LFPW, menpo). None
            guesses from the name: files named ``dlib_*`` are 0-based, the rest 1-based.
    """
    path = Path(path)
    pts = parse_pts(path)
    if one_based is None:
        one_based = not path.name.startswith("dlib")
    return pts - 1.0 if one_based else pts


def nme(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean point error normalised by the outer-eye-corner distance (points 36 and 45)."""
    iod = float(np.linalg.norm(gt[36] - gt[45]))
    return float(np.linalg.norm(pred - gt, axis=1).mean() / iod)


def rerender(rec: Reconstruction, textured: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Re-render the fitted face over the full image with :class:`~talkrig.render.renderer.MeshRenderer`
    (back faces culled, no anti-aliasing, black background).

    ``textured=False``: per-vertex albedo under the fitted SH light (Gouraud, the model's own
    appearance); ``True``: the extracted UV texture as it is (UV tile [0, 1], no inner parts).
    Returns ``(rgb float32 (H, W, 3), coverage (H, W) bool)``.
    """
    from talkrig.render.renderer import MeshRenderer

    ctx = model_context(model_source(rec))
    m = ctx.model
    with torch.no_grad():
        v = m.vertices(rec.coeffs)
        if textured:
            uvs = m.uvs.cpu().numpy()
            uvf = m.uv_faces.cpu().numpy()
            inside = ((uvs[uvf] >= 0) & (uvs[uvf] <= 1)).all((1, 2))
            keep = np.flatnonzero(inside & ~inner_triangles(m))
            ren = MeshRenderer(torch.from_numpy(ctx.faces[keep]), uvs=m.uvs.float(), uv_faces=torch.from_numpy(uvf[keep]),
                               cull="back", antialias=False)
            tex = torch.from_numpy(rec.texture).permute(2, 0, 1)[None].float() / 255.0
            out = ren(v, rec.camera, tex=tex)
        else:
            ren = MeshRenderer(torch.from_numpy(ctx.render_faces), cull="back", antialias=False)
            out = ren(v, rec.camera, albedo=torch.from_numpy(rec.vertex_colors)[None], lighting=rec.coeffs.lighting)
    return out.image[0].numpy(), out.alpha[0, ..., 0].numpy() > 0


def rerender_psnr(rec: Reconstruction, textured: bool = False) -> float:
    """PSNR (dB) of the re-rendered face against the photo over skin pixels it covers."""
    rgb, cov = rerender(rec, textured)
    return psnr(rgb, rec.image, rec.skin_mask & cov)


def landmark_nme(rec: Reconstruction, gt: np.ndarray) -> dict[str, float]:
    """NME of the fitted model's 68 landmarks, and of the detector's own 68 (baseline)."""
    return {"model": nme(model_landmarks68(rec), gt), "detector": nme(rec.landmarks68, gt)}
