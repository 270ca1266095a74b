"""Lambertian shading under second-order spherical-harmonic lighting (Deep3DFaceRecon's model).

Follows Deng et al. 2019 ("Accurate 3D Face Reconstruction with Weakly-Supervised Learning") as
implemented in Deep3DFaceRecon_pytorch ``ParametricFaceModel.compute_color``: irradiance
``E(n) = sum_k gamma_k * a_k c_k Y_k(n)`` per colour channel, with the Lambertian kernel factors
``a = (pi, 2 pi / sqrt 3, 2 pi / sqrt 8)`` and SH normalisations
``c = (1 / sqrt(4 pi), sqrt 3 / sqrt(4 pi), 3 sqrt 5 / sqrt(12 pi))`` (Ramamoorthi & Hanrahan
2001; Basri & Jacobs 2003), and the same basis ordering and signs.

Note: Deep3DFaceRecon's band factors ``a1 = 2 pi / sqrt 3`` and ``a2 = 2 pi / sqrt 8`` are
``sqrt 3`` and ``sqrt 8`` times the exact Lambertian convolution factors ``2 pi / 3`` and
``pi / 4`` (only ``a0 = pi`` is exact). We keep its factors so that coefficients estimated by or
for Deep3DFaceRecon mean the same here; the test suite checks the relation against a
brute-force irradiance integral.

Layout of the 27 coefficients: channel-major, ``gamma.reshape(B, 3, 9)[:, c]`` are the nine SH
coefficients of colour channel ``c`` (R, G, B).

DC offset: Deep3DFaceRecon adds ``init_lit = 0.8`` to the DC coefficient of every channel
*inside* the model, so its network predicts ``gamma - 0.8``. talkrig stores the absolute
coefficients (``Coefficients.lighting`` already holds 0.8 at indices 0, 9, 18 for white
ambient light) and adds nothing; use :func:`from_deep3d_gamma` / :func:`to_deep3d_gamma` to
convert.

Normals are in camera space (x right, y up, +z towards the camera), which coincides with the
frame Deep3DFaceRecon rotates its normals into (its camera flip acts on positions only).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from talkrig.errors import InputError

DEEP3D_INIT_LIT = 0.8
_A = (math.pi, 2 * math.pi / math.sqrt(3.0), 2 * math.pi / math.sqrt(8.0))
_C = (1 / math.sqrt(4 * math.pi), math.sqrt(3.0) / math.sqrt(4 * math.pi),
      3 * math.sqrt(5.0) / math.sqrt(12 * math.pi))


def sh_basis(normals: Tensor) -> Tensor:
    """The 9 scaled SH basis values ``a_k c_k Y_k(n)``.

    Args:
        normals: ``(..., 3)`` unit normals (camera space).
    Returns:
        ``(..., 9)`` in the normals' dtype.
    """
    x, y, z = normals.unbind(-1)
    k0, k1, k2 = _A[0] * _C[0], _A[1] * _C[1], _A[2] * _C[2]
    return torch.stack([
        torch.full_like(x, k0),
        -k1 * y,
        k1 * z,
        -k1 * x,
        k2 * x * y,
        -k2 * y * z,
        0.5 * k2 / math.sqrt(3.0) * (3 * z * z - 1),
        -k2 * x * z,
        0.5 * k2 * (x * x - y * y),
    ], -1)


def sh_irradiance(normals: Tensor, gamma: Tensor) -> Tensor:
    """RGB irradiance for normals under SH lighting.

    Args:
        normals: ``(B, ..., 3)`` unit normals (e.g. ``(B, N, 3)`` per vertex or
            ``(B, H, W, 3)`` per pixel, or ``(P, 3)`` with ``gamma`` ``(P, 27)``).
        gamma: ``(B, 27)`` absolute SH coefficients (channel-major, see module doc).
    Returns:
        ``(B, ..., 3)``.
    """
    if gamma.shape[-1] != 27:
        raise InputError(f"SH lighting must have 27 coefficients, got shape {tuple(gamma.shape)}")
    g = gamma.reshape(gamma.shape[0], 3, 9).to(normals.dtype)  # (B, 3, 9)
    y = sh_basis(normals)
    lead = y.shape[1:-1]
    flat = y.reshape(y.shape[0], -1, 9)
    return torch.bmm(flat, g.transpose(1, 2)).reshape(y.shape[0], *lead, 3)


def shade_sh(albedo: Tensor, normals: Tensor, gamma: Tensor) -> Tensor:
    """Lambertian colour ``albedo * irradiance`` (same shapes as :func:`sh_irradiance`)."""
    return albedo * sh_irradiance(normals, gamma)


def from_deep3d_gamma(gamma: Tensor) -> Tensor:
    """Deep3DFaceRecon's predicted ``gamma`` (B, 27) -> talkrig's absolute coefficients."""
    out = gamma.clone()
    out[:, [0, 9, 18]] += DEEP3D_INIT_LIT
    return out


def to_deep3d_gamma(lighting: Tensor) -> Tensor:
    """Inverse of :func:`from_deep3d_gamma`."""
    out = lighting.clone()
    out[:, [0, 9, 18]] -= DEEP3D_INIT_LIT
    return out
