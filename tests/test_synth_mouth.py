"""Mouth interior shading: teeth stay tooth-coloured whatever hue the fitted light carries."""

import torch

from talkrig.model import load_model
from talkrig.render.shading import sh_basis
from talkrig.synth.mouth import (CAVITY, LOWER_TEETH, TONGUE, UPPER_TEETH, mouth_shade,
                                   triangle_classes)


def _ambient(rgb) -> torch.Tensor:
    """SH coefficients of a uniform light whose irradiance facing the camera is ``rgb``."""
    y0 = float(sh_basis(torch.tensor([[[0.0, 0.0, 1.0]]]))[0, 0, 0])
    g = torch.zeros(3, 9)
    g[:, 0] = torch.tensor(rgb) / y0
    return g.reshape(27)


def test_teeth_stay_warm_white_under_a_tinted_fitted_light():
    cls = torch.tensor([UPPER_TEETH, LOWER_TEETH, TONGUE, CAVITY])
    n = torch.tensor([[0.0, 0.0, 1.0]]).expand(4, 3)
    depth = torch.tensor([0.0, 0.2, 1.5, 3.0])
    # the astronaut example's fitted light facing the camera is (1.10, 1.23, 1.30): B/R 1.18
    cyan = mouth_shade(cls, n, depth, _ambient([0.8, 0.92, 0.96]), depth_scale=1.0)
    grey = mouth_shade(cls, n, depth, _ambient([0.893, 0.893, 0.893]), depth_scale=1.0)
    teeth = cyan[0]
    assert teeth[0] > teeth[1] > teeth[2]  # warm white, no green or blue cast
    assert (cyan - grey).abs().max() < 0.03  # the light's hue barely reaches the mouth
    assert teeth.mean() > 2 * cyan[2].mean() > 2 * cyan[3].mean()  # teeth > tongue > cavity
    dim = mouth_shade(cls, n, depth, _ambient([0.4, 0.4, 0.4]), depth_scale=1.0)
    assert torch.all(dim < grey)  # its brightness does


def test_default_model_mouth_classes_cover_teeth_tongue_and_cavity():
    m = load_model("default")
    counts = torch.bincount(triangle_classes(m).long(), minlength=5)
    assert all(int(counts[k]) > 20 for k in (UPPER_TEETH, LOWER_TEETH, TONGUE, CAVITY)), counts


def test_single_teeth_are_drawn_along_the_dental_arch():
    """The default model's teeth strip gets an arch coordinate symmetric about the midline and
    about as long as a human half arch; the pattern darkens the gaps between crowns."""
    from talkrig.synth.mouth import CROWNS_MM, arch_coordinate, tooth_pattern

    m = load_model("default")
    arch = arch_coordinate(m, 10.0)  # the default model is in cm
    up = arch[m.region("upper_teeth")]
    assert 35.0 < float(up.max()) < 90.0 and abs(float(up.max() + up.min())) < 2.0
    assert float(arch[~(m.region("upper_teeth") | m.region("lower_teeth"))].abs().max()) == 0.0
    w = CROWNS_MM[UPPER_TEETH]
    s = torch.tensor([0.0, w[0] / 2, w[0], w[0] + w[1] / 2, -w[0]])  # midline, mid-crown, gap...
    f = tooth_pattern(torch.full((5,), UPPER_TEETH), s)
    assert f[1] > f[0] + 0.2 and f[3] > f[2] + 0.2 and torch.isclose(f[2], f[4])
    assert torch.all(tooth_pattern(torch.full((5,), TONGUE), s) == 1.0)
