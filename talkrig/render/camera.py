"""The pinhole camera and talkrig's one coordinate convention.

Camera space: the camera sits at the origin looking down -z, x right, y up (OpenGL-like), so a
model posed with ``R v + t`` and ``t = (0, 0, -d)`` faces the camera from distance ``d``.
Image space: pixels, origin at the top-left corner of the image, x right, y down (OpenCV);
pixel ``(row i, col j)`` covers ``[j, j+1) x [i, i+1)`` and its centre is ``(j + 0.5, i + 0.5)``.

    u = cx + f * x / (-z)
    v = cy - f * y / (-z)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class Camera:
    """Intrinsics of a pinhole camera. ``focal`` may be a ``(B,)`` tensor for batches."""

    focal: float | Tensor
    width: int
    height: int
    cx: float | None = None
    cy: float | None = None

    @property
    def principal(self) -> tuple[float, float]:
        return (self.width / 2 if self.cx is None else self.cx,
                self.height / 2 if self.cy is None else self.cy)

    def project(self, points: Tensor) -> Tensor:
        """Project camera-space points to pixels.

        Args:
            points: ``(B, N, 3)`` float, camera space (z < 0 in front of the camera).
        Returns:
            ``(B, N, 3)``: pixel x, pixel y, and depth ``-z`` (positive in front).
        """
        return project(points, self.focal, *self.principal)

    def scaled(self, width: int, height: int) -> "Camera":
        """The same view at another image size (focal and principal point scale with width)."""
        s = width / self.width
        cx, cy = self.principal
        return Camera(self.focal * s, width, height, cx * s, cy * height / self.height)


def project(points: Tensor, focal: float | Tensor, cx: float, cy: float) -> Tensor:
    """Pinhole projection; see :class:`Camera.project`. ``focal`` is a float or ``(B,)``."""
    depth = -points[..., 2]
    f = torch.as_tensor(focal, dtype=points.dtype, device=points.device)
    if f.ndim == 1:
        f = f[:, None]
    inv = 1.0 / depth.clamp(min=1e-6)
    u = cx + f * points[..., 0] * inv
    v = cy - f * points[..., 1] * inv
    return torch.stack([u, v, depth], -1)
