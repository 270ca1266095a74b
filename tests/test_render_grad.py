"""Gradients: finite differences vs autograd (float64) for positions, colours, SH, textures."""

import pytest
import torch

from render_scenes import icosphere, random_scene
from talkrig.render.antialias import antialias
from talkrig.render.camera import Camera
from talkrig.render.interpolate import interpolate, texture
from talkrig.render.raster import rasterize
from talkrig.render.renderer import MeshRenderer

D = torch.float64


def _fd_check(loss_fn, x, idx, eps=1e-6, rtol=2e-3, atol=1e-6, ids_fn=None):
    """Central differences of ``loss_fn`` at entries ``idx`` of ``x`` vs autograd."""
    x = x.detach().clone().requires_grad_()
    loss_fn(x).backward()
    got = x.grad.reshape(-1)[idx]
    want = []
    for i in idx.tolist():
        xp, xm = x.detach().clone(), x.detach().clone()
        xp.view(-1)[i] += eps
        xm.view(-1)[i] -= eps
        if ids_fn is not None:  # FD is only meaningful where visibility does not change
            assert torch.equal(ids_fn(xp), ids_fn(xm)), "visibility changed inside the FD step"
        with torch.no_grad():
            want.append((loss_fn(xp) - loss_fn(xm)) / (2 * eps))
    want = torch.stack(want)
    torch.testing.assert_close(got, want, rtol=rtol, atol=atol)
    return got


def test_interior_position_gradients():
    v, f, cam = random_scene(5)
    pos = cam.project(v.to(D))
    size = (cam.height, cam.width)
    col = torch.rand(v.shape[1], 3, dtype=D, generator=torch.Generator().manual_seed(0))
    w = torch.rand(1, *size, 3, dtype=D, generator=torch.Generator().manual_seed(1))

    def loss(p):
        return (interpolate(col, rasterize(p, f, size), f) * w).sum()

    idx = torch.randperm(pos.numel(), generator=torch.Generator().manual_seed(10))[:45]
    g = _fd_check(loss, pos, idx, ids_fn=lambda p: rasterize(p, f, size).tri_id)
    assert g.abs().max() > 1e-3  # not trivially zero


def test_silhouette_gradients_need_antialias():
    # one flat-coloured triangle on a black background: without AA the image does not depend
    # on the vertex positions at all; with AA the edges move the image
    cam = Camera(focal=40.0, width=32, height=32)
    v = torch.tensor([[[-0.8, -0.6, -2.0], [0.9, -0.7, -2.2], [0.1, 0.85, -1.9]]], dtype=D)
    f = torch.tensor([[0, 1, 2]])
    size = (32, 32)
    w = torch.rand(1, 32, 32, 4, dtype=D, generator=torch.Generator().manual_seed(2))
    ones = torch.ones(3, 4, dtype=D)

    def loss(p, aa=True):
        fr = rasterize(p, f, size)
        img = interpolate(ones, fr, f)
        return ((antialias(img, fr, p, f) if aa else img) * w).sum()

    pos = cam.project(v)
    p = pos.detach().clone().requires_grad_()
    loss(p, aa=False).backward()
    assert p.grad.abs().max() < 1e-12  # (sum of barycentrics is 1: only round-off)
    g = _fd_check(loss, pos, torch.arange(pos.numel()), eps=1e-5,
                  ids_fn=lambda q: rasterize(q, f, size).tri_id)
    assert g.reshape(3, 3)[:, :2].abs().min() > 1e-3  # every corner's x and y get a gradient


def test_occlusion_silhouette_gradients():
    v, f, cam = random_scene(6, n_tri=8)
    pos = cam.project(v.to(D))
    size = (cam.height, cam.width)
    col = torch.rand(v.shape[1], 3, dtype=D, generator=torch.Generator().manual_seed(3))
    w = torch.rand(1, *size, 3, dtype=D, generator=torch.Generator().manual_seed(4))

    def loss(p):
        fr = rasterize(p, f, size)
        return (antialias(interpolate(col, fr, f), fr, p, f) * w).sum()

    idx = torch.randperm(pos.numel(), generator=torch.Generator().manual_seed(9))[:30]
    _fd_check(loss, pos, idx, eps=1e-6, ids_fn=lambda q: rasterize(q, f, size).tri_id)


def test_interpolate_gradcheck_numba_and_matches_torch_path():
    v, f, cam = random_scene(7, n_tri=6, size=(16, 20), focal=20.0)
    pos = cam.project(v.to(D)).requires_grad_()
    attr = torch.rand(1, v.shape[1], 2, dtype=D, requires_grad=True)
    size = (cam.height, cam.width)
    fn = lambda p, a: interpolate(a, rasterize(p, f, size), f)  # noqa: E731
    assert torch.autograd.gradcheck(lambda a: fn(pos.detach(), a), (attr,))
    # torch path (generic devices) gives the same values and gradients
    fr = rasterize(pos, f, size)
    from talkrig.render.fragments import gather_vertices
    ref = fr.scatter((fr.bary_c[:, :, None] * gather_vertices(attr, f, fr.tri, fr.batch_index)).sum(1))
    out = interpolate(attr, fr, f)
    torch.testing.assert_close(out, ref)
    ga = torch.autograd.grad((out * out).sum(), (attr, pos), retain_graph=True)
    gb = torch.autograd.grad((ref * ref).sum(), (attr, pos))
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y)


def _sphere_scene(size=24):
    verts, faces = icosphere(2)
    cam = Camera(focal=size * 1.6, width=size, height=size)
    return (verts.to(D) + torch.tensor([0.05, 0.02, -3.0], dtype=D))[None], faces, cam


def test_sh_and_albedo_gradcheck():
    v, f, cam = _sphere_scene()
    r = MeshRenderer(f, antialias=True)
    light = torch.zeros(1, 27, dtype=D)
    light[:, [0, 9, 18]] = 0.8
    light += 0.1 * torch.randn(1, 27, dtype=D, generator=torch.Generator().manual_seed(5))
    alb = torch.rand(1, v.shape[1], 3, dtype=D, generator=torch.Generator().manual_seed(6))
    w = torch.rand(1, 24, 24, 3, dtype=D, generator=torch.Generator().manual_seed(11))
    assert torch.autograd.gradcheck(lambda l: (r(v, cam, albedo=alb, lighting=l).image * w).sum((1, 2)),
                                    (light.requires_grad_(),))
    idx = torch.randperm(alb.numel(), generator=torch.Generator().manual_seed(12))[:30]
    _fd_check(lambda a: (r(v, cam, albedo=a, lighting=light.detach()).image * w).sum(), alb, idx)


def test_renderer_vertex_gradients_fd():
    v, f, cam = _sphere_scene(20)
    r = MeshRenderer(f)
    light = torch.zeros(1, 27, dtype=D)
    light[:, [0, 9, 18]] = 0.8
    light[:, [2, 11, 20]] = 0.4  # light from the camera side: shading depends on normals
    light[:, [3, 12, 21]] = -0.3
    w = torch.rand(1, 20, 20, 3, dtype=D, generator=torch.Generator().manual_seed(7))
    loss = lambda x: (r(x, cam, lighting=light).image * w).sum()  # noqa: E731
    idx = torch.randperm(v.numel(), generator=torch.Generator().manual_seed(8))[:40]
    _fd_check(loss, v, idx, eps=1e-6, ids_fn=lambda x: r(x, cam).tri_id)


def test_texture_gradcheck_and_convention():
    tex = torch.rand(2, 3, 5, 7, dtype=D, requires_grad=True)
    uv = (torch.rand(2, 4, 6, 2, dtype=D) * 0.9 + 0.05).requires_grad_()
    assert torch.autograd.gradcheck(texture, (tex, uv))
    # OBJ convention: v = 1 is the top row of the image, u = 0 the left column
    t = torch.zeros(1, 1, 2, 2, dtype=D)
    t[0, 0, 0, 0] = 1.0  # top-left texel
    probe = torch.tensor([[[[0.25, 0.75], [0.75, 0.75], [0.25, 0.25]]]], dtype=D)
    assert texture(t, probe)[0, 0, :, 0].tolist() == [1.0, 0.0, 0.0]


@pytest.mark.parametrize("per_vertex", [True, False])
def test_texture_through_renderer_gets_gradient(per_vertex):
    v, f, cam = _sphere_scene(16)
    uv = (v[0, :, :2] - v[0, :, :2].min()) / (v[0, :, :2].max() - v[0, :, :2].min())
    tex = torch.rand(1, 3, 8, 8, dtype=D, requires_grad=True)
    r = MeshRenderer(f, uvs=uv)
    out = r(v, cam, tex=tex, lighting=torch.tensor([[0.8] + [0.0] * 8 + [0.8] + [0.0] * 8 + [0.8] + [0.0] * 8], dtype=D))
    out.image.sum().backward()
    assert tex.grad.abs().sum() > 0 and (tex.grad != 0).float().mean() > 0.3


def test_antialias_fast_path_matches_autograd_path():
    for seed in range(3):
        v, f, cam = random_scene(seed)
        pos = cam.project(v.float())
        fr = rasterize(pos, f, (cam.height, cam.width))
        col = torch.rand(v.shape[1], 3, generator=torch.Generator().manual_seed(seed))
        with torch.no_grad():
            fast = antialias(interpolate(col, fr, f), fr, pos, f)
        c = col.clone().requires_grad_()
        slow = antialias(interpolate(c, fr, f), fr, pos, f)
        assert slow.requires_grad
        torch.testing.assert_close(fast, slow.detach(), atol=1e-5, rtol=0)
        assert (fast - interpolate(col, fr, f)).abs().max() > 0.05  # AA did something


def test_interpolate_shares_a_batch_of_one():
    v, f, cam = random_scene(8)
    pos = cam.project(v.float())
    fr = rasterize(torch.cat([pos, pos + torch.tensor([2.0, 1.0, 0.0])]), f, (cam.height, cam.width))
    col = torch.rand(1, v.shape[1], 3)
    torch.testing.assert_close(interpolate(col, fr, f), interpolate(col[0], fr, f))
    torch.testing.assert_close(interpolate(col, fr, f), interpolate(col.expand(2, -1, -1), fr, f))


def test_cpu_barycentric_backward_matches_torch_autograd():
    from talkrig.render.fragments import barycentrics

    v, f, cam = random_scene(9, n_tri=10, size=(20, 24), focal=24.0)
    pos = cam.project(v.to(D)).requires_grad_()
    fr = rasterize(pos, f, (cam.height, cam.width))  # numba forward + analytic backward
    ref_b, ref_d = barycentrics(pos, f, fr.pix, fr.tri, fr.size)  # plain torch
    torch.testing.assert_close(fr.bary_c, ref_b)
    torch.testing.assert_close(fr.depth_c, ref_d)
    gb = torch.randn_like(ref_b)
    gd = torch.randn_like(ref_d)
    got = torch.autograd.grad((fr.bary_c * gb).sum() + (fr.depth_c * gd).sum(), pos)[0]
    want = torch.autograd.grad((ref_b * gb).sum() + (ref_d * gd).sum(), pos)[0]
    torch.testing.assert_close(got, want)
    assert torch.autograd.gradcheck(
        lambda p: torch.cat([x.reshape(-1) for x in (lambda r: (r.bary_c, r.depth_c))(
            rasterize(p, f, (cam.height, cam.width)))]), (pos,))
