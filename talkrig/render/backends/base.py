"""What every rasterization backend gives and is: :class:`RawRaster` and :class:`RasterBackend`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor


@dataclass
class RawRaster:
    """``tri_id`` (B,H,W) int32, -1 empty; optional compact ``pix`` (P,) int64, ``bary`` (P,3),
    ``depth`` (P,), ``tri`` (P,) int64, all on the input device."""

    tri_id: Tensor
    pix: Tensor | None = None
    bary: Tensor | None = None
    depth: Tensor | None = None
    tri: Tensor | None = None


@runtime_checkable
class RasterBackend(Protocol):
    """A rasterizer: visibility of triangles at pixel centres.

    ``raster(pos, faces, size, cull, near)``: ``pos`` ``(B, N, 3)`` detached pixel x, pixel y,
    depth on the backend's device; ``faces`` ``(F, 3)`` int64 on the same device; ``size``
    ``(H, W)``; ``cull`` 0 none, 1 back faces, -1 front faces; triangles with a vertex at depth
    ``<= near`` are dropped. It must fill ``RawRaster.tri_id``; it may also return the compact
    covered-pixel list with barycentrics and depths (used as-is when no gradient is needed).
    A backend object keeps whatever state it needs between calls (a CUDA context per device).
    """

    name: str

    def available(self, device: torch.device) -> bool:
        """Whether this backend can rasterize tensors on ``device`` here."""
        ...

    def raster(self, pos: Tensor, faces: Tensor, size: tuple[int, int], cull: int,
               near: float) -> RawRaster:
        ...
