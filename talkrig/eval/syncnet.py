"""LSE-D / LSE-C with user-supplied SyncNet weights (``syncnet_v2.model``).

SyncNet: Chung & Zisserman 2016, "Out of time: automated lip sync in the wild" (ACCV
workshops). LSE-D (distance at the best offset, lower is better) and LSE-C (median distance
minus that minimum: confidence, higher is better) are the lip-sync scores of Prajwal et al.
2020, "A Lip Sync Expert Is All You Need" (Wav2Lip), computed with the public SyncNet
evaluation procedure. The network layout (so that ``syncnet_v2.model`` state dicts load) and
the scoring procedure follow that description; the code here is our own.

Procedure (25 fps video, 16 kHz audio):
  * face crops: a box around the landmarks (median-smoothed over 13 frames), enlarged like
    the reference pipeline (crop scale 0.4: ``1 + 2*0.4`` box-halves below the centre, 1
    above, ``1.4`` either side), resized to 224x224, **BGR** 0-255 floats;
  * audio: 13 MFCCs per 10 ms (python_speech_features defaults: 25 ms rectangular window,
    pre-emphasis 0.97, 26 mel filters, 512-point FFT, lifter 22, c0 = log frame energy) of
    the int16-scaled samples;
  * one video feature per 5-frame window and one audio feature per 20-MFCC (0.2 s) window,
    4 MFCC steps per frame; Euclidean distances between video window ``i`` and audio
    windows ``i-15..i+15`` (zero features past the ends), averaged over ``i``;
    offset = ``15 - argmin``, LSE-D = min, LSE-C = median - min.

Our crops come from MediaPipe landmarks rather than the S3FD face detector, so scores can
differ slightly from published tables; compare systems under the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from talkrig.errors import InputError

FPS = 25
SR = 16000
VSHIFT = 15
CROP = 224


# ------------------------------------------------------------------------------------------
# Network
# ------------------------------------------------------------------------------------------

def _c(n: int, s: float) -> int:
    return max(1, int(round(n * s)))


class SyncNet(nn.Module):
    """SyncNet audio and lip towers (layer indices as in ``syncnet_v2.model``).

    ``scale`` shrinks every channel count (only for tests; 1.0 loads the real weights).
    Audio input ``(N, 1, 13, 20)`` MFCCs; lip input ``(N, 3, 5, 224, 224)`` BGR 0-255.
    """

    def __init__(self, embed: int = 1024, scale: float = 1.0):
        super().__init__()
        a = [_c(n, scale) for n in (64, 192, 384, 256, 256, 512)]
        bn, relu = nn.BatchNorm2d, lambda: nn.ReLU(inplace=True)
        self.netcnnaud = nn.Sequential(
            nn.Conv2d(1, a[0], 3, 1, 1), bn(a[0]), relu(), nn.MaxPool2d(1, 1),
            nn.Conv2d(a[0], a[1], 3, 1, 1), bn(a[1]), relu(), nn.MaxPool2d(3, (1, 2)),
            nn.Conv2d(a[1], a[2], 3, padding=1), bn(a[2]), relu(),
            nn.Conv2d(a[2], a[3], 3, padding=1), bn(a[3]), relu(),
            nn.Conv2d(a[3], a[4], 3, padding=1), bn(a[4]), relu(), nn.MaxPool2d(3, 2),
            nn.Conv2d(a[4], a[5], (5, 4)), bn(a[5]), nn.ReLU(),
        )
        v = [_c(n, scale) for n in (96, 256, 256, 256, 256, 512)]
        bn3 = nn.BatchNorm3d
        self.netcnnlip = nn.Sequential(
            nn.Conv3d(3, v[0], (5, 7, 7), (1, 2, 2)), bn3(v[0]), relu(),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(v[0], v[1], (1, 5, 5), (1, 2, 2), (0, 1, 1)), bn3(v[1]), relu(),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2), (0, 1, 1)),
            nn.Conv3d(v[1], v[2], (1, 3, 3), padding=(0, 1, 1)), bn3(v[2]), relu(),
            nn.Conv3d(v[2], v[3], (1, 3, 3), padding=(0, 1, 1)), bn3(v[3]), relu(),
            nn.Conv3d(v[3], v[4], (1, 3, 3), padding=(0, 1, 1)), bn3(v[4]), relu(),
            nn.MaxPool3d((1, 3, 3), (1, 2, 2)),
            nn.Conv3d(v[4], v[5], (1, 6, 6)), bn3(v[5]), relu(),
        )
        f = _c(512, scale)
        emb = _c(embed, scale) if scale != 1.0 else embed
        self.netfcaud = nn.Sequential(nn.Linear(a[5], f), nn.BatchNorm1d(f), nn.ReLU(),
                                      nn.Linear(f, emb))
        self.netfclip = nn.Sequential(nn.Linear(v[5], f), nn.BatchNorm1d(f), nn.ReLU(),
                                      nn.Linear(f, emb))

    def forward_aud(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfcaud(self.netcnnaud(x).flatten(1))

    def forward_lip(self, x: torch.Tensor) -> torch.Tensor:
        return self.netfclip(self.netcnnlip(x).flatten(1))


def load_syncnet(path: str | Path) -> SyncNet:
    """Load ``syncnet_v2.model`` (a torch state dict; a ``__S__.`` key prefix is accepted)."""
    from talkrig.io.weights import load_into, read_state_dict

    state = read_state_dict(path, "SyncNet weights")
    state = {k.removeprefix("__S__."): v for k, v in state.items()}
    return load_into(SyncNet(), state, path, "SyncNet", ignore_missing=())


# ------------------------------------------------------------------------------------------
# Audio features
# ------------------------------------------------------------------------------------------

def _hz2mel(hz):
    return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)


def _mel2hz(mel):
    return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)


def mel_filterbank(nfilt: int = 26, nfft: int = 512, sr: int = SR) -> np.ndarray:
    """``(nfilt, nfft//2+1)`` triangular mel filters on FFT-bin edges (floor-rounded)."""
    mels = np.linspace(_hz2mel(0.0), _hz2mel(sr / 2), nfilt + 2)
    bins = np.floor((nfft + 1) * _mel2hz(mels) / sr).astype(int)
    fb = np.zeros((nfilt, nfft // 2 + 1))
    for j in range(nfilt):
        lo, mid, hi = bins[j], bins[j + 1], bins[j + 2]
        for i in range(lo, mid):
            fb[j, i] = (i - lo) / (mid - lo)
        for i in range(mid, hi):
            fb[j, i] = (hi - i) / (hi - mid)
    return fb


def mfcc(audio: np.ndarray, sr: int = SR, numcep: int = 13, winlen: float = 0.025,
         winstep: float = 0.01, nfilt: int = 26, nfft: int = 512, preemph: float = 0.97,
         lifter: int = 22) -> np.ndarray:
    """``(frames, numcep)`` MFCCs with python_speech_features' defaults (see module doc).

    ``audio`` is in int16 units (multiply float [-1, 1] audio by 32768 first).
    """
    from scipy.fft import dct

    x = np.asarray(audio, np.float64)
    x = np.append(x[0], x[1:] - preemph * x[:-1])
    flen, step = int(round(winlen * sr)), int(round(winstep * sr))
    n = 1 if len(x) <= flen else 1 + int(np.ceil((len(x) - flen) / step))
    x = np.pad(x, (0, (n - 1) * step + flen - len(x)))
    idx = np.arange(flen)[None, :] + step * np.arange(n)[:, None]
    frames = x[idx]
    pspec = np.abs(np.fft.rfft(frames, nfft)) ** 2 / nfft
    eps = np.finfo(float).eps
    energy = pspec.sum(1)
    energy = np.where(energy == 0, eps, energy)
    feat = pspec @ mel_filterbank(nfilt, nfft, sr).T
    feat = np.log(np.where(feat == 0, eps, feat))
    cep = dct(feat, type=2, axis=1, norm="ortho")[:, :numcep]
    cep *= 1 + (lifter / 2.0) * np.sin(np.pi * np.arange(numcep) / lifter)
    cep[:, 0] = np.log(energy)
    return cep


# ------------------------------------------------------------------------------------------
# Face crops
# ------------------------------------------------------------------------------------------

def face_boxes(points: np.ndarray, smooth: int = 13) -> np.ndarray:
    """``(T, 3)`` (centre x, centre y, half size) per frame from ``(T, N, >=2)`` landmarks,
    median-filtered over ``smooth`` frames; frames without a face take the nearest box."""
    from scipy.signal import medfilt

    p = np.asarray(points, float)[..., :2]
    ok = np.isfinite(p[:, 0, 0])
    if not ok.any():
        raise InputError("no face found in any frame (needed for SyncNet crops)")
    lo = np.where(ok[:, None], np.nanmin(np.where(ok[:, None, None], p, 0), 1), np.nan)
    hi = np.where(ok[:, None], np.nanmax(np.where(ok[:, None, None], p, 0), 1), np.nan)
    box = np.stack([(lo[:, 0] + hi[:, 0]) / 2, (lo[:, 1] + hi[:, 1]) / 2,
                    np.max(hi - lo, 1) / 2], 1)
    t = np.arange(len(p))
    for j in range(3):
        box[:, j] = np.interp(t, t[ok], box[ok, j])
        if len(p) >= 3:
            k = min(smooth, len(p) - (1 - len(p) % 2))
            box[:, j] = medfilt(box[:, j], kernel_size=max(1, k))
    return box


def crop_face(frame: np.ndarray, box, cs: float = 0.4, size: int = CROP) -> np.ndarray:
    """``(size, size, 3)`` float32 **BGR** crop (see module doc), padded with grey 110."""
    import cv2

    mx, my, bs = (float(v) for v in box)
    pad = int(np.ceil(bs * (1 + 2 * cs))) + 1
    img = np.pad(frame, ((pad, pad), (pad, pad), (0, 0)), constant_values=110)
    mx, my = mx + pad, my + pad
    y0, y1 = int(my - bs), int(my + bs * (1 + 2 * cs))
    x0, x1 = int(mx - bs * (1 + cs)), int(mx + bs * (1 + cs))
    crop = img[max(y0, 0):y1, max(x0, 0):x1]
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_LINEAR)
    return crop[..., ::-1].astype(np.float32)


# ------------------------------------------------------------------------------------------
# Scoring
# ------------------------------------------------------------------------------------------

@dataclass
class SyncScore:
    """LSE-D (lower is better), LSE-C (higher is better) and the offset in frames
    (positive: audio leads the video, as the reference code reports it)."""

    lse_d: float
    lse_c: float
    offset: int
    distances: np.ndarray  # (2*vshift+1,) mean distance per offset

    def as_dict(self) -> dict:
        return {"lse_d": self.lse_d, "lse_c": self.lse_c, "syncnet_offset": self.offset}


def _pad_dists(vf: torch.Tensor, af: torch.Tensor, vshift: int) -> torch.Tensor:
    """``(T, 2*vshift+1)`` distances of video feature i to audio features i-vshift..i+vshift
    (zero vectors beyond the ends, as in the reference)."""
    afp = torch.nn.functional.pad(af, (0, 0, vshift, vshift))
    win = 2 * vshift + 1
    idx = torch.arange(len(vf))[:, None] + torch.arange(win)[None, :]
    return torch.linalg.norm(vf[:, None, :] - afp[idx], dim=-1)


@torch.no_grad()
def sync_score(net: SyncNet, crops: np.ndarray, audio: np.ndarray, sr: int = SR,
               vshift: int = VSHIFT, batch: int = 20) -> SyncScore:
    """SyncNet scores of a 25 fps clip.

    Args:
        net: a :class:`SyncNet` (eval mode is set here).
        crops: ``(T, 224, 224, 3)`` BGR face crops, float or uint8 (:func:`crop_face`).
        audio: ``(S,)`` float32 mono in [-1, 1] at 16 kHz, aligned with the first frame.
    """
    if sr != SR:
        raise InputError(f"SyncNet needs 16 kHz audio, got {sr}")
    net.eval()
    cc = torch.from_numpy(mfcc(np.asarray(audio) * 32768.0).T.astype(np.float32))  # (13, M)
    n = min(len(crops), len(audio) // (SR // FPS))
    last = n - 5
    if last < 1:
        raise InputError(f"clip too short for SyncNet ({n} frames; needs at least 6)")
    im = torch.from_numpy(np.ascontiguousarray(crops[:n])).permute(3, 0, 1, 2)  # (3,T,H,W)
    vfeat, afeat = [], []
    for i in range(0, last, batch):
        js = range(i, min(last, i + batch))
        vfeat.append(net.forward_lip(torch.stack([im[:, j:j + 5] for j in js]).float()))
        afeat.append(net.forward_aud(torch.stack([cc[None, :, 4 * j:4 * j + 20] for j in js])))
    d = _pad_dists(torch.cat(vfeat), torch.cat(afeat), vshift)
    mdist = d.mean(0)
    minval, minidx = torch.min(mdist, 0)
    conf = torch.median(mdist) - minval
    return SyncScore(float(minval), float(conf), int(vshift - minidx), mdist.numpy())


def sync_score_video(net: SyncNet, frames, points: np.ndarray, audio: np.ndarray,
                     fps: float) -> SyncScore:
    """Crop faces from an iterable of RGB frames with their ``(T, 478, 3)`` landmarks and
    score them (the video must be 25 fps, as SyncNet was trained)."""
    if abs(fps - FPS) > 0.01:
        raise InputError(f"SyncNet scoring needs 25 fps video, got {fps:g}")
    boxes = face_boxes(points)
    # kept as uint8 (150 kB a frame): a minute of video is ~230 MB, not ~900 MB of floats
    crops = np.stack([np.clip(np.round(crop_face(f, boxes[i])), 0, 255).astype(np.uint8)
                      for i, f in enumerate(frames) if i < len(boxes)])
    return sync_score(net, crops, audio)
