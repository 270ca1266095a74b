"""Per-frame image metrics: MSE, PSNR, SSIM (optionally inside a mask), temporal flicker.

All functions take ``(H, W, 3)`` uint8 RGB numpy frames or float tensors in [0, 255] and
return plain floats, one per frame; the caller averages over the video. Masks are
``(H, W)`` bool/float arrays (1 = inside).

References: PSNR/MSE as usual with a 255 peak; SSIM after Wang et al. 2004, "Image quality
assessment: from error visibility to structural similarity" (11x11 Gaussian window,
sigma 1.5, K1 0.01, K2 0.03), computed per RGB channel and averaged as skimage's
``channel_axis`` mode does (the convention in the Wav2Lip/SadTalker evaluation scripts).
"""

from __future__ import annotations

import math

import numpy as np
import torch

PEAK = 255.0
PSNR_CAP = 100.0  # PSNR of identical images (MSE 0) is reported as this, not inf


def _t(img) -> torch.Tensor:
    """``(H, W, 3)`` array/tensor -> ``(1, 3, H, W)`` float64 tensor in [0, 255]."""
    t = img if torch.is_tensor(img) else torch.from_numpy(np.array(img, copy=True))
    return t.to(torch.float64).permute(2, 0, 1)[None]


def _mask_t(mask, shape) -> torch.Tensor | None:
    if mask is None:
        return None
    m = torch.as_tensor(np.asarray(mask, dtype=np.float64))
    if tuple(m.shape) != tuple(shape):
        raise ValueError(f"mask {tuple(m.shape)} does not match frame {tuple(shape)}")
    return m[None, None]


def mse(a, b, mask=None) -> float:
    """Mean squared error over pixels and channels (inside ``mask`` when given)."""
    ta, tb = _t(a), _t(b)
    d = (ta - tb) ** 2
    m = _mask_t(mask, ta.shape[-2:])
    if m is None:
        return float(d.mean())
    w = m.expand_as(d)
    s = float(w.sum())
    return float((d * w).sum() / s) if s > 0 else float("nan")


def psnr_from_mse(err: float) -> float:
    """PSNR in dB for a 255 peak; capped at :data:`PSNR_CAP` for identical images."""
    if not np.isfinite(err):
        return float("nan")
    if err <= PEAK ** 2 * 10 ** (-PSNR_CAP / 10):
        return PSNR_CAP
    return 10.0 * math.log10(PEAK ** 2 / err)


def psnr(a, b, mask=None) -> float:
    """Peak signal-to-noise ratio in dB (255 peak), inside ``mask`` when given."""
    return psnr_from_mse(mse(a, b, mask))


def ssim_map(a, b, size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """SSIM map ``(H', W')`` (valid region, channels averaged) of two RGB frames.

    The Gaussian local statistics use OpenCV's separable float32 filter (installed with
    mediapipe): the same numbers as a 2-D float64 window to ~1e-6, about 4x faster than
    torch's grouped convolution on the CPU. The ``size // 2`` border is cropped like
    skimage's ``structural_similarity``.
    """
    import cv2

    fa = np.asarray(a, np.float32)
    fb = np.asarray(b, np.float32)
    r = size // 2

    def blur(x):
        return cv2.GaussianBlur(x, (size, size), sigma, borderType=cv2.BORDER_REFLECT)[r:-r, r:-r]

    mu_a, mu_b = blur(fa), blur(fb)
    saa = blur(fa * fa) - mu_a * mu_a
    sbb = blur(fb * fb) - mu_b * mu_b
    sab = blur(fa * fb) - mu_a * mu_b
    c1, c2 = (0.01 * PEAK) ** 2, (0.03 * PEAK) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * sab + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (saa + sbb + c2))
    s = s.mean(-1) if s.ndim == 3 else s
    return torch.from_numpy(s.astype(np.float64))


def ssim(a, b, mask=None) -> float:
    """Mean SSIM (Wang et al. 2004); inside ``mask`` when given (mask cropped like the map)."""
    s = ssim_map(a, b)
    if mask is None:
        return float(s.mean())
    m = torch.as_tensor(np.asarray(mask, dtype=np.float64))
    r = (m.shape[0] - s.shape[0]) // 2
    m = m[r:r + s.shape[0], r:r + s.shape[1]]
    tot = float(m.sum())
    return float((s * m).sum() / tot) if tot > 0 else float("nan")


def luminance(frame) -> np.ndarray:
    """``(H, W)`` float32 BT.601 luma of an RGB frame, in [0, 255]."""
    f = np.asarray(frame, dtype=np.float32)
    return f[..., 0] * 0.299 + f[..., 1] * 0.587 + f[..., 2] * 0.114


class FlickerMeter:
    """Temporal flicker of a frame stream (fed one frame at a time): the warping error.

    After Lai et al. 2018, "Learning Blind Video Temporal Consistency" (ECCV): each frame's
    luma is compared with the previous frame's luma warped onto it by dense optical flow
    (OpenCV Farneback, on frames downscaled to at most 256 px), so genuine motion costs
    nothing and what remains is change that motion does not explain: flicker, texture
    popping, noise. ``value`` is the mean absolute warped difference (0-255 luma scale),
    averaged over pixels away from the border and over frame pairs; 0 for a still video or
    a rigidly moving one. ``global_value`` is the frame-to-frame change of mean brightness
    alone (brightness pumping).
    """

    def __init__(self, mask=None, max_side: int = 256):
        self._mask = None if mask is None else np.asarray(mask, dtype=bool)
        self._max_side = max_side
        self._prev: np.ndarray | None = None
        self._sum = 0.0
        self._sum_global = 0.0
        self._n = 0

    def _small(self, frame) -> np.ndarray:
        import cv2

        y = luminance(frame)
        h, w = y.shape
        s = min(1.0, self._max_side / max(h, w))
        if s < 1.0:
            y = cv2.resize(y, (max(1, round(w * s)), max(1, round(h * s))),
                           interpolation=cv2.INTER_AREA)
        return y

    def update(self, frame) -> None:
        import cv2

        y = self._small(frame)
        prev, self._prev = self._prev, y
        if prev is None:
            return
        flow = cv2.calcOpticalFlowFarneback(np.clip(y, 0, 255).astype(np.uint8),
                                            np.clip(prev, 0, 255).astype(np.uint8), None,
                                            0.5, 3, 15, 3, 5, 1.2, 0)
        h, w = y.shape
        gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
        warped = cv2.remap(prev, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR,
                           borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(y - warped)
        b = max(1, min(h, w) // 32)  # flow is unreliable at the border
        inner = np.zeros_like(diff, dtype=bool)
        inner[b:h - b, b:w - b] = True
        if self._mask is not None:
            import cv2 as _cv

            m = _cv.resize(self._mask.astype(np.uint8), (w, h), interpolation=_cv.INTER_NEAREST)
            inner &= m.astype(bool)
        if inner.any():
            self._sum += float(diff[inner].mean())
            self._sum_global += abs(float(y.mean() - prev.mean()))
            self._n += 1

    @property
    def value(self) -> float:
        """Mean absolute flow-compensated luma difference; NaN with fewer than 2 frames."""
        return self._sum / self._n if self._n else float("nan")

    @property
    def global_value(self) -> float:
        """Mean absolute change of the frame-mean luma between frames (brightness pumping)."""
        return self._sum_global / self._n if self._n else float("nan")


def flicker(frames, mask=None) -> float:
    """:class:`FlickerMeter` over an iterable of frames."""
    m = FlickerMeter(mask)
    for f in frames:
        m.update(f)
    return m.value


def _masked_mean(x: np.ndarray, m: np.ndarray | None) -> float:
    if m is None:
        return float(x.mean(dtype=np.float64))
    n = int(m.sum())
    return float(x[m].sum(dtype=np.float64) / n) if n > 0 else float("nan")


def frame_metrics(gen, ref, masks: dict[str, np.ndarray | None] | None = None) -> dict[str, float]:
    """MSE, PSNR and SSIM of one frame pair over the whole frame and inside each mask.

    The squared error and SSIM maps are computed once and averaged per region, so masked
    variants cost almost nothing. Keys: ``mse``, ``psnr``, ``ssim`` and, per mask name
    ``k``, ``mse_k``, ``psnr_k``, ``ssim_k`` (NaN when the mask is missing or empty).
    """
    d = np.asarray(gen, np.float32) - np.asarray(ref, np.float32)
    sq = (d * d).mean(-1)  # (H, W), channels averaged
    smap = ssim_map(gen, ref).numpy()
    r = (sq.shape[0] - smap.shape[0]) // 2
    out = {"mse": _masked_mean(sq, None), "ssim": _masked_mean(smap, None)}
    out["psnr"] = psnr_from_mse(out["mse"])
    for name, mask in (masks or {}).items():
        if mask is None or not np.any(mask):
            out.update({f"mse_{name}": float("nan"), f"psnr_{name}": float("nan"),
                        f"ssim_{name}": float("nan")})
            continue
        m = np.asarray(mask, bool)
        e = _masked_mean(sq, m)
        out[f"mse_{name}"] = e
        out[f"psnr_{name}"] = psnr_from_mse(e)
        out[f"ssim_{name}"] = _masked_mean(smap, m[r:r + smap.shape[0], r:r + smap.shape[1]])
    return out
