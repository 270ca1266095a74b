"""Training data for ``talkrig train-renderer DATA``: what DATA may be and how it becomes a
:class:`~talkrig.texture.neural.data.ClipDataset`.

* a folder of paired ``*.npz`` clips (format in :mod:`talkrig.texture.neural.data`); the
  conditioning maps are those of ``config.FULL_COND`` found in the first clip;
* a ``talkrig prep`` output folder (``manifest.jsonl`` / ``shards/``): the aligned face crops
  with their landmarks, conditioned by the minimal pipeline (:mod:`.minimal`) until the
  classical renderer's maps are wired in;
* one video file of a person (per-subject fine-tuning): tracked here; conditioned by the
  minimal pipeline, or with ``conditioning="classical"`` by talkrig's own classical renderer
  replaying the video's motion on a reconstruction of its first frame (:mod:`.classical`).

``holdout_seconds`` keeps the last seconds of every clip out of training (for evaluation).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from talkrig.errors import InputError
from talkrig.texture.neural.config import FULL_COND, RefinerConfig
from talkrig.texture.neural.data import ClipDataset, load_npz_clips
from talkrig.texture.neural.minimal import MINIMAL_COND, minimal_clip, track_video

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


@dataclass
class TrainingData:
    """Train and held-out clips, and the conditioning they carry."""

    train: ClipDataset
    heldout: list[dict[str, torch.Tensor]]
    cond_channels: dict[str, int]
    kind: str


def detect_kind(path: Path) -> str:
    """``npz`` | ``prepared`` | ``video``; raises :class:`InputError` otherwise."""
    if path.is_file() and path.suffix.lower() in VIDEO_SUFFIXES:
        return "video"
    if path.is_file() and path.suffix.lower() == ".npz":
        return "npz"
    if path.is_dir():
        if (path / "manifest.jsonl").is_file() or (path / "shards").is_dir():
            return "prepared"
        if any(path.glob("*.npz")):
            return "npz"
    if not path.exists():
        raise InputError(f"training data not found: {path}")
    raise InputError(f"{path}: expected a talkrig prep folder, a folder of .npz clips or a video")


def npz_cond_channels(path: Path) -> dict[str, int]:
    """The FULL_COND maps present in the first npz clip under ``path``, with channel counts."""
    first = path if path.is_file() else sorted(path.glob("*.npz"))[0]
    with np.load(first, allow_pickle=False) as z:
        found = {k: (z[k].shape[-1] if z[k].ndim == 4 else 1) for k in FULL_COND if k in z.files}
    if "render" not in found:
        raise InputError(f"{first.name}: no 'render' map (a clip needs render, source, target)")
    return found


def _split(clip: dict[str, torch.Tensor], holdout: int) -> tuple[dict, dict]:
    """Cut the last ``holdout`` frames of a clip off (maps with T == 1 go to both halves)."""
    t = clip["target"].shape[0]
    cut = max(t - holdout, 0)
    head = {k: v if v.shape[0] == 1 else v[:cut] for k, v in clip.items()}
    tail = {k: v if v.shape[0] == 1 else v[cut:] for k, v in clip.items()}
    return head, tail


def prepared_clips(root: Path, size: int) -> list[tuple[dict[str, torch.Tensor], float]]:
    """Minimal-pipeline clips (and fps) from a ``talkrig prep`` folder's crops and landmarks."""
    from talkrig.data_prep.shard import load_shard
    from talkrig.io.video import read_video

    shards = sorted((root / "shards").glob("*.npz"))
    if not shards:
        raise InputError(f"{root}: no finished clips in shards/")
    out = []
    for sp in shards:
        data = load_shard(sp)
        crops_name = data["meta"].get("crops") or f"{sp.stem}.crop.mp4"
        crops = sp.parent / crops_name
        if not crops.is_file():
            raise InputError(f"{sp.name}: its face crops {crops.name} are missing (prep with --crop-size > 0)")
        clip = read_video(crops)
        frames = clip.read_frames()
        aff = data["crop_affine"].astype(np.float64)[: len(frames)]
        lm = data["landmarks"][: len(frames), :, :2].astype(np.float64)
        lm_crop = np.einsum("tij,tnj->tni", aff[:, :, :2], lm) + aff[:, None, :, 2]
        side = frames.shape[1]
        out.append((minimal_clip(frames, lm_crop, size, box=(0, 0, side)), clip.fps))
    return out


def video_clip(path: Path, size: int, conditioning: str = "minimal") -> tuple[dict[str, torch.Tensor], float]:
    """Clip (and fps) from one video of a person, tracked with MediaPipe; ``conditioning``
    ``minimal`` or ``classical`` (see the module docstring)."""
    from talkrig.errors import NoFaceError
    from talkrig.io.video import read_video

    clip = read_video(path)
    frames = clip.read_frames()
    if len(frames) == 0:
        raise InputError(f"{path}: no frames")
    if conditioning == "classical":
        from talkrig.texture.neural.classical import classical_clip

        return classical_clip(frames, clip.fps, size), clip.fps
    lm = track_video(frames, clip.fps)
    if not np.isfinite(lm).all() or np.abs(lm).sum() == 0:
        raise NoFaceError(f"{path}: no face tracked")
    return minimal_clip(frames, lm, size), clip.fps


def open_training_data(path: str | Path, cfg: RefinerConfig, holdout_seconds: float = 0.0,
                       conditioning: str = "minimal") -> TrainingData:
    """Load DATA for ``cfg.resolution``; the result's ``cond_channels`` replace the config's.
    ``conditioning`` (``minimal`` | ``classical``) applies to a video DATA."""
    if conditioning not in ("minimal", "classical"):
        raise InputError(f"conditioning must be minimal or classical, got {conditioning!r}")
    path = Path(path)
    kind = detect_kind(path)
    if conditioning == "classical" and kind != "video":
        raise InputError("--conditioning classical needs DATA to be a video of the person")
    if kind == "npz":
        cond = npz_cond_channels(path)
        clips = [(c, 25.0) for c in load_npz_clips(path, cfg.replace(cond_channels=cond)).clips]
    elif kind == "prepared":
        cond = dict(MINIMAL_COND)
        clips = prepared_clips(path, cfg.resolution)
    else:
        cond = dict(MINIMAL_COND)
        clips = [video_clip(path, cfg.resolution, conditioning)]
    train, held = [], []
    for clip, fps in clips:
        head, tail = _split(clip, int(round(holdout_seconds * fps)))
        train.append(head)
        if tail["target"].shape[0]:  # float [0, 1] maps, whatever the storage
            held.append({k: v.float() / 255.0 if v.dtype == torch.uint8 else v.float()
                         for k, v in tail.items()})
    return TrainingData(ClipDataset(train), held, cond, kind)

