"""Live video: H.264 + AAC as ONE fragmented MP4 byte stream, produced piece by piece.

:class:`FragmentedMP4` encodes frames and the audio that belongs to them as they come and hands
back the bytes the muxer has written so far: first the init segment (``ftyp`` + an empty
``moov``), then ``moof`` + ``mdat`` fragments, each starting on a keyframe. Concatenated, the
pieces are a valid MP4 file; appended in order to a browser's Media Source Extensions
``SourceBuffer`` they play as they arrive.

Why fragments on keyframes with a short GOP, not one fragment per frame: libavformat's
``frag_every_frame`` writes wrong sample timestamps for a stream encoded live (measured with
PyAV 17: 30 frames read back as 19), while ``frag_keyframe`` with a keyframe every
``keyint`` frames reads back exactly; the price is ``keyint`` frames (0.24 s at 25 fps by
default) of latency before a fragment closes.
"""

from __future__ import annotations

import io
from fractions import Fraction

import av
import numpy as np
from av.video.frame import PictureType

from talkrig.errors import InputError
from talkrig.io.video import _AAC_FRAME, _fps_fraction


class _Sink(io.RawIOBase):
    """A write-only file the muxer writes into; :meth:`drain` takes what it holds."""

    def __init__(self) -> None:
        super().__init__()
        self._parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        self._parts.append(bytes(b))
        return len(b)

    def drain(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def codec_string(init_segment: bytes) -> str:
    """The MSE/RFC 6381 ``codecs`` value of an init segment written by :class:`FragmentedMP4`,
    e.g. ``'avc1.64000d, mp4a.40.2'`` (profile, constraints and level read from its ``avcC``)."""
    i = init_segment.find(b"avcC")
    if i < 0 or len(init_segment) < i + 8:
        raise ValueError("no avcC box in the init segment")
    profile, constraints, level = init_segment[i + 5:i + 8]
    video = f"avc1.{profile:02x}{constraints:02x}{level:02x}"
    return f"{video}, mp4a.40.2" if b"mp4a" in init_segment else video


class FragmentedMP4:
    """Encode RGB frames + mono audio into a fragmented MP4 stream, a piece at a time.

    Args:
        fps: frame rate.
        size: ``(width, height)``, both even (yuv420p).
        sample_rate: audio rate in Hz; ``None`` for a stream without audio.
        crf, preset: x264 quality and speed (``tune=zerolatency``: no frame is held back).
        keyint: frames between keyframes, i.e. the longest a fragment waits before it is written.

    :meth:`write` takes ``(N, H, W, 3)`` uint8 frames (or a list) and the audio samples of the
    same stretch of time (any count; they are buffered into whole AAC frames) and returns the
    bytes ready to send (possibly ``b""``). :meth:`close` flushes and returns the rest.
    Not thread-safe: one writer per stream.
    """

    def __init__(self, fps: float, size: tuple[int, int], sample_rate: int | None = 16000,
                 crf: int = 23, preset: str = "veryfast", keyint: int = 6):
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0 or w % 2 or h % 2:
            raise InputError(f"video size must be positive and even (yuv420p), got {w}x{h}")
        self.fps = _fps_fraction(fps)
        self.size = (w, h)
        self.sample_rate = sample_rate
        self.frames_written = 0
        self.samples_written = 0
        self._pending = np.zeros(0, np.float32)
        self._sink = _Sink()
        self._box = av.open(self._sink, mode="w", format="mp4",
                            options={"movflags": "frag_keyframe+empty_moov+default_base_moof"})
        vs = self._box.add_stream("libx264", rate=self.fps)
        vs.width, vs.height = w, h
        vs.pix_fmt = "yuv420p"
        vs.codec_context.time_base = 1 / self.fps
        vs.options = {"crf": str(int(crf)), "preset": preset, "tune": "zerolatency",
                      "g": str(int(keyint)), "keyint_min": str(int(keyint)), "forced-idr": "1"}
        self._vs = vs
        self._as = None
        if sample_rate is not None:
            self._as = self._box.add_stream("aac", rate=int(sample_rate), layout="mono")
            self._as.codec_context.time_base = Fraction(1, int(sample_rate))
        self._closed = False

    @property
    def seconds(self) -> float:
        """Media time written so far (video)."""
        return float(self.frames_written / self.fps)

    def write(self, frames, audio: np.ndarray | None = None, keyframe: bool = False) -> bytes:
        """Encode ``frames`` and ``audio`` (``(S,)`` float in [-1, 1]); returns the new bytes.
        ``keyframe``: start a new fragment at the first of ``frames`` (the fragment before it
        is written out at once instead of waiting for the next regular keyframe)."""
        if self._closed:
            raise InputError("the stream is closed")
        for i, frame in enumerate(frames):
            self._encode_frame(np.asarray(frame), keyframe and i == 0)
        if audio is not None and self._as is not None:
            self._pending = np.concatenate([self._pending, np.asarray(audio, np.float32).reshape(-1)])
            self._encode_audio(final=False)
        return self._sink.drain()

    def close(self) -> bytes:
        """Flush both encoders and the muxer; returns the last bytes."""
        if self._closed:
            return b""
        self._closed = True
        self._encode_audio(final=True)
        self._box.mux(self._vs.encode(None))
        if self._as is not None:
            self._box.mux(self._as.encode(None))
        self._box.close()
        return self._sink.drain()

    def _encode_frame(self, frame: np.ndarray, keyframe: bool = False) -> None:
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(f"frames must be HxWx3 uint8, got {frame.dtype} {frame.shape}")
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise InputError(f"frame is {frame.shape[1]}x{frame.shape[0]}, stream is {self.size[0]}x{self.size[1]}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.frames_written
        vf.time_base = 1 / self.fps
        if keyframe:
            vf.pict_type = PictureType.I
        self._box.mux(self._vs.encode(vf))
        self.frames_written += 1

    def _encode_audio(self, final: bool) -> None:
        if self._as is None:
            return
        n_whole = len(self._pending) // _AAC_FRAME * _AAC_FRAME
        if final:  # the encoder takes one short last frame
            n_whole = len(self._pending)
        for start in range(0, n_whole, _AAC_FRAME):
            chunk = np.clip(self._pending[start:min(start + _AAC_FRAME, n_whole)], -1.0, 1.0)
            af = av.AudioFrame.from_ndarray(np.ascontiguousarray(chunk[None, :]), format="fltp", layout="mono")
            af.sample_rate = self.sample_rate
            af.pts = self.samples_written
            af.time_base = Fraction(1, self.sample_rate)
            self._box.mux(self._as.encode(af))
            self.samples_written += len(chunk)
        self._pending = self._pending[n_whole:]


def _boxes(data: bytes, start: int = 0, end: int | None = None):
    """``(type, payload_start, box_end)`` of the boxes in ``data[start:end]``; stops at a box
    that is not complete yet (a stream read so far)."""
    end = len(data) if end is None else end
    i = start
    while i + 8 <= end:
        size = int.from_bytes(data[i:i + 4], "big")
        kind = data[i + 4:i + 8].decode("latin-1")
        head = 8
        if size == 1:
            if i + 16 > end:
                return
            size, head = int.from_bytes(data[i + 8:i + 16], "big"), 16
        if size < head or i + size > end:
            return
        yield kind, i + head, i + size
        i += size


def stream_samples(data: bytes) -> dict[int, int]:
    """Samples per track id in the complete ``moof`` + ``mdat`` fragments of a fragmented MP4
    stream read so far (a fragment counts once its ``mdat`` has fully arrived). With the
    streams :class:`FragmentedMP4` writes, track 1 is the video: its count is the number of
    frames a player can show."""
    counts: dict[int, int] = {}
    pending: dict[int, int] = {}
    for kind, p, e in _boxes(data):
        if kind == "moof":
            pending = {}
            for k2, p2, e2 in _boxes(data, p, e):
                if k2 != "traf":
                    continue
                track, n = None, 0
                for k3, p3, _e3 in _boxes(data, p2, e2):
                    if k3 == "tfhd":
                        track = int.from_bytes(data[p3 + 4:p3 + 8], "big")
                    elif k3 == "trun":
                        n += int.from_bytes(data[p3 + 4:p3 + 8], "big")
                if track is not None:
                    pending[track] = pending.get(track, 0) + n
        elif kind == "mdat":
            for track, n in pending.items():
                counts[track] = counts.get(track, 0) + n
            pending = {}
    return counts
