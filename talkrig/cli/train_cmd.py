"""`talkrig train-renderer DATA -o RUN/`: train (or fine-tune per subject) the neural refiner."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from talkrig.errors import InputError


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
    from talkrig.texture.neural.checkpoint import load_checkpoint
    from talkrig.texture.neural.config import RefinerConfig
    from talkrig.data_prep.refiner.sources import open_training_data
    from talkrig.texture.neural.train import train_refiner

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

    def show(rec: dict) -> None:
        losses = "  ".join(f"{k}={v:.4f}" for k, v in rec.items() if k not in ("step", "nimg", "time_s"))
        typer.echo(f"step {rec['step']:6d}  {rec['time_s']:7.1f}s  {losses}")

    typer.echo(f"train-renderer: {len(td.train)} frames ({td.kind}), {cfg.resolution}px, "
               f"conditions {', '.join(cfg.cond_channels)}")
    tr = train_refiner(td.train, out, cfg, minutes=minutes, max_steps=steps, resume=resume,
                       init_from=init, device=device, on_log=show)
    typer.echo(f"train-renderer: step {tr.step}; wrote {out / 'refiner.safetensors'}")


def register(app: typer.Typer) -> None:
    app.command("train-renderer")(train_renderer)
