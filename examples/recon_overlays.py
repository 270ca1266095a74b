"""Reconstruct every development portrait and save pictures to look at.

For each photo (every face in it) and model, writes ``OUT/<photo>_<model>.png``: a strip of
the face crop with the fitted mesh and landmarks over it (blue: detected iBUG 68, red: the
fitted model's 68), the re-render with the model's albedo under the fitted light, the re-render
with the extracted texture, the skin mask, and the UV texture; plus ``<photo>_<model>_texture.png``.

    python examples/recon_overlays.py [--out recon_overlays] [--models default,ict] [--landmarks68 dlib]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image

TILE = 320  # strip height in pixels


def _tile(images: list[np.ndarray], height: int = TILE) -> np.ndarray:
    tiles = []
    for im in images:
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, -1)
        p = Image.fromarray(im.astype(np.uint8))
        tiles.append(np.asarray(p.resize((max(1, round(p.width * height / p.height)), height))))
    return np.concatenate(tiles, 1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="recon_overlays")
    ap.add_argument("--models", default="default,ict")
    ap.add_argument("--landmarks68", default="mediapipe", help="mediapipe or dlib (optional extra)")
    ap.add_argument("--shared", default=os.environ.get("TALKRIG_SHARED", str(Path(__file__).resolve().parents[1].parent / "shared")))
    args = ap.parse_args()

    from talkrig.io.image import load_image, save_image
    from talkrig.recon.api import reconstruct
    from talkrig.recon.evaluate import rerender
    from talkrig.recon.export import overlay_picture
    from talkrig.recon.landmarker import shared_landmarker
    from talkrig.recon.refine import crop_image

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    photos = sorted(p for p in (Path(args.shared) / "dev" / "portraits").iterdir() if p.suffix.lower() in (".jpg", ".png"))
    lm = shared_landmarker()
    for photo in photos:
        n_faces = len(lm.detect(load_image(photo)))
        for model in args.models.split(","):
            for face in range(n_faces):
                rec = reconstruct(photo, model, face_index=face, landmarks68=args.landmarks68)
                over = crop_image(overlay_picture(rec), rec.crop, TILE)
                strips = [over]
                for textured in (False, True):
                    rgb, cov = rerender(rec, textured)
                    im = rec.image.copy()
                    im[cov] = (np.clip(rgb[cov], 0, 1) * 255).astype(np.uint8)
                    strips.append(crop_image(im, rec.crop, TILE))
                strips.append(crop_image((rec.skin_mask * 255).astype(np.uint8), rec.crop, TILE))
                strips.append(rec.texture)
                name = f"{photo.stem}{'_face%d' % face if n_faces > 1 else ''}_{model}"
                if args.landmarks68 != "mediapipe":
                    name += f"_{args.landmarks68}"
                save_image(out / f"{name}.png", _tile(strips))
                save_image(out / f"{name}_texture.png", rec.texture)
                print(f"{name}: fit {rec.meta['fit_rms_px']:.1f} px, {rec.meta['seconds']['total']:.2f} s")


if __name__ == "__main__":
    main()
