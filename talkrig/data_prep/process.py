"""The per-clip task: video -> track -> coefficients, crops, audio, mel -> one shard.

The same function runs in a local process pool and on Ray workers. Models live in a
:class:`Worker` built once per process (:func:`init_worker`); :func:`run_clip` never raises for
a bad clip: it writes an error record and returns its row.
"""

from __future__ import annotations

import contextlib
import os
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from talkrig.data_prep.features import MelConfig, log_mel
from talkrig.data_prep.layouts import ClipInfo
from talkrig.data_prep.shard import OutputDir, manifest_row, write_error, write_shard
from talkrig.errors import InputError, NoFaceError, TalkrigError

#: Bump when shard contents change meaning; stored in prep.json and every shard.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class PrepConfig:
    """Settings that change shard contents (a rerun must use the same ones).

    crop_size: side of the aligned crop video (0: no crops).
    max_faces: faces the tracker looks for per frame (>= 2 lets it notice a second person).
    min_face_fraction: a clip whose face is tracked in fewer frames than this fails "no_face".
    smooth_window: Savitzky-Golay window (frames) for coefficients; crops use +-3 frames.
    model: 3DMM fitted by tracking ("default", "ict", a path); None stores the tracker's own
        ARKit scores and head transform as coefficients (no identity, no model needed).
    """

    crop_size: int = 256
    max_faces: int = 2
    min_face_fraction: float = 0.5
    smooth_window: int = 5
    model: str | None = "default"
    mel: MelConfig = field(default_factory=MelConfig)
    format_version: int = FORMAT_VERSION

    def to_dict(self) -> dict:
        return asdict(self)


class Worker:
    """Per-process state, loaded once: the face tracker and the model fitter."""

    def __init__(self, config: PrepConfig):
        from talkrig.data_prep.tracking import FaceTracker

        self.config = config
        self.tracker = FaceTracker(max_faces=config.max_faces)
        self.fitter = None
        if config.model is not None:
            from talkrig.data_prep.video_fit import VideoFitter

            self.fitter = VideoFitter(config.model)

    def coefficients(self, track, width: int, height: int):
        """Per-frame coefficients of a track (see :mod:`video_fit` / :mod:`fitting`)."""
        if self.fitter is not None:
            return self.fitter.fit(track, width, height, self.config.smooth_window)
        from talkrig.data_prep.fitting import coefficients_from_track

        return coefficients_from_track(track, height, self.config.smooth_window)


THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def limit_threads() -> None:
    """One compute thread per worker: workers are the parallelism, and oversubscribed
    OpenMP/BLAS pools on a small machine run many times slower."""
    for var in THREAD_VARS:  # for libraries loaded from here on (BLAS reads it at load)
        os.environ[var] = "1"
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)  # and for those already loaded (numpy's OpenBLAS in this process)
    import torch

    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # pragma: no cover - cv2 comes with mediapipe
        pass


_WORKER: Worker | None = None  # this process's models (a per-process cache, not shared state)
_SETUP_ERROR: Exception | None = None


def init_worker(config: PrepConfig) -> None:
    """Process-pool initializer: limit threads, load models. Never raises: a failure (say, a
    model that cannot be found) is kept and re-raised by :func:`get_worker`, so it stops the
    job with its own message instead of breaking the pool or being blamed on a clip."""
    global _WORKER, _SETUP_ERROR
    limit_threads()
    try:
        _WORKER, _SETUP_ERROR = Worker(config), None
    except Exception as exc:  # noqa: BLE001 - re-raised on first use
        _WORKER, _SETUP_ERROR = None, exc


def get_worker(config: PrepConfig) -> Worker:
    """This process's :class:`Worker` (loading it on first use)."""
    if _SETUP_ERROR is None and (_WORKER is None or _WORKER.config != config):
        init_worker(config)
    if _SETUP_ERROR is not None:
        raise _SETUP_ERROR
    return _WORKER


def base_row(clip: ClipInfo) -> dict:
    """The manifest fields known before decoding: id, source and labels."""
    return {"clip_id": clip.clip_id, "source": clip.rel_path, "layout": clip.layout,
            "speaker": clip.speaker, "emotion": clip.emotion, "emotion_raw": clip.emotion_raw,
            "intensity": clip.intensity, "text": clip.text}


def run_clip(clip: ClipInfo, out_root: str, config: PrepConfig) -> tuple[dict, dict]:
    """Process one clip and write its shard or error record.

    Returns:
        ``(manifest_row, timing)``; ``timing`` holds wall and CPU seconds and the worker pid
        (for the log only: nothing time-dependent goes into shards or the manifest).
    """
    t0, c0 = time.perf_counter(), time.process_time()
    out = OutputDir(Path(out_root))
    base = base_row(clip)
    worker = get_worker(config)  # a setup failure stops the job: it is nothing to do with the clip
    try:
        row = process_clip(clip, out, worker, base)
    except TalkrigError as exc:
        status = "no_face" if isinstance(exc, NoFaceError) else "error"
        row = manifest_row(base | getattr(exc, "facts", {}) | {"status": status, "error": str(exc)})
        _record_failure(out, row)
    except Exception as exc:  # noqa: BLE001 - one bad clip must not stop the job
        msg = f"{type(exc).__name__}: {exc}".splitlines()[0]
        row = manifest_row(base | {"status": "error", "error": f"internal: {msg}"})
        _record_failure(out, row)
        if os.environ.get("TALKRIG_DEBUG"):
            traceback.print_exc()
    timing = {"clip_id": clip.clip_id, "seconds": round(time.perf_counter() - t0, 4),
              "cpu_seconds": round(time.process_time() - c0, 4),
              "frames": row["frames"], "status": row["status"], "pid": os.getpid()}
    return row, timing


def process_clip(clip: ClipInfo, out: OutputDir, worker: Worker, base: dict) -> dict:
    """Decode, track, crop (streamed), fit, and write the shard. Raises TalkrigError for a
    bad clip (with ``facts`` for the manifest attached where known)."""
    from talkrig.data_prep import media
    from talkrig.data_prep.crops import CropStream
    from talkrig.io.files import atomic_path

    cfg = worker.config
    info = media.probe(clip.path)
    facts = {"fps": round(info.fps, 6), "width": info.width, "height": info.height,
             "has_audio": info.has_audio}
    session = worker.tracker.start(info.fps)
    affines = []
    # crops stream to a temp file that is renamed only if the clip passes the face check
    target = atomic_path(out.crops(clip.clip_id)) if cfg.crop_size else contextlib.nullcontext()
    try:
        with target as tmp:
            writer = media.CropWriter(tmp, cfg.crop_size, info.fps) if tmp else None
            crops = CropStream(cfg.crop_size or 256, info.width, info.height, render=writer is not None)
            try:
                for i, frame in enumerate(media.iter_frames(clip.path)):
                    for img, mat in crops.push(frame, session.push(frame, i)):
                        affines.append(mat)
                        if writer:
                            writer.write(img)
                for img, mat in crops.flush():
                    affines.append(mat)
                    if writer:
                        writer.write(img)
                track = session.finish()
                _check_faces(track, cfg, facts)
                if writer:
                    writer.close()
            except BaseException:
                if writer:
                    writer.abort()
                raise
    except TalkrigError as exc:
        exc.facts = facts  # type: ignore[attr-defined]
        raise
    finally:
        session.close()
    audio = media.read_audio(clip.path, info.start)
    coeffs = worker.coefficients(track, info.width, info.height)
    t = track.frames
    facts |= {"frames": t, "duration": round(t / info.fps, 6), "faces": int(track.n_faces.max()),
              "face_fraction": round(float(track.found.mean()), 6)}
    arrays = {"landmarks": track.landmarks, "blendshapes": track.blendshapes,
              "head_transform": track.transform, "face_found": track.found,
              "n_faces": track.n_faces, "crop_affine": np.asarray(affines, np.float32).reshape(t, 2, 3),
              "audio": audio, "mel": log_mel(audio, cfg.mel)}
    arrays |= {f"coef_{k}": v for k, v in coeffs.to_numpy().items()}
    row = manifest_row(base | facts | {"status": "ok", "error": ""})
    write_shard(out, clip.clip_id, arrays, row | {"config": cfg.to_dict(),
                                                  "crops": out.crops(clip.clip_id).name if cfg.crop_size else ""})
    out.error(clip.clip_id).unlink(missing_ok=True)  # a retried clip that now works
    return row


def _record_failure(out: OutputDir, row: dict) -> None:
    out.crops(row["clip_id"]).unlink(missing_ok=True)  # crops of a clip that failed later
    write_error(out, row)


def _check_faces(track, cfg: PrepConfig, facts: dict) -> None:
    if track.frames == 0:
        raise InputError("no video frames could be decoded")
    frac = float(track.found.mean())
    if frac < cfg.min_face_fraction:
        facts |= {"frames": track.frames, "faces": int(track.n_faces.max()),
                  "face_fraction": round(frac, 6)}
        raise NoFaceError(f"a face was tracked in {frac:.0%} of {track.frames} frames "
                          f"(need {cfg.min_face_fraction:.0%})")
