"""The refiner's data interface: a batch is a dict of float32 tensors ``(B, C, R, R)``.

Keys (R = ``cfg.resolution``):
    every name in ``cfg.cond_channels``  the conditioning maps (see ``config.FULL_COND``):
                                         images/uv/masks in [0, 1], normals in [-1, 1]
    ``source``   (B, 3, R, R) [0, 1]     the subject's source photo (appearance)
    ``target``   (B, 3, R, R) [0, 1]     the real frame (training only)
    ``mask_face`` / ``mask_mouth``       (B, 1, R, R) also weight the L1 loss when present
    ``loss_face`` / ``loss_mouth``       (B, 1, R, R) optional face / mouth regions for the loss,
                                         where they should differ from the ``mask_*`` conditions

On disk (:func:`load_npz_clips`): a folder of ``*.npz`` files, one per clip, each holding those
keys as arrays with a leading time axis ``(T, H, W, C)`` (or ``(T, H, W)`` for one channel);
uint8 arrays are read as value/255, float arrays as they are; ``source`` may also be a single
``(H, W, 3)`` image for the whole clip. Arrays are resized to R on load.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from talkrig.errors import InputError
from talkrig.texture.neural.config import RefinerConfig

SIGNED = {"normals"}  # already in [-1, 1]; everything else is mapped from [0, 1]


def to_signed(name: str, x: Tensor) -> Tensor:
    """Map a [0, 1] map to the network's [-1, 1] range (``normals`` pass through)."""
    return x if name in SIGNED else x * 2.0 - 1.0


def from_signed(x: Tensor) -> Tensor:
    """Network output [-1, 1] -> image [0, 1], clamped."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def stack_conditions(batch: dict[str, Tensor], cfg: RefinerConfig) -> Tensor:
    """Concatenate the conditioning maps in ``cfg.cond_channels`` order, in [-1, 1]
    -> ``(B, cfg.cond_total, R, R)``. Raises :class:`InputError` on a missing or misshaped map."""
    parts = []
    for name, c in cfg.cond_channels.items():
        x = batch.get(name)
        if x is None:
            raise InputError(f"refiner: conditioning map {name!r} is missing "
                             f"(the checkpoint needs {', '.join(cfg.cond_channels)})")
        if x.ndim == 3:
            x = x[:, None]
        if x.ndim != 4 or x.shape[1] != c:
            raise InputError(f"refiner: {name!r} must be (B, {c}, H, W), got {tuple(x.shape)}")
        parts.append(to_signed(name, x.float()))
    return torch.cat(parts, dim=1)


def resize(x: Tensor, size: int) -> Tensor:
    """Resize ``(B, C, H, W)`` to ``size`` square: area when shrinking, bilinear when growing."""
    if x.shape[-2:] == (size, size):
        return x
    mode = "area" if x.shape[-1] > size else "bilinear"
    kw = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x, size=(size, size), mode=mode, **kw)


def array_to_tensor(a: np.ndarray) -> Tensor:
    """``(T, H, W[, C])`` uint8 or float array -> ``(T, C, H, W)`` float32 (uint8 / 255)."""
    a = np.asarray(a)
    t = torch.from_numpy(a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32))
    if t.ndim == 3:
        t = t[..., None]
    return t.permute(0, 3, 1, 2).contiguous()


class ClipDataset(Dataset):
    """Frames of in-memory clips. Each clip is a dict of ``(T, C, R, R)`` tensors (``T == 1``
    for maps constant over the clip, e.g. ``source``); kept as uint8 ([0, 1] maps) or float16.
    Item ``i``: dict of ``(C, R, R)`` float32 tensors of one frame."""

    def __init__(self, clips: list[dict[str, Tensor]], keys: list[str] | None = None):
        self.clips = [{k: _store(v) for k, v in c.items() if keys is None or k in keys}
                      for c in clips if c["target"].shape[0] > 0]
        self.index = [(c, t) for c, clip in enumerate(self.clips)
                      for t in range(clip["target"].shape[0])]
        if not self.index:
            raise InputError("refiner: the training clips hold no frames")

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        c, t = self.index[i]
        clip = self.clips[c]
        return {k: _load(v[t if v.shape[0] > 1 else 0]) for k, v in clip.items()}


OPTIONAL_KEYS = ("mask_face", "mask_mouth", "loss_face", "loss_mouth")


def needed_keys(cfg: RefinerConfig) -> list[str]:
    """Keys a training clip must hold for ``cfg`` (optional loss masks not included)."""
    return list(dict.fromkeys([*cfg.cond_channels, "source", "target"]))


def load_npz_clips(folder: str | Path, cfg: RefinerConfig, frames: slice | None = None) -> ClipDataset:
    """Read a folder of paired npz clips (format in the module docstring) at ``cfg.resolution``;
    ``frames`` selects a time range of every clip (e.g. to hold out its end)."""
    folder = Path(folder)
    files = sorted(folder.glob("*.npz")) if folder.is_dir() else [folder]
    if not files or not files[0].is_file():
        raise InputError(f"refiner: no .npz clips in {folder}")
    keys = needed_keys(cfg)
    clips = []
    for f in files:
        try:
            z = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise InputError(f"refiner: cannot read {f.name}: {exc}") from None
        with z:
            clip = {}
            for k in keys + list(OPTIONAL_KEYS):
                if k not in z.files:
                    if k in OPTIONAL_KEYS:
                        continue
                    raise InputError(f"refiner: {f.name} lacks array {k!r} (needs {', '.join(keys)})")
                a = z[k]
                if k == "source" and a.ndim == 3 and a.shape[-1] == 3:
                    a = a[None]
                v = resize(array_to_tensor(a), cfg.resolution)
                clip[k] = v if (frames is None or v.shape[0] == 1) else v[frames]
        clips.append(clip)
    return ClipDataset(clips)


def _store(x: Tensor) -> Tensor:
    """Compact in-memory copy: [0, 1] maps as uint8, others as float16 (idempotent)."""
    if x.dtype in (torch.uint8, torch.float16):
        return x
    if x.min() >= 0 and x.max() <= 1:
        return (x * 255.0).round().to(torch.uint8)
    return x.half()


def _load(x: Tensor) -> Tensor:
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def save_clip_npz(path: str | Path, clip: dict[str, Tensor | np.ndarray]) -> None:
    """Write one clip (dict of ``(T, C, H, W)`` tensors in [0, 1] or [-1, 1]) as the npz above;
    [0, 1] maps are stored as uint8 ``(T, H, W, C)``."""
    from talkrig.io.files import atomic_path

    arrays = {}
    for k, v in clip.items():
        v = torch.as_tensor(v).float()
        a = v.permute(0, 2, 3, 1).numpy()
        arrays[k] = (np.round(a * 255).astype(np.uint8) if a.min() >= 0 and a.max() <= 1
                     else a.astype(np.float16))
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)


# -- synthetic data ---------------------------------------------------------------------------

def synthetic_batch(cfg: RefinerConfig, n: int, seed: int = 0) -> dict[str, Tensor]:
    """Procedural "faces" for tests without real data: ``n`` samples as a batch dict.

    Target: a skin-coloured ellipse with high-frequency skin texture on a gradient background,
    a mouth whose opening varies, with a row of teeth inside. The "classical render": the
    same face low-pass filtered and the mouth interior a flat dark red (no teeth, no detail).
    Normals come from the ellipsoid, uv from the face box; masks are exact. So a refiner must
    learn the detail and the teeth, as on real renders.
    """
    g = torch.Generator().manual_seed(seed)
    r = cfg.resolution
    u = lambda *s: torch.rand(*s, generator=g)  # noqa: E731
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, r), torch.linspace(-1, 1, r), indexing="ij")
    xs, ys = xs[None], ys[None]
    cx, cy = (u(n) - 0.5)[:, None, None] * 0.2, (u(n) - 0.5)[:, None, None] * 0.2
    ax, ay = 0.55 + 0.1 * u(n)[:, None, None], 0.7 + 0.1 * u(n)[:, None, None]
    ex, ey = (xs - cx) / ax, (ys - cy) / ay
    rho2 = ex ** 2 + ey ** 2
    face = (rho2 < 1).float()
    skin = (torch.tensor([0.85, 0.62, 0.50]) + (u(n, 3) - 0.5) * 0.15)[:, :, None, None]
    # the subject's skin texture: fixed pattern in face coordinates (learnable per subject)
    detail = 0.06 * torch.sin(ex * 25) * torch.sin(ey * 23)
    bg = torch.stack([0.2 + 0.3 * (ys + 1) / 2, 0.3 + 0.0 * ys, 0.5 - 0.2 * (xs + 1) / 2], 1).expand(n, 3, r, r)
    nz = (1 - rho2).clamp(min=0).sqrt()
    shade = (0.4 + 0.6 * nz)[:, None]
    face_img = skin * shade + detail[:, None] * face[:, None]
    open_ = 0.02 + 0.12 * u(n)[:, None, None]
    mx, my = (xs - cx) / 0.25, (ys - cy - 0.35 * ay) / open_
    mouth = ((mx ** 2 + my ** 2) < 1).float() * face
    teeth = mouth * ((ys - cy - 0.35 * ay) < 0).float()
    gaps = (torch.sin((xs - cx) * 60).abs() > 0.25).float()
    tooth_col = torch.tensor([0.95, 0.93, 0.85])[None, :, None, None] * (0.8 + 0.2 * gaps[:, None])
    interior = torch.tensor([0.35, 0.08, 0.10])[None, :, None, None].expand(n, 3, r, r)
    mouth_img = teeth[:, None] * tooth_col + (1 - teeth[:, None]) * interior
    m, f = mouth[:, None], face[:, None]
    target = bg * (1 - f) + f * ((1 - m) * face_img + m * mouth_img)
    k = max(3, r // 16) | 1
    blur = F.avg_pool2d(F.pad(target, (k // 2,) * 4, mode="replicate"), k, stride=1)
    render = (1 - m) * blur + m * interior * 0.8
    normals = torch.stack([ex * nz, -ey * nz, nz], 1) * f
    uv = torch.stack([(ex + 1) / 2, (ey + 1) / 2], 1).clamp(0, 1) * f
    source = target.roll(shifts=(r // 32, -r // 32), dims=(2, 3))  # same "person", moved
    batch = {"render": render, "normals": normals, "uv": uv, "mask_face": f, "mask_mouth": m,
             "mask_teeth": teeth[:, None], "warped": source, "source": source, "target": target}
    return {k: v.clamp(-1, 1).float().contiguous() for k, v in batch.items()
            if k in cfg.cond_channels or k in ("source", "target", "mask_face", "mask_mouth")}


def collate(items: list[dict[str, Tensor]]) -> dict[str, Tensor]:
    """Stack dataset items into a batch dict."""
    return {k: torch.stack([it[k] for it in items]) for k in items[0]}


def grid_image(rows: list[Tensor], max_cols: int = 8) -> np.ndarray:
    """Rows of ``(B, 3, H, W)`` [0, 1] images -> one ``(rows*H, cols*W, 3)`` uint8 array."""
    cols = min(max_cols, rows[0].shape[0])
    out = torch.cat([torch.cat(list(r[:cols].clamp(0, 1)), dim=2) for r in rows], dim=1)
    return (out.permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


