"""deep3dfacerecon-lite: the R-Net in plain torch, its checkpoint layout, alignment and cameras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.io.image import load_image
from talkrig.model import ModelInfo, MorphableModel, load_model
from talkrig.recon.deep3d import (CROP, OUT_DIMS, Alignment, ReconNet, align, five_points_from_68, load_reconnet,
                                  predict, template_from_model, to_coefficients)
from talkrig.render.camera import Camera

ASTRONAUT = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    n = ReconNet()
    for layer in n.final_layers:  # random heads so outputs are not all zero
        torch.nn.init.normal_(layer.weight, std=0.01)
        torch.nn.init.normal_(layer.bias, std=0.1)
    return n.eval()


def test_checkpoint_layout_roundtrip(net, tmp_path):
    sd = net.state_dict()
    assert "backbone.layer1.0.downsample.0.weight" in sd and "final_layers.6.bias" in sd
    assert sum(v.numel() for k, v in sd.items() if k.startswith("backbone.") and "running" not in k
               and "num_batches" not in k) == 23_508_032  # ResNet-50 without its fc
    torch.save({"net_recon": sd, "epoch": 20}, tmp_path / "epoch_20.pth")
    loaded = load_reconnet(tmp_path / "epoch_20.pth")
    x = torch.rand(1, 3, CROP, CROP)
    with torch.no_grad():
        out = loaded(x)
        assert out.shape == (1, sum(OUT_DIMS)) == (1, 257)
        assert torch.allclose(out, net(x), atol=1e-5)


def test_bad_checkpoints(tmp_path):
    with pytest.raises(ModelNotFoundError):
        load_reconnet(tmp_path / "none.pth")
    (tmp_path / "junk.pth").write_bytes(b"junk")
    with pytest.raises(InputError):
        load_reconnet(tmp_path / "junk.pth")
    torch.save({"net_recon": {"conv.weight": torch.zeros(1)}}, tmp_path / "other.pth")
    with pytest.raises(InputError, match="R-Net"):
        load_reconnet(tmp_path / "other.pth")


def test_alignment_centres_the_face(net):
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    from talkrig.recon.landmarker import shared_landmarker

    img = load_image(ASTRONAUT)
    det = shared_landmarker().detect_one(img)
    five = five_points_from_68(det.landmarks68)
    crop, al = align(img, five, template_from_model(load_model("default")))
    assert crop.shape == (CROP, CROP, 3)
    # the five points in crop pixels: inside, centred horizontally (the template's origin, here
    # the default model's, sets the vertical placement), at about the size Deep3DFaceRecon trains on
    c = five * al.scale - np.array([al.left, al.up])
    assert (c > 10).all() and (c < CROP - 10).all()
    assert abs(c[:, 0].mean() - CROP / 2) < 12
    assert c[0:2, 1].max() < c[2, 1] < c[3:5, 1].min()
    assert 50 < c[1, 0] - c[0, 0] < 110
    # the crop shows the photo there: compare a pixel near the nose tip
    nose = five[2].astype(int)
    cn = c[2].astype(int)
    assert np.abs(crop[cn[1], cn[0]].astype(int) - img[nose[1], nose[0]].astype(int)).max() < 40
    assert predict(net, crop).shape == (1, 257)


def _fake_bfm(n=300):
    g = torch.Generator().manual_seed(1)
    mean = torch.randn(n, 3, generator=g) * 50
    return MorphableModel(mean=mean, id_basis=torch.randn(80, n, 3, generator=g), exp_basis=torch.randn(64, n, 3, generator=g),
                          exp_names=[f"e{i}" for i in range(64)], faces=np.array([[0, 1, 2]]),
                          albedo_mean=torch.rand(n, 3), albedo_basis=torch.randn(80, n, 3) * 0.01,
                          landmarks68=np.arange(68), info=ModelInfo("bfm-test", "mm", "test", "test", False))


def test_coefficients_and_camera_agree_with_the_crop():
    model = _fake_bfm()
    out = torch.zeros(1, 257)
    out[0, 224:227] = torch.tensor([0.1, -0.2, 0.05])  # angles
    out[0, 254:257] = torch.tensor([0.1, -0.05, 0.3])  # trans xy, z (dm)
    al = Alignment(scale=0.5, left=30.0, up=12.0)
    coeffs, al = to_coefficients(out, model, al)
    assert coeffs.translation[0].tolist() == pytest.approx([10.0, -5.0, -970.0])  # mm, camera 10 dm away
    assert coeffs.lighting[0, 0] == pytest.approx(0.8)
    v = model.vertices(coeffs)
    crop_px = Camera(1015.0, CROP, CROP).project(v)[0, :, :2]
    full_px = al.camera(448, 400).project(v)[0, :, :2]
    assert torch.allclose(full_px * al.scale - torch.tensor([al.left, al.up]), crop_px, atol=1e-3)
    with pytest.raises(InputError, match="80 identity"):
        to_coefficients(out, load_model("default"), al)
