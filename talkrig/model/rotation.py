"""Euler angles <-> rotation matrices.

Convention (used everywhere in talkrig): angles are ``(pitch, yaw, roll)`` in radians about the
model's x, y and z axes, composed as ``R = Rz(roll) @ Ry(yaw) @ Rx(pitch)`` and applied to
column vectors, ``x' = R x``. This is Deep3DFaceRecon's order, so its angles convert exactly.
"""

import torch
from torch import Tensor


def euler_to_matrix(angles: Tensor) -> Tensor:
    """Rotation matrices from Euler angles.

    Args:
        angles: ``(..., 3)`` float tensor ``(pitch, yaw, roll)`` in radians, any device.
    Returns:
        ``(..., 3, 3)`` rotation matrices, same dtype and device.
    """
    x, y, z = angles.unbind(-1)
    cx, sx, cy, sy, cz, sz = x.cos(), x.sin(), y.cos(), y.sin(), z.cos(), z.sin()
    one, zero = torch.ones_like(x), torch.zeros_like(x)
    rx = torch.stack([one, zero, zero, zero, cx, -sx, zero, sx, cx], -1)
    ry = torch.stack([cy, zero, sy, zero, one, zero, -sy, zero, cy], -1)
    rz = torch.stack([cz, -sz, zero, sz, cz, zero, zero, zero, one], -1)
    shape = angles.shape[:-1] + (3, 3)
    return rz.reshape(shape) @ ry.reshape(shape) @ rx.reshape(shape)


def matrix_to_euler(r: Tensor) -> Tensor:
    """Inverse of :func:`euler_to_matrix` for yaw in (-pi/2, pi/2).

    Args:
        r: ``(..., 3, 3)`` rotation matrices.
    Returns:
        ``(..., 3)`` angles ``(pitch, yaw, roll)``.
    """
    yaw = torch.asin((-r[..., 2, 0]).clamp(-1.0, 1.0))
    pitch = torch.atan2(r[..., 2, 1], r[..., 2, 2])
    roll = torch.atan2(r[..., 1, 0], r[..., 0, 0])
    return torch.stack([pitch, yaw, roll], -1)
