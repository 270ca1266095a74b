"""Audio input/output: everything inside talkrig is mono float32 at 16 kHz.

:func:`load_audio` reads wav/flac/ogg through libsndfile (``soundfile``) and anything else
(mp3, m4a, aac, mp4/mov/mkv with an audio stream) through PyAV/FFmpeg, averages the channels
and resamples with a polyphase filter (``scipy.signal.resample_poly``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from talkrig.errors import InputError

SAMPLE_RATE = 16000
_SNDFILE_SUFFIXES = {".wav", ".flac", ".ogg", ".oga", ".aiff", ".aif", ".au"}


def resample(samples: np.ndarray, src_rate: int, dst_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Resample a mono signal ``(S,)`` float32 from ``src_rate`` to ``dst_rate`` Hz.

    Uses a polyphase FIR (Kaiser window) so 44.1/48 kHz -> 16 kHz is alias-free and fast.
    """
    samples = np.asarray(samples, dtype=np.float32)
    if int(src_rate) == int(dst_rate) or samples.size == 0:
        return samples
    from scipy.signal import resample_poly

    ratio = Fraction(int(dst_rate), int(src_rate)).limit_denominator(1000)
    out = resample_poly(samples, ratio.numerator, ratio.denominator)
    return out.astype(np.float32, copy=False)


def _read_sndfile(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data.mean(axis=1), int(rate)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    """Decode the first audio stream with PyAV, downmixed to mono float32 at its own rate."""
    import av

    with av.open(str(path)) as container:
        streams = [s for s in container.streams if s.type == "audio"]
        if not streams:
            raise InputError(f"no audio stream in {path}")
        stream = streams[0]
        rate = int(stream.codec_context.sample_rate or stream.rate)
        # The resampler converts any sample format/layout to packed float32 mono.
        resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
        chunks = []
        for frame in container.decode(stream):
            for f in resampler.resample(frame):
                chunks.append(f.to_ndarray().reshape(-1))
        for f in resampler.resample(None):
            chunks.append(f.to_ndarray().reshape(-1))
        declared = _declared_seconds(container, stream)
    samples = np.concatenate(chunks) if chunks else np.zeros(0, np.float32)
    got = len(samples) / rate if rate else 0.0
    if declared and got < 0.9 * declared - 0.1:
        import logging

        logging.getLogger("talkrig").warning(
            "%s looks truncated or damaged: its header promises %.2f s, %.2f s could be decoded "
            "(rendering what is there)", path.name, declared, got)
    return samples.astype(np.float32, copy=False), rate


def _declared_seconds(container, stream) -> float | None:
    """The duration a file's header promises (an MP3's Xing/Info frame count, a container's
    duration field), or None when it does not say."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000  # AV_TIME_BASE
    return None


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> tuple[np.ndarray, int]:
    """Read any common audio or video file as mono float32 at ``sample_rate`` (16 kHz).

    Args:
        path: wav, flac, ogg, mp3, m4a, aac, mp4, ... at any sample rate and channel count.
    Returns:
        ``(samples (S,) float32 in [-1, 1], sample_rate)``.
    Raises:
        InputError: missing, unreadable or empty file (one-line message).
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"audio file not found: {path}")
    samples = rate = None
    errors = []
    readers = (_read_sndfile, _read_av) if path.suffix.lower() in _SNDFILE_SUFFIXES else (_read_av, _read_sndfile)
    for reader in readers:
        try:
            samples, rate = reader(path)
            break
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - try the next decoder, report if all fail
            errors.append(f"{type(exc).__name__}: {exc}".splitlines()[0])
    if samples is None:
        raise InputError(f"cannot read audio from {path} ({errors[-1] if errors else 'unknown format'})")
    if samples.size == 0:
        raise InputError(f"audio file has no samples: {path}")
    samples = resample(samples, rate, sample_rate)
    samples = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(samples, -1.0, 1.0).astype(np.float32, copy=False), sample_rate


def save_wav(path: str | Path, samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> None:
    """Write mono float32 samples as 16-bit PCM WAV, atomically."""
    import soundfile as sf

    from talkrig.io.files import atomic_path

    with atomic_path(path) as tmp:
        sf.write(str(tmp), np.asarray(samples, dtype=np.float32), int(sample_rate),
                 subtype="PCM_16", format="WAV")
