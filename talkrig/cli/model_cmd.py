"""`talkrig model ...`: inspect and export face models."""

from __future__ import annotations

from pathlib import Path

import typer

from talkrig import api

model_app = typer.Typer(help="Inspect and export face models.", no_args_is_help=True)


@model_app.command("info")
def info() -> None:
    """List the available face models, their sizes and licences."""
    for line in api.model_summary():
        typer.echo(line)


@model_app.command("export")
def export(
    model: str = typer.Argument("default", help="model name ('default', 'ict') or path"),
    output: Path = typer.Option(..., "-o", "--output", help="mesh file: .obj, .ply or .glb"),
    expression: str = typer.Option("", "--expression", "-e", help="e.g. jawOpen=1,mouthSmileLeft=0.5"),
    identity: str = typer.Option("", "--identity", "-i", help="e.g. macro-gender-female-male=0.5"),
    yaw: float = typer.Option(0.0, "--yaw", help="head yaw in degrees (turns towards +x)"),
    landmarks: Path | None = typer.Option(None, "--landmarks", help="also write 68 landmarks: .pts or .npy"),
) -> None:
    """Write a model's mesh with chosen expression/identity weights."""
    api.export_model_mesh(model, output, expression=expression, identity=identity, yaw=yaw, landmarks=landmarks)
    typer.echo(f"wrote {output}" + (f" and {landmarks}" if landmarks else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
