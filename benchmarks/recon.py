"""Single-photo reconstruction on the development portraits that have 68-point ground truth.

Prints, per photo (and face) and model: the NME of the fitted model's projected 68 landmarks
(normalised by the outer-eye-corner distance) next to the detector's own 68 points (baseline:
MediaPipe's 478 mapped to iBUG 68, or dlib's 68 in the "+dlib" rows, which fit to them:
``--landmarks68 dlib``, optional extra), the skin-mask PSNR of the re-rendered face (model albedo x SH
light, and the extracted texture), and the wall time of ``reconstruct`` with the model loaded
(baseline: detection alone; "cpu s" is this process's CPU time, less sensitive to other
load on a shared machine). Targets: NME <= 4 %, PSNR >= 26 dB, <= 1 s.

    python benchmarks/recon.py [--models default,ict] [--shared ../shared]
"""

from __future__ import annotations

import argparse
import glob
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="default,ict")
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(Path(__file__).resolve().parents[1].parent / "shared")))
    ap.add_argument("--repeat", type=int, default=2, help="timed runs per photo (the best is reported)")
    ap.add_argument("--fits", default="plausible,tight", help="fit presets (FitSettings() / FitSettings.tight())")
    ap.add_argument("--landmarks68", default="mediapipe,dlib",
                    help="sources of the 68 iBUG targets (dlib rows need the dlib extra; skipped without it)")
    args = ap.parse_args()

    from talkrig.io.image import load_image
    from talkrig.recon.api import reconstruct
    from talkrig.recon.context import model_context
    from talkrig.recon.evaluate import landmark_nme, read_pts, rerender_psnr
    from talkrig.recon.fit import FitSettings
    from talkrig.recon.landmarker import shared_landmarker

    folder = Path(args.shared) / "dev" / "portraits"
    pts_files = sorted(glob.glob(str(folder / "*.pts")))
    if not pts_files:
        raise SystemExit(f"no .pts files under {folder}")
    from talkrig.recon.dlib68 import available as dlib_available

    lm = shared_landmarker()
    presets = {"plausible": FitSettings(), "tight": FitSettings.tight()}
    sources = [s for s in args.landmarks68.split(",") if s != "dlib" or dlib_available()]
    print(f"{'model':8s} {'fit':15s} {'photo':32s} {'NME model':>9s} {'NME det':>8s} {'PSNR alb':>8s} {'PSNR tex':>8s} "
          f"{'time s':>7s} {'cpu s':>6s} {'detect s':>8s}")
    summary = {}
    combos = [(m, f, src) for m in args.models.split(",") for f in args.fits.split(",") for src in sources]
    for model, fit, src in combos:
        t = time.perf_counter()
        model_context(model)  # load + correspondence (cached on disk after the first run)
        load_s = time.perf_counter() - t
        rows = []
        for pts in pts_files:
            stem = Path(pts).stem
            photo_stem = stem.split("_face")[0]
            photo = next(p for p in glob.glob(str(folder / (photo_stem + ".*"))) if not p.endswith((".pts", ".txt")))
            gt = read_pts(pts)
            img = load_image(photo)
            faces = lm.detect(img)
            # the face the annotation belongs to: nearest detection to the GT centroid
            idx = int(np.argmin([np.linalg.norm(f.points.mean(0) - gt.mean(0)) for f in faces]))
            best = cpu = None
            for _ in range(args.repeat):
                t, c = time.perf_counter(), time.process_time()
                rec = reconstruct(photo, model, face_index=idx, settings=presets[fit], landmarks68=src)
                dt, dc = time.perf_counter() - t, time.process_time() - c
                best = dt if best is None else min(best, dt)
                cpu = dc if cpu is None else min(cpu, dc)
            t = time.perf_counter()
            lm.detect(load_image(photo))
            det_s = time.perf_counter() - t
            e = landmark_nme(rec, gt)
            p_alb = rerender_psnr(rec, textured=False)
            p_tex = rerender_psnr(rec, textured=True)
            rows.append((e["model"], e["detector"], p_alb, p_tex, best, cpu))
            label = fit if src == "mediapipe" else f"{fit}+{src}"
            print(f"{model:8s} {label:15s} {stem:32s} {100 * e['model']:8.2f}% {100 * e['detector']:7.2f}% {p_alb:8.2f} "
                  f"{p_tex:8.2f} {best:7.3f} {cpu:6.3f} {det_s:8.3f}")
        r = np.array(rows)
        summary[(model, fit if src == "mediapipe" else f"{fit}+{src}")] = (r.mean(0), load_s)
    print()
    for (model, fit), (mean, load_s) in summary.items():
        print(f"{model:8s} {fit:15s} mean: NME {100 * mean[0]:.2f}% (detector {100 * mean[1]:.2f}%), PSNR albedo {mean[2]:.2f} dB, "
              f"texture {mean[3]:.2f} dB, time {mean[4]:.3f} s (cpu {mean[5]:.3f} s); "
              f"model load + correspondence {load_s:.2f} s")
    print(f"load average while running: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (wall times grow with it)")


if __name__ == "__main__":
    main()
