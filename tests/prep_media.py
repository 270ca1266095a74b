"""Small derived test clips for the data_prep tests, made from the dev talking-head video.

Every clip is 1-2 s at a small resolution so a whole job over them takes seconds.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def read_source(path: Path, start: float, seconds: float, size: int) -> tuple[list[np.ndarray], np.ndarray, float]:
    """Frames (resized to ``size`` square, RGB uint8), 16 kHz mono audio and fps of a segment."""
    import cv2

    from talkrig.data_prep.media import read_audio

    frames = []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        fps = float(s.average_rate)
        first, last = int(round(start * fps)), int(round((start + seconds) * fps))
        for i, f in enumerate(c.decode(s)):
            if i >= last:
                break
            if i >= first:
                frames.append(cv2.resize(f.to_ndarray(format="rgb24"), (size, size), interpolation=cv2.INTER_AREA))
    audio = read_audio(path)[int(start * 16000):int((start + seconds) * 16000)]
    return frames, audio, fps


def write_clip(path: Path, frames: list[np.ndarray], fps: float, audio: np.ndarray | None = None,
               codec: str = "libx264") -> Path:
    """Encode frames (+ optional 16 kHz mono audio as AAC) to ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    h, w = frames[0].shape[:2]
    with av.open(str(path), "w") as c:
        v = c.add_stream(codec, rate=Fraction(fps).limit_denominator(1001))
        v.width, v.height, v.pix_fmt = w, h, "yuv420p"
        a = None
        if audio is not None:
            a = c.add_stream("aac", rate=16000)
            a.layout = "mono"
        for f in frames:
            for p in v.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                c.mux(p)
        for p in v.encode(None):
            c.mux(p)
        if a is not None:
            for i in range(0, len(audio), 1024):
                chunk = audio[i:i + 1024].astype(np.float32)[None]
                fr = av.AudioFrame.from_ndarray(chunk, format="flt", layout="mono")
                fr.sample_rate, fr.pts = 16000, i
                for p in a.encode(fr):
                    c.mux(p)
            for p in a.encode(None):
                c.mux(p)
    return path


def make_dataset(src: Path, root: Path, size: int = 160) -> dict[str, Path]:
    """A folder of derived clips with known properties; returns ``{name: path}``.

    cut_a / cut_b   1.2 s cuts, MEAD and RAVDESS layouts (labels known)
    reencoded       another segment as MPEG-4 Part 2 in .avi at 15 fps, no audio
    twofaces        the face beside its mirror image (two faces, one track)
    solid           a solid grey video (no face)
    truncated       an mp4 cut to 40% of its bytes
    garbage         random bytes named .mp4
    """
    frames, audio, fps = read_source(src, 0.0, 1.2, size)
    out = {}
    out["cut_a"] = write_clip(root / "M030/video/front/happy/level_3/001.mp4", frames, fps, audio)
    frames_b, audio_b, _ = read_source(src, 3.0, 1.2, size)
    out["cut_b"] = write_clip(root / "03-01-05-02-01-01-24.mp4", frames_b, fps, audio_b)
    frames_c, _, _ = read_source(src, 5.0, 1.4, size)
    out["reencoded"] = write_clip(root / "plain/reencoded.avi", frames_c[::2], fps / 2, None, codec="mpeg4")
    pair = [np.concatenate([f, f[:, ::-1]], 1) for f in frames[:25]]
    out["twofaces"] = write_clip(root / "plain/twofaces.mp4", pair, fps, audio[:16000])
    grey = [np.full((size, size, 3), 128, np.uint8) for _ in range(25)]
    out["solid"] = write_clip(root / "plain/solid.mp4", grey, fps, audio[:16000])
    whole = write_clip(root / "tmp_full.mp4", frames, fps, audio).read_bytes()
    (root / "tmp_full.mp4").unlink()
    out["truncated"] = root / "plain/truncated.mp4"
    out["truncated"].write_bytes(whole[: int(len(whole) * 0.4)])
    out["garbage"] = root / "plain/garbage.mp4"
    out["garbage"].write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    return out
