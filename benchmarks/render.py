"""Rendering speed: our numba ``cpu`` backend vs the vectorised plain-torch rasterizer (baseline).

Scene: the largest face mesh available -- ICT-FaceKit's neutral head (26,719 vertices, 52,220
triangles) read from ../shared when present, else an icosphere of 81,920 triangles -- filling
most of the frame, per-vertex SH (Deep3DFaceRecon) shading, silhouette anti-aliasing on.

    forward      = project + rasterize + normals + SH + interpolate + antialias (no grad)
    fwd+bwd      = the same with grad, an L2 image loss, and backward to vertices, albedo, light

Both columns use the same shading/interpolation code; only the rasterization backend differs.
Run: ``python benchmarks/render.py [--sizes 224 512 1024] [--png out.png]``.
Sets OMP_WAIT_POLICY=PASSIVE before importing torch (see docs/rendering.md: idle OpenMP threads
otherwise spin and starve numba's threads on small machines).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import io  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import torch  # noqa: E402

ICT = Path(__file__).resolve().parents[2] / "shared" / "models" / "ICT-FaceKit-FaceXModel.tar.xz"


def parse_obj(text: str):
    """Vertices (N,3) and fan-triangulated faces (F,3) of an OBJ."""
    v, f = [], []
    for line in text.splitlines():
        if line.startswith("v "):
            v.append([float(a) for a in line.split()[1:4]])
        elif line.startswith("f "):
            ids = [int(p.split("/")[0]) - 1 for p in line.split()[1:]]
            f.extend([ids[0], ids[k], ids[k + 1]] for k in range(1, len(ids) - 1))
    return torch.tensor(v, dtype=torch.float32), torch.tensor(f, dtype=torch.int64)


def load_mesh():
    """(vertices, faces, name): ICT neutral head, or an icosphere fallback."""
    if ICT.exists():
        with tarfile.open(ICT, "r:xz") as tf:
            for m in tf:
                if m.name.endswith("generic_neutral_mesh.obj"):
                    v, f = parse_obj(io.TextIOWrapper(tf.extractfile(m)).read())
                    return v, f, "ICT-FaceKit neutral"
    import trimesh

    s = trimesh.creation.icosphere(subdivisions=6, radius=12.0)
    return torch.tensor(s.vertices, dtype=torch.float32), torch.tensor(s.faces), "icosphere(6)"


def scene(v, size):
    """Camera-space vertices (1, N, 3) and a camera framing the head at ``size`` px."""
    from talkrig.render.camera import Camera

    c = (v.max(0).values + v.min(0).values) / 2
    span = float((v.max(0).values - v.min(0).values)[:2].max())
    vv = v - c + torch.tensor([0.0, 0.0, -2.4 * span])
    return vv[None].contiguous(), Camera(focal=2.4 * size * 0.95, width=size, height=size)


def timeit(fn, reps=5, min_time=0.5):
    """Best-of-``reps`` mean wall time of ``fn`` (seconds), each rep running >= ``min_time/reps``,
    and the process CPU time per call of that rep (all threads; robust to other users' load)."""
    fn()
    best, cpu = float("inf"), float("inf")
    for _ in range(reps):
        n, t0, c0 = 0, time.perf_counter(), time.process_time()
        while True:
            fn()
            n += 1
            if time.perf_counter() - t0 > min_time / reps:
                break
        wall = (time.perf_counter() - t0) / n
        if wall < best:
            best, cpu = wall, (time.process_time() - c0) / n
    return best, cpu


def first_call_seconds(cold: bool) -> float:
    """Import + first render in a fresh process (``cold``: empty numba cache -> compile)."""
    code = ("import time,torch;t=time.perf_counter();from talkrig.render.renderer import MeshRenderer;"
            "from talkrig.render.camera import Camera;import trimesh;s=trimesh.creation.icosphere(3);"
            "v=torch.tensor(s.vertices,dtype=torch.float32)[None]-torch.tensor([0,0,4.]);"
            "f=torch.tensor(s.faces);l=torch.zeros(1,27);l[:,[0,9,18]]=.8;vv=v.clone().requires_grad_();"
            "MeshRenderer(f)(vv,Camera(100.,64,64),lighting=l).image.sum().backward();"
            "print(time.perf_counter()-t)")
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as d:
        if cold:
            env["NUMBA_CACHE_DIR"] = d
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[224, 512, 1024])
    ap.add_argument("--backends", nargs="+", default=["cpu", "torch"])
    ap.add_argument("--cull", default="none")
    ap.add_argument("--torch-threads", type=int, default=None,
                    help="torch intra-op threads (numba kernels keep all cores); 1 avoids OpenMP "
                         "barrier stalls of tiny torch ops when the machine is oversubscribed")
    ap.add_argument("--png", type=Path, default=None, help="write the 512 px cpu render here")
    args = ap.parse_args(argv)

    from talkrig.render.renderer import MeshRenderer

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    v, f, name = load_mesh()
    light = torch.zeros(1, 27)
    light[:, [0, 9, 18]] = 0.8
    light[:, [2, 11, 20]] = 0.25
    light[:, [3, 12, 21]] = -0.15
    albedo = torch.tensor([0.72, 0.55, 0.47]).expand(1, v.shape[0], 3).contiguous()
    print(f"mesh: {name}, {v.shape[0]} vertices, {f.shape[0]} triangles; torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, load avg {os.getloadavg()[0]:.1f}, cull={args.cull}")
    print(f"first render in a fresh process: {first_call_seconds(False):.2f} s with the numba cache, "
          f"{first_call_seconds(True):.2f} s compiling from scratch")
    print("wall = best-of-5 wall clock; cpu = CPU seconds of all threads per call (the 2-core wall time on an\n"
          "idle machine is between cpu/2 and cpu)")
    print(f"{'backend':<8} {'size':>5} {'cover':>6} {'fwd ms':>8} {'fwd cpu':>8} {'fwd fps':>8} "
          f"{'f+b ms':>8} {'f+b cpu':>8} {'f+b it/s':>9}")
    for size in args.sizes:
        vv, cam = scene(v, size)
        for be in args.backends:
            r = MeshRenderer(f, backend=be, cull=args.cull)
            with torch.no_grad():
                out = r(vv, cam, albedo=albedo, lighting=light, maps=())
            target = out.image.detach() * 0.9
            if args.png and be == "cpu" and size == 512:
                out.save_png(args.png)

            def fwd():
                with torch.no_grad():
                    r(vv, cam, albedo=albedo, lighting=light, maps=())

            def fwd_bwd():
                x = vv.clone().requires_grad_()
                a = albedo.clone().requires_grad_()
                lt = light.clone().requires_grad_()
                img = r(x, cam, albedo=a, lighting=lt, maps=()).image
                ((img - target) ** 2).mean().backward()

            tf, cf = timeit(fwd)
            tb, cb = timeit(fwd_bwd)
            cover = out.alpha.mean().item()
            print(f"{be:<8} {size:>5} {cover:>6.2f} {tf * 1e3:>8.1f} {cf * 1e3:>8.1f} {1 / tf:>8.1f} "
                  f"{tb * 1e3:>8.1f} {cb * 1e3:>8.1f} {1 / tb:>9.1f}", flush=True)
        print(f"  (load avg now {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
