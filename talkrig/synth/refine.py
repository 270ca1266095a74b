"""Neural refinement of synthesized frames: the classical frame, its skin and mouth masks and
the source photo go through a trained :class:`~talkrig.texture.neural.refiner.Refiner`.

A checkpoint trained on a face framing (``crop_scale``) refines that box of the frame
(:func:`framing_box`) and the result is pasted back with a feathered edge (:func:`feather`);
others refine the whole frame.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
from torch import Tensor

from talkrig.errors import InputError
from talkrig.model.coefficients import Coefficients
from talkrig.synth.frames import TalkingHeadRenderer, video_crop
from talkrig.texture.neural.refiner import Refiner


def framing_box(frame_crop: np.ndarray, face_bbox: np.ndarray, image_size: tuple[int, int],
                crop_scale: float, size: int) -> tuple[int, int, int]:
    """Square ``(x0, y0, side)`` in the pixels of a ``size`` frame showing ``frame_crop`` of the
    photo (``(x0, y0, x1, y1)``, :func:`~talkrig.synth.frames.video_crop`) that frames the face
    as a refiner trained at ``crop_scale`` saw it; the whole frame when ``crop_scale`` is 0."""
    if crop_scale <= 0:
        return 0, 0, size
    sub = video_crop(face_bbox, image_size, crop_scale)
    k = size / float(frame_crop[2] - frame_crop[0])
    side = int(min(round((sub[2] - sub[0]) * k), size))
    x0 = int(np.clip(round((sub[0] - frame_crop[0]) * k), 0, size - side))
    y0 = int(np.clip(round((sub[1] - frame_crop[1]) * k), 0, size - side))
    return x0, y0, side


def feather(side: int, border: float = 0.08) -> Tensor:
    """``(1, 1, side, side)`` weight, 1 inside and falling linearly to 0 over the outer
    ``border`` fraction of the square: pastes a refined crop back without a seam."""
    r = torch.arange(side, dtype=torch.float32) + 0.5
    edge = torch.minimum(r, side - r) / max(border * side, 1.0)
    ramp = edge.clamp(0, 1)
    return torch.minimum(ramp[:, None], ramp[None, :])[None, None]


def refined_frames(renderer: TalkingHeadRenderer, coeffs: Coefficients, ref: Refiner,
                   batch: int = 8) -> Iterator[np.ndarray]:
    """``(H, W, 3)`` uint8 frames of ``coeffs``: the renderer's classical frames refined by
    ``ref``, ``batch`` at a time (see the module docstring for the framing box)."""
    src = renderer.source
    recon = renderer.recon
    x0, y0, side = framing_box(src.crop, recon.bbox, recon.image.shape[:2], ref.cfg.crop_scale,
                               renderer.size)
    box = (..., slice(y0, y0 + side), slice(x0, x0 + side))
    source = src.image[box]
    ref.set_source(source)
    alpha = feather(side) if side < renderer.size else torch.ones(1, 1, side, side)
    for i in range(0, coeffs.frames, batch):
        frames, face, mouth = renderer.render_with_masks(coeffs[i:i + batch])
        b = frames.shape[0]
        full = frames.permute(0, 3, 1, 2).float() / 255
        maps = {"render": full[box], "mask_face": face[:, None].float()[box],
                "mask_mouth": mouth[:, None].float()[box], "warped": source.expand(b, -1, -1, -1)}
        missing = [k for k in ref.condition_names if k not in maps]
        if missing:
            raise InputError(f"refiner checkpoint needs maps talkrig render does not make: {', '.join(missing)}")
        out = ref.refine({k: maps[k] for k in ref.condition_names})
        full[box] = full[box] * (1 - alpha) + out * alpha
        yield from (full.permute(0, 2, 3, 1).numpy() * 255 + 0.5).astype(np.uint8)
