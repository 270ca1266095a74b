"""Measuring a reconstruction against ground truth: 68-point NME and re-render PSNR.

Used by ``benchmarks/recon.py`` and the tests; needs no data of its own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkrig.model.export import read_pts as parse_pts
from talkrig.recon.api import model_context, model_landmarks68, model_source, posed_geometry
from talkrig.recon.photometric import psnr, render_textured, render_vertex_colours, shade_vertices
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
    """Re-render the fitted face over the full image.

    ``textured=False``: per-vertex albedo under the fitted SH light (the model's own
    appearance); ``True``: the extracted UV texture as it is.
    Returns ``(rgb float32 (H, W, 3), coverage (H, W) bool)``.
    """
    ctx = model_context(model_source(rec))
    m = ctx.model
    _, n, pix = posed_geometry(m, rec.coeffs, rec.camera)
    h, w = rec.image.shape[:2]
    if textured:
        uvs = m.uvs.cpu().numpy()
        uvf = m.uv_faces.cpu().numpy()
        inside = ((uvs[uvf] >= 0) & (uvs[uvf] <= 1)).all((1, 2))
        keep = np.flatnonzero(inside & ~inner_triangles(m))
        return render_textured(pix, ctx.faces[keep], uvs, uvf[keep], rec.texture, h, w)
    col = shade_vertices(rec.vertex_colors, n, rec.coeffs.lighting[0].numpy())
    return render_vertex_colours(pix, ctx.render_faces, col, h, w)


def rerender_psnr(rec: Reconstruction, textured: bool = False) -> float:
    """PSNR (dB) of the re-rendered face against the photo over skin pixels it covers."""
    rgb, cov = rerender(rec, textured)
    return psnr(rgb, rec.image, rec.skin_mask & cov)


def landmark_nme(rec: Reconstruction, gt: np.ndarray) -> dict[str, float]:
    """NME of the fitted model's 68 landmarks, and of the detector's own 68 (baseline)."""
    return {"model": nme(model_landmarks68(rec), gt), "detector": nme(rec.landmarks68, gt)}
