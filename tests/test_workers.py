"""Worker processes: never forked from a threaded parent, gone when the parent goes, and the
main job exits on real speech without a transcript (it used to hang at exit)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import talkrig_exe
from talkrig.io.workers import WorkerError, WorkerPool


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_pool_runs_functions_in_fresh_processes():
    with WorkerPool(2) as pool:
        pids = pool.map(os.getpid, [()] * 6)
        assert os.getpid() not in pids and len(set(pids)) <= 2
        assert pool.map(divmod, [(7, 2), (9, 4)], order=[1, 0]) == [(3, 1), (2, 1)]
        with pytest.raises(WorkerError, match="ZeroDivisionError"):
            pool.map(divmod, [(1, 0)])


def test_workers_never_import_the_callers_main(tmp_path):
    """A user script without a __main__ guard must not run again inside the workers."""
    marker = tmp_path / "ran"
    script = tmp_path / "user.py"
    script.write_text(textwrap.dedent(f"""
        import os
        from talkrig.io.workers import WorkerPool
        with open({str(marker)!r}, "a") as fh:
            fh.write("x")
        with WorkerPool(2) as pool:
            print(pool.map(os.getpid, [(), ()]))
    """))
    subprocess.run([sys.executable, str(script)], check=True, timeout=60, capture_output=True)
    assert marker.read_text() == "x"


def test_workers_die_with_their_parent(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(textwrap.dedent("""
        import os, sys, time
        from talkrig.io.workers import WorkerPool
        pool = WorkerPool(2)
        print(*pool.map(os.getpid, [(), (), (), ()]), flush=True)
        time.sleep(600)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        pids = {int(p) for p in proc.stdout.readline().split()}
        assert pids and all(_alive(p) for p in pids)
        proc.kill()
        proc.wait(timeout=10)
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids), "workers outlived their killed parent"
    finally:
        if proc.poll() is None:
            proc.kill()


def test_a_forked_child_of_a_process_with_a_live_landmarker_exits(tmp_path):
    """The landmarker's exit hooks used to close MediaPipe inside forked children, waiting
    forever on a dispatcher thread the child does not have."""
    script = tmp_path / "fork.py"
    script.write_text(textwrap.dedent("""
        import os, numpy as np
        from talkrig.recon.landmarker import shared_landmarker
        shared_landmarker().detect(np.zeros((64, 64, 3), np.uint8))
        pid = os.fork()
        if pid == 0:
            raise SystemExit(0)  # a normal interpreter exit: threading and atexit hooks run
        _, status = os.waitpid(pid, 0)
        print("child", os.waitstatus_to_exitcode(status))
    """))
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "child 0" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("workers", ["2", ""])
def test_render_with_real_speech_and_no_transcript_exits(shared, tmp_path, workers):
    """The installed command, real speech, no transcript, parallel recognition forced on (8 s
    of speech is below the automatic threshold) and off: exits 0 in bounded time."""
    audio = shared("dev", "audio", "sadtalker_RD_Radio31_000.wav")
    photo = shared("dev", "portraits", "lfpw_test_image_0007.png")
    out = tmp_path / "out.mp4"
    env = {**os.environ, "TALKRIG_RECOGNIZE_WORKERS": workers}
    proc = subprocess.Popen([talkrig_exe(), "render", str(photo), "--audio", str(audio), "--size", "256",
                             "-o", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        _, err = proc.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        pytest.fail("talkrig render --audio did not exit within 240 s")
    assert proc.returncode == 0, err[-2000:]
    assert out.is_file() and out.stat().st_size > 10_000
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "out.mp4"]
    assert leftovers == []
