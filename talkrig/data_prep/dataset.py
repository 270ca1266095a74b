"""`ClipDataset`: frame-window samples over a prepared dataset, for the learned stages.

A sample is ``window`` consecutive video frames of one clip with the audio features that
cover the same time span:

    mel          (window * mel_fps / fps, 80) float32   log-mel frames of that span
    audio        (window * 16000 / fps,) float32        raw 16 kHz samples of that span
    expression   (window, E) float32, rotation (window, 3), translation (window, 3)
    blendshapes  (window, 52) float32, landmarks (window, 478, 3) float32 (source pixels)
    crops        (window, 3, S, S) float32 in [0, 1]     only with ``crops=True``
    emotion      int64 index into :data:`EMOTIONS` (-1 unknown), intensity int64,
    clip_id, speaker (str), start (int, first frame)

Windows start every ``stride`` frames; with ``require_face`` (default) a window is used only
when the face was tracked in all its frames.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from talkrig.data_prep.features import MelConfig
from talkrig.data_prep.shard import OutputDir, read_manifest
from talkrig.errors import InputError

EMOTIONS = ("neutral", "happy", "sad", "angry", "surprised", "fearful", "disgusted", "contempt")
_PER_FRAME = ("blendshapes", "landmarks", "coef_expression", "coef_rotation", "coef_translation")


class ClipDataset(Dataset):
    """Frame windows over ``OUT`` written by ``talkrig prep`` (status "ok" clips only).

    Args:
        root: the prep output folder (with manifest.jsonl).
        window: frames per sample; stride: frames between window starts (default: window).
        crops: also decode the aligned crop frames (slower).
        require_face: skip windows containing frames without a tracked face.
        clip_ids: restrict to these clips (e.g. a train/val split by speaker).
        cache_clips: shards kept in memory per dataset instance (per DataLoader worker).
    """

    def __init__(self, root: str | Path, window: int = 25, stride: int | None = None, *,
                 crops: bool = False, require_face: bool = True, clip_ids=None, cache_clips: int = 8):
        if window < 1:
            raise InputError(f"window must be >= 1 frame, got {window}")
        self.out = OutputDir(Path(root))
        self.window, self.stride = window, stride or window
        self.crops, self.cache_clips = crops, cache_clips
        rows = [r for r in read_manifest(root) if r["status"] == "ok"]
        if clip_ids is not None:
            keep = set(clip_ids)
            rows = [r for r in rows if r["clip_id"] in keep]
        self.rows = {r["clip_id"]: r for r in rows}
        self.index: list[tuple[str, int]] = []
        for r in rows:
            with np.load(self.out.shard(r["clip_id"]), allow_pickle=False) as z:
                found = z["face_found"]
            for s in range(0, len(found) - window + 1, self.stride):
                if not require_face or found[s:s + window].all():
                    self.index.append((r["clip_id"], s))
        self._cache: OrderedDict[str, dict] = OrderedDict()
        mel = MelConfig(**_settings(self.out).get("mel", {}))  # as the job computed it
        self.mel_fps, self.sample_rate = mel.frames_per_second, float(mel.sample_rate)

    def __len__(self) -> int:
        return len(self.index)

    def _shard(self, clip_id: str) -> dict:
        if clip_id in self._cache:
            self._cache.move_to_end(clip_id)
            return self._cache[clip_id]
        with np.load(self.out.shard(clip_id), allow_pickle=False) as z:
            data = {k: z[k] for k in (*_PER_FRAME, "audio", "mel")}
        self._cache[clip_id] = data
        while len(self._cache) > self.cache_clips:
            self._cache.popitem(last=False)
        return data

    def __getitem__(self, i: int) -> dict:
        clip_id, s = self.index[i]
        row, d, w = self.rows[clip_id], self._shard(clip_id), self.window
        fps = float(row["fps"])
        t0, t1 = s / fps, (s + w) / fps
        sample = {k.removeprefix("coef_"): torch.from_numpy(d[k][s:s + w].copy()) for k in _PER_FRAME}
        sample["mel"] = torch.from_numpy(_span(d["mel"], t0, t1, self.mel_fps))
        sample["audio"] = torch.from_numpy(_span(d["audio"], t0, t1, self.sample_rate))
        emo = row["emotion"]
        sample |= {"emotion": torch.tensor(EMOTIONS.index(emo) if emo in EMOTIONS else -1),
                   "intensity": torch.tensor(int(row["intensity"])), "clip_id": clip_id,
                   "speaker": row["speaker"], "start": s}
        if self.crops:
            sample["crops"] = torch.from_numpy(read_crop_frames(self.out.crops(clip_id), s, w, fps))
        return sample


def _settings(out: OutputDir) -> dict:
    """The job's settings (prep.json), {} when absent."""
    import json

    return json.loads(out.settings.read_text()) if out.settings.is_file() else {}


def _span(x: np.ndarray, t0: float, t1: float, rate: float) -> np.ndarray:
    """Rows of ``x`` (sampled at ``rate``) covering ``[t0, t1)``; zero-padded past the end so
    every window of a clip has the same length."""
    a, n = int(round(t0 * rate)), int(round((t1 - t0) * rate))
    part = x[a:a + n]
    if part.shape[0] < n:
        pad = np.zeros((n - part.shape[0],) + x.shape[1:], x.dtype)
        part = np.concatenate([part, pad])
    return np.ascontiguousarray(part)


def read_crop_frames(path: Path, start: int, count: int, fps: float) -> np.ndarray:
    """Frames ``[start, start + count)`` of a crop video as ``(count, 3, S, S)`` float32 in
    [0, 1] (seeks to the nearest keyframe before ``start``)."""
    import av

    out = []
    with av.open(str(path)) as c:
        st = c.streams.video[0]
        tb = float(st.time_base)
        if start > 0:
            c.seek(int(start / fps / tb), stream=st, backward=True, any_frame=False)
        for f in c.decode(st):
            idx = int(round(f.pts * tb * fps)) if f.pts is not None else start + len(out)
            if idx < start:
                continue
            out.append(f.to_ndarray(format="rgb24"))
            if len(out) == count:
                break
    if len(out) < count:
        raise InputError(f"{path.name}: only {len(out)} of {count} crop frames from frame {start}")
    return np.stack(out).transpose(0, 3, 1, 2).astype(np.float32) / 255.0


def load_prepared(root: str | Path, clip_ids: list[str] | None = None) -> dict[str, np.ndarray]:
    """Training pairs from a ``talkrig prep`` output folder: ``landmarks (N, 478, 3)``,
    ``identity (N, K)``, ``expression (N, E)``, the detector's ``blendshapes (N, 52)``, ``clip``
    (N,) index and ``frame`` (N,) number in its clip, over the frames where
    a face was tracked (status "ok" clips; ``clip_ids`` restricts them)."""
    out = OutputDir(Path(root))
    rows = [r for r in read_manifest(out.root) if r.get("status") == "ok"
            and (clip_ids is None or r["clip_id"] in clip_ids)]
    parts: dict[str, list] = {"landmarks": [], "identity": [], "expression": [], "blendshapes": [],
                              "clip": [], "frame": []}
    for i, row in enumerate(rows):
        with np.load(out.shards / f"{row['clip_id']}.npz", allow_pickle=False) as z:
            if "coef_identity" not in z.files:
                continue
            found = z["face_found"].astype(bool)
            n = len(found)
            ident = np.broadcast_to(z["coef_identity"], (n, z["coef_identity"].shape[-1]))
            parts["landmarks"].append(z["landmarks"][found])
            parts["identity"].append(np.asarray(ident)[found])
            parts["expression"].append(z["coef_expression"][found])
            parts["blendshapes"].append(z["blendshapes"][found])
            parts["clip"].append(np.full(int(found.sum()), i))
            parts["frame"].append(np.flatnonzero(found))
    if not parts["landmarks"]:
        raise InputError(f"{root}: no prepared clips with fitted coefficients (run `talkrig prep` with a model)")
    return {k: np.concatenate(v) for k, v in parts.items()}
