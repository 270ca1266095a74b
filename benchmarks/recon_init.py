"""The learned fit initialiser (talkrig.recon.regressor) on the dev talking video.

The video goes through `talkrig prep` (default model); the regressor is trained on its first
150 frames (plus synthetic faces drawn from the model) and judged on the last 50:

* how well it predicts the tracked expression / identity coefficients, against the baseline
  of always guessing the training frames' mean expression and the mean identity;
* what it does to the single-photo fit of those frames (``reconstruct(..., initializer=net)``)
  against the fit's own start (mean face, the detector's ARKit scores): iterations, fit time,
  reprojection error.

    python benchmarks/recon_init.py [--shared ../shared] [--steps 2000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(Path(__file__).resolve().parents[1].parent / "shared")))
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--synthetic", type=int, default=20000)
    args = ap.parse_args()

    import av
    import torch

    import talkrig
    from talkrig.data_prep import prepare
    from talkrig.model.arkit import ARKIT_52
    from talkrig.recon import reconstruct
    from talkrig.recon.landmarker import FaceDetection
    from talkrig.data_prep.dataset import load_prepared
    from talkrig.recon.regressor import train_regressor

    video = Path(args.shared) / "dev" / "video" / "hdtf_WDA_KatieHill_000.mp4"
    if not video.is_file():
        raise SystemExit(f"missing {video}")
    model = talkrig.load_model("default")
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in"
        src.mkdir()
        (src / video.name).symlink_to(video)
        prepare(src, Path(tmp) / "out", workers=1, progress=False)
        data = load_prepared(Path(tmp) / "out")
    train = data["frame"] < 150
    test = ~train
    t = time.perf_counter()
    net, losses = train_regressor({k: v[train] for k, v in data.items()}, model, steps=args.steps,
                                  synthetic=args.synthetic)
    train_s = time.perf_counter() - t
    ident, expr = net.predict(data["landmarks"][test])
    truth_e, truth_i = data["expression"][test], data["identity"][test]
    base_e = data["expression"][train].mean(0)
    std = model.id_std.numpy()
    print(f"trained {args.steps} steps ({args.synthetic} synthetic pairs) in {train_s:.1f} s; "
          f"loss {np.mean(losses[:10]):.3f} -> {np.mean(losses[-50:]):.3f}")
    print(f"\n{'held-out frames (50)':<44} {'regressor':>10} {'baseline':>10}")
    print(f"{'expression MSE (blendshape weights)':<44} {((expr - truth_e) ** 2).mean():10.4f} "
          f"{((base_e - truth_e) ** 2).mean():10.4f}   (baseline: training frames' mean)")
    print(f"{'identity distance (whitened, to tracked)':<44} {np.linalg.norm((ident - truth_i) / std, axis=1).mean():10.2f} "
          f"{np.linalg.norm(truth_i / std, axis=1).mean():10.2f}   (baseline: mean face)")

    torch.set_num_threads(1)
    rows = {"mean face + ARKit scores (baseline)": [], "regressor": []}
    with av.open(str(video)) as c:
        frames = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i >= 150}
    for i, img in frames.items():
        k = np.flatnonzero(data["frame"] == i)
        if not len(k):
            continue
        lm = data["landmarks"][k[0]]
        det = FaceDetection(landmarks=lm, bbox=(*lm[:, :2].min(0), *lm[:, :2].max(0)),
                            blendshapes=dict(zip(ARKIT_52, map(float, data["blendshapes"][k[0]]))))
        for label, init in zip(rows, (None, net)):
            r = reconstruct(img, detection=det, initializer=init)
            rows[label].append((r.meta["fit_iterations"], r.meta["seconds"]["fit"], r.meta["fit_rms_px"]))
    print(f"\n{'single-frame fit of the held-out frames':<44} {'iterations':>10} {'fit ms':>8} {'rms px':>8}")
    for label, v in rows.items():
        a = np.array(v)
        print(f"{label:<44} {a[:, 0].mean():10.2f} {1000 * a[:, 1].mean():8.1f} {a[:, 2].mean():8.3f}")
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
