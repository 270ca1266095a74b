"""Training data for ``talkrig train-renderer DATA``: what DATA may be and how it becomes a
:class:`~talkrig.texture.neural.data.ClipDataset`.

* a folder of paired ``*.npz`` clips (format in :mod:`talkrig.texture.neural.data`); the
  conditioning maps are those of ``config.FULL_COND`` found in the first clip;
* a ``talkrig prep`` output folder (``manifest.jsonl`` / ``shards/``): with
  ``conditioning="classical"`` (prep with ``--model default``), each shard's tracking and fitted
  coefficients are replayed by talkrig's classical renderer over its source video
  (:mod:`.classical`; ``videos`` names the folder or file the prep read); with ``minimal``, its
  aligned face crops and landmarks are degraded by the stand-in of :mod:`.minimal`;
* one video file of a person (per-subject fine-tuning): tracked (and, for ``classical``,
  fitted) here, then conditioned the same way.

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
from talkrig.data_prep.refiner.minimal import MINIMAL_COND, minimal_clip, track_video

VIDEO_SUFFIXES = {".mp4", ".mov", ".avi", ".mkv", ".webm", ".m4v"}


@dataclass
class TrainingData:
    """Train and held-out clips, and the conditioning they carry."""

    train: ClipDataset
    heldout: list[dict[str, torch.Tensor]]
    cond_channels: dict[str, int]
    kind: str
    crop_scale: float = 0.0  # framing of the clips (config.crop_scale); 0: not a video_crop framing

    def config(self, cfg: RefinerConfig) -> RefinerConfig:
        """``cfg`` with this data's conditioning maps and framing."""
        return cfg.replace(cond_channels=self.cond_channels, crop_scale=self.crop_scale)


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


def _shard_video(meta: dict, videos: Path | None) -> Path:
    """The source video of a shard: ``videos`` is the folder ``talkrig prep`` read (clips are
    stored by their path relative to it) or, for a one-video run, that video itself."""
    if videos is None:
        raise InputError("--conditioning classical on a prep folder needs the source videos "
                         "(--videos: the folder or file that talkrig prep read)")
    path = videos if videos.is_file() else videos / meta["source"]
    if not path.is_file():
        raise InputError(f"{meta['clip_id']}: source video {path} not found")
    return path


def prepared_clips(root: Path, size: int, conditioning: str = "minimal",
                   videos: Path | None = None) -> list[tuple[dict[str, torch.Tensor], float]]:
    """Clips (and fps) from a ``talkrig prep`` folder. ``minimal``: its aligned face crops and
    landmarks; ``classical``: the shards' tracking and fitted coefficients replayed by the
    classical renderer over the source videos (found under ``videos``)."""
    from talkrig.data_prep.shard import load_shard
    from talkrig.io.video import read_video

    shards = sorted((root / "shards").glob("*.npz"))
    if not shards:
        raise InputError(f"{root}: no finished clips in shards/")
    out = []
    for sp in shards:
        data = load_shard(sp)
        if conditioning == "classical":
            out.append(_classical_from_shard(data, _shard_video(data["meta"], videos), size))
            continue
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


def _classical_from_shard(data: dict, video: Path, size: int) -> tuple[dict[str, torch.Tensor], float]:
    """Classical clip of one prep shard fitted with a 3DMM (``talkrig prep --model M``)."""
    from talkrig.data_prep.tracking import Track
    from talkrig.io.video import read_video
    from talkrig.model.coefficients import FIELDS, Coefficients
    from talkrig.data_prep.refiner.classical import classical_clip

    meta = data["meta"]
    model = meta.get("config", {}).get("model", "none")
    if model == "none":
        raise InputError(f"{meta['clip_id']}: prepared with --model none; classical conditioning "
                         "needs fitted 3DMM coefficients (talkrig prep --model default)")
    clip = read_video(video)  # streamed: a long source video is never held in memory
    t = min(clip.n_frames, int(data["landmarks"].shape[0]))
    track = Track(landmarks=data["landmarks"][:t], blendshapes=data["blendshapes"][:t],
                  transform=data["head_transform"][:t], found=data["face_found"][:t],
                  n_faces=data["n_faces"][:t])
    coeffs = Coefficients(**{f: torch.from_numpy(np.asarray(data["coef_" + f][:t], np.float32))
                             for f in FIELDS})
    return classical_clip(clip.frames(0, t), clip.fps, size, track=track, coeffs=coeffs, model=model), clip.fps


def video_clip(path: Path, size: int, conditioning: str = "classical") -> tuple[dict[str, torch.Tensor], float]:
    """Clip (and fps) from one video of a person, tracked with MediaPipe; ``conditioning``
    ``minimal`` or ``classical`` (see the module docstring)."""
    from talkrig.errors import NoFaceError
    from talkrig.io.video import read_video

    clip = read_video(path)
    frames = clip.read_frames()
    if len(frames) == 0:
        raise InputError(f"{path}: no frames")
    if conditioning == "classical":
        from talkrig.data_prep.refiner.classical import classical_clip

        return classical_clip(frames, clip.fps, size), clip.fps
    lm = track_video(frames, clip.fps)
    if not np.isfinite(lm).all() or np.abs(lm).sum() == 0:
        raise NoFaceError(f"{path}: no face tracked")
    return minimal_clip(frames, lm, size), clip.fps


def open_training_data(path: str | Path, cfg: RefinerConfig, holdout_seconds: float = 0.0,
                       conditioning: str = "auto", videos: str | Path | None = None) -> TrainingData:
    """Load DATA for ``cfg.resolution``; the result's ``cond_channels`` replace the config's.
    ``conditioning`` (``minimal`` | ``classical``) applies to a video or a prep folder (which
    then needs ``videos``, the source the prep read); ``auto``: classical for a video, and for
    a prep folder when ``videos`` is given, else minimal."""
    if conditioning not in ("auto", "minimal", "classical"):
        raise InputError(f"conditioning must be auto, minimal or classical, got {conditioning!r}")
    path = Path(path)
    kind = detect_kind(path)
    if conditioning == "auto":
        conditioning = "classical" if kind == "video" or (kind == "prepared" and videos) else "minimal"
    if conditioning == "classical" and kind == "npz":
        raise InputError("--conditioning classical needs a video of the person or a talkrig prep folder")
    if kind == "npz":
        cond = npz_cond_channels(path)
        clips = [(c, 25.0) for c in load_npz_clips(path, cfg.replace(cond_channels=cond)).clips]
    elif kind == "prepared":
        cond = dict(MINIMAL_COND)
        clips = prepared_clips(path, cfg.resolution, conditioning, Path(videos) if videos else None)
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
    from talkrig.data_prep.refiner.classical import REFINER_CROP_SCALE

    framing = REFINER_CROP_SCALE if conditioning == "classical" else 0.0
    return TrainingData(ClipDataset(train), held, cond, kind, framing)
