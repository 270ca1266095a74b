"""The installed `talkrig` command against the hostile-input sweep (tests/cli_cases.py):
every case exits in bounded time with the expected status and one clear line, leaves nothing
but its finished output, never changes an input and never unpickles anything."""

from __future__ import annotations

import pytest

import cli_cases
from conftest import SHARED, talkrig_exe

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    paths = cli_cases.make_inputs(root, SHARED if SHARED.exists() else None)
    return root, paths, cli_cases.input_digests(paths, root)


@pytest.mark.parametrize("case", cli_cases.CASES, ids=[c.id for c in cli_cases.CASES])
def test_case(case, sweep):
    root, paths, digests = sweep
    if case.shared and any("{" + k + "}" in " ".join(case.argv) and k not in paths
                           for k in ("real_speech", "real_video")):
        pytest.skip("needs ../shared development data")
    out = root / "out" / case.id
    outcome = cli_cases.run_case(case, talkrig_exe(), paths, out, digests, root)
    bad = cli_cases.problems(case, outcome, paths, out)
    assert not bad, f"{case.id} ({case.what}): " + "; ".join(bad)


def test_the_sweep_is_broad():
    """The issue asks for at least 45 distinct bad or odd inputs."""
    assert len({c.id for c in cli_cases.CASES}) == len(cli_cases.CASES) >= 45
