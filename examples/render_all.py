"""Render every development photo with every development audio and one TTS sentence per emotion.

Checks each mp4 (decodes fully; its duration matches the audio within one frame) and writes one
contact sheet per photo (a row of frames per clip) to look at.

    python examples/render_all.py [--shared ../shared] [--out out/render_all] [--size 256]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
EMOTION_LINES = {
    "neutral": "The meeting starts at nine in the main room.",
    "happy": "What a wonderful surprise, thank you so much!",
    "sad": "I really miss the old house by the river.",
    "angry": "This is the third time you broke my bike!",
    "surprised": "Wait, you built all of this by yourself?",
    "fearful": "Did you hear that noise behind the door?",
    "disgusted": "Ugh, the milk in the fridge has gone bad.",
    "contempt": "Oh please, as if you could ever beat me.",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--out", type=Path, default=REPO / "out" / "render_all")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--photos", nargs="*", help="only these photo file names")
    args = ap.parse_args()

    import talkrig
    from talkrig.errors import TalkrigError
    from talkrig.io.video import read_video

    args.out.mkdir(parents=True, exist_ok=True)
    photo_dir = args.shared / "dev" / "portraits"
    import sys

    sys.path.insert(0, str(REPO))
    from benchmarks.lipsync import real_clips  # the dev audio with their transcripts

    anims = {}
    for name, f, transcript in real_clips(args.shared):
        emotion = next((e for e in ("angry", "happy") if f"_{e}_" in f.name), "neutral")
        anims[name] = talkrig.api.animate(audio=f, transcript=transcript, emotion=emotion, seed=0)
    for emo, line in EMOTION_LINES.items():
        anims[f"tts_{emo}"] = talkrig.api.animate(text=line, emotion=emo, seed=0)
    photos = [p for p in sorted(photo_dir.iterdir()) if p.suffix.lower() in (".jpg", ".png")]
    if args.photos:
        photos = [p for p in photos if p.name in args.photos]

    results = []
    for photo in photos:
        try:
            recon = talkrig.reconstruct(photo)
        except TalkrigError as exc:
            print(f"{photo.name}: {exc}")
            results.append({"photo": photo.name, "error": str(exc)})
            continue
        rows = []
        for name, anim in anims.items():
            mp4 = args.out / f"{photo.stem}__{name}.mp4"
            t0 = time.perf_counter()
            rep = talkrig.render_video(recon, anim, mp4, size=args.size)
            clip = read_video(mp4)
            frames = clip.read_frames()
            ok = len(frames) == anim.n_frames and abs(clip.duration - anim.duration) <= 1 / anim.fps
            results.append({"photo": photo.name, "clip": name, "frames": len(frames),
                            "video_s": round(clip.duration, 3), "audio_s": round(anim.duration, 3),
                            "ok": bool(ok), "render_s": round(time.perf_counter() - t0, 2),
                            **{k: round(v, 3) for k, v in rep.checks.items()}})
            print(json.dumps(results[-1]))
            pick = np.linspace(0, len(frames) - 1, 8).round().astype(int)
            rows.append(np.concatenate([frames[i] for i in pick], 1))
        from PIL import Image

        Image.fromarray(np.concatenate(rows, 0)).save(args.out / f"sheet_{photo.stem}.jpg", quality=85)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    bad = [r for r in results if not r.get("ok")]
    print(f"{len(results) - len(bad)}/{len(results)} videos decode fully with duration within one frame")


if __name__ == "__main__":
    main()
