"""Optional photometric refinement through the differentiable renderer (:mod:`talkrig.render`).

After the closed-form lighting / albedo solve, a few Adam steps on the face crop minimise the
photometric error over the skin mask with respect to the SH light, a per-vertex albedo
correction (smoothness- and size-regularised) and small identity / expression corrections
(pulled back towards the landmark fit, so the geometry only moves where the shading asks for
it). Pose stays fixed. Each step renders and back-propagates once: about 0.2-1 s per step at
160 px on this machine, so it is off by default (``reconstruct(..., refine_steps=N)``).
"""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image

from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import MorphableModel
from talkrig.recon.reconstruction import crop_camera
from talkrig.render.camera import Camera


def crop_image(image: np.ndarray, box, size: int, resample=Image.Resampling.BILINEAR) -> np.ndarray:
    """Cut a square box out of an image (padding with zeros) and resize it to ``size``."""
    x0, y0, x1, y1 = (int(round(float(v))) for v in box)
    return np.asarray(Image.fromarray(image).crop((x0, y0, x1, y1)).resize((size, size), resample))


def refine_photometric(model: MorphableModel, coeffs: Coefficients, camera: Camera, image: np.ndarray,
                       skin: np.ndarray, vertex_albedo: np.ndarray, box, faces: np.ndarray,
                       steps: int = 10, size: int = 160, lr: float = 0.005,
                       geometry: bool = True) -> tuple[Coefficients, np.ndarray, dict]:
    """Refine light, albedo and (slightly) shape against the photo.

    Args:
        coeffs: landmark-fitted coefficients (T=1) with lighting already solved.
        image: ``(H, W, 3)`` uint8; skin ``(H, W)`` bool; vertex_albedo ``(N, 3)``.
        box: square crop ``(x0, y0, x1, y1)`` around the face; faces: triangles to draw.
    Returns:
        ``(coeffs, vertex_albedo, info)`` with ``info["loss"]`` the masked MSE before and after.
    """
    from talkrig.render.renderer import MeshRenderer

    cam = crop_camera(camera, box, size)
    target = torch.from_numpy(crop_image(image, box, size).astype(np.float32) / 255.0)[None]
    mask = torch.from_numpy(crop_image(skin.astype(np.uint8) * 255, box, size, Image.Resampling.NEAREST) > 127)[None]
    ren = MeshRenderer(torch.as_tensor(faces, dtype=torch.int64), antialias=False)
    base_alb = torch.as_tensor(vertex_albedo, dtype=torch.float32)[None]
    d_alb = torch.zeros_like(base_alb, requires_grad=True)
    light = coeffs.lighting.clone().requires_grad_(True)
    id_std = model.id_std.clamp(min=1e-8)
    d_id = torch.zeros_like(coeffs.identity, requires_grad=geometry)
    d_exp = torch.zeros_like(coeffs.expression, requires_grad=geometry)
    params = [d_alb, light] + ([d_id, d_exp] if geometry else [])
    opt = torch.optim.Adam(params, lr=lr)
    f = torch.as_tensor(faces, dtype=torch.int64)
    history = []

    def render():
        co = coeffs.replace(identity=coeffs.identity + d_id * id_std, expression=(coeffs.expression + d_exp))
        out = ren(model.vertices(co), cam, albedo=(base_alb + d_alb).clamp(0, 1), lighting=light)
        covered = (out.alpha[..., 0] > 0.5) & mask
        err = ((out.image - target) ** 2).sum(-1)
        return (err * covered).sum() / covered.sum().clamp(min=1)

    for _ in range(steps):
        opt.zero_grad()
        photo = render()
        # albedo correction: small and smooth along edges; geometry stays near the landmark fit
        smooth = ((d_alb[:, f[:, 0]] - d_alb[:, f[:, 1]]) ** 2).mean() + ((d_alb[:, f[:, 1]] - d_alb[:, f[:, 2]]) ** 2).mean()
        loss = photo + 0.1 * (d_alb ** 2).mean() + 1.0 * smooth + 1e-3 * (d_id ** 2).sum() + 1e-3 * (d_exp ** 2).sum()
        loss.backward()
        opt.step()
        history.append(float(photo.detach()))
        if model.info.exp_is_blendshape:
            with torch.no_grad():
                d_exp.copy_((coeffs.expression + d_exp).clamp(0, 1) - coeffs.expression)
    with torch.no_grad():
        final = float(render())
        co = coeffs.replace(identity=coeffs.identity + d_id.detach() * id_std,
                            expression=coeffs.expression + d_exp.detach(), lighting=light.detach().clone())
    alb = (base_alb + d_alb).clamp(0, 1)[0].detach().numpy()
    return co, alb, {"loss": [history[0] if history else final, final]}
