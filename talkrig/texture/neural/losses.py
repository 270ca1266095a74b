"""Losses of the refiner. Images are ``(B, 3, H, W)`` in [-1, 1]; masks ``(B, 1, H, W)`` in [0, 1].

* Weighted L1: the mouth region (and the face) count more, since that is what the classical
  render gets wrong and what viewers look at.
* Multi-scale feature matching on the discriminator's block features (pix2pixHD, Wang et al.
  2018) - a perceptual loss that needs no downloaded weights.
* Non-saturating logistic GAN loss and lazy R1 on real images (StyleGAN2: R1 every 16
  minibatches, scaled by the interval).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def loss_weights(shape: tuple[int, ...], mask_face: Tensor | None, mask_mouth: Tensor | None,
                 w_face: float, w_mouth: float) -> Tensor:
    """Per-pixel weight ``(B, 1, H, W)`` = 1 + w_face * face + w_mouth * mouth."""
    b, _, h, w = shape
    weight = torch.ones(b, 1, h, w)
    if mask_face is not None:
        weight = weight.to(mask_face.device) + w_face * mask_face
    if mask_mouth is not None:
        weight = weight.to(mask_mouth.device) + w_mouth * mask_mouth
    return weight


def weighted_l1(fake: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """Mean absolute error weighted per pixel and normalised by the mean weight (scalar)."""
    return ((fake - target).abs() * weight).mean() / weight.mean()


def feature_matching(feats_fake: list[Tensor], feats_real: list[Tensor]) -> Tensor:
    """Mean over discriminator blocks of the L1 distance between fake and (detached) real features."""
    return sum(F.l1_loss(f, r.detach()) for f, r in zip(feats_fake, feats_real)) / len(feats_fake)


def g_nonsaturating(logits_fake: Tensor) -> Tensor:
    """Generator loss ``softplus(-D(G(z)))``, mean over the batch."""
    return F.softplus(-logits_fake).mean()


def d_logistic(logits_real: Tensor, logits_fake: Tensor) -> Tensor:
    """Discriminator loss ``softplus(D(fake)) + softplus(-D(real))``, mean over the batch."""
    return F.softplus(logits_fake).mean() + F.softplus(-logits_real).mean()


def r1_penalty(logits_real: Tensor, real: Tensor) -> Tensor:
    """R1 = E ||grad_x D(x)||^2 over real images (``real`` must require grad). Scalar."""
    (grad,) = torch.autograd.grad(logits_real.sum(), real, create_graph=True)
    return grad.square().sum(dim=(1, 2, 3)).mean()
