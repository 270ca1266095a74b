"""Stop requests that are never lost.

The `talkrig` command turns SIGTERM and SIGHUP into an exception raised wherever Python is
when the signal arrives. If that is inside a ``__del__`` (a garbage-collected numba/llvmlite
object, say) Python prints "Exception ignored" and carries on: the stop would be lost and the
job would finish and publish its output. So the handler also records the request here, and
the places that publish or loop (:func:`talkrig.io.files.atomic_path` before its rename, the
video writer per frame) call :func:`check`, which raises it again.
"""

from __future__ import annotations

from talkrig.errors import Terminated

_requested: list[int] = []


def request(signum: int) -> None:
    """Record that signal ``signum`` asked this process to stop."""
    _requested.append(int(signum))


def requested() -> int | None:
    """The first stop signal received, or None."""
    return _requested[0] if _requested else None


def check() -> None:
    """Raise :class:`~talkrig.errors.Terminated` (``KeyboardInterrupt`` for SIGINT) when a stop
    was requested; does nothing otherwise (a list lookup: cheap enough for every frame)."""
    if _requested:
        if _requested[0] == 2:
            raise KeyboardInterrupt
        raise Terminated(_requested[0])
