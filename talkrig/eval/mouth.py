"""What the inside of an open mouth looks like: teeth, darkness and flat slabs.

Inside MediaPipe's inner-lip outline, on frames whose mouth is open, three shares of pixels
(luminance ``Y = 0.299 R + 0.587 G + 0.114 B`` of 8-bit frames):

* teeth-bright: ``Y > 150`` (enamel under the face's light; real talking videos 0.11-0.56);
* near-black: ``Y < 20`` (a black hole; real videos 0.00-0.22);
* flat-shaded: the 3x3 neighbourhood's luminance range is below 2 (a procedural slab with no
  texture; real video <= 0.008, where sensor noise and compression alone exceed it).

The shares are pooled over all open-mouth pixels of a clip (a clip with more open frames weighs
its frames equally). Open means an inner-lip gap of at least :data:`OPEN` outer-eye-corner
distances (:func:`talkrig.eval.landmarks.mouth_opening`; closed lips are below 0.04).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from talkrig.eval.landmarks import mouth_opening

#: MediaPipe face-mesh points of the inner lip outline, in order around the opening.
INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308, 324, 318, 402, 317, 14, 87, 178, 88, 95)
OPEN = 0.08  # inner-lip gap / outer-eye-corner distance from which a frame counts as open
BRIGHT, BLACK, FLAT_RANGE = 150.0, 20.0, 2.0


def luminance(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` float32 luma of an ``(H, W, 3)`` uint8 RGB frame."""
    f = frame.astype(np.float32)
    return 0.299 * f[..., 0] + 0.587 * f[..., 1] + 0.114 * f[..., 2]


def inner_lip_mask(points478: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``(H, W)`` bool: pixels whose centre lies inside the inner-lip polygon of one frame's
    MediaPipe points (pixel coordinates); ``size`` is ``(width, height)``."""
    from PIL import Image, ImageDraw

    poly = [(float(x), float(y)) for x, y in np.asarray(points478)[list(INNER_LIP), :2]]
    img = Image.new("L", size, 0)
    ImageDraw.Draw(img).polygon(poly, fill=1)
    return np.asarray(img, bool)


def local_range(y: np.ndarray) -> np.ndarray:
    """``(H, W)`` max minus min of each pixel's 3x3 neighbourhood (edges replicated)."""
    p = np.pad(y, 1, mode="edge")
    h, w = y.shape
    stack = np.stack([p[i:i + h, j:j + w] for i in range(3) for j in range(3)])
    return stack.max(0) - stack.min(0)


@dataclass
class MouthInterior:
    """Pooled shares inside the open mouths of one clip (NaN when no frame was open)."""

    open_frames: int
    frames: int
    pixels: int
    teeth_bright: float
    near_black: float
    flat: float

    def as_dict(self) -> dict:
        return {"open_frames": self.open_frames, "frames": self.frames, "pixels": self.pixels,
                "teeth_bright": self.teeth_bright, "near_black": self.near_black, "flat": self.flat}


def mouth_interior(frames: Iterable[np.ndarray], points: np.ndarray, open_at: float = OPEN) -> MouthInterior:
    """Measure the mouth interior of ``frames`` (``(H, W, 3)`` uint8) with their tracked
    MediaPipe ``points`` (``(T, 478, >=2)`` pixels, NaN where no face)."""
    from talkrig.recon.landmarker import mediapipe_to_ibug68

    points = np.asarray(points, np.float32)
    opening = mouth_opening(mediapipe_to_ibug68(points[..., :2]))
    n_open = n_px = bright = black = flat = 0
    count = 0
    for i, frame in enumerate(frames):
        count += 1
        if i >= len(points) or not np.isfinite(opening[i]) or opening[i] < open_at:
            continue
        mask = inner_lip_mask(points[i], (frame.shape[1], frame.shape[0]))
        if not mask.any():
            continue
        y = luminance(frame)
        inside = y[mask]
        n_open += 1
        n_px += inside.size
        bright += int((inside > BRIGHT).sum())
        black += int((inside < BLACK).sum())
        flat += int((local_range(y)[mask] < FLAT_RANGE).sum())
    share = (lambda k: k / n_px) if n_px else (lambda k: float("nan"))
    return MouthInterior(n_open, count, n_px, share(bright), share(black), share(flat))
