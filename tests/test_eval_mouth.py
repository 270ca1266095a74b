"""talkrig.eval.mouth: the inside of open mouths, measured on a real talking video."""

from __future__ import annotations

import numpy as np
import pytest

from talkrig.eval.mouth import inner_lip_mask, local_range, mouth_interior


@pytest.fixture(scope="module")
def real_clip(tmp_path_factory):
    from conftest import shared_path

    from talkrig.eval.track import track_frames
    from talkrig.io.video import read_video

    clip = read_video(shared_path("dev", "video", "hdtf_WDA_KatieHill_000.mp4"))
    frames = [f for _, f in zip(range(100), clip.frames())]
    return frames, track_frames(frames, clip.fps).points


@pytest.mark.shared
def test_a_real_speakers_open_mouth_shows_teeth_and_texture(real_clip):
    frames, points = real_clip
    m = mouth_interior(frames, points)
    assert m.open_frames >= 40 and m.frames == 100
    assert 0.2 <= m.teeth_bright <= 0.8        # teeth show, as in real speech
    assert m.near_black <= 0.3 and m.flat <= 0.02


@pytest.mark.shared
def test_a_flat_black_slab_in_the_same_mouths_reads_as_one(real_clip):
    frames, points = real_clip
    slab = []
    for f, p in zip(frames, points):
        f = f.copy()
        if np.isfinite(p).all():
            f[inner_lip_mask(p, (f.shape[1], f.shape[0]))] = (8, 4, 4)
        slab.append(f)
    m = mouth_interior(slab, points)
    assert m.teeth_bright == 0.0 and m.near_black == 1.0
    assert m.flat > 0.6  # all but the pixels next to the lips


@pytest.mark.shared
def test_closed_mouths_are_not_measured(real_clip):
    frames, points = real_clip
    m = mouth_interior(frames, points, open_at=10.0)  # no mouth opens this wide
    assert m.open_frames == 0 and m.pixels == 0 and np.isnan(m.teeth_bright)


def test_local_range_is_zero_on_flat_and_sees_one_grey_step():
    y = np.zeros((6, 6), np.float32)
    assert local_range(y).max() == 0
    y[:, 3:] = 5
    r = local_range(y)
    assert r[:, 2].tolist() == [5] * 6 and r[:, 0].max() == 0
