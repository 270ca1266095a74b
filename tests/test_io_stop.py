"""A stop signal is never lost, even when its exception is swallowed inside a ``__del__``."""

import signal
import subprocess
import sys

import pytest

from talkrig.errors import Terminated
from talkrig.io import stop
from talkrig.io.files import atomic_path


@pytest.fixture(autouse=True)
def _no_pending_stop():
    stop._requested.clear()
    yield
    stop._requested.clear()


def test_a_requested_stop_keeps_the_output_unpublished(tmp_path):
    out = tmp_path / "clip.mp4"
    stop.request(signal.SIGTERM)
    with pytest.raises(Terminated) as info:
        with atomic_path(out) as tmp:
            tmp.write_bytes(b"finished but unwanted")
    assert info.value.signum == signal.SIGTERM
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


def test_the_talkrig_handler_survives_an_exception_swallowed_in_a_finaliser():
    """SIGTERM arriving while a ``__del__`` runs: Python prints "Exception ignored" and goes
    on; the recorded request still stops the job at its next check."""
    code = (
        "import os, signal, sys\n"
        "from talkrig.cli.main import _raise_terminated\n"
        "from talkrig.io import stop\n"
        "signal.signal(signal.SIGTERM, _raise_terminated)\n"
        "class Finaliser:\n"
        "    def __del__(self):\n"
        "        os.kill(os.getpid(), signal.SIGTERM)\n"
        "        for _ in range(1000): pass\n"
        "Finaliser()\n"  # collected at once: the signal's exception is raised in __del__
        "print('went on', flush=True)\n"
        "try:\n"
        "    stop.check()\n"
        "except BaseException as exc:\n"
        "    print(type(exc).__name__, exc.signum)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert "Exception ignored" in out.stderr  # the swallowing really happened
    assert out.stdout.split("\n")[:2] == ["went on", f"Terminated {int(signal.SIGTERM)}"], out
    # the talkrig command does not print the swallowed exception: one line is all a stop says
    quiet = code.replace("signal.signal(signal.SIGTERM, _raise_terminated)\n",
                         "signal.signal(signal.SIGTERM, _raise_terminated)\n"
                         "from talkrig.cli.main import _quiet_swallowed_stops\n"
                         "sys.unraisablehook = _quiet_swallowed_stops\n")
    out = subprocess.run([sys.executable, "-c", quiet], capture_output=True, text=True, timeout=60)
    assert out.stderr == "" and out.stdout.split("\n")[:2] == ["went on", f"Terminated {int(signal.SIGTERM)}"], out


def test_no_request_no_stop():
    stop.check()  # returns: nothing was asked
    assert stop.requested() is None
