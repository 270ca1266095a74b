"""Frame metrics on cases whose answer is known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from talkrig.eval.cpbd import cpbd
from talkrig.eval.frames import (PSNR_CAP, FlickerMeter, flicker, frame_metrics, mse, psnr,
                                 ssim)


def _texture(h=128, w=128, seed=0):
    """Sharp blocky test image: random 8x8 blocks of random colours (hard step edges)."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (h // 8, w // 8, 3), dtype=np.uint8)
    return np.kron(small, np.ones((8, 8, 1), np.uint8))


def _blur(img, sigma):
    import cv2

    return cv2.GaussianBlur(img, (0, 0), sigma)


def test_identical_frames():
    a = _texture()
    assert mse(a, a) == 0.0
    assert psnr(a, a) == PSNR_CAP
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    m = frame_metrics(a, a, {"face": np.ones(a.shape[:2], bool), "mouth": None})
    assert m["psnr_face"] == PSNR_CAP and m["ssim_face"] == pytest.approx(1.0, abs=1e-6)
    assert math.isnan(m["psnr_mouth"])


def test_constant_offset_has_known_mse_and_psnr():
    a = np.full((64, 64, 3), 100, np.uint8)
    b = a + 10
    assert mse(a, b) == pytest.approx(100.0)
    assert psnr(a, b) == pytest.approx(10 * math.log10(255 ** 2 / 100))


def test_masked_error_is_confined_to_the_mask():
    a = _texture()
    b = a.copy()
    b[32:64, 32:64] = 255 - b[32:64, 32:64]
    inside = np.zeros(a.shape[:2], bool)
    inside[32:64, 32:64] = True
    m = frame_metrics(b, a, {"in": inside, "out": ~inside})
    assert m["mse_out"] == 0.0 and m["psnr_out"] == PSNR_CAP
    assert m["mse_in"] == pytest.approx(m["mse"] * a.shape[0] * a.shape[1] / inside.sum())
    assert m["ssim_in"] < m["ssim"] < m["ssim_out"]


def test_shift_and_blur_order_the_metrics():
    a = _texture()
    shifted = np.roll(a, 2, axis=1)
    blurred = _blur(a, 1.5)
    for b in (shifted, blurred):
        assert psnr(a, b) < PSNR_CAP and ssim(a, b) < 0.95
    assert ssim(a, _blur(a, 0.7)) > ssim(a, _blur(a, 2.0))
    assert psnr(a, _blur(a, 0.7)) > psnr(a, _blur(a, 2.0))


def test_cpbd_sharp_vs_blurred():
    a = _texture(256, 256)
    assert cpbd(a) == pytest.approx(1.0)  # ideal steps: every edge 1-2 px wide
    assert cpbd(_blur(a, 1.0)) == 0.0  # every edge wider than just-noticeable
    # quadrants blurred 0 / 0.5 / 0.7 / 0.9: a spread of edge widths, then blur it more
    q = a.copy()
    for k, s in enumerate((0.0, 0.5, 0.7, 0.9)):
        y, x = (k // 2) * 128, (k % 2) * 128
        if s:
            q[y:y + 128, x:x + 128] = _blur(a, s)[y:y + 128, x:x + 128]
    vals = [cpbd(q)] + [cpbd(_blur(q, s)) for s in (0.5, 0.7, 1.5)]
    assert 0.3 < vals[0] < 0.8
    assert vals[0] > vals[1] > vals[2] >= vals[3]
    assert math.isnan(cpbd(np.full((128, 128, 3), 128, np.uint8)))  # no edges


def test_flicker_known_values():
    base = _blur(_texture(128, 128), 1.0)
    still = [base] * 6
    assert flicker(still) < 0.01  # flow noise only
    # rigid motion at 2 px per frame is explained by the flow: little left over
    moving = [np.roll(base, 2 * i, axis=1) for i in range(6)]
    assert flicker(moving) < 2.0
    # brightness pumping +-10 on every frame is not
    alt = [np.clip(base.astype(int) + (10 if i % 2 else -10), 0, 255).astype(np.uint8)
           for i in range(6)]
    m = FlickerMeter()
    for f in alt:
        m.update(f)
    assert m.value > 10.0 and m.global_value == pytest.approx(20.0, abs=1.5)
    assert m.value > 5 * flicker(moving)
    assert math.isnan(flicker(still[:1]))
