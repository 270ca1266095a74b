"""The warp primitives behind talking-head frames."""

import numpy as np
import pytest
import torch

from talkrig.synth.composite import border_fade, distance_falloff, push_pull_fill, warp


def test_push_pull_keeps_known_values_and_fills_holes_between_them():
    v = torch.zeros(1, 1, 32, 32)
    m = torch.zeros(1, 1, 32, 32)
    v[..., :, :8], m[..., :, :8] = 1.0, 1.0      # left band = 1
    v[..., :, 24:], m[..., :, 24:] = 3.0, 1.0    # right band = 3
    out = push_pull_fill(v, m)
    assert torch.allclose(out[..., :, :8], v[..., :, :8]) and torch.allclose(out[..., :, 24:], v[..., :, 24:])
    mid = out[0, 0, 16, 8:24]
    assert (mid >= 1 - 1e-5).all() and (mid <= 3 + 1e-5).all()
    assert mid[-1] > mid[0]  # rises from the 1-side to the 3-side


def test_warp_identity_and_shift():
    img = torch.rand(1, 3, 20, 30)
    assert torch.allclose(warp(img, torch.zeros(1, 2, 20, 30)), img, atol=1e-6)
    flow = torch.zeros(1, 2, 20, 30)
    flow[:, 0] = 2.0  # out(p) = img(p + 2 px in x)
    assert torch.allclose(warp(img, flow)[..., :, :-2], img[..., :, 2:], atol=1e-5)


def test_border_fade_and_distance_falloff():
    f = border_fade(64, 64)
    assert f[0, 0, 0, 0] < 0.05 and f[0, 0, 32, 32] == 1.0
    c = torch.zeros(1, 1, 40, 40)
    c[..., 18:22, 18:22] = 1.0
    d = distance_falloff(c, sigma=5.0)
    assert d[0, 0, 20, 20] == 1.0
    assert d[0, 0, 20, 30] < d[0, 0, 20, 25] < 1.0  # decays with distance


def test_soften_edges_feathers_only_the_mask_border():
    import torch

    from talkrig.synth.frames import soften_edges

    frames = torch.zeros(1, 8, 8, 3)
    mask = torch.zeros(1, 8, 8, dtype=torch.bool)
    frames[0, :, 4:] = 1.0  # a hard vertical edge, the mask on its right
    mask[0, :, 4:] = True
    out = soften_edges(frames.clone(), mask)
    # the two columns that touch the border blend across it; the rest is untouched
    assert torch.allclose(out[0, :, 3], torch.full((8, 3), 1 / 3))
    assert torch.allclose(out[0, :, 4], torch.full((8, 3), 2 / 3))
    assert torch.equal(out[0, :, :3], frames[0, :, :3]) and torch.equal(out[0, :, 5:], frames[0, :, 5:])
    assert soften_edges(frames, torch.zeros_like(mask)) is frames


@pytest.mark.parametrize("size,cells", [(512, 128), (300, 128)])
def test_cell_means_average_the_pixels_of_each_cell(size, cells):
    """The smooth flow off the face starts from the face's own flow averaged per cell: every
    pixel lands in the cell bilinear resampling puts it in, on every frame, for frame sizes
    the grid divides and ones it does not."""
    from talkrig.synth.frames import _cell_means

    rng = np.random.default_rng(0)
    pix = torch.from_numpy(rng.choice(2 * size * size, 5000, replace=False))
    flow = torch.from_numpy(rng.normal(size=(5000, 2))).float()
    mean, covered = _cell_means(pix, flow, 2, size, cells)
    assert mean.shape == (2, 2, cells, cells) and covered.shape == (2, 1, cells, cells)
    frame, rest = pix // (size * size), pix % (size * size)
    row, col = (rest // size) * cells // size, (rest % size) * cells // size
    for i in rng.choice(5000, 20, replace=False):
        same = (frame == frame[i]) & (row == row[i]) & (col == col[i])
        assert covered[frame[i], 0, row[i], col[i]] == 1
        assert torch.allclose(mean[frame[i], :, row[i], col[i]], flow[same].mean(0), atol=1e-5)
    assert int(covered.sum()) == len(set(zip(frame.tolist(), row.tolist(), col.tolist())))
