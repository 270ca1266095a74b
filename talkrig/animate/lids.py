"""Blinks that close the lids exactly, whatever the eye shape.

An ``eyeBlink`` blendshape moves the upper lid by a fixed amount, but how far it has to go
depends on the face: a fitted identity with narrow eyes, a squint or a smile (lower lid raised)
closes the eye well before weight 1, and the rest of the shape then pushes the lid through the
lower one (a sagging, bulging lid with a "V" edge); wide eyes need more. So the animation's
blink weight is read as *closure* (1 = lids just touch) and turned into the blendshape weight
that does that for this identity and the frame's other expression channels.

The lid margins are the model's iBUG eye landmarks: 37-38 over 41-40 (subject's right eye),
43-44 over 47-46 (left); the gap is their vertical distance in model space. The blend is linear,
so the closing weight of each frame is one division.
"""

from __future__ import annotations

import torch
from torch import Tensor

from talkrig.model.arkit import canonical_name
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import MorphableModel

#: (blendshape, upper-lid landmarks, lower-lid landmarks) per eye, iBUG 0-based indices.
EYES = (("eyeBlinkRight", (37, 38), (41, 40)), ("eyeBlinkLeft", (43, 44), (47, 46)))

#: How far past "the landmarks touch" a full blink goes: the margins meet at their 1/3 points
#: (the landmarks) first and at the inner corner last; 12 % more closed the last slit on the
#: dev photos, while 30 % more already bent the outer lid into a "V".
PRESS = 1.12

#: Upper bound of the closing weight (wide-open eyes extrapolate the shape only this far).
MAX_WEIGHT = 1.3


def _channels(model: MorphableModel) -> list[int] | None:
    """Expression indices of the right and left blink shape (any ARKit spelling), or None."""
    names = [canonical_name(n) for n in model.exp_names]
    if len(model.landmarks68) != 68 or not all(n in names for n, _, _ in EYES):
        return None
    return [names.index(n) for n, _, _ in EYES]


def lid_gaps(model: MorphableModel, identity: Tensor, expression: Tensor) -> Tensor:
    """``(T, 2)`` vertical opening of the right and left eye (upper minus lower lid margin,
    model units; negative when the upper lid has passed the lower one).

    ``identity`` ``(1 or T, K)``, ``expression`` ``(T, E)``.
    """
    lm = model.landmarks68
    out = []
    for _, up, lo in EYES:
        ids = lm[list(up) + list(lo)]
        v = model.mean[ids] + torch.einsum("bk,knc->bnc", identity.to(model.mean.dtype), model.id_basis[:, ids])
        v = v + torch.einsum("be,enc->bnc", expression.to(model.mean.dtype), model.exp_basis[:, ids])
        y = v[..., 1]
        out.append(y[:, :len(up)].mean(1) - y[:, len(up):].mean(1))
    return torch.stack(out, 1)


def closing_weights(model: MorphableModel, identity: Tensor, expression: Tensor) -> Tensor | None:
    """``(T, 2)`` ``eyeBlinkRight`` / ``eyeBlinkLeft`` weights that bring each frame's lids
    together (:data:`PRESS` past touching), given its other expression channels (its own blink
    channels are ignored).
    None when the model has no ARKit blink shapes or no 68 landmarks."""
    chans = _channels(model)
    if chans is None:
        return None
    open_expr = expression.clone()
    open_expr[:, chans] = 0
    gap = lid_gaps(model, identity, open_expr)
    # gap change per unit of each eye's own blink shape
    unit = torch.zeros(2, expression.shape[1], dtype=expression.dtype, device=expression.device)
    unit[0, chans[0]] = unit[1, chans[1]] = 1
    rate = lid_gaps(model, torch.zeros_like(identity[:1]).expand(2, -1), unit).diagonal() - \
        lid_gaps(model, torch.zeros_like(identity[:1]), torch.zeros_like(unit[:1]))[0]
    if bool((rate >= 0).any()):  # a blink shape that does not lower the upper lid: leave as is
        return None
    return (PRESS * gap / -rate).clamp(0.0, MAX_WEIGHT).to(expression.dtype)


def calibrate_blinks(model: MorphableModel, coeffs: Coefficients) -> Coefficients:
    """Coefficients whose blink channels mean closure: each ``eyeBlink`` weight ``w`` becomes
    ``w * closing_weight`` of its frame (:func:`closing_weights`), so 1 closes the lids exactly
    and 0.5 half-closes them. Models without ARKit blink shapes are returned unchanged."""
    w = closing_weights(model, coeffs.identity, coeffs.expression)
    if w is None:
        return coeffs
    chans = _channels(model)
    expr = coeffs.expression.clone()
    expr[:, chans] = expr[:, chans] * w
    return coeffs.replace(expression=expr)
