"""The refiner's generator and discriminator.

Generator (StyleRig / PIRenderer-style conditional neural rendering on a StyleGAN2 decoder):

    cond stack (B, Ccond, R, R) ──U-Net encoder──▶ features at R, R/2, …, bottom
    source photo (B, 3, R, R)  ──appearance encoder + mapping MLP──▶ style w (B, style_dim)
    decoder: from the bottom features up, each level = 2x up, concatenate the encoder's skip
    features, two modulated 3x3 convs (style w, per-pixel noise), a ToRGB whose output is added
    to the upsampled RGB of the level below (StyleGAN2's skip generator).
    output = that RGB sum + the classical render (``cfg.residual_from``), in [-1, 1].

Making the network predict a correction of the classical render (not the frame from scratch)
lets it spend its capacity on what the rasteriser lacks - teeth, mouth interior, skin detail.

Discriminator: conditional (sees image + cond stack), residual blocks, minibatch stddev; it
returns its logits and the features of every block for multi-scale feature matching.
All tensors here are normalised to [-1, 1] (see :mod:`talkrig.texture.neural.data`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from talkrig.texture.neural.config import RefinerConfig
from talkrig.texture.neural.layers import (DiscBlock, EqualConv2d, EqualLinear, StyledConv, ToRGB,
                                           down2, minibatch_stddev, up2)

_APPEARANCE_RES = 64  # the appearance encoder sees the source photo at most this large


class CondEncoder(nn.Module):
    """U-Net contracting path: ``(B, Ccond, R, R) -> [feat_0 (R), feat_1 (R/2), …, feat_L]``."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.stem = EqualConv2d(cfg.cond_total, cfg.channels_at(0), 1)
        self.convs = nn.ModuleList(EqualConv2d(cfg.channels_at(l), cfg.channels_at(l), 3)
                                   for l in range(cfg.levels + 1))
        self.downs = nn.ModuleList(EqualConv2d(cfg.channels_at(l), cfg.channels_at(l + 1), 3)
                                   for l in range(cfg.levels))

    def forward(self, cond: Tensor) -> list[Tensor]:
        x = self.stem(cond)
        feats = []
        for l, conv in enumerate(self.convs):
            x = conv(x)
            feats.append(x)
            if l < len(self.downs):
                x = self.downs[l](down2(x))
        return feats


class AppearanceEncoder(nn.Module):
    """Source photo ``(B, 3, R, R)`` -> style ``w (B, style_dim)``: strided convs at <= 64 px,
    global average pooling, then a mapping MLP (lr multiplier 0.01 as StyleGAN's mapping net)."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        res = min(cfg.resolution, _APPEARANCE_RES)
        n_down = (res // 4).bit_length() - 1  # down to 4x4
        ch = [min(cfg.base_channels * 2 ** i, cfg.max_channels) for i in range(n_down + 1)]
        self.res = res
        self.stem = EqualConv2d(3, ch[0], 1)
        self.blocks = nn.ModuleList(EqualConv2d(ch[i], ch[i + 1], 3) for i in range(n_down))
        layers = [EqualLinear(ch[-1] * 2, cfg.style_dim, activate=True)]
        layers += [EqualLinear(cfg.style_dim, cfg.style_dim, lr_mul=0.01, activate=True)
                   for _ in range(cfg.mapping_layers)]
        self.mlp = nn.Sequential(*layers)

    def forward(self, photo: Tensor) -> Tensor:
        if photo.shape[-1] != self.res:
            photo = F.interpolate(photo, size=(self.res, self.res), mode="area")
        x = self.stem(photo)
        for blk in self.blocks:
            x = down2(blk(x))
        # mean and std pooling: colour statistics as well as presence of features
        pooled = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)
        return self.mlp(pooled)


class Generator(nn.Module):
    """``forward(cond (B,Ccond,r,r), source (B,3,*,*), noise) -> image (B,3,R,R)``, all in [-1, 1];
    ``r = R / cfg.upscale`` (conditions below R are upsampled bilinearly: super-resolution)."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.cfg = cfg
        L, sd = cfg.levels, cfg.style_dim
        ch = [cfg.channels_at(l) for l in range(L + 1)]
        self.encoder = CondEncoder(cfg)
        self.appearance = AppearanceEncoder(cfg)
        rgb_std = 0.0 if cfg.residual_from else 1.0  # a residual starts as the render itself
        self.bottom_conv = StyledConv(ch[L], ch[L], sd)
        self.bottom_rgb = ToRGB(ch[L], sd, rgb_std)
        # decoder level l (from L-1 up to 0): input = up(level l+1) ++ encoder skip at l
        self.conv_a = nn.ModuleList(StyledConv(ch[l + 1] + ch[l], ch[l], sd) for l in range(L))
        self.conv_b = nn.ModuleList(StyledConv(ch[l], ch[l], sd) for l in range(L))
        self.to_rgb = nn.ModuleList(ToRGB(ch[l], sd, rgb_std) for l in range(L))
        names = list(cfg.cond_channels)
        if cfg.residual_from:
            start = sum(cfg.cond_channels[n] for n in names[:names.index(cfg.residual_from)])
            self.residual_slice = (start, start + 3)
        else:
            self.residual_slice = None

    def noise_shapes(self) -> list[tuple[int, int]]:
        """Spatial size of each noise input: bottom layer, then two per level going up."""
        cfg = self.cfg
        sizes = [(cfg.bottom, cfg.bottom)]
        for l in reversed(range(cfg.levels)):
            r = cfg.resolution >> l
            sizes += [(r, r), (r, r)]
        return sizes

    def make_noise(self, batch: int = 1, generator: torch.Generator | None = None,
                   device=None) -> list[Tensor]:
        """Noise maps ``[(batch, 1, h, w), …]``; fix them per video for temporal stability."""
        return [torch.randn(batch, 1, h, w, generator=generator).to(device)
                for h, w in self.noise_shapes()]

    def style(self, source: Tensor) -> Tensor:
        """Appearance code ``(B, style_dim)`` of the source photo (cacheable per video)."""
        return self.appearance(source)

    def forward(self, cond: Tensor, source: Tensor | None = None, noise: list[Tensor] | None = None,
                w: Tensor | None = None) -> Tensor:
        if w is None:
            if source is None:
                raise ValueError("Generator needs the source photo or its style w")
            w = self.style(source)
        b = cond.shape[0]
        if w.shape[0] not in (1, b):
            raise ValueError(f"style batch {w.shape[0]} does not match condition batch {b}")
        if noise is None and self.cfg.use_noise:
            noise = [torch.randn(b, 1, h, wd, device=cond.device) for h, wd in self.noise_shapes()]
        if not self.cfg.use_noise:
            noise = [None] * len(self.noise_shapes())
        r = self.cfg.resolution
        if cond.shape[-1] != r:  # super-resolution: low-res conditions, upsampled first
            cond = F.interpolate(cond, size=(r, r), mode="bilinear", align_corners=False)
        feats = self.encoder(cond)
        L = self.cfg.levels
        x = self.bottom_conv(feats[L], w, noise[0])
        rgb = self.bottom_rgb(x, w, None)
        for i, l in enumerate(reversed(range(L))):
            x = torch.cat([up2(x), feats[l]], dim=1)
            x = self.conv_a[l](x, w, noise[1 + 2 * i])
            x = self.conv_b[l](x, w, noise[2 + 2 * i])
            rgb = self.to_rgb[l](x, w, rgb)
        if self.residual_slice is not None:
            a, z = self.residual_slice
            rgb = rgb + cond[:, a:z]
        return rgb


class Discriminator(nn.Module):
    """``forward(image (B,3,R,R), cond (B,Ccond,R,R) | None) -> (logits (B,), [block features])``."""

    def __init__(self, cfg: RefinerConfig):
        super().__init__()
        self.cfg = cfg
        L = cfg.levels
        ch = [cfg.channels_at(l, discriminator=True) for l in range(L + 1)]
        cin = 3 + (cfg.cond_total if cfg.d_cond else 0)
        self.from_rgb = EqualConv2d(cin, ch[0], 1)
        self.blocks = nn.ModuleList(DiscBlock(ch[l], ch[l + 1]) for l in range(L))
        self.final_conv = EqualConv2d(ch[L] + 1, ch[L], 3)
        self.fc = EqualLinear(ch[L] * cfg.bottom * cfg.bottom, ch[L], activate=True)
        self.out = EqualLinear(ch[L], 1)

    def forward(self, image: Tensor, cond: Tensor | None = None) -> tuple[Tensor, list[Tensor]]:
        x = torch.cat([image, cond], dim=1) if self.cfg.d_cond else image
        x = self.from_rgb(x)
        feats = []
        for blk in self.blocks:
            x = blk(x)
            feats.append(x)
        x = self.final_conv(minibatch_stddev(x, self.cfg.mbstd_group))
        feats.append(x)
        logits = self.out(self.fc(x.flatten(1)))
        return logits.squeeze(1), feats
