"""SH Lambertian shading (Deep3DFaceRecon layout) and the MeshRenderer outputs."""

import math

import numpy as np
import pytest
import torch

from render_scenes import icosphere
from talkrig.errors import InputError
from talkrig.model.coefficients import Coefficients
from talkrig.render.camera import Camera
from talkrig.render.renderer import MeshRenderer, render_mesh
from talkrig.render.shading import from_deep3d_gamma, sh_basis, sh_irradiance, to_deep3d_gamma


def _sphere_dirs(n=40000):
    """Fibonacci-sphere directions and equal weights (quadrature on S^2)."""
    i = np.arange(n) + 0.5
    z = 1 - 2 * i / n
    phi = math.pi * (1 + 5 ** 0.5) * i
    r = np.sqrt(1 - z * z)
    d = np.stack([r * np.cos(phi), r * np.sin(phi), z], 1)
    return torch.from_numpy(d), 4 * math.pi / n


def test_sh_irradiance_is_lambertian_integral():
    # radiance with only l <= 2 content: the 9-term SH irradiance is then exact, so it must
    # equal the brute-force integral E(n) = int L(w) max(0, n.w) dw -- once the coefficients
    # account for Deep3DFaceRecon's band factors being sqrt(3) (l=1) and sqrt(8) (l=2) times
    # the exact Lambertian ones (2 pi / 3, pi / 4; Ramamoorthi & Hanrahan 2001)
    w, dw = _sphere_dirs()
    x, y, z = w.unbind(1)
    radiance = torch.stack([1 + 0.3 * x - 0.2 * y + 0.5 * z + 0.4 * x * y,
                            0.7 + 0.2 * z * z - 0.1 * x * z,
                            0.5 + 0.3 * (x * x - y * y) + 0.25 * y * z], 1)
    a = torch.tensor([math.pi] + [2 * math.pi / math.sqrt(3)] * 3 + [2 * math.pi / math.sqrt(8)] * 5, dtype=w.dtype)
    ylm = sh_basis(w) / a  # plain orthonormal SH values
    coef = radiance.T @ ylm * dw  # (3, 9) physical SH coefficients of the radiance
    ratio = torch.tensor([1.0] + [math.sqrt(3)] * 3 + [math.sqrt(8)] * 5, dtype=w.dtype)
    gamma = (coef / ratio).reshape(1, 27)  # channel-major
    normals, _ = _sphere_dirs(50)
    got = sh_irradiance(normals[None], gamma)[0]
    want = torch.stack([(radiance[:, c:c + 1] * (normals @ w.T).clamp(min=0).T * dw).sum(0) for c in range(3)], 1)
    torch.testing.assert_close(got, want, atol=3e-3, rtol=0)


def test_deep3d_layout_and_signs():
    # Deep3DFaceRecon basis: Y1 = -c y, Y2 = +c z, Y3 = -c x with a1*c1 = sqrt(pi);
    # gamma is (3 channels x 9), channel-major
    g = torch.zeros(1, 27, dtype=torch.float64)
    g[0, 2] = 1.0  # R channel, z term
    g[0, 9 + 1] = 1.0  # G channel, y term
    g[0, 18 + 3] = 1.0  # B channel, x term
    n = torch.tensor([[[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]], dtype=torch.float64)
    e = sh_irradiance(n, g)[0]
    s = math.sqrt(math.pi)
    torch.testing.assert_close(e, torch.tensor([[s, 0, 0], [0, -s, 0], [0, 0, -s]], dtype=torch.float64))
    # ambient 0.8 (Coefficients default, Deep3DFaceRecon's init_lit) gives 0.8 * pi / sqrt(4 pi)
    light = Coefficients.zeros(1, 1).lighting
    e = sh_irradiance(torch.nn.functional.normalize(torch.randn(1, 5, 3), dim=-1), light)
    torch.testing.assert_close(e, torch.full((1, 5, 3), 0.8 * math.pi / math.sqrt(4 * math.pi)))
    torch.testing.assert_close(from_deep3d_gamma(torch.zeros(2, 27)), Coefficients.zeros(1, 1, frames=2).lighting)
    torch.testing.assert_close(to_deep3d_gamma(from_deep3d_gamma(g)), g)
    with pytest.raises(InputError):
        sh_irradiance(n, torch.zeros(1, 9))


def _sphere(size=96, radius=1.0, dist=4.0, focal=None):
    verts, faces = icosphere(4, radius)
    cam = Camera(focal=focal or size * 1.2, width=size, height=size)
    return (verts.float() + torch.tensor([0.0, 0.0, -dist]))[None], faces, cam


def test_renderer_maps_on_sphere(tmp_path):
    v, f, cam = _sphere()
    uvs = (v[0, :, :2] + 1) / 2
    r = MeshRenderer(f, uvs=uvs, background=(0.0, 0.0, 1.0))
    out = r(v, cam, albedo=torch.full((v.shape[1], 3), 0.5), lighting=Coefficients.zeros(1, 1).lighting,
            maps=("depth", "normal", "uv"))
    # silhouette of a sphere: a disc of radius f r / sqrt(d^2 - r^2) pixels
    rad = float(cam.focal) / math.sqrt(4.0 ** 2 - 1)
    area = out.alpha.sum().item()
    assert abs(area - math.pi * rad ** 2) / (math.pi * rad ** 2) < 0.01
    c = cam.width // 2
    torch.testing.assert_close(out.depth[0, c, c], torch.tensor(3.0), atol=5e-3, rtol=0)
    torch.testing.assert_close(out.normal[0, c, c], torch.tensor([0.0, 0.0, 1.0]), atol=2e-2, rtol=0)
    assert out.normal[0, c, c + 20, 0] > 0.3 and out.normal[0, c - 20, c, 1] > 0.3  # right / up
    torch.testing.assert_close(out.uv[0, c, c], torch.tensor([0.5, 0.5]), atol=2e-2, rtol=0)
    # ambient light, grey albedo: 0.5 * 0.8 * pi / sqrt(4 pi) inside, background blue outside
    torch.testing.assert_close(out.image[0, c, c], torch.full((3,), 0.5 * 0.8 * math.sqrt(math.pi) / 2), atol=1e-4, rtol=0)
    assert out.image[0, 0, 0].tolist() == [0.0, 0.0, 1.0] and out.alpha[0, 0, 0, 0] == 0
    assert out.tri_id.dtype == torch.int32 and out.tri_id[0, 0, 0] == -1
    out.save_png(tmp_path / "sphere.png")
    from PIL import Image
    im = np.asarray(Image.open(tmp_path / "sphere.png"))
    assert im.shape == (96, 96, 4) and im[c, c, 3] == 255 and im[0, 0, 3] == 0


def test_directional_light_shades_the_lit_side():
    v, f, cam = _sphere(64)
    light = torch.zeros(1, 27)
    light[:, [0, 9, 18]] = 0.5
    light[:, [3, 12, 21]] = -0.6  # -x coefficient of Y3 = -c x: light from +x (the right)
    img = render_mesh(v, f, cam, lighting=light, albedo=torch.ones(1, v.shape[1], 3)).image[0, 32]
    assert img[45, 0] > img[32, 0] > img[19, 0]


def test_texture_shading_matches_vertex_colours_for_flat_texture():
    v, f, cam = _sphere(48)
    uvs = (v[0, :, :2] + 1) / 2
    light = torch.zeros(1, 27)
    light[:, [0, 9, 18]] = 0.8
    r = MeshRenderer(f, uvs=uvs)
    a = r(v, cam, tex=torch.full((1, 3, 4, 4), 0.7), lighting=light).image
    b = r(v, cam, albedo=torch.full((v.shape[1], 3), 0.7), lighting=light).image
    torch.testing.assert_close(a, b, atol=1e-5, rtol=0)


def test_renderer_batch_and_errors():
    v, f, cam = _sphere(32)
    r = MeshRenderer(f)
    two = torch.cat([v, v + torch.tensor([0.5, 0.0, 0.0])])
    light = Coefficients.zeros(1, 1).lighting
    torch.testing.assert_close(r(two, cam, lighting=light).image[1], r(two[1:], cam, lighting=light).image[0])
    out = r(two, cam)
    assert out.image.shape == (2, 32, 32, 3) and not torch.equal(out.image[0], out.image[1])
    torch.testing.assert_close(out.image[0], r(v, cam).image[0])
    with pytest.raises(InputError):
        r(v[0], cam)
    with pytest.raises(InputError):
        r(v, cam, tex=torch.rand(1, 3, 4, 4))  # no uvs
