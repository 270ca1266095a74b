"""Rasterization backends behind one small interface (:class:`~.base.RasterBackend`).

    cpu        ours: numba kernels, CPU tensors (fast path on CPU).
    torch      ours: vectorised plain-torch reference, any device (slow; the baseline).
    pytorch3d  pytorch3d.renderer.mesh.rasterize_meshes, when importable.
    nvdiffrast nvdiffrast.torch.rasterize (CUDA only; NVIDIA non-commercial licence); the
               backend object creates one CUDA rasterizer context per device, once.

:func:`talkrig.render.raster.rasterize` takes a backend by name (``"auto"`` picks the fastest
available for the tensors' device) or as an object; a caller that wants its own contexts (a
server with one per GPU) makes its own :class:`NvdiffrastBackend` and passes it.
"""

from __future__ import annotations

import importlib.util

import torch
from torch import Tensor

from talkrig.errors import InputError
from talkrig.render.backends.base import RasterBackend, RawRaster

__all__ = ["BACKENDS", "CpuBackend", "NvdiffrastBackend", "Pytorch3dBackend", "RasterBackend", "RawRaster",
           "TorchBackend", "available", "get_backend", "pick_backend"]


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class CpuBackend:
    """Numba kernels (:mod:`.cpu_kernels`); CPU tensors in and out, positions in float32."""

    name = "cpu"

    def available(self, device: torch.device) -> bool:
        return torch.device(device).type == "cpu" and _installed("numba")

    def raster(self, pos: Tensor, faces: Tensor, size, cull: int, near: float) -> RawRaster:
        from talkrig.render.backends.cpu import raster

        return raster(pos, faces, size, cull, near)


class TorchBackend:
    """The vectorised plain-torch z-buffer (:mod:`.torch_ref`); any device."""

    name = "torch"

    def available(self, device: torch.device) -> bool:
        return True

    def raster(self, pos: Tensor, faces: Tensor, size, cull: int, near: float) -> RawRaster:
        from talkrig.render.backends.torch_ref import raster

        return raster(pos, faces, size, cull, near)


class Pytorch3dBackend:
    """pytorch3d's ``rasterize_meshes`` (:mod:`.pytorch3d_adapter`), CPU or CUDA."""

    name = "pytorch3d"

    def available(self, device: torch.device) -> bool:
        return _installed("pytorch3d")

    def raster(self, pos: Tensor, faces: Tensor, size, cull: int, near: float) -> RawRaster:
        from talkrig.render.backends.pytorch3d_adapter import raster

        return raster(pos, faces, size, cull, near)


class NvdiffrastBackend:
    """nvdiffrast's CUDA rasterizer (:mod:`.nvdiffrast_adapter`); holds one
    ``RasterizeCudaContext`` per device, made on the first frame drawn there."""

    name = "nvdiffrast"

    def __init__(self) -> None:
        self._contexts: dict[str, object] = {}

    def available(self, device: torch.device) -> bool:
        return torch.device(device).type == "cuda" and _installed("nvdiffrast")

    def context(self, device: torch.device):
        key = str(torch.device(device))
        if key not in self._contexts:
            import nvdiffrast.torch as dr

            self._contexts[key] = dr.RasterizeCudaContext(device=device)
        return self._contexts[key]

    def raster(self, pos: Tensor, faces: Tensor, size, cull: int, near: float) -> RawRaster:
        from talkrig.render.backends.nvdiffrast_adapter import raster

        return raster(self.context(pos.device), pos, faces, size, cull, near)


#: The backends a name selects. Making one costs nothing (contexts are made on first use).
BACKENDS: dict[str, RasterBackend] = {b.name: b for b in (CpuBackend(), TorchBackend(), Pytorch3dBackend(),
                                                          NvdiffrastBackend())}


def available(name: str, device: torch.device | str = "cpu") -> bool:
    """Whether backend ``name`` can run on ``device`` here."""
    backend = BACKENDS.get(name)
    return backend is not None and backend.available(torch.device(device))


def get_backend(backend: str | RasterBackend, device: torch.device | str) -> RasterBackend:
    """The backend object for a name (``"auto"``: CPU cpu > pytorch3d > torch; CUDA
    nvdiffrast > pytorch3d > torch) or an object, checked to run on ``device``; raises
    :class:`InputError` when it cannot."""
    dev = torch.device(device)
    if not isinstance(backend, str):
        if not isinstance(backend, RasterBackend):
            raise InputError(f"not a render backend: {backend!r}")
        chosen = backend
    elif backend == "auto":
        order = ("cpu", "pytorch3d", "torch") if dev.type == "cpu" else ("nvdiffrast", "pytorch3d", "torch")
        return next(BACKENDS[n] for n in order if BACKENDS[n].available(dev))
    elif backend not in BACKENDS:
        raise InputError(f"unknown render backend {backend!r} (choose auto, {', '.join(BACKENDS)})")
    else:
        chosen = BACKENDS[backend]
    if not chosen.available(dev):
        raise InputError(f"render backend {chosen.name!r} is not available on {dev.type} "
                         "(not installed, or needs another device); see docs/rendering.md")
    return chosen


def pick_backend(name: str, device: torch.device | str) -> str:
    """The name :func:`get_backend` resolves ``name`` to."""
    return get_backend(name, device).name
