"""data_prep jobs under faults and on Ray: the output must equal an uninterrupted local run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

VIDEO = ("dev", "video", "hdtf_WDA_KatieHill_000.mp4")


def snapshot(out: Path) -> dict[str, bytes]:
    """Every file of a prepared dataset except the timing log, by relative path."""
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and p.parent.name != "log"}


def prep_cmd(src: Path, out: Path, workers: int = 2) -> list[str]:
    return [sys.executable, "-m", "talkrig.cli.main", "prep", str(src), "-o", str(out),
            "--workers", str(workers), "--no-progress"]


@pytest.fixture(scope="module")
def clips_dir(tmp_path_factory):
    from conftest import shared_path

    import prep_media

    root = tmp_path_factory.mktemp("jobs_in")
    prep_media.make_dataset(shared_path(*VIDEO), root, size=128)
    return root


@pytest.mark.slow
@pytest.mark.shared
def test_sigkill_at_random_moments_loses_nothing(clips_dir, tmp_path):
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    ref = tmp_path / "ref"
    t0 = time.perf_counter()
    first = subprocess.run(prep_cmd(clips_dir, ref), env=env, capture_output=True, text=True)
    # the dataset holds 3 broken clips: a partly failed job says so and exits 1
    assert first.returncode == 1 and "3 of 7 clips failed" in first.stderr, first.stderr[-500:]
    t_ref = time.perf_counter() - t0
    want = snapshot(ref)
    assert sum(k.startswith("shards/") and k.endswith(".npz") for k in want) == 4

    out, rng, kills, attempts, upper = tmp_path / "faulty", random.Random(7), 0, 0, t_ref
    while kills < 10 and attempts < 40:
        attempts += 1
        # one in-process worker: no pool start-up, so more moments land mid-clip (and the
        # result must still equal the two-worker reference)
        start = time.perf_counter()
        proc = subprocess.Popen(prep_cmd(clips_dir, out, workers=1), env=env, start_new_session=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.2, upper))
            # it finished before its moment (no kill): draw later moments within a run's span
            upper = max(0.5, 0.9 * (time.perf_counter() - start))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the job and its workers, mid-write or not
            kills += 1
            proc.wait()
        for p in out.rglob("*.npz") if out.exists() else []:  # no half-written shard, ever
            import numpy as np

            with np.load(p, allow_pickle=False) as z:
                assert "meta_json" in z.files
    assert kills == 10
    done = subprocess.run(prep_cmd(clips_dir, out), env=env, capture_output=True, text=True)
    assert done.returncode == 1 and "7 clips" in done.stdout
    assert snapshot(out) == want
    # nothing processed twice: every clip appears at most once in the timing log
    logged = [line.split('"clip_id": "')[1].split('"')[0]
              for line in (out / "log" / "timings.jsonl").read_text().splitlines()]
    assert len(logged) == len(set(logged))


@pytest.mark.slow
@pytest.mark.shared
def test_ray_engine_matches_local(clips_dir, tmp_path):
    pytest.importorskip("ray")
    from talkrig.data_prep import prepare

    local, ray_out = tmp_path / "local", tmp_path / "ray"
    a = prepare(clips_dir, local, workers=2, engine="local", progress=False)
    b = prepare(clips_dir, ray_out, workers=2, engine="ray", progress=False)
    assert a.rows == b.rows and b.processed == 7
    assert snapshot(local) == snapshot(ray_out)
