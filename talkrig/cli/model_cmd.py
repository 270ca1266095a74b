"""`talkrig model ...`: inspect and export face models."""

from __future__ import annotations

import typer

model_app = typer.Typer(help="Inspect and export face models.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
