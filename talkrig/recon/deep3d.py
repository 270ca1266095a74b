"""deep3dfacerecon-lite: Deep3DFaceRecon's R-Net (ResNet-50 -> 257 coefficients) in plain torch.

Deng et al. 2019, "Accurate 3D Face Reconstruction with Weakly-Supervised Learning: From Single
Image to Image Set" (CVPR-W); PyTorch release ``sicxu/Deep3DFaceRecon_pytorch``. Written here
from the paper's description and the published checkpoint layout (no torchvision): a ResNet-50
whose pooled 2048-d feature goes through seven 1x1 convolutions giving identity (80),
expression (64), texture (80), angles (3), SH light (27), translation xy (2) and z (1).

Checkpoint: the official ``epoch_20.pth`` is a dict whose ``"net_recon"`` entry is the state
dict (keys ``backbone.*``, ``final_layers.{0..6}.*``); it is read with
``torch.load(weights_only=True)`` and never downloaded. Its coefficients belong to the BFM as
Deep3DFaceRecon prepares it (``BFM_model_front.mat``: 80 identity, 64 expression, 80 albedo
dimensions, bases unscaled); :func:`to_coefficients` checks the model's sizes.

Input alignment (the method's own): five points (eye centres, nose tip, mouth corners) are
matched to the model's 3D five-point template by a scaled orthographic fit; the image is scaled
so that the template spans ``RESCALE`` pixels and a 224 x 224 crop is cut around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import Tensor, nn

from talkrig.errors import InputError
from talkrig.model.coefficients import Coefficients
from talkrig.render.camera import Camera

OUT_DIMS = (80, 64, 80, 3, 27, 2, 1)  # id, exp, tex, angle, gamma, trans xy, trans z
CROP = 224
RESCALE = 102.0  # template size in crop pixels (Deep3DFaceRecon's rescale_factor)
FOCAL = 1015.0  # crop-pixel focal length the network was trained with
CAMERA_DISTANCE_DM = 10.0  # the network's camera sits 10 dm in front of the face


# -- ResNet-50 ------------------------------------------------------------------------------
class Bottleneck(nn.Module):
    """ResNet v1.5 bottleneck (stride on the 3x3 convolution)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        idt = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + idt)


class ResNet50(nn.Module):
    """ResNet-50 trunk ending in global average pooling: ``(B, 3, H, W) -> (B, 2048, 1, 1)``."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes = 64
        for i, (planes, blocks, stride) in enumerate(((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)), 1):
            down = None
            if stride != 1 or inplanes != planes * 4:
                down = nn.Sequential(nn.Conv2d(inplanes, planes * 4, 1, stride=stride, bias=False),
                                     nn.BatchNorm2d(planes * 4))
            layers = [Bottleneck(inplanes, planes, stride, down)]
            inplanes = planes * 4
            layers += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            setattr(self, f"layer{i}", nn.Sequential(*layers))
        self.avgpool = nn.AdaptiveAvgPool2d(1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.avgpool(x)


class ReconNet(nn.Module):
    """R-Net: ``(B, 3, 224, 224)`` RGB in [0, 1] -> ``(B, 257)`` coefficients."""

    def __init__(self):
        super().__init__()
        self.backbone = ResNet50()
        self.final_layers = nn.ModuleList([nn.Conv2d(2048, d, 1, bias=True) for d in OUT_DIMS])
        for layer in self.final_layers:  # zero start, as in the paper's training
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: Tensor) -> Tensor:
        f = self.backbone(x)
        return torch.cat([layer(f) for layer in self.final_layers], 1).flatten(1)


def load_reconnet(path: str | Path) -> ReconNet:
    """Load R-Net weights from a Deep3DFaceRecon checkpoint (``{"net_recon": state_dict}``) or a
    bare state dict."""
    from talkrig.io.weights import load_into, read_state_dict

    state = read_state_dict(path, "Deep3DFaceRecon checkpoint", key="net_recon")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    return load_into(ReconNet(), state, path, "Deep3DFaceRecon R-Net", ignore_missing=(),
                     ignore_unexpected=("backbone.fc.",))


# -- alignment -----------------------------------------------------------------------------
def five_points_from_68(lm68: np.ndarray) -> np.ndarray:
    """``(5, D)``: left-eye centre, right-eye centre (image left/right as Deep3DFaceRecon orders
    them: iBUG 36-41 then 42-47), nose tip, mouth corners 48 and 54."""
    lm = np.asarray(lm68, np.float64)
    return np.stack([lm[36:42].mean(0), lm[42:48].mean(0), lm[30], lm[48], lm[54]])


def template_from_model(model) -> np.ndarray:
    """The model's five-point 3D template (mean shape) in decimetres, the network's units."""
    if len(model.landmarks68) != 68:
        raise InputError(f"model {model.name!r} has no 68 landmarks for the five-point template")
    pts = model.mean[model.landmarks68].cpu().numpy().astype(np.float64)
    five = five_points_from_68(pts)
    from talkrig.model.convert import units_per_decimetre

    return five / units_per_decimetre(model.info.units)


@dataclass
class Alignment:
    """How the 224 crop sits in the photo: ``crop_pixel = photo_pixel * scale - (left, up)``."""

    scale: float
    left: float
    up: float

    def camera(self, width: int, height: int) -> Camera:
        """The network's crop camera expressed in full-photo pixels."""
        s = self.scale
        return Camera(FOCAL / s, width, height, (CROP / 2 + self.left) / s, (CROP / 2 + self.up) / s)


def align(image: np.ndarray, five: np.ndarray, template: np.ndarray) -> tuple[np.ndarray, Alignment]:
    """Scale and crop the photo as R-Net expects.

    Args:
        image: ``(H, W, 3)`` uint8; five ``(5, 2)`` pixels (y down); template ``(5, 3)``.
    Returns:
        ``crop (224, 224, 3)`` uint8 and its :class:`Alignment`.
    """
    h, w = image.shape[:2]
    # scaled orthographic fit (y up) of the template to the points: x = s * R2 X + t
    q = np.stack([five[:, 0], h - 1 - five[:, 1]], 1)
    a = np.zeros((10, 8))
    a[0::2, 0:3], a[0::2, 3] = template, 1
    a[1::2, 4:7], a[1::2, 7] = template, 1
    k = np.linalg.lstsq(a, q.reshape(-1), rcond=None)[0]
    r1, r2 = k[0:3], k[4:7]
    s_fit = (np.linalg.norm(r1) + np.linalg.norm(r2)) / 2
    tx, ty = k[3], k[7]
    s = RESCALE / s_fit
    nw, nh = max(1, int(w * s)), max(1, int(h * s))
    left = int(nw / 2 - CROP / 2 + (tx - w / 2) * s)
    up = int(nh / 2 - CROP / 2 + (h / 2 - ty) * s)
    resized = Image.fromarray(image).resize((nw, nh), Image.Resampling.BICUBIC)
    crop = resized.crop((left, up, left + CROP, up + CROP))
    return np.asarray(crop), Alignment(float(nw / w), float(left), float(up))


# -- prediction ------------------------------------------------------------------------------
def split_output(out: Tensor) -> dict[str, Tensor]:
    """Name the 257 outputs."""
    names = ("id", "exp", "tex", "angle", "gamma", "trans_xy", "trans_z")
    parts = torch.split(out, OUT_DIMS, dim=1)
    return dict(zip(names, parts))


def to_coefficients(out: Tensor, model, alignment: Alignment) -> tuple[Coefficients, Alignment]:
    """Network output -> talkrig :class:`Coefficients` for ``model`` (a BFM with 80 identity and
    64 expression components), through :func:`talkrig.model.convert.from_d3dfr` (same Euler
    order; translation ``trans - (0, 0, 10)`` dm in the model's units; SH DC + 0.8). The focal
    length is the network's 1015 crop pixels expressed in photo pixels; the principal point is
    in :meth:`Alignment.camera`.
    """
    from talkrig.model.convert import from_d3dfr

    if model.n_identity != 80 or model.n_expression != 64:
        raise InputError(f"Deep3DFaceRecon predicts BFM coefficients (80 identity, 64 expression); "
                         f"model {model.name!r} has {model.n_identity} and {model.n_expression}")
    coeffs = from_d3dfr(out.detach().cpu(), units=model.info.units)
    if model.n_albedo != 80:
        coeffs = coeffs.replace(albedo=torch.zeros(coeffs.frames, model.n_albedo))
    coeffs = coeffs.replace(focal=torch.full((coeffs.frames,), FOCAL / alignment.scale))
    return coeffs, alignment


@torch.no_grad()
def predict(net: ReconNet, crop: np.ndarray) -> Tensor:
    """Run R-Net on one aligned ``(224, 224, 3)`` uint8 crop -> ``(1, 257)``."""
    x = torch.from_numpy(np.array(crop, np.float32)).permute(2, 0, 1)[None] / 255.0
    return net(x)


def reconstruct_deep3d(image, model, checkpoint: str | Path, face_index: int = 0):
    """Coefficients of ``model`` (a BFM) for the face in ``image`` from the R-Net checkpoint.

    Returns:
        ``(coeffs, camera)`` with the camera in full-photo pixels.
    """
    from talkrig.io.image import load_image
    from talkrig.recon.landmarker import shared_landmarker

    img = load_image(image)
    det = shared_landmarker().detect_one(img, face_index)
    crop, al = align(img, five_points_from_68(det.landmarks68), template_from_model(model))
    out = predict(load_reconnet(checkpoint), crop)
    coeffs, al = to_coefficients(out, model, al)
    h, w = img.shape[:2]
    return coeffs, al.camera(w, h)
