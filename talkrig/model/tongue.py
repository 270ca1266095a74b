"""The tongue tip's articulation: a small rig built from a model's own tongue and upper teeth.

ARKit's 52 shapes move the tongue only forwards (``tongueOut``), but the sounds most often
seen through a slightly open mouth lift its tip: /l/, /t d n/, /s z/ and /sh ch/ are made with
the tip or blade against or near the alveolar ridge, the gum just behind the upper incisors
(any phonetics text, e.g. Ladefoged & Johnson, *A Course in Phonetics*, ch. 1). The rig lifts
the front of the tongue so that its tip reaches that ridge, wherever the jaw has carried the
tongue in this frame: the target is read from the upper teeth of the same frame, so a wider jaw
means a longer reach, as in real speech, and identity shapes are followed for free.

A model without both a ``tongue`` and an ``upper_teeth`` (or ``teeth``) region has no rig; its
tongue coefficient does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

#: The front share of the tongue's length that bends up (the back stays with the jaw).
BLADE = 0.55
#: The share of the length counted as its tip (whose centre is moved to the target).
TIP = 0.08
#: The incisors: upper teeth within this share of the row's width from its middle.
INCISORS = 0.12
#: The tip stops this share of the way from the incisal edge up to the gum, and this share of
#: the tongue's length behind the incisors' inner face (it touches them, it does not pass them).
RIDGE_HEIGHT, RIDGE_BEHIND = 0.55, 0.04


@dataclass
class TongueRig:
    """Vertex ids and weights of a tongue-tip raise (all tensors on the model's device).

    ids (Nt,) int64 tongue vertices; along (Nt,) float32 share of the raise each takes (0 at
    the back half, 1 at the tip, a smoothstep between); tip (Ntip,) and ridge (Nr,) int64
    vertices whose centres are the tongue's tip and the upper incisors' crowns; offset (3,)
    float32 from the crowns' centre to where the tip stops, in model units."""

    ids: Tensor
    along: Tensor
    tip: Tensor
    ridge: Tensor
    offset: Tensor


def tongue_rig(mean: Tensor, tongue: Tensor, upper_teeth: Tensor) -> TongueRig | None:
    """The rig of a model with rest vertices ``mean`` ``(N, 3)`` (face looking down +z, y up)
    and bool masks ``tongue`` and ``upper_teeth`` ``(N,)``; None when either is empty."""
    if int(tongue.sum()) < 8 or int(upper_teeth.sum()) < 8:
        return None
    if not bool(torch.isfinite(mean[tongue | upper_teeth]).all()):
        return None  # a broken model: its own checks report it
    ids = torch.nonzero(tongue).flatten()
    z = mean[ids, 2]
    length = float(z.max() - z.min())
    start = float(z.max()) - BLADE * length
    s = ((z - start) / (BLADE * length)).clamp(0, 1)
    along = s * s * (3 - 2 * s)
    tip = ids[z >= float(z.max()) - TIP * length]
    teeth = torch.nonzero(upper_teeth).flatten()
    p = mean[teeth]
    mid = (p[:, 0] - p[:, 0].mean()).abs() <= INCISORS * float(p[:, 0].max() - p[:, 0].min())
    ridge, q = teeth[mid], p[mid]
    if len(ridge) < 2:
        return None
    edge, gum = float(q[:, 1].min()), float(q[:, 1].max())
    target = torch.stack([q[:, 0].mean(), torch.tensor(edge + RIDGE_HEIGHT * (gum - edge)).to(q),
                          q[:, 2].min() - RIDGE_BEHIND * length])
    return TongueRig(ids, along.float(), tip, ridge, (target - q.mean(0)).float())


def raise_tongue_tip(vertices: Tensor, rig: TongueRig, amount: Tensor) -> Tensor:
    """``vertices`` ``(B, N, 3)`` (model space, unposed) with the tongue's front lifted towards
    the alveolar ridge by ``amount`` ``(B,)`` in [0, 1] (1: the tip touches it). Differentiable;
    returns a new tensor."""
    tip = vertices[:, rig.tip].mean(1)                       # (B, 3)
    target = vertices[:, rig.ridge].mean(1) + rig.offset     # (B, 3)
    shift = (target - tip) * amount.to(vertices)[:, None]    # (B, 3)
    moved = vertices[:, rig.ids] + rig.along[None, :, None] * shift[:, None]
    return vertices.index_copy(1, rig.ids, moved)
