"""Rasterization: brute-force reference, backends, camera and winding conventions."""

import numpy as np
import pytest
import torch

from render_scenes import icosphere, random_scene, raycast
from talkrig.errors import InputError
from talkrig.render.backends import available
from talkrig.render.camera import Camera
from talkrig.render.interpolate import interpolate
from talkrig.render.raster import rasterize

DEVICE = {"cpu": "cpu", "torch": "cpu", "pytorch3d": "cpu", "nvdiffrast": "cuda"}
BACKENDS = [pytest.param(b, marks=pytest.mark.skipif(not available(b, DEVICE[b]),
                                                     reason=f"{b} not installed (or no CUDA)"))
            for b in DEVICE]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_raycast(backend, seed):
    v, f, cam = random_scene(seed)
    ids, depth, hits = raycast(v[0].numpy(), f.numpy(), cam)
    assert (ids >= 0).mean() > 0.2 and len(np.unique(ids)) > 6  # a real, overlapping scene
    dev = DEVICE[backend]
    fr = rasterize(cam.project(v.float().to(dev)), f.to(dev), (cam.height, cam.width), backend=backend)
    got = fr.tri_id[0].cpu().numpy()
    assert (got == ids).mean() >= 0.999
    same = (got == ids) & (ids >= 0)
    np.testing.assert_allclose(fr.depth[0].cpu().numpy()[same], depth[same], rtol=1e-4)
    # perspective-correct barycentrics put interpolated camera-space points on the ray hit
    p = interpolate(v.float().to(dev), fr, f.to(dev))[0].cpu().numpy()
    np.testing.assert_allclose(p[same], hits[same], atol=2e-4)


def test_backends_agree_on_sphere():
    verts, faces = icosphere(4)
    cam = Camera(focal=300.0, width=200, height=160)
    v = (verts.float() * 1.0 + torch.tensor([0.1, -0.05, -3.0]))[None]
    a = rasterize(cam.project(v), faces, (160, 200), backend="cpu")
    b = rasterize(cam.project(v), faces, (160, 200), backend="torch")
    assert (a.tri_id == b.tri_id).float().mean() >= 0.999
    assert torch.equal(a.pix, b.pix) or (a.tri_id >= 0).sum() == (b.tri_id >= 0).sum()


def test_cpu_kernel_barycentrics_match_torch_recompute():
    v, f, cam = random_scene(3)
    pos = cam.project(v.float())
    fr = rasterize(pos, f, (cam.height, cam.width), backend="cpu")
    pos_g = pos.clone().requires_grad_()
    fr_g = rasterize(pos_g, f, (cam.height, cam.width), backend="cpu")  # torch recompute path
    torch.testing.assert_close(fr.bary_c, fr_g.bary_c.detach(), atol=2e-5, rtol=0)
    torch.testing.assert_close(fr.depth_c, fr_g.depth_c.detach(), atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(fr.bary_c.sum(1), torch.ones(len(fr.pix)), atol=1e-5, rtol=0)


def test_pixel_centre_convention():
    # a tiny triangle around the centre of pixel (row 2, col 5) covers that pixel only
    pos = torch.tensor([[[5.3, 2.3, 1.0], [5.8, 2.4, 1.0], [5.5, 2.8, 1.0]]])
    fr = rasterize(pos, torch.tensor([[0, 1, 2]]), (6, 8), backend="cpu")
    assert fr.tri_id.eq(0).nonzero().tolist() == [[0, 2, 5]]
    # shifted off the centre (row 2 col 5 centre is 5.5, 2.5) it covers nothing
    fr = rasterize(pos + torch.tensor([0.6, 0.0, 0.0]), torch.tensor([[0, 1, 2]]), (6, 8), backend="cpu")
    assert fr.mask.sum() == 0


def test_projection_convention_and_winding():
    cam = Camera(focal=100.0, width=64, height=48)
    p = cam.project(torch.tensor([[[0.0, 0.0, -2.0], [0.2, 0.0, -2.0], [0.0, 0.2, -2.0]]]))
    torch.testing.assert_close(p[0, 0], torch.tensor([32.0, 24.0, 2.0]))
    assert p[0, 1, 0] > 32 and p[0, 2, 1] < 24  # x right, y up -> image row decreases
    # counter-clockwise seen from the camera (+z side) is front-facing
    ccw = torch.tensor([[[-0.5, -0.5, -2.0], [0.5, -0.5, -2.0], [0.0, 0.5, -2.0]]])
    faces = torch.tensor([[0, 1, 2]])
    front = rasterize(cam.project(ccw), faces, (48, 64), cull="back")
    assert front.mask.sum() > 100
    back = rasterize(cam.project(ccw), faces.flip(1), (48, 64), cull="back")
    assert back.mask.sum() == 0
    assert rasterize(cam.project(ccw), faces, (48, 64), cull="front").mask.sum() == 0


@pytest.mark.parametrize("backend", BACKENDS)
def test_cull_back_on_sphere_keeps_image(backend):
    verts, faces = icosphere(3)
    cam = Camera(focal=120.0, width=64, height=64)
    pos = cam.project((verts.float() + torch.tensor([0.0, 0.0, -4.0]))[None]).to(DEVICE[backend])
    faces = faces.to(DEVICE[backend])
    a = rasterize(pos, faces, (64, 64), backend=backend)
    b = rasterize(pos, faces, (64, 64), backend=backend, cull="back")
    assert (a.tri_id == b.tri_id).float().mean() >= 0.999
    ref = rasterize(pos.cpu(), faces.cpu(), (64, 64), backend="cpu")
    assert (a.tri_id.cpu() == ref.tri_id).float().mean() >= 0.999


def test_batch_and_behind_camera():
    v, f, cam = random_scene(4)
    pos = cam.project(v.float())
    two = torch.cat([pos, pos + torch.tensor([3.0, 0.0, 0.0])])
    fr = rasterize(two, f, (cam.height, cam.width))
    one = rasterize(pos, f, (cam.height, cam.width))
    assert torch.equal(fr.tri_id[0], one.tri_id[0]) and not torch.equal(fr.tri_id[1], one.tri_id[0])
    behind = pos.clone()
    behind[..., 2] = -1.0
    assert rasterize(behind, f, (cam.height, cam.width)).mask.sum() == 0


def test_bad_input_raises():
    with pytest.raises(InputError):
        rasterize(torch.zeros(5, 3), torch.zeros(1, 3, dtype=torch.long), (4, 4))
    with pytest.raises(InputError):
        rasterize(torch.zeros(1, 5, 3), torch.zeros(1, 3, dtype=torch.long), (4, 4), backend="opengl")
    with pytest.raises(InputError):
        rasterize(torch.zeros(1, 5, 3), torch.zeros(1, 3, dtype=torch.long), (4, 4), cull="sideways")


class _CountingBackend:
    """A backend of a caller's own: the plain-torch rasterizer, counting its calls."""

    name = "counting"

    def __init__(self):
        from talkrig.render.backends import TorchBackend

        self.inner, self.calls = TorchBackend(), 0

    def available(self, device):
        return True

    def raster(self, pos, faces, size, cull, near):
        self.calls += 1
        return self.inner.raster(pos, faces, size, cull, near)


def test_a_backend_object_is_used_as_given_and_names_resolve_to_objects():
    from talkrig.render.backends import BACKENDS, RasterBackend, get_backend

    v, f, cam = random_scene(0)
    pos = cam.project(v.float())
    mine = _CountingBackend()
    assert isinstance(mine, RasterBackend) and all(isinstance(b, RasterBackend) for b in BACKENDS.values())
    by_object = rasterize(pos, f, (cam.height, cam.width), backend=mine)
    by_name = rasterize(pos, f, (cam.height, cam.width), backend="torch")
    assert mine.calls == 1 and torch.equal(by_object.tri_id, by_name.tri_id)
    assert get_backend("torch", "cpu") is BACKENDS["torch"]
    assert get_backend("auto", "cpu").name in ("cpu", "pytorch3d", "torch")
    with pytest.raises(InputError, match="not a render backend"):
        rasterize(pos, f, (cam.height, cam.width), backend=object())
    with pytest.raises(InputError, match="unknown render backend"):
        rasterize(pos, f, (cam.height, cam.width), backend="opengl")
