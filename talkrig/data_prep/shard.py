"""On-disk layout of a prepared dataset, shards and the manifest.

    OUT/prep.json                 settings of the job (a rerun with other settings is refused)
    OUT/shards/<clip_id>.npz      arrays + ``meta_json`` (the clip's manifest row); written last,
                                  through a temp file and rename: its presence means "done"
    OUT/shards/<clip_id>.crop.mp4 aligned face crops (H.264), written before the npz
    OUT/errors/<clip_id>.json     manifest row of a clip that failed (corrupt, no face)
    OUT/manifest.jsonl            one row per clip, sorted by clip id; rebuilt from the two
                                  folders above at the end of every run (and on demand)
    OUT/log/timings.jsonl         seconds per clip and worker (not part of the dataset)

Shard arrays (``T`` video frames, ``S`` audio samples at 16 kHz, ``M`` mel frames):
    landmarks (T,478,3) f32, blendshapes (T,52) f32, head_transform (T,4,4) f32,
    face_found (T,) bool, n_faces (T,) u1, crop_affine (T,2,3) f32 (source px -> crop px),
    coef_<field> (Coefficients fields, load with ``Coefficients.load(path, prefix="coef_")``),
    audio (S,) f32, mel (M,80) f32. Nothing time-dependent (no timestamps) goes into a shard.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from talkrig.errors import InputError
from talkrig.io.files import atomic_path

MANIFEST_FIELDS = ("clip_id", "source", "layout", "status", "error", "frames", "fps", "duration",
                   "width", "height", "speaker", "emotion", "emotion_raw", "intensity", "text",
                   "faces", "face_fraction", "has_audio")
ARRAY_KEYS = ("landmarks", "blendshapes", "head_transform", "face_found", "n_faces",
              "crop_affine", "audio", "mel")


@dataclass(frozen=True)
class OutputDir:
    root: Path

    @property
    def shards(self) -> Path:
        return self.root / "shards"

    @property
    def errors(self) -> Path:
        return self.root / "errors"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.jsonl"

    @property
    def timings(self) -> Path:
        return self.root / "log" / "timings.jsonl"

    @property
    def settings(self) -> Path:
        return self.root / "prep.json"

    def shard(self, clip_id: str) -> Path:
        return self.shards / f"{clip_id}.npz"

    def crops(self, clip_id: str) -> Path:
        return self.shards / f"{clip_id}.crop.mp4"

    def error(self, clip_id: str) -> Path:
        return self.errors / f"{clip_id}.json"

    def create(self) -> "OutputDir":
        for d in (self.shards, self.errors, self.timings.parent):
            d.mkdir(parents=True, exist_ok=True)
        return self

    def clean_temp(self) -> int:
        """Remove temp files a killed run left behind (``.<stem>.<rand>.part<suffix>``)."""
        n = 0
        for d in (self.shards, self.errors, self.root):
            if d.is_dir():
                for p in d.glob(".*.part*"):
                    p.unlink(missing_ok=True)
                    n += 1
        return n

    def finished(self) -> tuple[set[str], set[str]]:
        """Clip ids with a shard, and ids with an error record (and no shard)."""
        ok = {p.name[:-4] for p in self.shards.glob("*.npz") if not p.name.startswith(".")}
        bad = {p.name[:-5] for p in self.errors.glob("*.json") if not p.name.startswith(".")}
        return ok, bad - ok


def manifest_row(fields: dict) -> dict:
    """A manifest row with every field present, in :data:`MANIFEST_FIELDS` order."""
    defaults = {"error": "", "frames": 0, "fps": 0.0, "duration": 0.0, "width": 0, "height": 0,
                "speaker": "", "emotion": "", "emotion_raw": "", "intensity": 0, "text": "",
                "faces": 0, "face_fraction": 0.0, "has_audio": False}
    row = {k: fields.get(k, defaults.get(k)) for k in MANIFEST_FIELDS}
    return row


def write_shard(out: OutputDir, clip_id: str, arrays: dict[str, np.ndarray], row: dict) -> Path:
    """Write ``<clip_id>.npz`` atomically and fsync it (uncompressed, so it loads fast);
    ``row`` goes in as ``meta_json``."""
    path = out.shard(clip_id)
    payload = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload["meta_json"] = np.array(json.dumps(row, sort_keys=True))
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **payload)
        fh.flush()
        os.fsync(fh.fileno())
    return path


def write_error(out: OutputDir, row: dict) -> Path:
    path = out.error(row["clip_id"])
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(row, sort_keys=True))
    return path


def read_meta(path: Path) -> dict:
    """The manifest row stored in a shard (reads only that member)."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return json.loads(str(z["meta_json"]))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read shard {path.name}: {exc}") from None


def load_shard(path: str | Path) -> dict:
    """All arrays of a shard plus ``meta`` (dict). Raises InputError for a bad file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"cannot read shard {path}: {exc}") from None
    data["meta"] = json.loads(str(data.pop("meta_json")))
    return data


def rebuild_manifest(out: OutputDir) -> list[dict]:
    """Rows of every finished clip (shards first, then error records), sorted by clip id,
    written atomically to ``manifest.jsonl``. The manifest is derived data: this is all it
    takes to recover it after a crash."""
    ok, bad = out.finished()
    rows = [manifest_row(read_meta(out.shard(c))) for c in sorted(ok)]
    for c in sorted(bad):
        try:
            rows.append(manifest_row(json.loads(out.error(c).read_text())))
        except (OSError, ValueError):
            continue  # unreadable record: the clip will simply be redone
    rows.sort(key=lambda r: r["clip_id"])
    with atomic_path(out.manifest) as tmp:
        tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def read_manifest(root: str | Path) -> list[dict]:
    """Rows of ``OUT/manifest.jsonl``."""
    path = Path(root) / "manifest.jsonl"
    if not path.is_file():
        raise InputError(f"no manifest.jsonl in {root} (run `talkrig prep` first)")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
