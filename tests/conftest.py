"""Shared test fixtures: the ../shared development data (skips cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# The test process owns its thread pools, as the talkrig command does (docs/architecture.md):
# idle OpenMP pools of torch and numba must not spin against each other.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TALKRIG_SHARED", REPO.parent / "shared"))


def shared_path(*parts: str) -> Path:
    """Path under ../shared, or skip the test when it is not there."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"needs ../shared/{'/'.join(parts)} (development data not present)")
    return p


@pytest.fixture
def shared():
    """Callable fixture: ``shared('dev', 'audio', 'x.wav')`` -> Path, skipping when absent."""
    return shared_path


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep test caches out of the user's cache unless TALKRIG_CACHE is set (CI sets it so
    expensive conversions are shared between test files)."""
    if not os.environ.get("TALKRIG_CACHE"):
        os.environ["TALKRIG_CACHE"] = str(tmp_path_factory.mktemp("talkrig-cache"))
    yield


def talkrig_exe() -> str:
    """The installed `talkrig` command of this environment (what users run)."""
    import shutil
    import sys

    exe = Path(sys.executable).parent / "talkrig"
    if exe.is_file():
        return str(exe)
    found = shutil.which("talkrig")
    if found is None:
        pytest.fail("the `talkrig` command is not installed in this environment (pip install -e .)")
    return found
