"""Self-reenactment data conditioned by talkrig's own classical renderer.

From one video of a person: reconstruct the first frame (``talkrig.reconstruct``), drive that
reconstruction with the video's tracked expression (MediaPipe ARKit scores) and head motion
(rotation relative to the first frame; the 2-D shift of the landmarks turned into a camera-space
offset at the face's depth), render every frame with
:class:`~talkrig.render.frames.TalkingHeadRenderer` - exactly what ``talkrig render`` does for
an animation - and crop the real frames the same way. The refiner then learns to turn the
classical frame into the real one. Conditions (``minimal.MINIMAL_COND`` names): ``render`` =
the classical frame, ``mask_face``/``mask_mouth`` from the real frame's landmarks (the mesh
would give the same in product use), ``warped`` = the renderer's source photo crop.
"""

from __future__ import annotations

import numpy as np
import torch

from talkrig.texture.neural.minimal import frame_masks


def _track(frames: np.ndarray, fps: float):
    from talkrig.data_prep.tracking import FaceTracker

    session = FaceTracker(max_faces=1).start(fps)
    for i, f in enumerate(frames):
        session.push(f, i)
    return session.finish()


def driving_animation(track, recon, fps: float):
    """An :class:`~talkrig.animate.animation.Animation` replaying ``track`` on ``recon``."""
    from talkrig.animate.animation import Animation
    from talkrig.data_prep.fitting import pose_from_transform
    from talkrig.model.rotation import euler_to_matrix, matrix_to_euler

    t = track.frames
    rot, _ = pose_from_transform(track.transform)
    r = euler_to_matrix(torch.from_numpy(rot))
    rel = matrix_to_euler(r @ r[:1].transpose(1, 2)).numpy()          # R_t R_0^T
    # image-plane shift of the face centre -> camera-space offset at the face's depth
    centre = track.landmarks[:, :, :2].mean(1)
    du = centre - centre[:1]
    depth = float(-recon.coeffs.translation[0, 2])
    f = float(torch.as_tensor(recon.camera.focal).reshape(-1)[0])
    offs = np.zeros((t, 3), np.float32)  # track and recon share the frame's pixel grid
    offs[:, 0] = du[:, 0] * depth / f
    offs[:, 1] = -du[:, 1] * depth / f
    return Animation(fps=fps, expression=np.clip(track.blendshapes, 0, 1), rotation=rel,
                     translation=offs, audio=np.zeros(0, np.float32))


def classical_clip(frames: np.ndarray, fps: float, size: int, batch: int = 8,
                   crop_scale: float = 1.5) -> dict[str, torch.Tensor]:
    """Training/eval clip (same keys and shapes as :func:`minimal.minimal_clip`) whose
    ``render`` is talkrig's classical render of the frames' tracked motion. ``crop_scale``:
    crop side over face-box side (``talkrig render`` uses 2.3, head and shoulders; the
    refiner is trained on a tighter face crop)."""
    from talkrig.api import _model_for, neutral_base
    from talkrig.recon.api import reconstruct
    from talkrig.render.frames import TalkingHeadRenderer, crop_image

    track = _track(frames, fps)
    recon = reconstruct(frames[0])
    model = _model_for(recon, None)
    coeffs = driving_animation(track, recon, fps).to_coefficients(model, neutral_base(recon))
    renderer = TalkingHeadRenderer(model, recon, size=size, crop_scale=crop_scale)
    render = torch.cat([renderer.render(coeffs[i:i + batch]) for i in range(0, coeffs.frames, batch)])
    render = render.permute(0, 3, 1, 2).float() / 255.0
    crop = renderer.source.crop
    target = torch.cat([crop_image(f, crop, size) for f in frames]).clamp(0, 1)
    lm = (track.landmarks[:, :, :2] - crop[None, None, :2]) * (size / float(crop[2] - crop[0]))
    masks = [frame_masks(l, size) for l in lm]
    m = {k: torch.from_numpy(np.stack([mk[k] for mk in masks])).float()[:, None] for k in masks[0]}
    src = renderer.source.image.float().clamp(0, 1)
    return {"target": target, "source": src, "warped": src, "render": render.clamp(0, 1), **m}
