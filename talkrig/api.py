"""The Python API: the same plain functions the CLI calls.

    recon = talkrig.reconstruct("photo.jpg")
    anim = talkrig.animate(text="Hello there!", emotion="happy", intensity=0.8)
    talkrig.render_video(recon, anim, "hello.mp4")
    still = talkrig.render_image(recon, emotion="sad", intensity=0.6, yaw=10)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52
from talkrig.model.morphable import MorphableModel

SIZES = (256, 512, 1024)


def _model_for(recon, model: MorphableModel | str | None) -> MorphableModel:
    from talkrig.model import load_model

    if isinstance(model, MorphableModel):
        return model
    return load_model(model or recon.model_name)


def reconstruct(image, model: str | MorphableModel = "default", **kw):
    """Fit a face model to one photo; see :func:`talkrig.recon.api.reconstruct`."""
    from talkrig.recon.api import reconstruct as _reconstruct

    return _reconstruct(image, model=model, **kw)


def animate(**kw):
    """Motion from text or speech; see :func:`talkrig.animate.animate`."""
    from talkrig.animate import animate as _animate

    return _animate(**kw)


def neutral_base(recon):
    """The photo's coefficients with a neutral expression: animations set the whole expression,
    so a photo with an open or smiling mouth still closes its lips in pauses."""
    c = recon.coeffs
    return c.replace(expression=torch.zeros_like(c.expression))


@dataclass
class VideoReport:
    """What :func:`render_video` did."""

    path: Path
    frames: int
    duration: float
    fps: float
    seconds: float
    checks: dict = field(default_factory=dict)

    @property
    def render_fps(self) -> float:
        return self.frames / max(self.seconds, 1e-9)


def lipsync_self_checks(anim, model: MorphableModel) -> dict[str, float]:
    """Cheap checks of an animation on the model's geometry (no video decoding): share of
    frames with closed lips inside pauses >= 150 ms, share of p/b/m with a closed frame, and
    Pearson r of jaw opening against loudness. ``talkrig eval`` measures the same on pixels."""
    from talkrig.animate import metrics
    from talkrig.animate.phonemes import SIL
    from talkrig.animate.pipeline import audio_pauses

    # pauses as the speech timeline has them (TTS events or alignment); a stop consonant's
    # silent closure is not a pause
    pauses = [(a, b) for a, b, p in anim.phonemes if p == SIL and b - a >= 0.15]
    if not anim.phonemes:
        pauses = audio_pauses(anim.audio)
    closed = metrics.mouth_closed(anim.expression, model)
    pause, _ = metrics.pause_closure(closed, pauses, anim.fps)
    pbm, _ = metrics.bilabial_closure(closed, anim.phonemes, anim.fps)
    r = metrics.jaw_loudness_r(anim.expression, anim.audio, anim.fps, anim.sample_rate)
    return {"closed_in_pauses": pause, "closed_on_pbm": pbm, "jaw_loudness_r": r}


def render_frames(recon, anim, model: MorphableModel | str | None = None, size: int = 512,
                  batch: int = 8, relight: bool = True, debug: bool = False,
                  refiner: str | Path | None = None) -> Iterator[np.ndarray]:
    """Yield the ``(size, size, 3)`` uint8 frames of ``anim`` applied to ``recon``
    (``(size, 2 * size, 3)`` with ``debug``: frame and mesh overlay side by side).
    ``refiner``: a neural-refiner checkpoint (``talkrig train-renderer``) that refines each
    frame from the classical render, its skin and mouth masks and the source photo."""
    from talkrig.synth.frames import TalkingHeadRenderer

    if size not in SIZES:
        raise InputError(f"size must be one of {', '.join(map(str, SIZES))}, got {size}")
    m = _model_for(recon, model)
    coeffs = anim.to_coefficients(m, neutral_base(recon))
    renderer = TalkingHeadRenderer(m, recon, size=size, relight=relight, debug=debug)
    if refiner is None:
        yield from renderer.iter_frames(coeffs, batch=batch)
        return
    if debug:
        raise InputError("--debug and --refiner cannot be combined")
    from talkrig.synth.refine import refined_frames
    from talkrig.texture.neural.refiner import load_refiner

    yield from refined_frames(renderer, coeffs, load_refiner(refiner), batch)


def render_video(recon, anim, path: str | Path, model: MorphableModel | str | None = None,
                 size: int = 512, frames_dir: str | Path | None = None,
                 progress: Callable[[int, int], None] | None = None, crf: int = 20,
                 preset: str = "veryfast", debug: bool = False,
                 refiner: str | Path | None = None) -> VideoReport:
    """Render ``anim`` on ``recon`` into an H.264 + AAC mp4 at ``path`` (written atomically).

    Frames are streamed to the encoder, so memory does not grow with the length. ``progress``
    is called as ``progress(done, total)``; ``frames_dir`` also saves each frame as PNG.
    """
    from talkrig.io.image import save_image
    from talkrig.io.video import VideoWriter

    path = Path(path)
    if path.suffix.lower() != ".mp4":
        raise InputError(f"output must be an .mp4 file, got {path.name}")
    t0 = time.perf_counter()
    model = _model_for(recon, model)  # once, for the frames and the checks
    total = anim.n_frames
    if frames_dir is not None:
        frames_dir = Path(frames_dir)
        frames_dir.mkdir(parents=True, exist_ok=True)
    with VideoWriter(path, anim.fps, (size * (2 if debug else 1), size), audio=anim.audio, sample_rate=anim.sample_rate,
                     crf=crf, preset=preset) as writer:
        for i, frame in enumerate(render_frames(recon, anim, model, size, debug=debug,
                                                refiner=refiner)):
            writer.write(frame)
            if frames_dir is not None:
                save_image(frames_dir / f"{i:06d}.png", frame)
            if progress is not None:
                progress(i + 1, total)
    seconds = time.perf_counter() - t0
    try:
        checks = lipsync_self_checks(anim, model)
    except Exception:  # noqa: BLE001 - a check must never turn a written video into a failure
        checks = dict.fromkeys(("closed_in_pauses", "closed_on_pbm", "jaw_loudness_r"), float("nan"))
    return VideoReport(path=path, frames=total, duration=anim.duration, fps=anim.fps,
                       seconds=seconds, checks=checks)


def edit_coefficients(recon, model: MorphableModel, expression: dict[str, float] | None = None,
                      emotion: str | None = None, intensity: float = 1.0, yaw: float = 0.0,
                      pitch: float = 0.0, roll: float = 0.0):
    """The photo's coefficients edited: an emotion and/or named ARKit weights set on a neutral
    base, and the head turned by ``yaw``/``pitch``/``roll`` degrees. Returns ``Coefficients``."""
    from talkrig.animate.animation import Animation

    weights = np.zeros(len(ARKIT_52), np.float32)
    if emotion:
        from talkrig.animate.emotion import parse_mix

        weights += parse_mix(emotion, intensity).vector().astype(np.float32)
    for name, value in (expression or {}).items():
        if name not in ARKIT_52:
            raise InputError(f"unknown expression {name!r} (use ARKit names such as jawOpen)")
        weights[ARKIT_52.index(name)] = float(value)
    rot = np.radians(np.array([[pitch, yaw, roll]], np.float32))
    anim = Animation(fps=25.0, expression=np.clip(weights, 0, 1)[None], rotation=rot,
                     translation=np.zeros((1, 3), np.float32), audio=np.zeros(0, np.float32))
    return anim.to_coefficients(model, neutral_base(recon))


def render_image(recon, model: MorphableModel | str | None = None, size: int = 512,
                 **edits) -> np.ndarray:
    """One edited still, ``(size, size, 3)`` uint8; ``edits`` as :func:`edit_coefficients`."""
    from talkrig.synth.frames import TalkingHeadRenderer

    if size not in SIZES:
        raise InputError(f"size must be one of {', '.join(map(str, SIZES))}, got {size}")
    m = _model_for(recon, model)
    coeffs = edit_coefficients(recon, m, **edits)
    return next(TalkingHeadRenderer(m, recon, size=size).iter_frames(coeffs))
