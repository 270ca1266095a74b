"""Blink calibration: weight 1 closes this face's lids, whatever its eye shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkrig.animate.lids import PRESS, calibrate_blinks, closing_weights, lid_gaps
from talkrig.model.coefficients import Coefficients


@pytest.fixture(scope="module")
def model():
    from talkrig.model.default import load_default

    return load_default()


def _identities(model, n=4):
    g = torch.Generator().manual_seed(0)
    ids = torch.randn(n, model.n_identity, generator=g) * model.id_std * 1.5
    return torch.cat([torch.zeros(1, model.n_identity), ids])


def _frames(model, identity, **weights):
    e = torch.zeros(identity.shape[0], model.n_expression)
    for name, w in weights.items():
        e[:, model.expression_index(name)] = w
    return e


def _coeffs(model, identity, expression):
    c = Coefficients.zeros(model.n_identity, model.n_expression, model.n_albedo, frames=identity.shape[0])
    return c.replace(identity=identity, expression=expression)


def test_raw_blink_pushes_the_lid_through_and_calibrated_blink_closes_it(model):
    ids = _identities(model)
    gap0 = lid_gaps(model, ids, _frames(model, ids))
    assert (gap0 > 0).all()  # open eyes at rest
    blink = _frames(model, ids, eyeBlinkLeft=1.0, eyeBlinkRight=1.0)
    raw = lid_gaps(model, ids, blink)
    # uncalibrated, the mean face's lid ends well below the lower one, and how far a full
    # blink closes depends on the identity (one of these wide-eyed ones stays open)
    assert (raw[0] < -0.2 * gap0[0]).all()
    assert float((raw / gap0).max() - (raw / gap0).min()) > 0.3
    closed = lid_gaps(model, ids, calibrate_blinks(model, _coeffs(model, ids, blink)).expression)
    torch.testing.assert_close(closed, gap0 * (1 - PRESS), atol=1e-4, rtol=1e-3)
    half = lid_gaps(model, ids, calibrate_blinks(model, _coeffs(model, ids, blink * 0.5)).expression)
    torch.testing.assert_close(half, gap0 * (1 - 0.5 * PRESS), atol=1e-4, rtol=1e-3)


def test_closing_weight_follows_the_rest_of_the_expression(model):
    ids = torch.zeros(3, model.n_identity)
    e = torch.zeros(3, model.n_expression)
    for side in ("Left", "Right"):
        e[1, model.expression_index(f"eyeSquint{side}")] = 1.0
        e[2, model.expression_index(f"eyeWide{side}")] = 1.0
    w = closing_weights(model, ids, e)
    # a squint has less left to close, wide eyes more
    assert (w[1] < w[0]).all() and (w[2] > w[0]).all()
    # the frame's own blink weight does not change how far closing is
    e_b = e.clone()
    e_b[:, model.expression_index("eyeBlinkLeft")] = 0.7
    torch.testing.assert_close(closing_weights(model, ids, e_b), w)


def test_animation_blinks_are_calibrated_in_to_coefficients(model):
    import talkrig

    anim = talkrig.api.animate(text="Blink while I talk for a little while, please.", seed=3)
    blink = anim.channel("eyeBlinkLeft")
    assert blink.max() > 0.9  # the procedural blink closes fully at least once
    base = Coefficients.zeros(model.n_identity, model.n_expression, model.n_albedo, frames=1)
    c = anim.to_coefficients(model, base)
    raw = anim.to_coefficients(model, base, calibrate_lids=False)
    i = model.expression_index("eyeBlinkLeft")
    w = closing_weights(model, raw.identity.expand(raw.frames, -1), raw.expression)[:, 1]
    np.testing.assert_allclose(c.expression[:, i].numpy(), blink * w.numpy(), atol=1e-5)
    others = [k for k in range(model.n_expression) if k not in (i, model.expression_index("eyeBlinkRight"))]
    torch.testing.assert_close(c.expression[:, others], raw.expression[:, others])
    peak = int(np.argmax(blink))
    gap = lid_gaps(model, c.identity[:1], c.expression[peak:peak + 1])[0]
    assert (gap <= 0).all()  # closed at the blink's peak


def test_models_without_blink_shapes_are_unchanged():
    from talkrig.model.morphable import ModelInfo, MorphableModel

    rng = np.random.default_rng(0)
    m = MorphableModel(mean=rng.normal(size=(6, 3)), id_basis=np.zeros((1, 6, 3)),
                       exp_basis=rng.normal(size=(2, 6, 3)), exp_names=["jawOpen", "mouthSmileLeft"],
                       faces=np.array([[0, 1, 2], [3, 4, 5]]), info=ModelInfo("tiny", "cm", "test", "test"))
    c = Coefficients.zeros(1, 2, frames=2)
    assert closing_weights(m, c.identity, c.expression) is None
    assert calibrate_blinks(m, c) is c
