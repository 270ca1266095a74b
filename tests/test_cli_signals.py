"""Ctrl-C, SIGTERM and SIGKILL at random moments of `talkrig render` and `talkrig prep`: one
line and the conventional exit status, nothing at -o, no temporary file (a SIGKILL's is swept
by the next run), no worker process left, and an interrupted prep resumes to the same
manifest."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, talkrig_exe

pytestmark = pytest.mark.slow
PHOTO = REPO / "examples" / "astronaut.jpg"


def _living(pgid: int) -> list[int]:
    """Processes of a process group that still run (zombies are dead, just not reaped)."""
    out = subprocess.run(["pgrep", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return _running(set(map(int, out)))


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (worker pools may run in sessions of their own)."""
    kids: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = set(), [pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            if k not in out:
                out.add(k)
                todo.append(k)
    return out


def _running(pids: set[int]) -> list[int]:
    """Those of ``pids`` that still run (a zombie is dead, just not reaped)."""
    alive = []
    for p in pids:
        try:
            state = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(p)
    return alive


def _wait_gone(pgid: int, seconds: float = 10.0, others: set[int] = frozenset()) -> list[int]:
    """What still runs of a process group and of the processes ``others`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while (alive := _living(pgid) + _running(set(others))) and time.monotonic() < deadline:
        time.sleep(0.1)
    return alive


@pytest.fixture(scope="module")
def long_speech(tmp_path_factory) -> Path:
    """~25 s of real synthetic speech: long enough for recognition in worker processes."""
    from talkrig.animate.tts import synthesize

    text = ("Please call Stella. Ask her to bring these things with her from the store. "
            "Six spoons of fresh snow peas, five thick slabs of blue cheese, and maybe a snack "
            "for her brother Bob. We also need a small plastic snake and a big toy frog for the kids. "
            "She can scoop these things into three red bags, and we will go meet her Wednesday "
            "at the train station.")
    audio = synthesize(text).audio
    path = tmp_path_factory.mktemp("speech") / "long.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())
    assert len(audio) / 16000 >= 20
    return path


def _with_ctrl_c(argv: list[str]) -> list[str]:
    """``argv`` started with Ctrl-C at its default disposition: a test run launched as a
    background job of a non-interactive shell inherits SIGINT *ignored* (POSIX), and so would
    every command it starts; a terminal's foreground command, which these tests stand for,
    never does. Reset by a tiny exec wrapper (no preexec_fn: the test process holds threads)."""
    reset = "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])"
    return [sys.executable, "-c", reset, *argv]


def _render(audio: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(_with_ctrl_c([talkrig_exe(), "render", str(PHOTO), "--audio", str(audio), "--size", "256",
                             "--no-check", "-o", str(out)]), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


@pytest.mark.parametrize("signame,code,line", [("SIGINT", 130, "talkrig: interrupted"),
                                                ("SIGTERM", 143, "talkrig: terminated"),
                                                ("SIGKILL", -9, None)])
def test_render_signalled_at_random_moments(long_speech, tmp_path, signame, code, line):
    rng = random.Random(signame)
    sig = getattr(signal, signame)
    out = tmp_path / "talk.mp4"
    for moment in (rng.uniform(0.5, 4.0), rng.uniform(4.0, 9.0)):
        proc = _render(long_speech, out)
        time.sleep(moment)
        if proc.poll() is not None:
            continue  # finished first: nothing to interrupt at this moment
        workers = _descendants(proc.pid)
        os.killpg(proc.pid, sig)  # as a terminal's Ctrl-C does: the whole foreground group
        t0 = time.monotonic()
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - t0 < 15, f"{signame} at {moment:.1f} s: exit took too long"
        assert proc.returncode == code, err
        if line is not None:
            assert [ln for ln in err.splitlines() if ln.strip()] == [line], err
        assert not out.exists(), "a partial video at -o"
        assert _wait_gone(proc.pid, others=workers) == [], f"processes outlived talkrig after {signame}"
        parts = [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]
        if sig != signal.SIGKILL:
            assert parts == [], f"temporary files left after {signame}: {parts}"
    if sig == signal.SIGKILL:  # the next run sweeps what the killed one could not remove
        proc = _render(long_speech, out)
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        assert [p.name for p in tmp_path.iterdir()] == ["talk.mp4"]


@pytest.mark.shared
def test_prep_interrupted_resumes_to_the_same_manifest(tmp_path, shared):
    import prep_media

    src = tmp_path / "clips"
    prep_media.make_dataset(shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4"), src, size=128)

    def prep(out: Path) -> subprocess.Popen:
        return subprocess.Popen(_with_ctrl_c([talkrig_exe(), "prep", str(src), "-o", str(out), "--workers", "2"]),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    t0 = time.monotonic()
    ref = prep(tmp_path / "ref")
    ref.communicate(timeout=600)
    span = time.monotonic() - t0
    want = (tmp_path / "ref" / "manifest.jsonl").read_text()
    out = tmp_path / "run"
    # early moments: the second run resumes the first's finished clips and ends sooner
    for sig, moment, line in ((signal.SIGINT, 0.4 * span, "talkrig: interrupted"),
                              (signal.SIGTERM, 0.3 * span, "talkrig: terminated")):
        proc = prep(out)
        time.sleep(moment)
        assert proc.poll() is None, "prep finished before it could be interrupted"
        workers = _descendants(proc.pid)
        os.killpg(proc.pid, sig)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + sig, err
        assert [ln for ln in err.splitlines() if ln.strip()] == [line], err
        assert _wait_gone(proc.pid, others=workers) == [], "prep workers outlived the interrupted job"
    proc = prep(out)
    stdout, _ = proc.communicate(timeout=600)
    assert (out / "manifest.jsonl").read_text() == want
    rows = [ln for ln in want.splitlines() if ln.strip()]
    assert len(rows) == len({r.split('"clip_id": "')[1].split('"')[0] for r in rows})
