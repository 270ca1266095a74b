"""The Python API: the plain functions the ``talkrig`` command and the server call.

    from talkrig import api

    recon = api.reconstruct("photo.jpg")
    anim = api.animate(text="Hello there!", emotion="happy", intensity=0.8)
    api.render_video(recon, anim, "hello.mp4")
    still = api.render_image(recon, emotion="sad", intensity=0.6, yaw=10)

Every entry point of the toolkit is here: the talking-head job (:func:`reconstruct`,
:func:`animate`, :func:`render_video`, :func:`render_image`, :func:`edit_photo`), the request
checks the command line and the server share (:func:`check_render_request`, ...), and the
entry points of dataset preparation (:func:`prepare`), evaluation (:func:`evaluate`) and
training (:func:`train_renderer`, :func:`train_recon_init`). Importing this module is cheap
(torch and the stages load on first use); it changes no environment variable. On a small CPU
set ``OMP_WAIT_POLICY=PASSIVE`` before torch loads (the ``talkrig`` command does): idle OpenMP
pools of torch and numba otherwise spin against each other (docs/rendering.md).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talkrig.errors import InputError
from talkrig.io.files import atomic_path, check_output, part_target, same_file
from talkrig.io.progress import PlainProgress, is_terminal
from talkrig.io.stop import request as request_stop
from talkrig.model.arkit import ARKIT_52

if TYPE_CHECKING:
    from talkrig.animate.animation import Animation
    from talkrig.model.morphable import MorphableModel
    from talkrig.recon.reconstruction import Reconstruction

__all__ = ["SIZES", "VideoReport", "animate", "atomic_path", "check_edit_request", "check_output",
           "check_render_request", "edit_coefficients", "edit_photo", "evaluate", "export_model_mesh",
           "is_terminal", "lipsync_self_checks", "live_encoder", "live_talker", "model_summary", "neutral_base", "parse_weights",
           "part_target", "request_stop",
           "PlainProgress", "prepare", "print_video_checks", "reconstruct", "render_frames",
           "render_image", "render_video", "same_file", "save_animation", "stream", "stream_mp4", "photo_from_bytes", "load_reconstruction",
           "cache_dir", "PHOTO_FORMATS", "mse_codecs", "clause_buffer", "check_audio", "idle_frame_store", "train_recon_init",
           "train_renderer"]

SIZES = (256, 512, 1024)


def _model_for(recon, model: MorphableModel | str | None) -> MorphableModel:
    from talkrig.model import load_model
    from talkrig.model.morphable import MorphableModel

    if isinstance(model, MorphableModel):
        return model
    return load_model(model or recon.model_name)


def reconstruct(image, model: str | MorphableModel = "default", *, tight: bool = False, **kw) -> Reconstruction:
    """Fit a face model to one photo; see :func:`talkrig.recon.api.reconstruct` for ``kw``.
    ``tight``: fit the landmarks more closely (weaker shape priors)."""
    from talkrig.recon.api import reconstruct as _reconstruct

    if tight and "settings" not in kw:
        from talkrig.recon.fit import FitSettings

        kw["settings"] = FitSettings.tight()
    return _reconstruct(image, model=model, **kw)


def save_reconstruction_extras(rec: Reconstruction, *, mesh: str | Path | None = None,
                               overlay: str | Path | None = None,
                               texture: str | Path | None = None) -> None:
    """Write what else ``talkrig recon`` can write: the fitted mesh (.obj, texture beside it),
    the mesh drawn over the photo (.png) and the UV texture (.png)."""
    from talkrig.io.image import save_image

    if texture is not None:
        save_image(texture, rec.texture)
    if mesh is not None:
        from talkrig.recon.export import write_obj

        write_obj(mesh, rec)
    if overlay is not None:
        from talkrig.recon.export import overlay_picture

        save_image(overlay, overlay_picture(rec))


def animate(text: str | None = None, **kw) -> Animation:
    """Motion from text or speech; see :func:`talkrig.animate.animate` for the arguments."""
    from talkrig.animate import animate as _animate

    return _animate(text, **kw)


def save_animation(anim: Animation, path: str | Path, plot: str | Path | None = None) -> None:
    """Save ``anim`` as .npz, and a PNG of its main curves at ``plot``."""
    anim.save(path)
    if plot is not None:
        from talkrig.animate.plot import plot_curves

        plot_curves(anim, plot)


def neutral_base(recon: Reconstruction):
    """The photo's coefficients with a neutral expression (:meth:`Reconstruction.neutral_coeffs`)."""
    return recon.neutral_coeffs()


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


def lipsync_self_checks(anim: Animation, model: MorphableModel) -> dict[str, float]:
    """Cheap lip-sync checks of an animation on the model's geometry; see
    :func:`talkrig.animate.metrics.self_checks`."""
    from talkrig.animate.metrics import self_checks

    return self_checks(anim, model)


def render_frames(recon, anim, model: MorphableModel | str | None = None, size: int = 512,
                  batch: int = 8, relight: bool = True, debug: bool = False,
                  refiner: str | Path | None = None) -> Iterator[np.ndarray]:
    """Yield the ``(size, size, 3)`` uint8 frames of ``anim`` applied to ``recon``
    (``(size, 2 * size, 3)`` with ``debug``: frame and mesh overlay side by side).
    ``refiner``: a neural-refiner checkpoint (``talkrig train-renderer``) that refines each
    frame from the classical render, its skin and mouth masks and the source photo."""
    from talkrig.synth.frames import TalkingHeadRenderer

    _check_size(size)
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
        checks = dict.fromkeys(("closed_in_pauses", "still_in_pauses", "closed_on_pbm", "jaw_loudness_r"),
                               float("nan"))
    return VideoReport(path=path, frames=total, duration=anim.duration, fps=anim.fps,
                       seconds=seconds, checks=checks)


# ---------------------------------------------------------------- uploads (server)
#: Image formats an upload may be (checked on the bytes, not the file name).
PHOTO_FORMATS = ("JPEG", "PNG", "WEBP", "BMP")


def photo_from_bytes(data: bytes, max_pixels: int = 40_000_000) -> np.ndarray:
    """An uploaded photo as ``(H, W, 3)`` uint8, or a one-line :class:`InputError`: the bytes
    must be a JPEG, PNG, WebP or BMP image (whatever its name says) of at most ``max_pixels``
    pixels (checked from the header before anything is decoded)."""
    import io
    import warnings

    from PIL import Image, UnidentifiedImageError

    from talkrig.io.image import load_image

    if not data:
        raise InputError("the photo is empty")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = Image.open(io.BytesIO(data))
            fmt, (w, h) = img.format, img.size
            if fmt not in PHOTO_FORMATS:
                raise InputError(f"the photo must be JPEG, PNG, WebP or BMP, not {fmt}")
            if w * h > max_pixels:
                raise InputError(f"the photo has {w}x{h} pixels; the limit is {max_pixels / 1e6:.0f} megapixels")
            img.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, ValueError) as exc:
        raise InputError("the photo is not a readable image") from exc
    return load_image(img, name="photo")


def check_audio(path: str | Path, max_seconds: float = 600.0) -> None:
    """A one-line :class:`InputError` unless ``path`` decodes as speech audio of 50 ms to
    ``max_seconds``."""
    from talkrig.io.audio import load_audio

    samples, sr = load_audio(path)
    seconds = len(samples) / sr
    if seconds < 0.05:
        raise InputError("the audio is shorter than 50 ms")
    if seconds > max_seconds:
        raise InputError(f"the audio is {seconds:.0f} s long; the limit is {max_seconds:.0f} s")


def load_reconstruction(path: str | Path) -> Reconstruction:
    """A :class:`Reconstruction` saved with ``.save`` (``talkrig recon -o face.npz``)."""
    from talkrig.recon.reconstruction import Reconstruction

    return Reconstruction.load(path)


def cache_dir() -> Path:
    """talkrig's cache folder (``$TALKRIG_CACHE`` or the user cache dir)."""
    from talkrig.io.cache import cache_dir as _cache_dir

    return _cache_dir()


# ---------------------------------------------------------------- live streams
def live_talker(face, size: int = 256, emotion: str = "neutral", intensity: float = 1.0,
                pose: str = "natural", voice: str | None = None, seed: int = 0,
                model: MorphableModel | str | None = None, idle_frames=None, face_key: str = ""):
    """A :class:`talkrig.synth.stream.LiveTalker` for ``face`` (a :class:`Reconstruction`, or a
    photo to reconstruct): the face prepared once for :meth:`~LiveTalker.say` and
    :meth:`~LiveTalker.idle`, which yield audio + frames in short chunks on one timeline.
    ``idle_frames`` (:func:`idle_frame_store`) and ``face_key``: share rendered idle frames
    between the talkers of one face."""
    from talkrig.recon.reconstruction import Reconstruction
    from talkrig.synth.stream import LiveTalker

    _check_size(size)
    check_emotion(emotion, intensity, schedule=False)
    check_pose(pose)
    recon = face if isinstance(face, Reconstruction) else reconstruct(face)
    return LiveTalker(_model_for(recon, model), recon, size=size, emotion=emotion,
                      intensity=intensity, pose=pose, voice=voice, seed=seed,
                      idle_frames=idle_frames, face_key=face_key)


def idle_frame_store(loops: int = 4):
    """A :class:`talkrig.synth.stream.IdleFrames`: rendered idle loops shared by talkers."""
    from talkrig.synth.stream import IdleFrames

    return IdleFrames(loops)


def stream(face, text_chunks=None, *, audio=None, emotion: str = "neutral", intensity: float = 1.0,
           size: int = 256, pose: str = "natural", voice: str | None = None, seed: int = 0,
           model: MorphableModel | str | None = None):
    """Speak as the text arrives: yield :class:`talkrig.synth.stream.MediaChunk` s (a few
    frames and their audio each) as soon as they exist.

    Args:
        face: a :class:`Reconstruction` or a photo (path or ``HxWx3`` uint8).
        text_chunks: a string, or an iterable of strings as they arrive (e.g. tokens of a
            chatbot's reply); each sentence, or a long enough clause, is spoken (TTS) and
            rendered while the rest is still coming.
        audio: instead of text, an iterable of utterances ``(samples, transcript)`` (16 kHz
            float32; transcript ``None`` to recognise the words).
        emotion, intensity, size, pose, voice, seed: as :func:`render_video` and ``animate``.

    Chunks are contiguous in media time; the mouth closes between utterances. For one
    fragmented MP4 byte stream of the same, see :func:`stream_mp4`.
    """
    if (text_chunks is None) == (audio is None):
        raise InputError("give exactly one of text_chunks or audio")
    if text_chunks is not None and not isinstance(text_chunks, str) and not hasattr(text_chunks, "__iter__"):
        raise InputError("text_chunks must be a string or an iterable of strings")
    talker = live_talker(face, size=size, emotion=emotion, intensity=intensity, pose=pose,
                         voice=voice, seed=seed, model=model)
    return _live_chunks(talker, text_chunks, audio, voice)


def _live_chunks(talker, text_chunks, audio, voice):
    from talkrig.animate.live import ClauseBuffer

    if audio is not None:
        from talkrig.animate.pipeline import speech_from_inputs

        for samples, transcript in audio:
            speech = speech_from_inputs(audio=np.asarray(samples, np.float32), transcript=transcript)
            yield from talker.say_speech(speech, text=transcript)
        return
    buffer = ClauseBuffer()
    pieces = [text_chunks] if isinstance(text_chunks, str) else text_chunks
    for piece in pieces:
        for clause in buffer.feed(piece):
            check_text(clause, voice)
            yield from talker.say(clause)
    for clause in buffer.flush():
        check_text(clause, voice)
        yield from talker.say(clause)


def live_encoder(fps: float, size: int, sample_rate: int = 16000, keyint: int = 6):
    """A :class:`talkrig.io.fmp4.FragmentedMP4` (H.264 + AAC fragmented MP4, written piece by
    piece) for ``size`` x ``size`` frames."""
    from talkrig.io.fmp4 import FragmentedMP4

    return FragmentedMP4(fps, (size, size), sample_rate=sample_rate, keyint=keyint)


def mse_codecs(init_segment: bytes) -> str:
    """The ``codecs`` value (RFC 6381) of a live stream's init segment, for a browser's
    ``MediaSource.isTypeSupported`` / ``addSourceBuffer``."""
    from talkrig.io.fmp4 import codec_string

    return codec_string(init_segment)


def clause_buffer():
    """A :class:`talkrig.animate.live.ClauseBuffer`: streamed text in speakable pieces."""
    from talkrig.animate.live import ClauseBuffer

    return ClauseBuffer()


def stream_mp4(face, text_chunks=None, **kw) -> Iterator[bytes]:
    """:func:`stream` as one fragmented MP4 (H.264 + AAC): yields the init segment, then the
    bytes of each fragment as soon as it is complete; joined, they are a playable .mp4."""
    encoder = None
    for chunk in stream(face, text_chunks, **kw):
        if encoder is None:
            encoder = live_encoder(25.0, chunk.frames.shape[1])
        data = encoder.write(chunk.frames, chunk.audio)
        if data:
            yield data
    if encoder is not None:
        yield encoder.close()


def edit_coefficients(recon, model: MorphableModel, expression: dict[str, float] | None = None,
                      emotion: str | None = None, intensity: float = 1.0, yaw: float = 0.0,
                      pitch: float = 0.0, roll: float = 0.0):
    """The photo's coefficients edited: an emotion and/or named ARKit weights set on a neutral
    base, and the head turned by ``yaw``/``pitch``/``roll`` degrees. A one-sided emotion
    (contempt) acts on the side the photo shows the camera; named weights are kept as given.
    Returns ``Coefficients``."""
    from talkrig.animate.animation import Animation, far_side, mirror_sides, one_sided

    weights = np.zeros(len(ARKIT_52), np.float32)
    if emotion:
        from talkrig.animate.emotion import parse_mix

        mix = parse_mix(emotion, intensity)
        weights += mix.vector().astype(np.float32)
        jaw = ARKIT_52.index("jawOpen")  # the jaw an emotion holds (surprise, fear)
        weights[jaw] = max(weights[jaw], float(mix.head()[7]))
        side = one_sided(weights)
        if side is not None and far_side(recon.coeffs) == side:  # one-sided action to the camera
            weights = mirror_sides(weights)
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

    _check_size(size)
    m = _model_for(recon, model)
    coeffs = edit_coefficients(recon, m, **edits)
    return next(TalkingHeadRenderer(m, recon, size=size).iter_frames(coeffs))


# ---------------------------------------------------------------- request checks (CLI and server)
def parse_weights(text: str | None, what: str, lo: float = -10.0, hi: float = 10.0) -> dict[str, float]:
    """``"a=1,b=0.5"`` -> ``{"a": 1.0, "b": 0.5}``; a bare name means weight 1. Weights outside
    ``[lo, hi]`` (NaN and inf included) are a one-line :class:`InputError`."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        try:
            w = float(value) if value.strip() else 1.0
        except ValueError:
            raise InputError(f"bad {what} weight {item!r}: expected name=number") from None
        if not (lo <= w <= hi):  # also refuses nan and inf
            raise InputError(f"bad {what} weight {item!r}: expected a finite number in [{lo:g}, {hi:g}]")
        out[name.strip()] = w
    return out


def _check_size(size: int) -> None:
    if size not in SIZES:
        raise InputError(f"size must be one of {', '.join(map(str, SIZES))}, got {size}")


def _check_face_index(face_index: int) -> None:
    if face_index < 0:
        raise InputError(f"--face-index must be 0 (the largest face) or more, got {face_index}")


def check_text(text: str, voice: str | None = None) -> None:
    """Text TTS can speak with ``voice`` (empty, symbol-only or unreadable text fails)."""
    from talkrig.animate.tts import choose_voice, prepare_text

    if not text.strip():
        raise InputError("--text is empty")
    if not any(ch.isalnum() for ch in prepare_text(text)):
        raise InputError("--text has nothing to speak (only symbols, emoji or markup)")
    choose_voice(prepare_text(text), voice)  # a voice that cannot read the text fails now


def check_emotion(emotion: str, intensity: float = 1.0, schedule: bool = True) -> None:
    """An emotion, blend or (with ``schedule``) schedule the animation understands."""
    from talkrig.animate.emotion import parse_mix, parse_schedule

    if schedule:
        parse_schedule(emotion, intensity)
    else:
        parse_mix(emotion, intensity)


def check_pose(pose: str) -> None:
    """A head-motion style or a CSV file name."""
    from talkrig.animate.head import STYLES

    if not pose.lower().endswith(".csv") and pose not in STYLES:
        raise InputError(f"unknown pose style {pose!r} (choose from {', '.join(STYLES)} or a CSV file)")


def check_render_request(photo: Path, output: Path | None, *, text: str | None = None,
                         audio: Path | None = None, emotion: str = "neutral", intensity: float = 1.0,
                         pose: str = "natural", size: int = 512, fps: float = 25.0,
                         voice: str | None = None, face_index: int = 0,
                         refiner: Path | None = None) -> None:
    """Everything about a render request that can be checked before the slow steps, in the
    order a user fixes them; raises :class:`InputError` with one line that names the option
    as the command line spells it (the server's form fields carry the same names)."""
    if output is not None:
        check_output(output, (".mp4",), inputs=(photo, audio, refiner))
    if (text is None) == (audio is None):
        raise InputError("give exactly one of --text or --audio")
    if size not in SIZES:
        raise InputError(f"--size must be one of 256, 512, 1024 (got {size})")
    if fps not in (25.0, 30.0):
        raise InputError(f"--fps must be 25 or 30 (got {fps:g})")
    _check_face_index(face_index)
    if text is not None:
        check_text(text, voice)
    if audio is not None and not Path(audio).is_file():
        raise InputError(f"audio file not found: {audio}")
    if not Path(photo).is_file():
        raise InputError(f"photo not found: {photo}")
    if refiner is not None and not Path(refiner).is_file():
        raise InputError(f"refiner checkpoint not found: {refiner}")
    check_emotion(emotion, intensity)
    check_pose(pose)


def check_edit_request(photo: Path, output: Path, *, emotion: str | None = None,
                       intensity: float = 1.0, expression: str | None = None, yaw: float = 0.0,
                       pitch: float = 0.0, roll: float = 0.0, size: int = 512,
                       face_index: int = 0) -> dict[str, float]:
    """Check an edit request (see :func:`edit_photo`); returns the parsed expression weights."""
    check_output(output, (".png", ".jpg", ".jpeg"), inputs=(photo,))
    if size not in SIZES:
        raise InputError(f"--size must be one of 256, 512, 1024 (got {size})")
    _check_face_index(face_index)
    for name, deg, limit in (("--yaw", yaw, 90), ("--pitch", pitch, 90), ("--roll", roll, 180)):
        if not (math.isfinite(deg) and abs(deg) <= limit):
            raise InputError(f"{name} must be a number of degrees within -{limit}..{limit}, got {deg}")
    weights = parse_weights(expression, "expression", 0.0, 1.0)
    if emotion is not None:
        check_emotion(emotion, intensity, schedule=False)
    if not Path(photo).is_file():
        raise InputError(f"photo not found: {photo}")
    return weights


def edit_photo(photo: Path, output: Path, *, emotion: str | None = None, intensity: float = 1.0,
               expression: str | None = None, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
               size: int = 512, model: str = "default", face_index: int = 0,
               landmarks68: str = "mediapipe") -> None:
    """``talkrig edit``: the photo with another emotion, expression (``"jawOpen=0.4,..."``) or
    head pose, written atomically to a .png or .jpg."""
    from PIL import Image

    weights = check_edit_request(photo, output, emotion=emotion, intensity=intensity,
                                 expression=expression, yaw=yaw, pitch=pitch, roll=roll, size=size,
                                 face_index=face_index)
    recon = reconstruct(photo, model=model, face_index=face_index, landmarks68=landmarks68)
    img = render_image(recon, model=model, size=size, emotion=emotion, intensity=intensity,
                       expression=weights, yaw=yaw, pitch=pitch, roll=roll)
    with atomic_path(output) as tmp:
        Image.fromarray(img).save(tmp, format="PNG" if Path(output).suffix.lower() == ".png" else "JPEG")


# ------------------------------------------------------------------------------------ evaluation
def check_eval_inputs(generated: Path, reference: Path | None = None, source: Path | None = None) -> None:
    """Fail early with one line when an input of :func:`evaluate` is missing."""
    from talkrig.eval.evaluate import check_inputs

    check_inputs(generated, reference, source)


def evaluate(generated: str | Path, **kw):
    """Every applicable metric of a generated video; see :func:`talkrig.eval.evaluate.evaluate`."""
    from talkrig.eval.evaluate import evaluate as _evaluate

    return _evaluate(generated, **kw)


def print_eval_report(report, console=None, title: str | None = None) -> None:
    """Print an :func:`evaluate` report as a table (rich ``console``)."""
    from talkrig.eval.evaluate import print_report

    print_report(report, console, title)


def print_video_checks(video: Path, console=None, *, emotion: str | None = None,
                       text: str | None = None, source: Path | None = None):
    """Measure a freshly written video without a reference (lip sync, emotion, identity) and
    print the report; see :func:`talkrig.eval.evaluate.print_no_reference_checks`."""
    from talkrig.eval.evaluate import print_no_reference_checks

    return print_no_reference_checks(video, console, emotion=emotion, text=text, source=source)


# ------------------------------------------------------------------------------ dataset preparation
def prepare(input_path: str | Path, out: str | Path, *, layout: str = "auto", workers: int = 0,
            engine: str = "local", ray_address: str | None = None, model: str | None = "default",
            crop_size: int = 256, min_face_fraction: float = 0.5, retry_errors: bool = False,
            progress: bool = True):
    """``talkrig prep``: talking-face videos -> per-clip shards and a manifest (resumable);
    see :func:`talkrig.data_prep.engine.prepare`. ``workers`` 0: one per CPU core; ``model``
    None (or ``"none"``): no 3DMM tracking. Returns the engine's summary."""
    from talkrig.data_prep.engine import prepare as _prepare
    from talkrig.data_prep.process import PrepConfig

    if workers < 0:
        raise InputError(f"--workers must be 0 (one per CPU core) or more, got {workers}")
    if crop_size < 0 or (crop_size and crop_size < 32):
        raise InputError(f"--crop-size must be 0 or at least 32, got {crop_size}")
    if not 0.0 <= min_face_fraction <= 1.0:
        raise InputError(f"--min-face-fraction must be in [0, 1], got {min_face_fraction}")
    cfg = PrepConfig(crop_size=crop_size, min_face_fraction=min_face_fraction,
                     model=None if model is None or model.lower() == "none" else model)
    return _prepare(input_path, out, layout=layout, workers=workers or None, engine=engine, config=cfg,
                    retry_errors=retry_errors, progress=progress, ray_address=ray_address)


# ------------------------------------------------------------------------------------ face models
def model_summary() -> list[str]:
    """Lines describing the available face models, their sizes and licences."""
    from talkrig.model.default import asset_path, load_default
    from talkrig.model.loaders.ict import find_ict

    m = load_default()
    size = asset_path().stat().st_size / 1e6
    lines = [f"default  (embedded, always available)  {m.n_vertices} vertices, {m.faces.shape[0]} "
             f"triangles, {m.n_identity} identity, {m.n_expression} ARKit expressions, "
             f"units {m.info.units}, {size:.1f} MB",
             f"         licence: {m.info.licence}",
             f"         {m.info.provenance}"]
    ict = find_ict()
    lines.append(f"ict      found at {ict} (ICT-FaceKit; see its licence)" if ict else
                 "ict      not found (set TALKRIG_ICT_MODEL to a FaceXModel folder or tarball)")
    lines.append("bfm      not bundled (licence): use a path as the model name, e.g. "
                 "'talkrig model export /path/to/01_MorphableModel.mat -o bfm.obj' "
                 "(also BFM_model_front.mat or a BFM 2017/2019 .h5)")
    return lines


def _identity_vector(model: MorphableModel, weights: dict[str, float]):
    import torch

    names = list(model.info.extra.get("identity_names") or [f"id{k}" for k in range(model.n_identity)])
    v = torch.zeros(model.n_identity)
    for k, w in weights.items():
        if k not in names:
            hint = ", ".join(names[:6]) + ("..." if len(names) > 6 else "")
            raise InputError(f"model {model.name!r} has no identity coefficient {k!r} (e.g. {hint})")
        v[names.index(k)] = w
    return v


def export_model_mesh(model: str, output: Path, *, expression: str = "", identity: str = "",
                      yaw: float = 0.0, landmarks: Path | None = None) -> None:
    """``talkrig model export``: a model's mesh (.obj/.ply/.glb) with named expression and
    identity weights, turned by ``yaw`` degrees, and optionally its 68 landmarks (.pts/.npy)."""
    import torch

    from talkrig.model.export import LANDMARK_SUFFIXES, MESH_SUFFIXES, export_landmarks, export_mesh
    from talkrig.model.registry import load_model
    from talkrig.model.rotation import euler_to_matrix

    # check everything the user typed before loading or writing anything
    output = Path(output)
    if output.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"cannot write a mesh to {output.name}: use one of {', '.join(MESH_SUFFIXES)}")
    if landmarks is not None and Path(landmarks).suffix.lower() not in LANDMARK_SUFFIXES:
        raise InputError(f"cannot write landmarks to {Path(landmarks).name}: use .pts or .npy")
    source = Path(model) if Path(model).exists() else None
    check_output(output, inputs=(source,))
    if landmarks is not None:
        check_output(landmarks, inputs=(source,), what="--landmarks")
        if same_file(landmarks, output):
            raise InputError("--landmarks and -o name the same file")
    if not math.isfinite(yaw):
        raise InputError(f"--yaw must be a finite number of degrees, got {yaw}")
    exp_w, id_w = parse_weights(expression, "expression"), parse_weights(identity, "identity")
    m = load_model(model)
    e = m.expression_vector(exp_w)
    i = _identity_vector(m, id_w)
    with torch.no_grad():
        v = m(identity=i[None], expression=e[None])
        r = euler_to_matrix(torch.tensor([[0.0, math.radians(yaw), 0.0]]))
        v = (v @ r.transpose(1, 2))[0]
    texture = None
    if m.name == "default":
        from talkrig.model.default import default_texture

        texture = default_texture()
    colors = m.albedo_mean if m.has_albedo else None
    export_mesh(output, v, m.faces, uvs=m.uvs if len(m.uvs) else None,
                uv_faces=m.uv_faces if len(m.uvs) else None, texture=texture, vertex_colors=colors)
    if landmarks is not None:
        if not len(m.landmarks68):
            raise InputError(f"model {m.name!r} has no 68-point landmarks")
        export_landmarks(landmarks, v[m.landmarks68])


# --------------------------------------------------------------------------------------- training
@dataclass
class RegressorRun:
    """What :func:`train_recon_init` trained on and wrote."""

    frames: int
    clips: int
    model: str
    path: Path


def train_recon_init(data: Path, out: Path, *, model: str = "default", steps: int = 2000,
                     hidden: int = 256, synthetic: int = 20000,
                     progress: Callable[[int, int, float], None] | None = None,
                     on_start: Callable[[RegressorRun], None] | None = None) -> RegressorRun:
    """``talkrig train-recon-init``: the landmark -> coefficient regressor that starts
    ``recon --init`` fits, trained on a ``talkrig prep`` folder; ``progress(step, total, loss)``."""
    from talkrig.data_prep.dataset import load_prepared
    from talkrig.model.registry import load_model
    from talkrig.recon.regressor import train_regressor

    check_output(out, (".safetensors",), inputs=(data,))
    arrays = load_prepared(data)
    m = load_model(model)
    if arrays["identity"].shape[1] != m.n_identity or arrays["expression"].shape[1] != m.n_expression:
        raise InputError(f"{data} was fitted with another face model than {model!r}")
    run = RegressorRun(len(arrays["landmarks"]), len(set(arrays["clip"].tolist())), m.name, Path(out))
    if on_start is not None:
        on_start(run)
    net, _ = train_regressor(arrays, m, steps=steps, hidden=hidden, progress=progress, synthetic=synthetic)
    net.save(out)
    return run


def train_renderer(data: Path, out: Path, *, config: str = "tiny", minutes: float | None = None,
                   steps: int | None = None, resume: bool = False, init: Path | None = None,
                   holdout_seconds: float = 0.0, conditioning: str = "auto", videos: Path | None = None,
                   batch_size: int | None = None, device: str | None = None,
                   on_log: Callable[[dict], None] | None = None,
                   on_start: Callable[[str], None] | None = None):
    """``talkrig train-renderer``: train (or fine-tune per subject) the neural refiner on a
    prep folder, a folder of paired .npz clips or one video. ``on_start(line)`` hears what is
    trained, ``on_log(record)`` each log record. Returns the trainer (``.step``)."""
    from talkrig.data_prep.refiner.sources import open_training_data
    from talkrig.texture.neural.checkpoint import load_checkpoint
    from talkrig.texture.neural.config import RefinerConfig
    from talkrig.texture.neural.train import train_refiner

    out = Path(out)
    if minutes is None and steps is None:
        raise InputError("train-renderer: give --minutes or --steps")
    if (minutes is not None and minutes <= 0) or (steps is not None and steps <= 0):
        raise InputError("train-renderer: --minutes and --steps must be positive")
    last = out / "last.safetensors"
    if resume:
        if not last.is_file():
            raise InputError(f"--resume: no checkpoint in {out}")
        cfg = load_checkpoint(last).config
    else:
        if last.is_file():
            raise InputError(f"{out} already holds a run: pass --resume or choose another folder")
        overrides = {"batch_size": batch_size} if batch_size else {}
        cfg = RefinerConfig.preset(config, **overrides)
        if init is not None:  # fine-tuning keeps the base network's shape
            cfg = load_checkpoint(init).config.replace(**overrides)
    td = open_training_data(data, cfg, holdout_seconds, conditioning, videos)
    if resume or init is not None:
        if list(td.cond_channels.items()) != list(cfg.cond_channels.items()):
            raise InputError(f"{data} carries {', '.join(td.cond_channels)} but the checkpoint needs "
                             f"{', '.join(cfg.cond_channels)}")
        if init is not None:
            cfg = cfg.replace(crop_scale=td.crop_scale)
    else:
        cfg = td.config(cfg)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out} is a file")
    if on_start is not None:
        on_start(f"{len(td.train)} frames ({td.kind}), {cfg.resolution}px, "
                 f"conditions {', '.join(cfg.cond_channels)}")
    return train_refiner(td.train, out, cfg, minutes=minutes, max_steps=steps, resume=resume,
                         init_from=init, device=device, on_log=on_log)
