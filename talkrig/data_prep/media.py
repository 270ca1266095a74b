"""Streaming decode of one clip (PyAV) and encoding of the crop video.

Kept here rather than in :mod:`talkrig.io.video` because the dataset job needs frame-exact,
single-threaded, bounded-memory streaming and the audio aligned to the first video frame.
Errors become :class:`~talkrig.errors.InputError` with one line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from talkrig.errors import InputError

SAMPLE_RATE = 16000


@dataclass
class VideoInfo:
    width: int
    height: int
    fps: float
    start: float          # seconds, pts of the stream start
    frames_hint: int      # container's frame count (0 when unknown)
    has_audio: bool


def _reason(exc: Exception) -> str:
    """FFmpeg's reason without the file path (manifests must not depend on where files are)."""
    return getattr(exc, "strerror", None) or f"{type(exc).__name__}: {exc}".splitlines()[0]


def _open(path: str | Path):
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except Exception as exc:  # noqa: BLE001 - every container failure is a bad input
        raise InputError(f"cannot open video {Path(path).name}: {_reason(exc)}") from None


def probe(path: str | Path) -> VideoInfo:
    """Stream facts of a video file (raises InputError without a video stream)."""
    with _open(path) as c:
        if not c.streams.video:
            raise InputError(f"{Path(path).name} has no video stream")
        v = c.streams.video[0]
        rate = v.average_rate or v.guessed_rate or Fraction(25)
        start = float(v.start_time * v.time_base) if v.start_time is not None and v.time_base else 0.0
        return VideoInfo(v.codec_context.width, v.codec_context.height, float(rate), start,
                         int(v.frames or 0), bool(c.streams.audio))


def iter_frames(path: str | Path) -> Iterator[np.ndarray]:
    """Decode every frame as ``(H, W, 3)`` uint8 RGB, in order, one decoder thread.

    Raises:
        InputError: the file is corrupt or truncated mid-stream.
    """
    import av

    with _open(path) as c:
        stream = c.streams.video[0]
        stream.thread_type = "SLICE"
        stream.codec_context.thread_count = 1
        try:
            for frame in c.decode(stream):
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name}: video decode failed: {_reason(exc)}") from None


def read_audio(path: str | Path, start: float = 0.0, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """The first audio stream as mono float32 at ``sample_rate``, aligned so sample 0 is at
    time ``start`` (the first video frame): leading audio is cut, a late start zero-padded.
    ``(0,)`` when the file has no audio."""
    import av

    with _open(path) as c:
        if not c.streams.audio:
            return np.zeros(0, np.float32)
        stream = c.streams.audio[0]
        res = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks, first_t = [], None
        try:
            for frame in c.decode(stream):
                if first_t is None and frame.pts is not None and frame.time_base:
                    first_t = float(frame.pts * frame.time_base)
                for out in res.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in res.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            raise InputError(f"{Path(path).name}: audio decode failed: {_reason(exc)}") from None
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    shift = int(round(((first_t or 0.0) - start) * sample_rate))
    if shift > 0:
        audio = np.concatenate([np.zeros(shift, np.float32), audio])
    elif shift < 0:
        audio = audio[-shift:]
    return audio


class CropWriter:
    """H.264 writer for square crops (yuv420p, CRF 18, one thread: byte-identical reruns)."""

    def __init__(self, path: str | Path, size: int, fps: float, crf: int = 18):
        import av

        self._c = av.open(str(path), mode="w", format="mp4")
        rate = Fraction(fps).limit_denominator(1001)
        self._s = self._c.add_stream("libx264", rate=rate)
        self._s.width = self._s.height = size
        self._s.pix_fmt = "yuv420p"
        self._s.codec_context.thread_count = 1
        self._s.options = {"crf": str(crf), "preset": "veryfast", "threads": "1"}
        self.frames = 0

    def write(self, rgb: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        for pkt in self._s.encode(frame):
            self._c.mux(pkt)
        self.frames += 1

    def close(self) -> None:
        if self._c is None:
            return
        for pkt in self._s.encode(None):
            self._c.mux(pkt)
        self._c.close()
        self._c = None

    def abort(self) -> None:
        if self._c is not None:
            try:
                self._c.close()
            except Exception:  # noqa: BLE001 - the partial file is thrown away anyway
                pass
            self._c = None
