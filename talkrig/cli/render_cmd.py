"""`talkrig render` (photo + text/audio + emotion -> mp4) and `talkrig edit` (one edited still)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from talkrig.errors import InputError


def render(
    photo: Path = typer.Argument(..., help="Portrait photo (jpg/png/...)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output .mp4."),
    text: Optional[str] = typer.Option(None, "--text", help="Text to speak (offline TTS)."),
    audio: Optional[Path] = typer.Option(None, "--audio", help="Speech audio (wav/mp3/flac/m4a/mp4)."),
    transcript: Optional[str] = typer.Option(None, "--transcript", help="What the audio says (better lip sync)."),
    emotion: str = typer.Option("neutral", "--emotion", help="Emotion, blend (happy:0.7+sad:0.3) or schedule (neutral@0,happy@1.5s)."),
    intensity: float = typer.Option(1.0, "--intensity", min=0.0, max=1.0, help="Emotion intensity 0..1."),
    pose: str = typer.Option("natural", "--pose", help="Head motion: still|calm|natural|expressive or a CSV (yaw,pitch,roll per frame)."),
    size: int = typer.Option(512, "--size", help="Output size: 256, 512 or 1024."),
    fps: float = typer.Option(25.0, "--fps", help="Frame rate: 25 or 30."),
    voice: Optional[str] = typer.Option(None, "--voice", help="TTS voice / language (default: from the text's "
                                                               "writing system, en-us for Latin script)."),
    seed: int = typer.Option(0, "--seed", help="Seed for head motion and blinks."),
    neutral_voice: bool = typer.Option(False, "--neutral-voice", help="With --text: keep the TTS voice neutral "
                                                                       "(by default it speaks with the emotion)."),
    model: str = typer.Option("default", "--model", help="Face model: default, ict or a path."),
    face_index: int = typer.Option(0, "--face-index", help="Which face when the photo has several (0 = largest)."),
    landmarks68: str = typer.Option("mediapipe", "--landmarks68",
                                    help="Fit targets: mediapipe, or dlib (pip install 'talkrig[dlib]'; non-commercial "
                                         "model; closer jaw line on turned faces)."),
    frames: Optional[Path] = typer.Option(None, "--frames", help="Also save every frame as PNG here."),
    debug: bool = typer.Option(False, "--debug", help="Side by side with the mesh overlay."),
    refiner: Optional[Path] = typer.Option(None, "--refiner", help="Neural refiner checkpoint (talkrig train-renderer)."),
    check: bool = typer.Option(True, "--check/--no-check", help="Measure lip sync and emotion on the written video (landmarker on every frame)."),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar or report."),
) -> None:
    """Render a talking-head MP4 (H.264 + AAC) from one photo."""
    from talkrig import api

    from talkrig.io.files import check_output

    check_output(output, (".mp4",), inputs=(photo, audio, refiner))  # fail before any work
    if (text is None) == (audio is None):
        raise InputError("give exactly one of --text or --audio")
    if size not in api.SIZES:
        raise InputError(f"--size must be one of 256, 512, 1024 (got {size})")
    if fps not in (25.0, 30.0):
        raise InputError(f"--fps must be 25 or 30 (got {fps:g})")
    if text is not None and not text.strip():
        raise InputError("--text is empty")
    if face_index < 0:
        raise InputError(f"--face-index must be 0 (the largest face) or more, got {face_index}")
    if text is not None:
        from talkrig.animate.tts import choose_voice, prepare_text

        if not any(ch.isalnum() for ch in prepare_text(text)):
            raise InputError("--text has nothing to speak (only symbols, emoji or markup)")
        choose_voice(prepare_text(text), voice)  # a voice that cannot read the text fails now
    if audio is not None and not audio.is_file():
        raise InputError(f"audio file not found: {audio}")
    if not photo.is_file():
        raise InputError(f"photo not found: {photo}")
    if refiner is not None and not refiner.is_file():
        raise InputError(f"refiner checkpoint not found: {refiner}")
    from talkrig.animate.emotion import parse_schedule

    parse_schedule(emotion, intensity)  # fail on a bad emotion before the slow steps
    from talkrig.animate.head import STYLES

    if not pose.lower().endswith(".csv") and pose not in STYLES:
        raise InputError(f"unknown pose style {pose!r} (choose from {', '.join(STYLES)} or a CSV file)")
    ui = _Reporter(quiet)
    with ui.stage("reconstructing the face"):
        recon = api.reconstruct(photo, model=model, face_index=face_index, landmarks68=landmarks68)
    with ui.stage("recognizing the speech and animating" if audio is not None and not transcript else "animating"):
        anim = api.animate(text=text, audio=audio, transcript=transcript, emotion=emotion,
                           intensity=intensity, pose=pose, fps=fps, seed=seed, voice=voice,
                           emotional_voice=not neutral_voice)
    with ui.counter("rendering", anim.n_frames, "frames") as progress:
        report = api.render_video(recon, anim, output, model=model, size=size, frames_dir=frames, debug=debug,
                                  refiner=refiner, progress=progress)
    out = ui.out
    out.print(f"wrote {report.path} ({report.frames} frames, {report.duration:.2f} s, "
              f"{size}x{size} @ {fps:g} fps) in {report.seconds:.1f} s "
              f"({report.render_fps:.1f} frames/s)")
    c = {k: ("n/a" if v != v else f"{v:.0%}") for k, v in report.checks.items()}
    r = report.checks["jaw_loudness_r"]
    out.print(f"lip-sync self-checks: lips closed in {c['closed_in_pauses']} of pause frames, "
              f"on {c['closed_on_pbm']} of p/b/m; jaw-loudness r = {'n/a' if r != r else f'{r:.2f}'} "
              f"(animation, on the mesh)")
    if check and not quiet and not debug:
        with ui.stage("measuring the video"):
            _print_checks(out, output, emotion, text, photo)


class _Reporter:
    """Where `talkrig render` talks: results on stdout; progress as live spinners and a bar on
    a terminal (stderr), or as plain lines on stdout when it is a pipe or a log."""

    def __init__(self, quiet: bool):
        import sys

        from rich.console import Console

        from talkrig.io.progress import is_terminal

        self.quiet = quiet
        self.err = Console(stderr=True, quiet=quiet)
        self.out = Console(quiet=quiet, soft_wrap=True)
        # rich calls FORCE_COLOR a terminal; live bars need a real one
        self.live = self.err.is_terminal and is_terminal(sys.stderr)

    def stage(self, text: str):
        import contextlib

        if self.live:
            return self.err.status(text + "...")
        if not self.quiet:
            print(f"{text}...", flush=True)
        return contextlib.nullcontext()

    def counter(self, label: str, total: int, unit: str):
        import contextlib

        @contextlib.contextmanager
        def live_bar():
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn(label), BarColumn(), TextColumn("{task.completed}/{task.total} " + unit),
                          TimeRemainingColumn(), console=self.err, transient=True) as bar:
                task = bar.add_task(label, total=total)
                yield lambda done, _total: bar.update(task, completed=done)

        @contextlib.contextmanager
        def plain_lines():
            from talkrig.io.progress import PlainProgress

            lines = PlainProgress(label, total, unit)
            yield (lambda done, _total: lines.update(done)) if not self.quiet else None

        return live_bar() if self.live else plain_lines()


def _print_checks(console, output: Path, emotion: str, text: str | None, photo: Path) -> None:
    """Measure the written video. The video is the result: a failing check is reported as a
    warning and never turns a written file into a failed command."""
    from talkrig.eval.evaluate import print_no_reference_checks

    try:
        print_no_reference_checks(output, console, emotion=emotion.split("@")[0].split(",")[0]
                                  if "@" not in emotion else None, text=text, source=photo)
    except Exception as exc:  # noqa: BLE001
        import logging
        import os

        if os.environ.get("TALKRIG_DEBUG"):
            raise
        logging.getLogger("talkrig").warning("self-checks skipped (%s: %s)", type(exc).__name__, exc)


def edit(
    photo: Path = typer.Argument(..., help="Portrait photo."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (.png/.jpg)."),
    emotion: Optional[str] = typer.Option(None, "--emotion", help="Emotion or blend."),
    intensity: float = typer.Option(1.0, "--intensity", min=0.0, max=1.0, help="Emotion intensity 0..1."),
    expression: Optional[str] = typer.Option(None, "--expression", help="ARKit weights, e.g. jawOpen=0.4,eyeBlinkLeft=1."),
    yaw: float = typer.Option(0.0, "--yaw", help="Turn the head (degrees, + = subject's left)."),
    pitch: float = typer.Option(0.0, "--pitch", help="Nod (degrees)."),
    roll: float = typer.Option(0.0, "--roll", help="Tilt (degrees)."),
    size: int = typer.Option(512, "--size"),
    model: str = typer.Option("default", "--model"),
    face_index: int = typer.Option(0, "--face-index"),
    landmarks68: str = typer.Option("mediapipe", "--landmarks68", help="Fit targets: mediapipe or dlib (extra)."),
) -> None:
    """Edit one photo: change its emotion, expression or head pose."""
    from PIL import Image

    from talkrig import api
    from talkrig.io.files import atomic_path

    import math

    from talkrig.io.files import check_output

    check_output(output, (".png", ".jpg", ".jpeg"), inputs=(photo,))
    if size not in api.SIZES:
        raise InputError(f"--size must be one of 256, 512, 1024 (got {size})")
    if face_index < 0:
        raise InputError(f"--face-index must be 0 (the largest face) or more, got {face_index}")
    for name, deg, limit in (("--yaw", yaw, 90), ("--pitch", pitch, 90), ("--roll", roll, 180)):
        if not (math.isfinite(deg) and abs(deg) <= limit):
            raise InputError(f"{name} must be a number of degrees within -{limit}..{limit}, got {deg}")
    from talkrig.cli.model_cmd import parse_weights

    weights = parse_weights(expression, "expression", 0.0, 1.0)
    if emotion is not None:
        from talkrig.animate.emotion import parse_mix

        parse_mix(emotion, intensity)
    if not photo.is_file():
        raise InputError(f"photo not found: {photo}")
    recon = api.reconstruct(photo, model=model, face_index=face_index, landmarks68=landmarks68)
    img = api.render_image(recon, model=model, size=size, emotion=emotion, intensity=intensity,
                           expression=weights, yaw=yaw, pitch=pitch, roll=roll)
    with atomic_path(output) as tmp:
        Image.fromarray(img).save(tmp, format="PNG" if output.suffix.lower() == ".png" else "JPEG")


def register(app: typer.Typer) -> None:
    app.command("render")(render)
    app.command("edit")(edit)
