"""talkrig.render.preview: the numpy front end to talkrig.render used for contact sheets."""

from __future__ import annotations

import numpy as np
import pytest

from talkrig.render import preview
from talkrig.model.default import default_texture, load_default


def _crossing_triangles():
    """Two big triangles that pierce each other along x = 0: red is nearer on the left, green
    on the right (a painter's sort by mean depth gets one half wrong)."""
    v = np.array([[-4, -3, 1.0], [4, -3, -1.0], [0, 4, 0.0],      # red: z falls with x
                  [-4, -3, -1.0], [4, -3, 1.0], [0, 4, 0.0]])     # green: z rises with x
    colors = np.array([[1, 0, 0]] * 3 + [[0, 1, 0]] * 3, float)
    return v, np.array([[0, 1, 2], [3, 4, 5]]), colors


@pytest.mark.slow  # compiles the numba rasterizer when its cache is cold
def test_z_buffer_resolves_interpenetrating_triangles():
    v, f, col = _crossing_triangles()
    img, r = preview.render_mesh(v, f, size=(64, 48), focal=100.0, distance=30.0, colors=col,
                                 light=(0, 0, 1), ambient=1.0, background=(0, 0, 1))
    assert img.shape == (48, 64, 3) and r.face.shape == (48, 64)
    row = 30
    assert r.face[row, 24] == 0 and img[row, 24, 0] > 200 and img[row, 24, 1] < 50  # left: red
    assert r.face[row, 40] == 1 and img[row, 40, 1] > 200 and img[row, 40, 0] < 50  # right: green
    assert (img[:5, :5] == [0, 0, 255]).all()  # background where nothing is drawn
    assert np.allclose(r.bary[r.face >= 0].sum(-1), 1, atol=1e-5)


def test_back_faces_are_culled_and_light_shades():
    v, f, col = _crossing_triangles()
    _, r = preview.render_mesh(v, f[:, ::-1].copy(), size=(64, 48), focal=100.0, distance=30.0)
    assert (r.face < 0).all()  # both triangles seen from behind
    lit, _ = preview.render_mesh(v, f[:1], size=(64, 48), focal=100.0, distance=30.0, light=(0, 0, 1))
    dark, _ = preview.render_mesh(v, f[:1], size=(64, 48), focal=100.0, distance=30.0, light=(0, 0, -1))
    assert lit[30, 24].mean() > dark[30, 24].mean() + 50  # ambient only when lit from behind


def test_textured_default_head_and_texture_lookup():
    m = load_default()
    tex = default_texture()
    img, r = preview.render_mesh(m.mean.numpy(), m.faces.numpy(), size=(96, 96), focal=220.0,
                                 center=(0.0, -3.0, 0.0), texture=tex, uvs=m.uvs.numpy(),
                                 uv_faces=m.uv_faces.numpy())
    covered = r.face >= 0
    assert 0.2 < covered.mean() < 0.9 and (img[:3, :3] == 255).all()  # white background
    assert img[covered].std() > 5  # textured, not flat
    # texel centres come back exactly; v = 1 is the first row
    h, w = tex.shape[:2]
    uv = np.array([[(3 + 0.5) / w, 1 - (5 + 0.5) / h]])
    assert np.allclose(preview.sample_texture(tex, uv)[0], tex[5, 3], atol=1e-6)
