"""A full disk and a read-only folder, for real (small tmpfs mounts; skipped where this user
cannot mount): one line naming the output, a non-zero exit, nothing left behind."""

from __future__ import annotations

import contextlib
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, talkrig_exe

pytestmark = pytest.mark.slow
PHOTO = REPO / "examples" / "astronaut.jpg"


@contextlib.contextmanager
def tmpfs(path: Path, options: str):
    path.mkdir(parents=True, exist_ok=True)
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], capture_output=True)


def _render(out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([talkrig_exe(), "render", str(PHOTO), *extra, "--no-check", "-o", str(out)],
                          capture_output=True, text=True, timeout=300)


def test_disk_full_while_writing_the_video(tmp_path):
    with tmpfs(tmp_path / "small", "size=120k") as d:
        res = _render(d / "talk.mp4", "--text", "Please call Stella. Ask her to bring these things with her "
                                                 "from the store.", "--size", "512")
        lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
        assert res.returncode == 1, res.stderr
        assert lines == [f"talkrig: error: no space left on the device (writing {d / 'talk.mp4'})"]
        assert list(d.iterdir()) == []


def test_read_only_folder(tmp_path):
    with tmpfs(tmp_path / "ro", "ro,size=64k") as d:
        res = _render(d / "talk.mp4", "--text", "Hi.", "--size", "256")
        assert res.returncode == 2
        assert res.stderr.strip() == f"talkrig: error: cannot write in {d}: Read-only file system"
