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


def _lid_points(model: MorphableModel) -> Tensor:
    """``(2, 4)`` vertex ids per eye: two upper-lid then two lower-lid landmarks."""
    return torch.stack([model.landmarks68[list(up) + list(lo)] for _, up, lo in EYES])


def _opening(y: Tensor) -> Tensor:
    """``(..., 2)`` upper minus lower lid height from ``(..., 2, 4)`` heights of :func:`_lid_points`."""
    return y[..., :2].mean(-1) - y[..., 2:].mean(-1)


def lid_gaps(model: MorphableModel, identity: Tensor, expression: Tensor) -> Tensor:
    """``(T, 2)`` vertical opening of the right and left eye (upper minus lower lid margin,
    model units; negative when the upper lid has passed the lower one).

    ``identity`` ``(1 or T, K)``, ``expression`` ``(T, E)``.
    """
    ids = _lid_points(model)
    dt = model.mean.dtype
    y = model.mean[ids, 1] + torch.einsum("bk,kij->bij", identity.to(dt), model.id_basis[:, ids, 1])
    y = y + torch.einsum("be,eij->bij", expression.to(dt), model.exp_basis[:, ids, 1])
    return _opening(y)


def _closing(model: MorphableModel, chans: list[int], identity: Tensor, expression: Tensor) -> Tensor | None:
    open_expr = expression.clone()
    open_expr[:, chans] = 0
    gap = lid_gaps(model, identity, open_expr)
    # the blend is linear: each eye's own blink shape changes its gap by a constant per unit
    rate = _opening(model.exp_basis[chans][:, _lid_points(model), 1]).diagonal()
    if bool((rate >= 0).any()):  # a blink shape that does not lower the upper lid: leave as is
        return None
    return (PRESS * gap / -rate).clamp(0.0, MAX_WEIGHT).to(expression.dtype)


def closing_weights(model: MorphableModel, identity: Tensor, expression: Tensor) -> Tensor | None:
    """``(T, 2)`` ``eyeBlinkRight`` / ``eyeBlinkLeft`` weights that bring each frame's lids
    together (:data:`PRESS` past touching), given its other expression channels (its own blink
    channels are ignored).
    None when the model has no ARKit blink shapes or no 68 landmarks."""
    chans = _channels(model)
    return None if chans is None else _closing(model, chans, identity, expression)


def calibrate_blinks(model: MorphableModel, coeffs: Coefficients) -> Coefficients:
    """Coefficients whose blink channels mean closure: each ``eyeBlink`` weight ``w`` becomes
    ``w * closing_weight`` of its frame (:func:`closing_weights`), so 1 closes the lids exactly
    and 0.5 half-closes them. Models without ARKit blink shapes are returned unchanged."""
    chans = _channels(model)
    w = None if chans is None else _closing(model, chans, coeffs.identity, coeffs.expression)
    if w is None:
        return coeffs
    expr = coeffs.expression.clone()
    expr[:, chans] = expr[:, chans] * w
    return coeffs.replace(expression=expr)
