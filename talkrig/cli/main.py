"""Entry point of the `talkrig` command.

Each stage contributes its commands from its own module (``register(app)``); this file only
assembles them and turns :class:`~talkrig.errors.TalkrigError` into a one-line message and a
non-zero exit. Set ``TALKRIG_DEBUG=1`` to see tracebacks.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys

import typer

from talkrig import api
from talkrig.errors import TalkrigError, Terminated

app = typer.Typer(name="talkrig", help="Emotional talking-face generation on a 3D morphable model.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

# Command modules, each exposing register(app). Listed once, here.
COMMAND_MODULES = ("model_cmd", "render_cmd", "recon_cmd", "animate_cmd", "prep_cmd",
                   "train_cmd", "eval_cmd", "serve_cmd")


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


def _raise_terminated(signum, _frame) -> None:
    api.request_stop(signum)  # kept, in case the exception lands in a __del__ and is swallowed
    raise Terminated(signum)


def _quiet_swallowed_stops(info) -> None:
    """``sys.unraisablehook``: a stop signal's exception that landed in a ``__del__`` is not
    printed ("Exception ignored ..."): it was recorded and is acted on at the next check."""
    if isinstance(info.exc_value, (Terminated, KeyboardInterrupt)):
        return
    sys.__unraisablehook__(info)


def _raise_interrupted(signum, _frame) -> None:
    api.request_stop(signum)
    raise KeyboardInterrupt


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _os_error_message(exc: OSError) -> str:
    """``no space left on the device (writing /x/y.mp4)``: an OS failure's reason, and the file
    it happened on (the output, not its temporary file) when known."""
    import errno

    where = str(exc.filename or "")
    if where and (target := api.part_target(where)) is not None:
        where = str(target)  # name the output being written, not its temporary file
    reason = exc.strerror or _one_line(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        reason = "no space left on the device"
    return f"{reason} (writing {where})" if where else reason


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time (tests and the CLI swap it)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _show_warnings() -> None:
    """Warnings of the library (logger ``talkrig``) as ``talkrig: warning: ...`` lines on
    whatever ``sys.stderr`` is when they happen."""
    log = logging.getLogger("talkrig")
    if not any(isinstance(h, _StderrHandler) for h in log.handlers):
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("talkrig: warning: %(message)s"))
        handler.setLevel(logging.WARNING)
        log.addHandler(handler)
        log.propagate = False


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit status instead of raising SystemExit.

    Every failure ends in one line on stderr: ``talkrig: error: ...`` (exit 2 for bad input
    and usage, 1 for the environment: disk full, unwritable places, out of memory, and for
    bugs), ``talkrig: interrupted`` (130) or ``talkrig: terminated`` (128 + signal).
    ``TALKRIG_DEBUG=1`` shows tracebacks instead.
    """
    debug = bool(os.environ.get("TALKRIG_DEBUG"))
    _show_warnings()
    try:
        code = app(args=argv, prog_name="talkrig", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into Exit(130)
            raise KeyboardInterrupt
        return code if isinstance(code, int) else 0
    except typer.TyperException as exc:  # usage: bad option, missing argument, bad value
        if type(exc).__name__ == "NoArgsIsHelpError" and getattr(exc, "ctx", None) is not None:
            print(exc.ctx.get_help())
            return 2
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        msg = exc.format_message() if hasattr(exc, "format_message") else _one_line(exc)
        print(f"talkrig: error: {_one_line(Exception(msg))}{hint}", file=sys.stderr)
        return int(getattr(exc, "exit_code", 2) or 2)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except TalkrigError as exc:
        print(f"talkrig: error: {_one_line(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("talkrig: interrupted", file=sys.stderr)
        return 130
    except Terminated as exc:
        print("talkrig: terminated", file=sys.stderr)
        return 128 + exc.signum
    except OSError as exc:
        if debug:
            raise
        print(f"talkrig: error: {_os_error_message(exc)}", file=sys.stderr)
        return 1
    except MemoryError:
        if debug:
            raise
        print("talkrig: error: out of memory (try a smaller --size or a shorter input)", file=sys.stderr)
        return 1
    except Exception as exc:  # anything unexpected: one line, not a traceback
        if debug:
            raise
        print(f"talkrig: internal error: {type(exc).__name__}: {_one_line(exc)} "
              "(set TALKRIG_DEBUG=1 for a traceback)", file=sys.stderr)
        return 1


def _quiet_native_stderr() -> None:
    """Give talkrig's own messages the terminal and send what native libraries write to file
    descriptor 2 (MediaPipe's and TFLite's C++ log lines, which can arrive from their threads at
    any moment, even after an interrupt) to /dev/null. Python's ``sys.stderr`` keeps the real
    stderr through a duplicate descriptor. ``TALKRIG_DEBUG=1`` leaves everything as it is."""
    if os.environ.get("TALKRIG_DEBUG"):
        return
    try:
        sys.stderr.flush()
        own = os.dup(2)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.close(devnull)
        sys.stderr = os.fdopen(own, "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                               errors="backslashreplace")
    except (OSError, ValueError, AttributeError):  # no real stderr: nothing to protect
        pass


def run() -> None:
    """The `talkrig` command: SIGTERM and SIGHUP end it like Ctrl-C (cleanly, one line), and
    stderr carries only talkrig's own lines (:func:`_quiet_native_stderr`)."""
    import signal

    # torch and numba both run OpenMP thread pools; with the default (active) wait policy the
    # idle pool spins while the other works, which cost the frame loop 3x on a 2-core CPU. The
    # process owner sets it, before torch loads; a user's own choice wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_terminated)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _raise_interrupted)
    sys.unraisablehook = _quiet_swallowed_stops
    _quiet_native_stderr()
    sys.exit(main())


if __name__ == "__main__":
    run()
