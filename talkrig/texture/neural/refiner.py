"""Inference: `Refiner` loads a checkpoint and refines classical renders, batched, on the GPU
when there is one. Temporal stability: the noise maps are drawn once per video (``seed``),
the source photo's style is computed once (``set_source``), and each output may be blended
with the previous one (``temporal_blend``).

For ``talkrig render ... --refiner ckpt.safetensors``: :func:`refine_stream` takes an iterator
of per-frame conditioning dicts and yields refined ``(H, W, 3)`` uint8 frames.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from talkrig.errors import InputError
from talkrig.texture.neural.checkpoint import load_checkpoint
from talkrig.texture.neural.data import from_signed, resize, stack_conditions, to_signed
from talkrig.texture.neural.networks import Generator


def _default_device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def as_image_tensor(x: Tensor | np.ndarray) -> Tensor:
    """``(H, W, C)`` / ``(B, H, W, C)`` uint8 or float arrays, or ``(B, C, H, W)`` tensors
    -> ``(B, C, H, W)`` float32 (uint8 scaled to [0, 1]; 2-D masks get one channel)."""
    if isinstance(x, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(x))
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3 and t.shape[-1] <= 4:
            t = t.permute(2, 0, 1)[None]
        elif t.ndim == 3:
            t = t[:, None]
        elif t.ndim == 4:
            t = t.permute(0, 3, 1, 2)
    else:
        t = x if x.ndim == 4 else x[None]
    return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()


class Refiner:
    """A trained refiner. ``refine(cond) -> frames``; see the module docstring."""

    def __init__(self, checkpoint: str | Path, device: str | torch.device | None = None,
                 seed: int = 0, temporal_blend: float = 0.0):
        ck = load_checkpoint(checkpoint)
        self.cfg = ck.config
        self.device = torch.device(device) if device is not None else _default_device()
        self.G = Generator(self.cfg)
        ck.restore_module("G_ema" if ck.has("G_ema") else "G", self.G)
        self.G = self.G.to(self.device).eval().requires_grad_(False)
        if not 0.0 <= temporal_blend < 1.0:
            raise InputError("refiner: temporal_blend must be in [0, 1)")
        self.temporal_blend = temporal_blend
        self.seed = seed
        self.reset()
        self._w: Tensor | None = None

    @property
    def resolution(self) -> int:
        return self.cfg.resolution

    @property
    def condition_names(self) -> list[str]:
        """The maps ``refine`` needs, in order (plus ``source`` unless ``set_source`` was called)."""
        return list(self.cfg.cond_channels)

    def reset(self) -> None:
        """Start a new video: fresh fixed noise (from ``seed``) and no previous frame."""
        g = torch.Generator().manual_seed(self.seed)
        self._noise = self.G.make_noise(1, g, self.device)
        self._prev: Tensor | None = None

    @torch.no_grad()
    def set_source(self, photo: Tensor | np.ndarray) -> None:
        """Fix the source photo ``(H, W, 3)`` uint8 / ``(1, 3, H, W)`` [0, 1] for all later calls."""
        src = resize(as_image_tensor(photo)[:1], self.resolution).to(self.device)
        self._w = self.G.style(to_signed("source", src))

    @torch.no_grad()
    def refine(self, cond: dict[str, Tensor | np.ndarray]) -> Tensor:
        """Refine a batch of consecutive frames.

        Args:
            cond: every map in :attr:`condition_names` as ``(B, C, H, W)`` float tensors
                (or ``(B, H, W, C)`` uint8 arrays), plus ``source`` unless ``set_source`` was
                called. Any square size; maps are resized to the network's resolution.
        Returns:
            ``(B, 3, H*u, W*u)`` float32 in [0, 1] on the CPU: the input size times the
            checkpoint's ``upscale`` ``u`` (1, or 2 for super-resolution). Maps larger than
            the network keep their detail: a residual checkpoint's correction (output minus
            the render it saw) is upsampled and added to the full-size render, rather than
            the low-resolution output being blown up.
        """
        maps = {k: as_image_tensor(v) for k, v in cond.items()}
        first = maps[self.condition_names[0]] if self.condition_names[0] in maps else None
        if first is None:
            stack_conditions(maps, self.cfg)  # raises the one-line error for the missing map
        h, w = first.shape[-2:]
        if h != w:
            raise InputError(f"refiner: conditioning maps must be square, got {h}x{w}")
        r = self.resolution
        rc = self.cfg.cond_resolution  # < r for super-resolution checkpoints
        net_in = {k: resize(v, rc if k != "source" else r).to(self.device) for k, v in maps.items()}
        x = stack_conditions(net_in, self.cfg)
        b = x.shape[0]
        if self._w is None:
            if "source" not in net_in:
                raise InputError("refiner: give the source photo (set_source or a 'source' map)")
            style = self.G.style(to_signed("source", net_in["source"]))
        else:
            style = self._w  # (1, D), computed once per video
        noise = [n.expand(b, -1, -1, -1) for n in self._noise]
        out = from_signed(self.G(x, noise=noise, w=style))
        if self.temporal_blend > 0:
            out = self._blend(out)
        size = h * self.cfg.upscale
        base = self.cfg.residual_from
        if size > r and self.cfg.upscale == 1 and base:
            delta = out - net_in[base].clamp(0, 1)
            return (maps[base].to(out.device) + resize(delta, size)).clamp(0, 1).cpu()
        out = resize(out, size) if size != r else out
        return out.clamp(0, 1).cpu()

    def _blend(self, out: Tensor) -> Tensor:
        """Exponential smoothing over time, frame by frame within the batch."""
        a = self.temporal_blend
        frames = []
        for t in range(out.shape[0]):
            cur = out[t] if self._prev is None else (1 - a) * out[t] + a * self._prev
            frames.append(cur)
            self._prev = cur
        return torch.stack(frames)


def refine_stream(refiner: Refiner, conds: Iterable[dict[str, Tensor | np.ndarray]],
                  source: Tensor | np.ndarray | None = None, batch: int = 8) -> Iterator[np.ndarray]:
    """Refine a video: per-frame conditioning dicts (maps ``(H, W, C)`` uint8 or ``(C, H, W)``
    float; uint8 maps are divided by 255, so uint8 masks must be 0/255) in, refined
    ``(H, W, 3)`` uint8 frames out, ``batch`` frames at a time.
    Resets the refiner's noise and temporal state first (one video = one noise draw)."""
    refiner.reset()
    if source is not None:
        refiner.set_source(source)
    buf: list[dict] = []

    def flush() -> Iterator[np.ndarray]:
        stacked = {k: torch.cat([as_image_tensor(_chw(d[k])) for d in buf]) for k in buf[0]}
        out = refiner.refine(stacked)
        for f in out:
            yield (f.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)

    for c in conds:
        buf.append(c)
        if len(buf) == batch:
            yield from flush()
            buf = []
    if buf:
        yield from flush()


def _chw(x: Tensor | np.ndarray) -> Tensor | np.ndarray:
    """One frame's map as ``(1, C, H, W)`` tensor or ``(1, H, W, C)`` array."""
    if isinstance(x, np.ndarray):
        return x[None] if x.ndim == 3 else x[None, ..., None]
    return x[None] if x.ndim == 3 else x[None, None]


def load_refiner(path: str | Path, device: str | None = None) -> Refiner:
    """A :class:`Refiner` for the checkpoint at ``path``, ready for a new clip; a caller that
    refines many clips keeps it (and calls :meth:`Refiner.reset` between clips)."""
    ref = Refiner(path, device)
    ref.reset()
    return ref


def conditions_from_maps(image: Tensor, alpha: Tensor | None = None, normal: Tensor | None = None,
                         uv: Tensor | None = None, mouth: Tensor | None = None,
                         teeth: Tensor | None = None, warped: Tensor | None = None) -> dict[str, Tensor]:
    """Conditioning dict (``config.FULL_COND`` names, ``(B, C, H, W)``) from the renderer's
    channels-last maps (:class:`talkrig.render.renderer.RenderOutput` layout): ``image``
    ``(B, H, W, 3)`` [0, 1], ``alpha`` ``(B, H, W, 1)``, ``normal`` ``(B, H, W, 3)``, ``uv``
    ``(B, H, W, 2)``, ``mouth``/``teeth`` masks ``(B, H, W[, 1])``, ``warped`` ``(B, H, W, 3)``.
    Maps not given are left out (a checkpoint trained without them does not need them)."""
    def chw(x: Tensor) -> Tensor:
        x = x.detach().float()
        return (x[..., None] if x.ndim == 3 else x).permute(0, 3, 1, 2).contiguous()

    cond = {"render": chw(image).clamp(0, 1)}
    cover = chw(alpha) if alpha is not None else None
    if cover is not None:
        cond["mask_face"] = cover.clamp(0, 1)
    if normal is not None:
        n = chw(normal)
        cond["normals"] = n * cover if cover is not None else n  # zero off the mesh
    if uv is not None:
        cond["uv"] = chw(uv).clamp(0, 1)
    if mouth is not None:
        cond["mask_mouth"] = chw(mouth).clamp(0, 1)
    if teeth is not None:
        cond["mask_teeth"] = chw(teeth).clamp(0, 1)
    if warped is not None:
        cond["warped"] = chw(warped).clamp(0, 1)
    return cond
