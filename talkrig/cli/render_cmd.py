"""`talkrig render` (photo + text/audio + emotion -> mp4) and `talkrig edit` (one edited still)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from talkrig import api


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
    api.check_render_request(photo, output, text=text, audio=audio, emotion=emotion, intensity=intensity,
                             pose=pose, size=size, fps=fps, voice=voice, face_index=face_index,
                             refiner=refiner)  # fail before any work
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
    out.print(f"lip-sync self-checks: mouth still in {c['still_in_pauses']} of pause frames "
              f"(closed in {c['closed_in_pauses']}), "
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

        self.quiet = quiet
        self.err = Console(stderr=True, quiet=quiet)
        self.out = Console(quiet=quiet, soft_wrap=True)
        # rich calls FORCE_COLOR a terminal; live bars need a real one
        self.live = self.err.is_terminal and api.is_terminal(sys.stderr)

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
            lines = api.PlainProgress(label, total, unit)
            yield (lambda done, _total: lines.update(done)) if not self.quiet else None

        return live_bar() if self.live else plain_lines()


def _print_checks(console, output: Path, emotion: str, text: str | None, photo: Path) -> None:
    """Measure the written video. The video is the result: a failing check is reported as a
    warning and never turns a written file into a failed command."""
    try:
        api.print_video_checks(output, console, emotion=emotion.split("@")[0].split(",")[0]
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
    api.edit_photo(photo, output, emotion=emotion, intensity=intensity, expression=expression, yaw=yaw,
                   pitch=pitch, roll=roll, size=size, model=model, face_index=face_index,
                   landmarks68=landmarks68)


def register(app: typer.Typer) -> None:
    app.command("render")(render)
    app.command("edit")(edit)
