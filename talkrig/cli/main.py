"""Entry point of the `talkrig` command.

Each stage contributes its commands from its own module (``register(app)``); this file only
assembles them and turns :class:`~talkrig.errors.TalkrigError` into a one-line message and a
non-zero exit. Set ``TALKRIG_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import importlib
import os
import sys

import typer

app = typer.Typer(name="talkrig", help="Emotional talking-face generation on a 3D morphable model.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Command modules, each exposing register(app). Listed once, here.
COMMAND_MODULES = ("model_cmd", "render_cmd", "recon_cmd", "animate_cmd", "prep_cmd",
                   "train_cmd", "eval_cmd")


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"talkrig.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"talkrig.cli.{name}":
                continue  # stage not built yet
            raise
        mod.register(app)


_register_all()


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of raising SystemExit."""
    from talkrig.errors import TalkrigError

    try:
        app(args=argv, prog_name="talkrig")  # standalone: usage errors print and exit 2
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TalkrigError as exc:
        print(f"talkrig: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("talkrig: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # anything unexpected: one line, not a traceback
        if os.environ.get("TALKRIG_DEBUG"):
            raise
        print(f"talkrig: internal error: {type(exc).__name__}: {exc} "
              "(set TALKRIG_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1
    return 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
