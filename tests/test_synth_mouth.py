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


def test_teeth_have_embrasures_a_translucent_edge_and_a_gum_line():
    """Up the crown (0 at the biting edge, 1 at the gum) the gap between two teeth is a dark
    notch at the edge and at the gum and faint where they touch; the edge is greyer and cooler
    (translucent enamel: blue kept best); the gum arcs over each crown, lowest between teeth."""
    from talkrig.synth.mouth import CROWNS_MM, crown_height, tooth_pattern, tooth_surface

    m = load_model("default")
    h = crown_height(m)
    for name in ("upper_teeth", "lower_teeth"):
        v = h[m.region(name)]
        assert float(v.min()) == 0.0 and float(v.max()) == 1.0
    assert float(h[~(m.region("upper_teeth") | m.region("lower_teeth"))].abs().max()) == 0.0
    # the upper row's edge is its lowest point, the lower row's its highest
    up, lo = m.region("upper_teeth"), m.region("lower_teeth")
    assert float(m.mean[up, 1][h[up] < 0.05].mean()) < float(m.mean[up, 1][h[up] > 0.95].mean())
    assert float(m.mean[lo, 1][h[lo] < 0.05].mean()) > float(m.mean[lo, 1][h[lo] > 0.95].mean())

    w = CROWNS_MM[UPPER_TEETH][0]
    cls = torch.full((4,), UPPER_TEETH)
    at_gap = torch.full((4,), w)                       # the boundary of the two central incisors
    heights = torch.tensor([0.02, 0.5, 0.97, 0.5])
    f = tooth_pattern(cls, torch.tensor([w, w, w, w / 2]), heights)
    assert f[0] < f[1] - 0.15 and f[2] < f[1] - 0.1   # notch open at the edge and the gum
    assert f[3] > f[1] + 0.1                           # mid-crown stays bright
    edge, gum = tooth_surface(cls, at_gap, torch.tensor([0.0, 0.5, 0.83, 0.97]))
    assert edge[0, 2] > edge[0, 0] and edge[0, 0] < 0.85 and torch.allclose(edge[1], torch.ones(3), atol=0.02)
    mid_gum = tooth_surface(cls[:1], torch.tensor([w / 2]), torch.tensor([0.83]))[1]
    assert gum[1] < 0.01 and gum[3] > 0.99
    assert gum[2] > 0.8 and float(mid_gum[0]) < 0.2  # between teeth the gum comes lower than mid-crown


# --- the mouth in rendered frames (issue 19) ---------------------------------------------------
import numpy as np  # noqa: E402
import pytest  # noqa: E402

LUMA = torch.tensor([0.299, 0.587, 0.114])


def _open_frames(recon, emotions, jaw: float = 0.5, size: int = 512):
    """One frame per emotion, its jaw open ``jaw`` (speech-like), with the renderer."""
    from talkrig.animate.emotion import parse_mix
    from talkrig.model.arkit import ARKIT_52
    from talkrig.synth.frames import TalkingHeadRenderer

    model = load_model(recon.model_name)
    base = recon.neutral_coeffs()
    rows = []
    for emotion in emotions:
        w = parse_mix(emotion, 1.0).vector().astype(np.float32)
        w[ARKIT_52.index("jawOpen")] = max(w[ARKIT_52.index("jawOpen")], jaw)
        rows.append(model.expression_vector(dict(zip(ARKIT_52, w.tolist()))))
    coeffs = base.repeat(len(emotions)).replace(expression=torch.stack(rows))
    r = TalkingHeadRenderer(model, recon, size=size)
    frames, _, mouth = r.render_with_masks(coeffs)
    return r, frames, mouth


@pytest.fixture(scope="module")
def astronaut():
    from pathlib import Path

    from talkrig import api

    return api.reconstruct(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg")


EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt")


def test_teeth_show_in_a_wide_open_frame_of_every_emotion(astronaut):
    r, frames, mouth = _open_frames(astronaut, EMOTIONS)
    teeth_y = float((r.source.mouth.teeth * LUMA).sum()) * 255
    for k, emotion in enumerate(EMOTIONS):
        lum = (frames[k][mouth[k]].float() * LUMA).sum(1)
        assert int(mouth[k].sum()) > 300, emotion
        assert int((lum > 0.7 * teeth_y).sum()) >= 40, (emotion, teeth_y, float(lum.max()))


def test_no_open_mouth_pixel_is_darker_than_the_throat_the_light_allows(astronaut):
    from talkrig.synth.mouth import CAVITY, CAVITY_FLOOR, GRAIN

    r, frames, mouth = _open_frames(astronaut, ("neutral", "surprised"), jaw=0.8)
    cavity_y = float((r.source.mouth.cavity * LUMA).sum()) * 255
    floor = cavity_y * CAVITY_FLOOR * 0.7 * (1 - float(GRAIN[CAVITY])) - 3  # 3: absolute grain
    lum = (frames[mouth].float() * LUMA).sum(1)
    assert floor > 5 and float(lum.min()) >= floor - 1.0, (float(lum.min()), floor)


def test_a_grey_photo_gets_a_grey_mouth(tmp_path):
    from pathlib import Path

    from PIL import Image

    from talkrig import api

    grey = tmp_path / "grey.png"
    Image.open(Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg").convert("L").convert("RGB").save(grey)
    rec = api.reconstruct(grey)
    r, frames, mouth = _open_frames(rec, ("neutral",), jaw=0.7)
    px = frames[0][mouth[0]].float()
    assert len(px) > 300
    chroma = px.max(1).values - px.min(1).values
    assert float(chroma.median()) <= 3 and float(chroma.max()) <= 8, (float(chroma.median()), float(chroma.max()))


@pytest.mark.shared
def test_the_palette_follows_the_photo():
    """A closed-mouth photo's teeth take the whites of its eyes; a smiling photo's own teeth are
    used where it shows them; teeth are brighter than the cavity either way."""
    from conftest import shared_path

    from talkrig import api
    from talkrig.synth.frames import TalkingHeadRenderer

    for name, source in (("lfpw_test_image_0003.png", "sclera"), ("d3dfr_015259.jpg", "photo teeth")):
        rec = api.reconstruct(shared_path("dev", "portraits", name))
        pal = TalkingHeadRenderer(load_model(rec.model_name), rec, size=256).source.mouth
        assert pal.teeth_from == source, name
        assert float((pal.teeth * LUMA).sum()) > 2 * float((pal.cavity * LUMA).sum()), name


def test_inner_side_of_the_arch_is_in_warm_shadow():
    """The rows' inner (lingual) side faces the tongue and the dark cavity: a turned head shows
    it as shadowed teeth tinted by the tongue's bounce, not as a wall as bright as the front."""
    from talkrig.synth.mouth import MouthPalette, arch_inward

    m = load_model("default")
    inward = arch_inward(m)
    lower = m.region("lower_teeth")
    z = m.mean[lower, 2]
    front = inward[lower][z >= z.quantile(0.9)]                  # mostly the incisors' labial face
    assert float(front.median()) < -0.3 and 0.1 < float((inward[lower] > 0.3).float().mean()) < 0.6
    assert float(inward[~(lower | m.region("upper_teeth"))].abs().max()) == 0.0

    palette = MouthPalette(torch.tensor([0.9, 0.85, 0.78]), torch.tensor([0.6, 0.3, 0.3]),
                           torch.tensor([0.3, 0.1, 0.1]), "sclera").table()
    cls = torch.tensor([LOWER_TEETH, LOWER_TEETH, TONGUE])
    n = torch.tensor([[0.0, 0.0, 1.0]]).expand(3, 3)                # all facing the camera
    out = mouth_shade(cls, n, torch.zeros(3), palette, depth_scale=1.0, inward=torch.tensor([-0.8, 0.8, 0.8]))
    outside, inside, tongue = out
    assert inside.mean() < 0.75 * outside.mean()                     # in shadow
    assert inside[0] / inside[2] > outside[0] / outside[2]           # warmed by the tongue
    assert torch.equal(tongue, mouth_shade(cls[2:], n[2:], torch.zeros(1), palette, depth_scale=1.0)[0])


def _jaw_mesh(model, jaw: float, tongue: float = 0.0) -> torch.Tensor:
    c = model.coefficients(1)
    c.expression[0, model.expression_index("jawOpen")] = jaw
    c.tongue[0, 0] = tongue
    return model.vertices(c, posed=False)[0]


def _incisors(v: torch.Tensor, model) -> torch.Tensor:
    teeth = v[model.region("upper_teeth")]
    return teeth[teeth[:, 0].abs() < 0.8]


def test_the_tongue_tip_rises_to_the_ridge_behind_the_upper_teeth():
    """/l t d n/: the tongue's tip lifted onto the alveolar ridge, above the upper incisors'
    biting edge and behind them, however far the jaw has dropped; nothing else moves."""
    from talkrig.model.tongue import tongue_rig

    m = load_model("default")
    rig = m.tongue_rig
    assert rig is not None
    for jaw in (0.0, 0.3):
        rest, up = _jaw_mesh(m, jaw), _jaw_mesh(m, jaw, tongue=1.0)
        tip, inc = up[rig.tip].mean(0), _incisors(up, m)
        assert float(inc[:, 1].min()) + 0.3 < float(tip[1]) < float(inc[:, 1].max()), (jaw, tip)
        assert float(tip[2]) < float(inc[:, 2].min()), (jaw, tip)       # behind the teeth
        assert float((tip - rest[rig.tip].mean(0)).norm()) > 1.2            # cm: a real lift
        moved = (up - rest).abs().sum(1) > 0
        assert not bool(moved[~m.region("tongue")].any())
    half = _jaw_mesh(m, 0.3, tongue=0.5)[rig.tip].mean(0)                  # a partial lift: between
    assert float(_jaw_mesh(m, 0.3)[rig.tip, 1].mean()) < float(half[1]) < float(_jaw_mesh(m, 0.3, 1.0)[rig.tip, 1].mean())
    # a model without a tongue or upper teeth has no rig
    none = torch.zeros(m.n_vertices, dtype=torch.bool)
    assert tongue_rig(m.mean, none, m.region("upper_teeth")) is None


def test_on_th_the_tip_sits_between_the_incisors():
    """The /th/ target (tongueOut 0.7 with half the tip's lift, ``animate.visemes``) puts the
    tongue's tip between the upper and lower incisors' biting edges, level with the teeth (it
    shows in the gap); tongueOut alone leaves it under the lower incisors' edge, unseen."""
    from talkrig.animate.visemes import TARGETS

    m = load_model("default")
    rig = m.tongue_rig
    th = TARGETS["TH"]
    for jaw in (0.1, 0.2):
        c = m.coefficients(1)
        c.expression[0, m.expression_index("jawOpen")] = jaw
        c.expression[0, m.expression_index("tongueOut")] = th["tongue"]
        alone = m.vertices(c, posed=False)[0]
        c.tongue[0, 0] = th["tip"]
        v = m.vertices(c, posed=False)[0]
        lower = v[m.region("lower_teeth")]
        lower = lower[lower[:, 0].abs() < 0.8]
        upper = _incisors(v, m)
        top, bottom = float(upper[:, 1].min()), float(lower[:, 1].max())    # the two biting edges
        tip = v[rig.tip]
        assert bottom < float(tip[:, 1].max()) and float(tip[:, 1].min()) < top + 0.3, (jaw, top, bottom)
        assert float(tip[:, 2].max()) > float(upper[:, 2].min())           # forward into the teeth
        assert float(alone[rig.tip, 1].max()) < bottom + 0.1                 # tongueOut alone: hidden


def test_the_tongue_rides_the_lower_jaw_below_the_upper_teeth():
    """The default model's tongue moves with the lower teeth, seated in the lower arch, and an
    open mouth shows the dark of the mouth above it (its back no longer rises to the upper
    teeth's edge and fills the opening)."""
    m = load_model("default")
    tongue, lower = m.region("tongue"), m.region("lower_teeth")
    for jaw, below in ((0.2, 0.0), (0.5, 0.3)):                             # cm; it was 0.4 above
        v = _jaw_mesh(m, jaw)
        edge = float(_incisors(v, m)[:, 1].min())
        dorsum = v[tongue][v[tongue, 0].abs() < 1.0]                          # what the opening shows
        assert float(dorsum[:, 1].max()) < edge - below, jaw
    gaps = []
    for jaw in (0.0, 0.5):                                                   # margins stay on the molars
        v = _jaw_mesh(m, jaw)
        t, lo = v[tongue], v[lower]
        side = t[(t[:, 0].abs() > 1.6) & (t[:, 2] > 4.5) & (t[:, 2] < 6.0)]
        molars = lo[(lo[:, 2] > 4.5) & (lo[:, 2] < 6.0)]
        gaps.append(float(molars[:, 1].max() - side[:, 1].max()))
    assert all(0.1 < g < 0.7 for g in gaps) and abs(gaps[1] - gaps[0]) < 0.2, gaps


def test_a_raised_tongue_tip_shows_in_the_open_mouth(astronaut):
    """On the pixels: an /l/ frame shows the tongue's lifted front behind the upper teeth, a
    lighter surface where the same frame without it shows the dark of the mouth."""
    from talkrig.synth.frames import TalkingHeadRenderer

    m = load_model(astronaut.model_name)
    c = astronaut.neutral_coeffs().repeat(2)
    c.expression[:, m.expression_index("jawOpen")] += 0.25
    c.tongue[1] = 1.0
    frames, _, mouth = TalkingHeadRenderer(m, astronaut, size=512).render_with_masks(c)
    assert torch.equal(mouth[0], mouth[1]) and int(mouth[0].sum()) > 400     # same opening
    ys = mouth[0].nonzero()[:, 0].float()
    upper = torch.zeros_like(mouth[0])
    upper[mouth[0]] = ys < ys.median()
    lum = [float((frames[k][upper].float() @ LUMA).mean()) for k in range(2)]
    assert lum[1] > lum[0] + 12, lum
