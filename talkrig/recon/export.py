"""Files for people: the fitted mesh as OBJ (+ MTL + texture) and an overlay picture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from talkrig.recon.reconstruction import Reconstruction


def posed_vertices(rec: Reconstruction, model=None) -> np.ndarray:
    """``(N, 3)`` camera-space vertices of the fitted face."""
    from talkrig.recon.api import model_source
    from talkrig.recon.context import model_context

    m = model_context(model if model is not None else model_source(rec)).model
    with torch.no_grad():
        return m.vertices(rec.coeffs)[0].numpy()


def write_obj(path: str | Path, rec: Reconstruction, posed: bool = False) -> None:
    """Write the fitted mesh (model space unless ``posed``) with its UVs, a ``.mtl`` and the
    texture ``<stem>_texture.png`` beside it; all three written atomically."""
    from talkrig.io.files import atomic_path
    from talkrig.io.image import save_image
    from talkrig.recon.api import model_source
    from talkrig.recon.context import model_context

    path = Path(path)
    m = model_context(model_source(rec)).model
    with torch.no_grad():
        v = m.vertices(rec.coeffs, posed=posed)[0].numpy()
    faces = m.faces.cpu().numpy() + 1
    uvs = m.uvs.cpu().numpy()
    uvf = m.uv_faces.cpu().numpy() + 1
    tex_name = f"{path.stem}_texture.png"
    mtl_name = f"{path.stem}.mtl"
    lines = [f"# talkrig reconstruction, model {rec.model_name}", f"mtllib {mtl_name}", "usemtl face"]
    lines += [f"v {a:.5f} {b:.5f} {c:.5f}" for a, b, c in v]
    has_uv = len(uvs) and len(uvf) == len(faces)
    if has_uv:
        lines += [f"vt {a:.6f} {b:.6f}" for a, b in uvs]
        lines += [f"f {a}/{p} {b}/{q} {c}/{r}" for (a, b, c), (p, q, r) in zip(faces, uvf)]
    else:
        lines += [f"f {a} {b} {c}" for a, b, c in faces]
    save_image(path.with_name(tex_name), rec.texture)
    with atomic_path(path.with_name(mtl_name)) as tmp:
        tmp.write_text(f"newmtl face\nKd 1 1 1\nmap_Kd {tex_name}\n")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n")


def overlay_picture(rec: Reconstruction, alpha: float = 0.55, crop: bool = False) -> np.ndarray:
    """The shaded fitted mesh over the photo, with detected (blue) and fitted model (red) 68
    landmarks; ``crop`` cuts the face crop out."""
    from talkrig.recon.api import model_landmarks68, model_source
    from talkrig.recon.context import model_context
    from talkrig.recon.overlay import overlay_image, shaded_mesh

    ctx = model_context(model_source(rec))
    v = torch.as_tensor(posed_vertices(rec))
    rgb, cov = shaded_mesh(ctx.model, v, rec.camera, ctx.render_faces)
    r = max(1.5, max(rec.image.shape[:2]) / 500)
    pts = [(rec.landmarks68, (40, 140, 255), r), (model_landmarks68(rec), (255, 40, 40), r)]
    out = overlay_image(rec.image, rgb, cov, alpha, pts)
    if crop:
        h, w = out.shape[:2]
        x0, y0, x1, y1 = rec.crop.astype(int)
        out = out[max(0, y0):min(h, y1), max(0, x0):min(w, x1)]
    return out
