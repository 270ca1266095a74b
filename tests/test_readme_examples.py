"""The README's Python example runs as written (on the bundled public-domain photo)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    text = (REPO / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks, "README has no python example"
    shutil.copy(REPO / "examples" / "astronaut.jpg", tmp_path / "photo.jpg")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own documentation
    assert (tmp_path / "hello.mp4").stat().st_size > 10_000
    assert ns["still"].shape[2] == 3
    assert ns["verts"].shape[0] == 1
