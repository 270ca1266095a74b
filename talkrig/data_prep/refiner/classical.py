"""Self-reenactment data conditioned by talkrig's own classical renderer.

From one video of a person: track it with MediaPipe and fit the 3DMM to every frame by tracking
(:class:`~talkrig.data_prep.video_fit.VideoFitter`, one identity for the clip, pose and
expression per frame - what ``talkrig prep --model default`` stores in its shards); reconstruct
the first frame for its light, crop and landmarks and give it the clip's fitted frame-0
coefficients, so source and target meshes share one identity and one camera; then render every
frame's fitted coefficients with :class:`~talkrig.synth.frames.TalkingHeadRenderer` - exactly
what ``talkrig render`` does for an animation - and crop the real frames the same way. The
refiner learns to turn the classical frame into the real one.

Keys of the clip (``(T, C, S, S)`` float32 in [0, 1]; ``source``/``warped`` have ``T == 1``):
``render`` (the classical frame), ``mask_face``/``mask_mouth`` (the renderer's own masks of the
skin warped from the photo and of the shaded mouth: what ``talkrig render --refiner`` passes at
inference), ``warped`` (the renderer's source crop), ``target`` (the real frame), and the loss and
scoring regions from the real frame's landmarks: ``loss_face`` (face oval) and ``loss_mouth``
(lips grown by a margin).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from itertools import chain, islice

import numpy as np
import torch

from talkrig.errors import InputError
from talkrig.data_prep.refiner.minimal import frame_masks, track_frames

#: Face framing of the refiner's training crops (crop side / face-box side, as ``video_crop``):
#: tighter than ``talkrig render``'s head and shoulders (2.3), so the network's pixels go to the face.
REFINER_CROP_SCALE = 1.5


def fitted_replay(first_frame: np.ndarray, coeffs, model: str = "default"):
    """The source reconstruction and per-frame target coefficients of a self-reenactment.

    Args:
        first_frame: ``(H, W, 3)`` uint8, the frame ``coeffs[0]`` was fitted to.
        coeffs: :class:`~talkrig.model.coefficients.Coefficients`, ``T`` frames fitted by
            tracking in that frame's pixel camera (``talkrig prep`` shards, :class:`VideoFitter`).
    Returns:
        ``(recon, targets)``: ``reconstruct(first_frame)`` with its identity, pose and
        expression replaced by ``coeffs[0]`` (its light, albedo, crop and landmarks kept), and
        ``coeffs`` lit by that light.
    """
    from talkrig.recon.api import reconstruct

    recon = reconstruct(first_frame, model=model)
    own = recon.coeffs
    src = own.replace(identity=coeffs.identity[:1], expression=coeffs.expression[:1],
                      rotation=coeffs.rotation[:1], translation=coeffs.translation[:1])
    recon = dataclasses.replace(recon, coeffs=src)
    targets = coeffs.replace(lighting=own.lighting.expand(coeffs.frames, -1).clone())
    return recon, targets


def classical_clip(frames: np.ndarray | Iterable[np.ndarray], fps: float, size: int, track=None, coeffs=None,
                   model: str = "default", batch: int = 8,
                   crop_scale: float = REFINER_CROP_SCALE) -> dict[str, torch.Tensor]:
    """Training/eval clip of ``frames (T, H, W, 3) uint8`` whose ``render`` is talkrig's
    classical render of each frame's fitted coefficients (keys in the module docstring).

    ``track`` and ``coeffs`` (a ``talkrig prep`` shard's) are computed here when not given;
    with both given, ``frames`` may be any iterable of frames (a decoder streaming a long
    video: only the crops are kept).
    ``crop_scale``: crop side over face-box side (``talkrig render`` uses 2.3, head and
    shoulders; the refiner is trained on a tighter face crop).
    """
    from talkrig.data_prep.video_fit import VideoFitter
    from talkrig.model import load_model
    from talkrig.synth.frames import TalkingHeadRenderer, crop_image

    if track is None or coeffs is None:
        frames = np.asarray(frames)
        track = track_frames(frames, fps) if track is None else track
        if coeffs is None:
            h, w = frames.shape[1:3]
            coeffs = VideoFitter(model).fit(track, w, h)
    stream = iter(frames)
    first = next(stream)
    recon, targets = fitted_replay(first, coeffs, model)
    renderer = TalkingHeadRenderer(load_model(recon.model_name), recon, size=size, crop_scale=crop_scale)
    parts = [renderer.render_with_masks(targets[i:i + batch]) for i in range(0, targets.frames, batch)]
    render = torch.cat([p[0] for p in parts]).permute(0, 3, 1, 2).float() / 255.0
    cond_face = torch.cat([p[1] for p in parts])[:, None].float()
    cond_mouth = torch.cat([p[2] for p in parts])[:, None].float()
    crop = renderer.source.crop
    crops = [crop_image(f, crop, size) for f in islice(chain([first], stream), targets.frames)]
    if len(crops) != targets.frames:
        raise InputError(f"classical clip: {targets.frames} fitted frames but {len(crops)} video frames")
    target = torch.cat(crops).clamp(0, 1)
    lm = (track.landmarks[:, :, :2] - crop[None, None, :2]) * (size / float(crop[2] - crop[0]))
    masks = [frame_masks(l, size) for l in lm]
    loss = {k: torch.from_numpy(np.stack([mk[k] for mk in masks])).float()[:, None]
            for k in ("mask_face", "loss_mouth")}
    src = renderer.source.image.float().clamp(0, 1)
    return {"target": target, "source": src, "warped": src, "render": render.clamp(0, 1),
            "mask_face": cond_face, "mask_mouth": cond_mouth,
            "loss_face": loss["mask_face"], "loss_mouth": loss["loss_mouth"]}
