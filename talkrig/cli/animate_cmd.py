"""`talkrig animate (--text T | --audio F [--transcript T]) -o anim.npz`: speech -> motion curves."""

from __future__ import annotations

from pathlib import Path

import typer

from talkrig import api
from talkrig.errors import InputError


def animate(
    out: Path = typer.Option(..., "-o", "--out", help="Output animation (.npz)."),
    text: str = typer.Option(None, "--text", help="Text to speak (espeak-ng TTS)."),
    audio: Path = typer.Option(None, "--audio", help="Speech file (wav/mp3/flac/m4a/mp4)."),
    transcript: str = typer.Option(None, "--transcript",
                                   help="What --audio says (text, or @file.txt); enables forced alignment."),
    emotion: str = typer.Option("neutral", "--emotion",
                                help='Emotion, blend or schedule: happy | happy:0.7+sad:0.3 | "neutral@0,happy@1.5s,sad@4s".'),
    intensity: float = typer.Option(1.0, "--intensity", help="Emotion intensity 0..1."),
    pose: str = typer.Option("natural", "--pose", help="still, calm, natural, expressive or a CSV (yaw,pitch,roll deg per frame)."),
    seed: int = typer.Option(0, "--seed", help="Seed for head motion, blinks and gaze."),
    fps: float = typer.Option(25.0, "--fps", help="Video frame rate."),
    voice: str = typer.Option(None, "--voice", help="TTS voice/language, e.g. en-us, en-gb, de, en-us+f3."),
    rate: int = typer.Option(None, "--rate", help="TTS speed in words per minute (80-450)."),
    engine: str = typer.Option("rules", "--engine", help="rules (default) or learned (needs --checkpoint)."),
    checkpoint: Path = typer.Option(None, "--checkpoint", help="Learned predictor (.safetensors)."),
    plot: Path = typer.Option(None, "--plot", help="Also write a PNG of the main curves."),
    neutral_voice: bool = typer.Option(False, "--neutral-voice", help="With --text: keep the TTS voice neutral."),
) -> None:
    """Turn text or speech into expression (ARKit-52), head-pose and eye curves at the video
    frame rate, with the audio, saved as an .npz Animation."""
    if (text is None) == (audio is None):
        raise InputError("give exactly one of --text or --audio")
    if transcript is not None and audio is None:
        raise InputError("--transcript goes with --audio")
    if transcript and transcript.startswith("@"):
        tpath = Path(transcript[1:])
        if not tpath.is_file():
            raise InputError(f"transcript file not found: {tpath}")
        transcript = tpath.read_text(encoding="utf-8", errors="replace")
    sources = (audio, checkpoint, Path(pose) if pose.lower().endswith(".csv") else None)
    api.check_output(out, (".npz",), inputs=sources)
    if plot is not None:
        api.check_output(plot, (".png",), inputs=sources, what="--plot")
        if api.same_file(plot, out):
            raise InputError("--plot and -o name the same file")
    pose_arg: str | Path = Path(pose) if pose.lower().endswith(".csv") else pose
    anim = api.animate(text, audio=audio, transcript=transcript, emotion=emotion, intensity=intensity,
                       pose=pose_arg, seed=seed, fps=fps, voice=voice, rate=rate, engine=engine,
                       checkpoint=checkpoint, emotional_voice=not neutral_voice)
    api.save_animation(anim, out, plot)
    typer.echo(f"{anim.n_frames} frames at {anim.fps:g} fps ({anim.duration:.2f} s, "
               f"{len(anim.phonemes)} phones, timings: {anim.metadata.get('timings')}) -> {out}")


def register(app: typer.Typer) -> None:
    app.command("animate")(animate)
