"""Eyeballs the photo never showed: a widened eye shows white above the iris, not smeared lids."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from talkrig.synth.eyes import (EyeLayout, axis_weights, eye_shade, iris_axes, photo_eyes, ray_sphere,
                                  sphere_fit)


def _sphere(n: int = 80, radius: float = 1.2, centre=(0.5, -0.2, -30.0)) -> torch.Tensor:
    """``(n, 3)`` points spread over a sphere (Fibonacci lattice)."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    z = 1 - 2 * i / n
    phi = i * math.pi * (3 - math.sqrt(5))
    r = (1 - z * z).sqrt()
    return (torch.stack([r * phi.cos(), r * phi.sin(), z], 1) * radius + torch.tensor(centre)).float()


def test_the_iris_axis_turns_with_the_eyeball_it_is_anchored_to():
    v = _sphere()
    c, rad = sphere_fit(v)
    assert abs(float(rad) - 1.2) < 0.02 and float((c - torch.tensor([0.5, -0.2, -30.0])).norm()) < 0.02
    # the camera ray to the eyeball's centre meets it on the near side
    hit = ray_sphere(c, c, float(rad))
    assert hit is not None and abs(float(hit[2]) - (-30.0 + float(rad))) < 1e-3
    assert ray_sphere(torch.tensor([1.0, 0.0, -1.0]), c, float(rad)) is None  # misses
    axis = torch.nn.functional.normalize(torch.tensor([0.2, 0.3, 1.0]), dim=0)
    ids = torch.arange(v.shape[0])
    basis, w = axis_weights(v, ids, c, axis)
    layout = EyeLayout([ids], basis[None], w[None], torch.tensor([0.4]), torch.ones(1, 3), torch.zeros(1, 3))
    got, centre = iris_axes(v[None], layout)
    assert float(got[0, 0] @ axis) > 0.9999
    # turn the eyeball 20 degrees about y (a glance): the axis turns with it
    a = math.radians(20)
    rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    turned = (v - c) @ rot.T + c
    got, centre = iris_axes(turned[None], layout)
    assert float(got[0, 0] @ (rot @ axis)) > 0.9999 and float((centre[0, 0] - c).norm()) < 1e-4


def test_eye_shade_draws_sclera_iris_and_a_dark_pupil():
    ang = torch.tensor([0.0, 0.25, 0.7])
    sclera, iris = torch.tensor([[0.8, 0.78, 0.75]]).expand(3, 3), torch.tensor([[0.3, 0.2, 0.1]]).expand(3, 3)
    out = eye_shade(ang, torch.full((3,), 0.4), sclera, iris, 60.0)
    assert out[0].max() < 0.05                      # pupil
    assert torch.allclose(out[1], iris[0], atol=0.03)  # iris ring
    assert torch.allclose(out[2], sclera[0], atol=1e-3)  # sclera


def _eye_box(lm: np.ndarray, outline) -> tuple[slice, slice]:
    pts = lm[list(outline)]
    (x0, y0), (x1, y1) = pts.min(0), pts.max(0)
    h = y1 - y0
    return slice(int(y0 - 1.2 * h), int(y1 + 0.3 * h)), slice(int(x0), int(x1))


@pytest.mark.slow
def test_a_widened_eye_shows_white_above_the_iris(shared):
    """Real portrait: the photo's sclera and iris are measured between its lids, and raising
    the upper lids (eyeWide, AU5) uncovers sclera-white pixels instead of dragging lid and
    lashes down over the eyeball."""
    from talkrig import api
    from talkrig.recon.landmarker import shared_landmarker
    from talkrig.synth.eyes import EYE_OUTLINES

    rec = api.reconstruct(shared("dev", "portraits", "lfpw_test_image_0014.png"))
    img = torch.from_numpy(np.array(rec.image)).permute(2, 0, 1).float() / 255
    eyes = photo_eyes(img, torch.from_numpy(rec.landmarks478))
    for e in eyes:
        assert e.sclera is not None and e.iris is not None
        assert float(e.sclera.mean()) > float(e.iris.mean()) + 0.2  # a white of the eye, a brown iris
        assert 3 < e.radius < 60
    rest = api.render_image(rec, size=512)
    wide = api.render_image(rec, size=512, expression={"eyeWideLeft": 1.0, "eyeWideRight": 1.0})
    lm = shared_landmarker().detect_one(rest).landmarks[:, :2]
    sclera = torch.stack([e.sclera for e in eyes]).mean(0).numpy() * 255
    for outline in EYE_OUTLINES:
        box = _eye_box(lm, outline)
        # pixels of the sclera's colour (skin is as bright, but redder)
        white = [int((np.abs(im[box].astype(np.float32) - sclera).max(-1) < 30).sum()) for im in (rest, wide)]
        assert white[1] > 1.3 * white[0] + 10, white


def _astronaut_renderer():
    import talkrig
    from talkrig import api
    from talkrig.synth.frames import TalkingHeadRenderer

    rec = api.reconstruct(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")
    model = talkrig.load_model(rec.model_name)
    return rec, model, TalkingHeadRenderer(model, rec, size=512)


def _with(coeffs, model, **weights):
    c = coeffs.clone()
    for name, w in weights.items():
        c.expression[0, model.expression_index(name)] += w
    return c


def test_lids_count_as_raised_only_above_their_place_in_the_photo():
    """The eyeball above the photo's lid line is drawn only while the upper lid stands higher
    than in the photo: with the photo's own expression and in a blink the photo is warped as
    before."""
    from talkrig import api

    rec, model, r = _astronaut_renderer()
    rest = api.edit_coefficients(rec, model)
    openings = r.source.eye_openings
    assert openings is not None and openings.shape == (2, 16, 2)

    def raised(c):
        return r._lids_raised(r.source.camera.project(model.vertices(c)))[0].tolist()

    assert raised(rec.coeffs) == [False, False]
    assert raised(_with(rest, model, eyeBlinkLeft=0.6, eyeBlinkRight=0.6)) == [False, False]
    assert raised(_with(rest, model, eyeWideLeft=1.0, eyeWideRight=1.0)) == [True, True]


@pytest.mark.slow
def test_widened_eyes_read_as_wide_to_the_landmarker():
    """Real portrait, real landmarker: raising the upper lids (AU5) shows the whole iris with
    white above it, and MediaPipe scores the eyes wider (before the photo's lid margin stayed
    on the eyeball as a dark bar over the iris and eyeWide read ~0 at any weight)."""
    from talkrig import api
    from talkrig.eval.track import detect_photo
    from talkrig.model.arkit import ARKIT_52

    rec, model, r = _astronaut_renderer()
    rest = api.edit_coefficients(rec, model)
    scores = [detect_photo(next(r.iter_frames(c)))[1] for c in (rest, _with(rest, model, eyeWideLeft=1.0,
                                                                               eyeWideRight=1.0))]
    for side in ("eyeWideLeft", "eyeWideRight"):
        k = ARKIT_52.index(side)
        assert scores[1][k] > scores[0][k] + 0.05, (side, scores[0][k], scores[1][k])
