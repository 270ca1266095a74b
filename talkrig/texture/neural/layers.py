"""StyleGAN2 building blocks, written for talkrig (Karras et al. 2020, "Analyzing and Improving
the Image Quality of StyleGAN", arXiv:1912.04958).

* Equalised learning rate (Karras et al. 2018): weights are stored as N(0, 1) and scaled by
  ``1/sqrt(fan_in)`` at run time, so Adam's per-parameter steps are uniform across layers.
* Modulated convolution with weight demodulation (StyleGAN2 eq. 1-3): the style ``s`` scales the
  input channels of the kernel, then every output channel's kernel is renormalised to unit
  L2 norm, which replaces AdaIN's instance normalisation without its droplet artefacts.
* Per-pixel noise inputs with a learnt strength, skip-to-RGB outputs summed across scales.

Shapes: feature maps ``(B, C, H, W)`` float32; styles ``(B, style_dim)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

LRELU_GAIN = math.sqrt(2.0)  # keeps activations at unit variance after leaky ReLU(0.2)


def lrelu(x: Tensor) -> Tensor:
    """Leaky ReLU (slope 0.2) rescaled by sqrt(2), StyleGAN's activation."""
    return F.leaky_relu(x, 0.2) * LRELU_GAIN


def up2(x: Tensor) -> Tensor:
    """Bilinear 2x upsampling ``(B, C, H, W) -> (B, C, 2H, 2W)``."""
    return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)


def down2(x: Tensor) -> Tensor:
    """2x2 average pooling ``(B, C, H, W) -> (B, C, H/2, W/2)`` (a box low-pass before decimating)."""
    return F.avg_pool2d(x, 2)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate; ``lr_mul`` slows it (mapping networks)."""

    def __init__(self, cin: int, cout: int, bias_init: float = 0.0, lr_mul: float = 1.0,
                 activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul))
        self.scale = lr_mul / math.sqrt(cin)
        self.lr_mul = lr_mul
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        y = F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)
        return lrelu(y) if self.activate else y


class EqualConv2d(nn.Module):
    """Plain convolution with equalised learning rate (same padding)."""

    def __init__(self, cin: int, cout: int, k: int = 3, bias: bool = True, activate: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.pad = k // 2
        self.activate = activate

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv2d(x, self.weight * self.scale, self.bias, padding=self.pad)
        return lrelu(y) if self.activate else y


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution ``(B, cin, H, W), (B, style_dim) -> (B, cout, H, W)``:
    every sample is convolved with its own kernel ``w_oik * s_i``, demodulated to unit norm per
    output channel."""

    def __init__(self, cin: int, cout: int, k: int, style_dim: int, demodulate: bool = True,
                 init_std: float = 1.0):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k) * init_std)
        # Styles start at 1 (bias_init) so an untrained network behaves like a plain conv.
        self.affine = EqualLinear(style_dim, cin, bias_init=1.0)
        self.scale = 1.0 / math.sqrt(cin * k * k)
        self.demodulate = demodulate
        self.cin, self.cout, self.k = cin, cout, k

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        """``w`` is ``(B, style_dim)``, or ``(1, style_dim)`` shared by the whole batch.

        StyleGAN2's fused form: every sample's modulated, demodulated kernel is built and the
        batch is folded into the channel axis of one grouped convolution (faster than the
        non-fused form below in training steps here). A style shared by the batch (inference,
        one source photo per video) builds one kernel and runs a plain batched convolution:
        grouped convolutions over 8 frames ran ~4x slower on 2 threads (benchmarks/refiner.py).
        """
        b, _, h, wd = x.shape
        s = self.affine(w)
        if s.shape[0] == 1 and b > 1:  # one style for the batch: one kernel, plain convolution
            weight = self.weight * self.scale * s[0, None, :, None, None]
            if self.demodulate:
                weight = weight * torch.rsqrt(weight.square().sum(dim=(1, 2, 3), keepdim=True) + 1e-8)
            return F.conv2d(x, weight, padding=self.k // 2)
        s = s.expand(b, -1)                                                  # (B, cin)
        weight = self.weight[None] * self.scale * s[:, None, :, None, None]  # (B, cout, cin, k, k)
        if self.demodulate:
            weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4)) + 1e-8)[:, :, None, None, None]
        weight = weight.reshape(b * self.cout, self.cin, self.k, self.k)
        y = F.conv2d(x.reshape(1, b * self.cin, h, wd), weight, padding=self.k // 2, groups=b)
        return y.reshape(b, self.cout, h, wd)

    def forward_nonfused(self, x: Tensor, w: Tensor) -> Tensor:
        """The same result without per-sample kernels: scale the input channels by the style,
        convolve with the shared kernel, scale the output channels by the demodulation factors
        (StyleGAN2's non-fused form; one ordinary batched convolution)."""
        s = self.affine(w)                                                   # (B|1, cin)
        weight = self.weight * self.scale                                    # (cout, cin, k, k)
        y = F.conv2d(x * s[:, :, None, None], weight, padding=self.k // 2)
        if self.demodulate:
            # |w'_o|^2 = sum_i s_i^2 sum_k w_oik^2  ->  (B, cout)
            d = torch.rsqrt(s.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)
            y = y * d[:, :, None, None]
        return y


class StyledConv(nn.Module):
    """Modulated 3x3 conv + noise + bias + activation, one StyleGAN2 synthesis layer."""

    def __init__(self, cin: int, cout: int, style_dim: int):
        super().__init__()
        self.conv = ModulatedConv2d(cin, cout, 3, style_dim)
        self.noise_strength = nn.Parameter(torch.zeros(()))  # learnt; starts silent
        self.bias = nn.Parameter(torch.zeros(cout))

    def forward(self, x: Tensor, w: Tensor, noise: Tensor | None) -> Tensor:
        y = self.conv(x, w)
        if noise is not None:
            y = y + self.noise_strength * noise
        return lrelu(y + self.bias[None, :, None, None])


class ToRGB(nn.Module):
    """Modulated 1x1 conv to RGB without demodulation (StyleGAN2's tRGB)."""

    def __init__(self, cin: int, style_dim: int, init_std: float = 1.0):
        super().__init__()
        self.conv = ModulatedConv2d(cin, 3, 1, style_dim, demodulate=False, init_std=init_std)
        self.bias = nn.Parameter(torch.zeros(3))

    def forward(self, x: Tensor, w: Tensor, skip: Tensor | None) -> Tensor:
        y = self.conv(x, w) + self.bias[None, :, None, None]
        return y if skip is None else y + up2(skip)


class DiscBlock(nn.Module):
    """Residual discriminator block: two 3x3 convs then 2x down, plus a 1x1 skip; the sum is
    scaled by 1/sqrt(2) to keep unit variance (StyleGAN2's residual D)."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.conv1 = EqualConv2d(cin, cin, 3)
        self.conv2 = EqualConv2d(cin, cout, 3)
        self.skip = EqualConv2d(cin, cout, 1, bias=False, activate=False)

    def forward(self, x: Tensor) -> Tensor:
        y = down2(self.conv2(self.conv1(x)))
        return (y + self.skip(down2(x))) / math.sqrt(2.0)


def minibatch_stddev(x: Tensor, group: int) -> Tensor:
    """Append the mean over features of the per-group standard deviation as one extra channel
    ``(B, C, H, W) -> (B, C+1, H, W)`` (Karras et al. 2018), so D can see a lack of variety."""
    b, c, h, w = x.shape
    g = min(group, b)
    while b % g:
        g -= 1
    y = x.reshape(g, b // g, c, h, w)
    y = (y.var(dim=0, unbiased=False) + 1e-8).sqrt().mean(dim=(1, 2, 3))  # (B/g,)
    y = y.reshape(1, b // g, 1, 1, 1).expand(g, b // g, 1, h, w).reshape(b, 1, h, w)
    return torch.cat([x, y], dim=1)
