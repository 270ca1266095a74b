"""Contact sheet of the default model's expressions.

    python examples/contact_sheet.py [-o contact_sheet.png] [--yaw 20]

Renders the textured default head with :mod:`talkrig.render.preview` (a numpy front end to
:mod:`talkrig.render`) in the neutral pose and 8 ARKit expressions, labelled, into one PNG.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from PIL import Image, ImageDraw

from talkrig.render import preview
from talkrig.model.default import default_texture, load_default

EXPRESSIONS = (
    ("neutral", {}),
    ("jawOpen", {"jawOpen": 1.0}),
    ("smile", {"mouthSmileLeft": 1.0, "mouthSmileRight": 1.0}),
    ("eyeBlinkLeft", {"eyeBlinkLeft": 1.0}),
    ("browInnerUp", {"browInnerUp": 1.0}),
    ("mouthPucker", {"mouthPucker": 1.0}),
    ("frown+browDown", {"mouthFrownLeft": 1.0, "mouthFrownRight": 1.0, "browDownLeft": 1.0, "browDownRight": 1.0}),
    ("surprise", {"jawOpen": 0.5, "eyeWideLeft": 1.0, "eyeWideRight": 1.0, "browInnerUp": 1.0,
                  "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}),
    ("tongueOut", {"jawOpen": 0.6, "tongueOut": 1.0}),
)


def contact_sheet(tile: int = 320, yaw: float = 15.0) -> Image.Image:
    """A labelled grid image of :data:`EXPRESSIONS`."""
    model = load_default()
    tex = default_texture()
    faces = model.faces.numpy()
    cols = 3
    rows = -(-len(EXPRESSIONS) // cols)
    sheet = Image.new("RGB", (cols * tile, rows * tile), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (label, weights) in enumerate(EXPRESSIONS):
        with torch.no_grad():
            v = model(expression=model.expression_vector(weights)[None])[0].numpy()
        img, _ = preview.render_mesh(v, faces, size=(tile, tile), focal=2.4 * tile, distance=60.0,
                                     yaw_deg=yaw, center=(0.0, -3.0, 0.0), texture=tex,
                                     uvs=model.uvs.numpy(), uv_faces=model.uv_faces.numpy())
        x, y = (k % cols) * tile, (k // cols) * tile
        sheet.paste(Image.fromarray(img), (x, y))
        draw.text((x + 6, y + 6), label, fill=(0, 0, 0))
    return sheet


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--output", default="contact_sheet.png")
    ap.add_argument("--yaw", type=float, default=15.0)
    ap.add_argument("--tile", type=int, default=320)
    a = ap.parse_args()
    preview.save_png(np.asarray(contact_sheet(a.tile, a.yaw)), a.output)
    print(f"wrote {a.output}")


if __name__ == "__main__":
    main()
