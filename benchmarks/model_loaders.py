"""Face-model loading speed: ICT-FaceKit conversion (first load) vs cached load, and the
vectorised OBJ vertex parser vs the obvious per-line Python parser (baseline).

Needs ../shared/models/ICT-FaceKit-FaceXModel.tar.xz (or $TALKRIG_ICT_MODEL).
Run: python benchmarks/model_loaders.py
"""

from __future__ import annotations

import os
import tarfile
import tempfile
import time

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np


def naive_vertices(data: bytes) -> np.ndarray:
    """Baseline: split every line in Python."""
    return np.array([[float(t) for t in ln.split()[1:4]] for ln in data.decode().splitlines()
                     if ln.startswith("v ")])


def best_of(fn, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    from talkrig.model.loaders.ict import find_ict, load_ict
    from talkrig.model.loaders.objparse import obj_vertices

    src = find_ict()
    if src is None:
        raise SystemExit("ICT model not found (set TALKRIG_ICT_MODEL)")
    with tarfile.open(src) as tar:
        files = [tar.extractfile(m).read() for m in tar if m.name.endswith(".obj")][:10]
    rows = []
    t_naive = best_of(lambda: [naive_vertices(d) for d in files], 1) / len(files)
    t_fast = best_of(lambda: [obj_vertices(d) for d in files]) / len(files)
    assert np.allclose(naive_vertices(files[0]), obj_vertices(files[0]))
    rows.append(("OBJ vertices, per-line Python (baseline)", t_naive))
    rows.append(("OBJ vertices, talkrig objparse", t_fast))
    with tempfile.TemporaryDirectory() as cache:
        os.environ["TALKRIG_CACHE"] = cache
        t = time.perf_counter()
        load_ict(src)
        rows.append(("ICT load, first (parse 158 OBJs + cache)", time.perf_counter() - t))
        rows.append(("ICT load, cached npz", best_of(lambda: load_ict(src))))
    print(f"{'case':45s} {'seconds':>9s}")
    for name, sec in rows:
        print(f"{name:45s} {sec:9.4f}")
    print(f"objparse speed-up over baseline: {t_naive / t_fast:.0f}x per 26,719-vertex file")


if __name__ == "__main__":
    main()
