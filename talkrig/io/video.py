"""Video files: stream RGB frames (+ mono audio) to H.264/AAC .mp4, and read them back.

Writing: :class:`VideoWriter` encodes frames one at a time (memory stays flat with length),
interleaving the audio as the video advances, and renames the finished file onto the target
(through :func:`talkrig.io.files.atomic_path`), so a failure leaves nothing behind.

Reading: :func:`read_video` probes a file and returns a lazy :class:`VideoClip`; its
``frames()`` iterator decodes one frame at a time, ``audio()`` decodes the audio track as
mono float32 at 16 kHz (any codec/rate/layout, resampled by libswresample).

Frames are ``(H, W, 3) uint8`` RGB numpy arrays throughout.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from talkrig.errors import InputError
from talkrig.io import stop
from talkrig.io.files import atomic_path

AUDIO_RATE = 16000  # pipeline audio rate (DESIGN.md)
_AAC_FRAME = 1024  # samples per AAC frame


def _fps_fraction(fps: float | Fraction) -> Fraction:
    """Exact rate for the container: 25 -> 25/1, 29.97 -> 30000/1001."""
    f = Fraction(fps).limit_denominator(1001)
    if f <= 0:
        raise InputError(f"frame rate must be positive, got {fps}")
    return f


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------

class VideoWriter:
    """Stream RGB frames into an H.264 (yuv420p, libx264) + AAC .mp4, atomically.

    Args:
        path: target file; written to a temporary file beside it and renamed on close.
        fps: frame rate.
        size: ``(width, height)`` in pixels; both must be even (yuv420p chroma subsampling).
        audio: optional mono waveform, ``(S,)`` float in [-1, 1] (or int16), at
            ``sample_rate``. It is trimmed or padded with silence to the video's length at
            close, so the first and last frames line up with the audio to within one frame.
        sample_rate: rate of ``audio`` in Hz; the AAC track is written at this rate.
        crf: x264 constant rate factor (0 lossless .. 51 worst; 18 is visually lossless).
        preset: x264 speed preset.

    Use as a context manager; on an exception inside the ``with`` block nothing is written.
    """

    def __init__(self, path: str | Path, fps: float, size: tuple[int, int],
                 audio: np.ndarray | None = None, sample_rate: int = AUDIO_RATE,
                 crf: int = 18, preset: str = "medium"):
        w, h = int(size[0]), int(size[1])
        if w <= 0 or h <= 0 or w % 2 or h % 2:
            raise InputError(f"video size must be positive and even (yuv420p), got {w}x{h}")
        self.path = Path(path)
        self.fps = _fps_fraction(fps)
        self.size = (w, h)
        self.n_frames = 0
        self._audio = _as_mono_float(audio) if audio is not None else None
        self._sr = int(sample_rate)
        self._audio_written = 0  # samples sent to the encoder so far
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        try:
            self._open(crf, preset)
        except BaseException as exc:
            self._stack.__exit__(type(exc), exc, exc.__traceback__)
            raise

    def _open(self, crf: int, preset: str) -> None:
        self._box = av.open(str(self._tmp), mode="w", format="mp4")
        vs = self._box.add_stream("libx264", rate=self.fps)
        vs.width, vs.height = self.size
        vs.pix_fmt = "yuv420p"
        vs.codec_context.time_base = 1 / self.fps
        vs.options = {"crf": str(int(crf)), "preset": preset}
        self._vs = vs
        self._as = None
        if self._audio is not None:
            self._as = self._box.add_stream("aac", rate=self._sr, layout="mono")
            self._as.codec_context.time_base = Fraction(1, self._sr)

    # -- frames ---------------------------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        """Encode one frame: ``(H, W, 3) uint8`` RGB with (W, H) == ``size``."""
        stop.check()  # a stop request whose exception was swallowed ends the video here
        frame = np.asarray(frame)
        if frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
            raise InputError(f"frames must be HxWx3 uint8, got {frame.dtype} {frame.shape}")
        if (frame.shape[1], frame.shape[0]) != self.size:
            raise InputError(f"frame is {frame.shape[1]}x{frame.shape[0]}, "
                             f"writer is {self.size[0]}x{self.size[1]}")
        vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
        vf.pts = self.n_frames
        vf.time_base = 1 / self.fps
        self._box.mux(self._vs.encode(vf))
        self.n_frames += 1
        # keep the audio about level with the video so the muxer interleaves them
        self._write_audio_until(self._samples_at(self.n_frames), final=False)

    def write_all(self, frames: Iterable[np.ndarray]) -> None:
        """Encode every frame of an iterable (consumed lazily)."""
        for f in frames:
            self.write(f)

    def _samples_at(self, n_frames: int) -> int:
        return int(round(n_frames * self._sr / self.fps))

    def _write_audio_until(self, end: int, final: bool) -> None:
        if self._as is None:
            return
        # only whole AAC frames until the end, so every frame the encoder gets is full-size
        stop = end if final else (end // _AAC_FRAME) * _AAC_FRAME
        while self._audio_written < stop:
            n = min(_AAC_FRAME, stop - self._audio_written)
            chunk = self._audio[self._audio_written:self._audio_written + n]
            if len(chunk) < n:  # pad with silence past the end of the given audio
                chunk = np.pad(chunk, (0, n - len(chunk)))
            af = av.AudioFrame.from_ndarray(chunk[None, :].astype(np.float32), format="fltp",
                                            layout="mono")
            af.sample_rate = self._sr
            af.pts = self._audio_written
            af.time_base = Fraction(1, self._sr)
            self._box.mux(self._as.encode(af))
            self._audio_written += n

    # -- closing --------------------------------------------------------------------------
    def close(self) -> Path:
        """Flush the encoders, close the file and move it onto ``path``; returns ``path``."""
        if self._stack is None:
            return self.path
        try:
            if self.n_frames == 0:
                raise InputError(f"no frames were written to {self.path}")
            self._write_audio_until(self._samples_at(self.n_frames), final=True)
            self._box.mux(self._vs.encode(None))
            if self._as is not None:
                self._box.mux(self._as.encode(None))
            self._box.close()
        except BaseException as exc:
            self._abort(exc)
            raise
        stack, self._stack = self._stack, None
        stack.close()  # atomic rename
        return self.path

    def abort(self) -> None:
        """Discard everything written so far; the target file is not touched."""
        self._abort(None)

    def _abort(self, exc: BaseException | None) -> None:
        if self._stack is None:
            return
        with contextlib.suppress(Exception):
            self._box.close()
        stack, self._stack = self._stack, None
        err = exc if exc is not None else _Aborted()
        with contextlib.suppress(_Aborted):
            stack.__exit__(type(err), err, err.__traceback__)

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc is None:
            self.close()
        else:
            self._abort(exc)


class _Aborted(Exception):
    """Internal: passed to atomic_path so it deletes the temporary file."""


def _as_mono_float(audio: np.ndarray) -> np.ndarray:
    """``(S,)`` or ``(S, C)`` int16/float -> ``(S,)`` float32 mono."""
    a = np.asarray(audio)
    if a.dtype == np.int16:
        a = a.astype(np.float32) / 32768.0
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        a = a.mean(axis=1)
    if a.ndim != 1:
        raise InputError(f"audio must be (samples,) or (samples, channels), got {a.shape}")
    return np.ascontiguousarray(a)


def write_video(path: str | Path, frames: Iterable[np.ndarray], fps: float,
                audio: np.ndarray | None = None, sample_rate: int = AUDIO_RATE,
                crf: int = 18) -> Path:
    """Write an iterable of ``(H, W, 3) uint8`` frames (size taken from the first) to ``path``."""
    it = iter(frames)
    try:
        first = np.asarray(next(it))
    except StopIteration:
        raise InputError(f"no frames to write to {path}") from None
    if first.ndim != 3:
        raise InputError(f"frames must be HxWx3 uint8, got shape {first.shape}")
    with VideoWriter(path, fps, (first.shape[1], first.shape[0]), audio=audio,
                     sample_rate=sample_rate, crf=crf) as w:
        w.write(first)
        w.write_all(it)
    return Path(path)


def write_frames_png(directory: str | Path, frames: Iterable[np.ndarray],
                     pattern: str = "frame_{:06d}.png") -> list[Path]:
    """Write frames as numbered PNGs into an existing folder (each file atomically)."""
    from PIL import Image

    directory = Path(directory)
    if not directory.is_dir():
        raise InputError(f"output folder does not exist: {directory}")
    out = []
    for i, frame in enumerate(frames):
        p = directory / pattern.format(i)
        with atomic_path(p) as tmp:
            Image.fromarray(np.asarray(frame, dtype=np.uint8)).save(tmp, format="PNG")
        out.append(p)
    return out


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VideoClip:
    """A video file, probed; frames and audio are decoded on demand.

    Attributes:
        path: the file.
        fps: average frame rate (float).
        n_frames: number of frames (from the container, else by counting packets).
        width, height: frame size in pixels.
        duration: ``n_frames / fps`` in seconds.
        has_audio: whether the file carries an audio track.
        lenient: when True, decoding stops quietly at the first corrupt packet instead of
            raising :class:`InputError`.
    """

    path: Path
    fps: float
    n_frames: int
    width: int
    height: int
    has_audio: bool
    lenient: bool = False

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    @property
    def size(self) -> tuple[int, int]:
        return (self.width, self.height)

    def frames(self, start: int = 0, stop: int | None = None) -> Iterator[np.ndarray]:
        """Yield ``(H, W, 3) uint8`` RGB frames ``start..stop-1`` one at a time."""
        return iter_frames(self.path, start=start, stop=stop, lenient=self.lenient)

    def __iter__(self) -> Iterator[np.ndarray]:
        return self.frames()

    def read_frames(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """All (or a range of) frames as one ``(T, H, W, 3) uint8`` array (holds them all)."""
        fr = list(self.frames(start, stop))
        if not fr:
            return np.zeros((0, self.height, self.width, 3), np.uint8)
        return np.stack(fr)

    def audio(self, sample_rate: int = AUDIO_RATE) -> np.ndarray:
        """The audio track as ``(S,)`` float32 mono at ``sample_rate`` (empty when none)."""
        if not self.has_audio:
            return np.zeros(0, np.float32)
        return decode_audio(self.path, sample_rate=sample_rate, lenient=self.lenient)


def _open_input(path: Path):
    if not path.is_file():
        raise InputError(f"video file not found: {path}")
    try:
        return av.open(str(path), mode="r")
    except (av.FFmpegError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot open video {path}: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def read_video(path: str | Path, lenient: bool = False) -> VideoClip:
    """Probe a video file and return a lazy :class:`VideoClip`.

    Raises :class:`InputError` when the file is missing, not a video, or has no video track.
    """
    path = Path(path)
    with _open_input(path) as box:
        if not box.streams.video:
            raise InputError(f"no video track in {path}")
        vs = box.streams.video[0]
        rate = vs.average_rate or vs.guessed_rate or vs.base_rate
        if not rate:
            raise InputError(f"cannot tell the frame rate of {path}")
        n = int(vs.frames or 0)
        if n <= 0:  # some containers do not store a count: count packets (no decoding)
            try:
                n = sum(1 for p in box.demux(vs) if p.size > 0)
            except av.FFmpegError as exc:
                if not lenient:
                    raise InputError(f"corrupt video {path}: {_one_line(exc)}") from None
        width, height = vs.codec_context.width, vs.codec_context.height
        has_audio = bool(box.streams.audio)
    if n <= 0 or width <= 0:
        raise InputError(f"video {path} has no frames")
    return VideoClip(path=path, fps=float(rate), n_frames=n, width=width, height=height,
                     has_audio=has_audio, lenient=lenient)


def _decoded(box, stream, lenient: bool, what: str) -> Iterator:
    """Decoded frames of ``stream``; a decoding error raises a one-line :class:`InputError`
    (``corrupt <what> after frame i``) or, with ``lenient``, ends the iteration there."""
    frames = box.decode(stream)
    i = 0
    while True:
        try:
            f = next(frames)
        except StopIteration:
            return
        except av.FFmpegError as exc:
            if lenient:
                return
            raise InputError(f"corrupt {what} after frame {i}: {_one_line(exc)}") from None
        yield f
        i += 1


def iter_frames(path: str | Path, start: int = 0, stop: int | None = None,
                lenient: bool = False) -> Iterator[np.ndarray]:
    """Decode ``(H, W, 3) uint8`` RGB frames of ``path`` one at a time.

    Corrupt or truncated data raises :class:`InputError`, or with ``lenient`` ends the
    iteration after the last frame that decoded.
    """
    path = Path(path)
    box = _open_input(path)
    try:
        if not box.streams.video:
            raise InputError(f"no video track in {path}")
        vs = box.streams.video[0]
        vs.thread_type = "AUTO"
        for i, f in enumerate(_decoded(box, vs, lenient, f"video {path}")):
            if stop is not None and i >= stop:
                break
            if i >= start:
                yield f.to_ndarray(format="rgb24")
    finally:
        box.close()


def decode_audio(path: str | Path, sample_rate: int = AUDIO_RATE,
                 lenient: bool = False) -> np.ndarray:
    """Decode the first audio track of any media file to ``(S,)`` float32 mono.

    Channels are averaged and the rate converted by libswresample. Audio that starts after
    the container's time zero is preceded by silence, so sample ``k`` is at ``k / rate`` s
    on the same clock as the video frames.
    """
    path = Path(path)
    box = _open_input(path)
    try:
        if not box.streams.audio:
            raise InputError(f"no audio track in {path}")
        ast = box.streams.audio[0]
        # the stream's own duration excludes the padding of the last AAC frame
        dur_s = float(ast.duration * ast.time_base) if ast.duration and ast.time_base else None
        res = av.AudioResampler(format="flt", layout="mono", rate=int(sample_rate))
        chunks: list[np.ndarray] = []
        first_t: float | None = None
        for f in _decoded(box, ast, lenient, f"audio in {path}"):
            if first_t is None and f.pts is not None and f.time_base is not None:
                first_t = float(f.pts * f.time_base)
            for r in res.resample(f):
                chunks.append(r.to_ndarray().reshape(-1))
        for r in res.resample(None):
            chunks.append(r.to_ndarray().reshape(-1))
    finally:
        box.close()
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    lead = int(round((first_t or 0.0) * sample_rate))
    if lead > 0:
        audio = np.concatenate([np.zeros(lead, np.float32), audio])
    elif lead < 0:  # encoder priming before time zero
        audio = audio[-lead:]
    if dur_s is not None:
        audio = audio[:int(round((max(first_t or 0.0, 0.0) + dur_s) * sample_rate))]
    return audio

