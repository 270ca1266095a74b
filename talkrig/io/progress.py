"""Progress for pipes and logs: plain lines where a live bar cannot be drawn.

A terminal gets rich's live bars (the callers draw them); when the output is a pipe or a file
(CI logs, ``talkrig render ... > log``, a job scheduler), :class:`PlainProgress` prints one
line per 10 % step and at least one every 30 s, so a long job is never silent.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


def is_terminal(stream: TextIO | None = None) -> bool:
    stream = stream if stream is not None else sys.stdout
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class PlainProgress:
    """``label: 40% (80/200 frames, 12.3 frames/s, 9 s left)`` lines on ``stream``.

    Args:
        label: what is being done.
        total: units of work.
        unit: their name, for the line.
        done: units already done before this run (a resumed job).
        step: print when another ``step`` of the total is done ...
        every_s: ... or this many seconds passed since the last line.
    """

    def __init__(self, label: str, total: int, unit: str = "frames", stream: TextIO | None = None,
                 done: int = 0, step: float = 0.1, every_s: float = 30.0):
        self.label, self.total, self.unit = label, max(int(total), 0), unit
        self.stream = stream
        self.start_done = self.done = int(done)
        self.step, self.every_s = step, every_s
        self.t0 = self.t_last = time.perf_counter()
        self.last_frac = self.done / self.total if self.total else 0.0

    def update(self, done: int, note: str = "") -> None:
        """Record that ``done`` units are finished; print a line when one is due."""
        self.done = int(done)
        now = time.perf_counter()
        frac = self.done / self.total if self.total else 1.0
        if frac - self.last_frac >= self.step - 1e-9 or now - self.t_last >= self.every_s or (
                self.done >= self.total and self.last_frac < 1.0):
            self._print(now, frac, note)

    def _print(self, now: float, frac: float, note: str) -> None:
        rate = (self.done - self.start_done) / max(now - self.t0, 1e-9)
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        parts = [f"{self.done}/{self.total} {self.unit}", f"{rate:.1f} {self.unit}/s"]
        if self.done < self.total and left == left:
            parts.append(f"{left:.0f} s left")
        if note:
            parts.append(note)
        stream = self.stream if self.stream is not None else sys.stdout
        print(f"{self.label}: {frac:.0%} ({', '.join(parts)})", file=stream, flush=True)
        self.t_last, self.last_frac = now, frac
