"""Render the ICT-FaceKit head (52k triangles) with every backend that runs here."""

import numpy as np
import pytest
import torch

from render_scenes import ict_neutral
from talkrig.render.camera import Camera
from talkrig.render.raster import rasterize
from talkrig.render.renderer import MeshRenderer

pytestmark = [pytest.mark.slow, pytest.mark.shared]


@pytest.fixture(scope="module")
def head(request):
    from conftest import shared_path

    v, f, vt, ft = ict_neutral(shared_path("models", "ICT-FaceKit-FaceXModel.tar.xz"))
    c = (v.max(0).values + v.min(0).values) / 2
    return (v - c + torch.tensor([0.0, 0.0, -80.0]))[None], f, vt, ft


def test_face_render_backends_agree_and_look_right(head, tmp_path):
    v, f, vt, ft = head
    cam = Camera(focal=700.0, width=256, height=256)
    pos = cam.project(v)
    a = rasterize(pos, f, (256, 256), backend="cpu")
    b = rasterize(pos, f, (256, 256), backend="torch")
    assert (a.tri_id == b.tri_id).float().mean() >= 0.999
    light = torch.zeros(1, 27)
    light[:, [0, 9, 18]] = 0.8
    light[:, [2, 11, 20]] = 0.3
    r = MeshRenderer(f, uvs=vt, uv_faces=ft)
    out = r(v, cam, albedo=torch.tensor([0.7, 0.55, 0.45]).expand(v.shape[1], 3), lighting=light,
            maps=("depth", "normal", "uv"))
    cover = out.alpha.mean().item()
    assert 0.2 < cover < 0.8
    # the nearest covered pixel is the nose tip, whose normal faces the camera
    d = torch.where(out.depth[0] > 0, out.depth[0], torch.tensor(1e9))
    i = int(torch.argmin(d))
    n = out.normal[0].reshape(-1, 3)[i]
    assert n[2] > 0.8
    # uv map: convex combinations of the mesh's UVs (ICT's layout spans several [0,1] tiles)
    uv = out.uv[0][out.tri_id[0] >= 0]
    assert (uv >= vt.min(0).values - 1e-5).all() and (uv <= vt.max(0).values + 1e-5).all()
    out.save_png(tmp_path / "face.png")
    # gradients reach vertices, albedo and light through the full pipeline
    x = v.clone().requires_grad_()
    lt = light.clone().requires_grad_()
    img = r(x, cam, lighting=lt).image
    img.mean().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0 and lt.grad.abs().sum() > 0
    assert np.isfinite(img.detach().numpy()).all()
