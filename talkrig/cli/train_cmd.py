"""`talkrig train-renderer DATA -o RUN/`: train (or fine-tune per subject) the neural refiner."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from talkrig import api


def train_renderer(
    data: Path = typer.Argument(..., help="talkrig prep folder, folder of paired .npz clips, or one video of a person"),
    out: Path = typer.Option(..., "-o", "--out", help="run folder: checkpoints, log.jsonl, samples/"),
    config: str = typer.Option("tiny", "--config", help="network size: tiny | 128 | 256 | 512"),
    minutes: Optional[float] = typer.Option(None, "--minutes", help="wall-time budget"),
    steps: Optional[int] = typer.Option(None, "--steps", help="stop at this total step count"),
    resume: bool = typer.Option(False, "--resume", help="continue RUN/last.safetensors"),
    init: Optional[Path] = typer.Option(None, "--init", help="start from this checkpoint's weights (fine-tuning)"),
    holdout_seconds: float = typer.Option(0.0, "--holdout-seconds", help="keep the last seconds of each clip out"),
    conditioning: str = typer.Option("auto", "--conditioning",
                                     help="classical (talkrig's renderer replays the fitted motion), minimal "
                                          "(degraded frames), or auto: classical for a video DATA or with --videos"),
    videos: Optional[Path] = typer.Option(None, "--videos",
                                          help="with a prep folder and classical: the videos folder (or file) the prep read"),
    batch_size: Optional[int] = typer.Option(None, "--batch-size"),
    device: Optional[str] = typer.Option(None, "--device", help="cpu | cuda (default: cuda when available)"),
) -> None:
    """Train the StyleGAN2-based refiner of classical renders."""

    def show(rec: dict) -> None:
        losses = "  ".join(f"{k}={v:.4f}" for k, v in rec.items() if k not in ("step", "nimg", "time_s"))
        typer.echo(f"step {rec['step']:6d}  {rec['time_s']:7.1f}s  {losses}")

    tr = api.train_renderer(data, out, config=config, minutes=minutes, steps=steps, resume=resume, init=init,
                            holdout_seconds=holdout_seconds, conditioning=conditioning, videos=videos,
                            batch_size=batch_size, device=device, on_log=show,
                            on_start=lambda line: typer.echo(f"train-renderer: {line}"))
    typer.echo(f"train-renderer: step {tr.step}; wrote {out / 'refiner.safetensors'}")


def register(app: typer.Typer) -> None:
    app.command("train-renderer")(train_renderer)
