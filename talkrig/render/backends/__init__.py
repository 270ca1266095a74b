"""Rasterization backends behind one interface.

A backend is a function ``(pos_pix (B,N,3) detached, faces (F,3) int64, (H, W), cull, near) ->
RawRaster``. It must fill ``tri_id``; it may also return the compact covered-pixel list with
barycentrics and depths (used as-is when no gradient is needed).

    cpu        ours: numba kernels, CPU tensors (fast path on CPU).
    torch      ours: vectorised plain-torch reference, any device (slow; the baseline).
    pytorch3d  pytorch3d.renderer.mesh.rasterize_meshes, when importable.
    nvdiffrast nvdiffrast.torch.rasterize (CUDA only; NVIDIA non-commercial licence).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import torch
from torch import Tensor

from talkrig.errors import InputError


@dataclass
class RawRaster:
    """``tri_id`` (B,H,W) int32, -1 empty; optional compact ``pix`` (P,) int64, ``bary`` (P,3),
    ``depth`` (P,), ``tri`` (P,) int64, all on the input device."""

    tri_id: Tensor
    pix: Tensor | None = None
    bary: Tensor | None = None
    depth: Tensor | None = None
    tri: Tensor | None = None


def _cpu(pos, faces, size, cull, near):
    from talkrig.render.backends.cpu import raster
    return raster(pos, faces, size, cull, near)


def _torch(pos, faces, size, cull, near):
    from talkrig.render.backends.torch_ref import raster
    return raster(pos, faces, size, cull, near)


def _p3d(pos, faces, size, cull, near):
    from talkrig.render.backends.pytorch3d_adapter import raster
    return raster(pos, faces, size, cull, near)


def _nvdr(pos, faces, size, cull, near):
    from talkrig.render.backends.nvdiffrast_adapter import raster
    return raster(pos, faces, size, cull, near)


BACKENDS = {"cpu": _cpu, "torch": _torch, "pytorch3d": _p3d, "nvdiffrast": _nvdr}


def available(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether backend ``name`` can run on ``device`` here."""
    dev = torch.device(device)
    if name == "cpu":
        return dev.type == "cpu" and importlib.util.find_spec("numba") is not None
    if name == "torch":
        return True
    if name == "pytorch3d":
        return importlib.util.find_spec("pytorch3d") is not None
    if name == "nvdiffrast":
        return dev.type == "cuda" and importlib.util.find_spec("nvdiffrast") is not None
    return False


def pick_backend(name: str, device: torch.device | str) -> str:
    """Resolve ``"auto"`` (CPU: cpu > pytorch3d > torch; CUDA: nvdiffrast > pytorch3d > torch)
    and check an explicit choice; raises :class:`InputError` when it cannot run."""
    dev = torch.device(device)
    if name == "auto":
        order = ("cpu", "pytorch3d", "torch") if dev.type == "cpu" else ("nvdiffrast", "pytorch3d", "torch")
        return next(n for n in order if available(n, dev))
    if name not in BACKENDS:
        raise InputError(f"unknown render backend {name!r} (choose auto, {', '.join(BACKENDS)})")
    if not available(name, dev):
        raise InputError(f"render backend {name!r} is not available on {dev.type} "
                         "(not installed, or needs another device); see docs/rendering.md")
    return name
