"""The inside of the open mouth: talkrig's renders next to real talking videos.

Every dev portrait (the faces of benchmarks/emotion.py) speaks the dev LibriSpeech sentence
(real speech, its transcript for alignment) in neutral, sad and happy speech at 512 px through
``api.render_video`` (H.264, read back as users see it); the real dev talking videos are the
baseline in the same run. Inside MediaPipe's inner-lip
outline, on frames whose mouth is open, it prints the teeth-bright, near-black and flat-shaded
shares (:mod:`talkrig.eval.mouth`) per clip, their medians / worst case, and the render speed;
``--sheet`` writes a contact sheet of the widest-open frame of every render (mouth crops); last,
the mouth PSNR/SSIM of self-reenactment on the dev HDTF clip (:func:`reenactment`).

Goals (issue 19): teeth-bright median >= 0.10, near-black <= 0.25 on every render, flat-shaded
median <= 0.03.

    python benchmarks/mouth.py [--shared ../shared] [--faces N] [--emotions neutral,sad,happy]
                               [--size 512] [--sheet mouths.png]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before torch loads, as the talkrig command does

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.emotion import FACES  # noqa: E402

AUDIO = ("dev", "audio", "librispeech_116-288045-0000.flac")
VIDEOS = ("dfrf_cnn2_25fps.mp4", "pcavs_741400163.mp4", "pcavs_00086.mp4", "hdtf_WDA_KatieHill_000.mp4")
GOALS = {"teeth_bright": ">= 0.10 (median)", "near_black": "<= 0.25 (every render)", "flat": "<= 0.03 (median)"}


def _row(name: str, m, fps: float | None = None) -> str:
    speed = f" | {fps:.1f}" if fps is not None else " | -"
    return (f"| {name} | {m.open_frames}/{m.frames} | {m.teeth_bright:.3f} | {m.near_black:.3f} | "
            f"{m.flat:.3f}{speed} |")


def _widest_crop(frames: list[np.ndarray], points: np.ndarray, side: int = 160) -> np.ndarray:
    """The mouth of the frame whose lips are furthest apart, ``side`` px square."""
    from PIL import Image

    from talkrig.eval.landmarks import mouth_opening
    from talkrig.recon.landmarker import mediapipe_to_ibug68

    opening = np.nan_to_num(mouth_opening(mediapipe_to_ibug68(points[..., :2])), nan=-1.0)
    i = int(np.argmax(opening))
    if not np.isfinite(points[i]).all():
        return np.zeros((side, side, 3), np.uint8)
    mouth = points[i, [61, 291, 0, 17], :2]  # MediaPipe: mouth corners, top and bottom of the lips
    c = mouth.mean(0)
    half = 0.9 * float(np.linalg.norm(mouth[0] - mouth[1]))
    box = (c[0] - half, c[1] - half, c[0] + half, c[1] + half)
    return np.asarray(Image.fromarray(frames[i]).resize((side, side), box=box))


def reenactment(shared: Path, out: Path) -> dict[str, float]:
    """Mouth and face PSNR/SSIM of self-reenactment on the dev HDTF clip: its tracked and fitted
    coefficients replayed through the classical renderer from its first frame, scored on the
    last 2 s against the real frames (the per-subject refiner benchmark's 'classical' column)."""
    from benchmarks.refiner import prepare, region_scores
    from talkrig.data_prep.refiner.sources import open_training_data
    from talkrig.texture.neural.config import RefinerConfig

    video = shared / "dev" / "video" / "hdtf_WDA_KatieHill_000.mp4"
    data = prepare(video, out / "prep_default", "default")
    td = open_training_data(data, RefinerConfig.preset("128"), holdout_seconds=2.0, conditioning="classical",
                            videos=video)
    held = td.heldout[0]
    return region_scores(held["render"], held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(REPO.parent / "shared")))
    ap.add_argument("--faces", type=int, default=len(FACES), help="use the first N faces")
    ap.add_argument("--emotions", default="neutral,sad,happy")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--sheet", type=Path, default=None, help="contact sheet of open mouths (.png)")
    ap.add_argument("--no-reenact", action="store_true", help="skip the self-reenactment scores")
    args = ap.parse_args()

    from talkrig import api
    from talkrig.eval.mouth import mouth_interior
    from talkrig.eval.track import track_frames
    from talkrig.io.video import read_video

    shared = Path(args.shared)
    header = "| clip | open frames | teeth-bright | near-black | flat | render fps |\n|---|---|---|---|---|---|"
    print("real talking videos (baseline)\n" + header, flush=True)
    for name in VIDEOS:
        clip = read_video(shared / "dev" / "video" / name)
        frames = list(clip.frames())
        track = track_frames(frames, clip.fps)
        print(_row(name, mouth_interior(frames, track.points)), flush=True)

    transcript = (shared / AUDIO[0] / AUDIO[1] / AUDIO[2]).with_suffix(".txt").read_text().strip().lower()
    audio = shared.joinpath(*AUDIO)
    print(f"\ntalkrig renders ({args.size} px, {audio.name})\n" + header, flush=True)
    results, crops = [], []
    for face, index in FACES[:args.faces]:
        path = REPO / "examples" / "astronaut.jpg" if face == "skimage_astronaut.png" else shared / "dev" / "portraits" / face
        rec = api.reconstruct(path, face_index=index)
        row = []
        for emotion in args.emotions.split(","):
            anim = api.animate(audio=audio, transcript=transcript, emotion=emotion, seed=0)
            with tempfile.TemporaryDirectory() as d:  # measured as users get it: the encoded mp4
                report = api.render_video(rec, anim, Path(d) / "m.mp4", size=args.size)
                frames = list(read_video(report.path).frames())
            fps = report.render_fps
            track = track_frames(frames, anim.fps)
            m = mouth_interior(frames, track.points)
            results.append((m, fps))
            print(_row(f"{face[:22]}#{index} {emotion}", m, fps), flush=True)
            row.append(_widest_crop(frames, track.points))
        crops.append(np.concatenate(row, 1))

    ms = [m for m, _ in results if m.open_frames]
    fpss = [f for _, f in results]
    if ms:
        print(f"\nover {len(ms)} renders with open frames (goals: {GOALS}):")
        print(f"teeth-bright median {np.median([m.teeth_bright for m in ms]):.3f}; near-black worst "
              f"{max(m.near_black for m in ms):.3f} (median {np.median([m.near_black for m in ms]):.3f}); "
              f"flat median {np.median([m.flat for m in ms]):.3f}; render speed median {np.median(fpss):.1f} "
              "frames/s (render + encode)")
    if not args.no_reenact:
        with tempfile.TemporaryDirectory() as d:
            scores = reenactment(shared, Path(d))
        print("self-reenactment of hdtf_WDA_KatieHill_000 (classical render, last 2 s, 128 px): "
              + ", ".join(f"{k} {v:.3f}" for k, v in scores.items()))
    if args.sheet is not None and crops:
        from PIL import Image

        Image.fromarray(np.concatenate(crops, 0)).save(args.sheet)
        print(f"contact sheet: {args.sheet} (rows: faces, columns: {args.emotions})")


if __name__ == "__main__":
    main()
