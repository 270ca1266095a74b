"""Silence native libraries that print to the process's stderr (MediaPipe's glog/absl lines).

Python-level redirection cannot catch C++ writes to file descriptor 2, so this swaps the
descriptor itself for ``/dev/null`` for the duration of the block.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send everything written to fd 2 inside the block to ``/dev/null``.

    Set ``TALKRIG_DEBUG=1`` to keep native logs visible.
    """
    if os.environ.get("TALKRIG_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded interpreters): nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
