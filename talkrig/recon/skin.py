"""Skin mask of a portrait from its MediaPipe landmarks and colour statistics.

Face region = convex hull of MediaPipe's face oval, minus the eyes, brows and mouth (polygons from
their landmark loops, grown a little); then pixels whose colour is far from the skin colour
(robust mean/covariance in YCrCb of the cheeks, nose and forehead) are dropped, which removes
hair, glasses frames, beards and hands in front of the face.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

# MediaPipe face-mesh loops (point ids), from the landmarker's published connection lists.
FACE_OVAL = (10, 338, 297, 332, 284, 251, 389, 356, 454, 323, 361, 288, 397, 365, 379, 378, 400, 377,
             152, 148, 176, 149, 150, 136, 172, 58, 132, 93, 234, 127, 162, 21, 54, 103, 67, 109)
LEFT_EYE = (263, 249, 390, 373, 374, 380, 381, 382, 362, 398, 384, 385, 386, 387, 388, 466)
RIGHT_EYE = (33, 7, 163, 144, 145, 153, 154, 155, 133, 173, 157, 158, 159, 160, 161, 246)
LEFT_BROW = (276, 283, 282, 295, 285, 336, 296, 334, 293, 300)
RIGHT_BROW = (46, 53, 52, 65, 55, 107, 66, 105, 63, 70)
LIPS_OUTER = (61, 146, 91, 181, 84, 17, 314, 405, 321, 375, 291, 409, 270, 269, 267, 0, 37, 39, 40, 185)
# patches of bare skin used for the colour model (cheeks, nose bridge, forehead centre)
SKIN_SAMPLES = (50, 101, 36, 205, 280, 330, 266, 425, 6, 197, 195, 5, 151, 9, 108, 337, 118, 347)


def _polygon_mask(size: tuple[int, int], polys: list[np.ndarray], grow: int = 0) -> np.ndarray:
    w, h = size
    im = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(im)
    for p in polys:
        pts = [tuple(map(float, q)) for q in p]
        draw.polygon(pts, fill=255)
        if grow > 0:  # a thick outline grows the polygon by ``grow`` pixels (cheaper than a max filter)
            draw.line(pts + pts[:1], fill=255, width=2 * grow + 1, joint="curve")
    return np.asarray(im) > 127


def _hull(points: np.ndarray) -> np.ndarray:
    from scipy.spatial import ConvexHull

    return points[ConvexHull(points).vertices]


def _ycrcb(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float32) for i in range(3))
    y = 0.299 * r + 0.587 * g + 0.114 * b
    return np.stack([y, (r - y) * 0.713 + 128, (b - y) * 0.564 + 128], -1)


def skin_mask(image: np.ndarray, landmarks478: np.ndarray, colour_threshold: float = 3.0) -> np.ndarray:
    """Boolean ``(H, W)`` mask of visible facial skin.

    Args:
        image: ``(H, W, 3)`` uint8.
        landmarks478: ``(478, 2)`` MediaPipe points in pixels.
        colour_threshold: Mahalanobis distance (chroma, with a looser luma bound) beyond which a
            pixel is not skin.
    """
    h, w = image.shape[:2]
    pts = np.asarray(landmarks478, np.float64)[:, :2]
    x0, y0 = np.floor(pts.min(0)).astype(int)
    x1, y1 = np.ceil(pts.max(0)).astype(int)
    pad = int(0.1 * max(x1 - x0, y1 - y0)) + 2
    bx0, by0, bx1, by1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    if bx1 <= bx0 or by1 <= by0:
        return np.zeros((h, w), bool)
    sub = image[by0:by1, bx0:bx1]
    off = np.array([bx0, by0], np.float64)
    size = (bx1 - bx0, by1 - by0)
    face_px = max(x1 - x0, y1 - y0)
    grow = max(1, int(round(0.015 * face_px)))
    face = _polygon_mask(size, [_hull(pts[list(FACE_OVAL)] - off)])
    holes = _polygon_mask(size, [pts[list(loop)] - off for loop in (LEFT_EYE, RIGHT_EYE, LEFT_BROW, RIGHT_BROW, LIPS_OUTER)],
                          grow=grow)
    region = face & ~holes
    # colour model from small discs around skin sample points
    ycc = _ycrcb(sub)
    sample = _polygon_mask(size, [_disc(pts[i] - off, 0.02 * face_px) for i in SKIN_SAMPLES]) & region
    if sample.sum() < 20:
        sample = region
    vals = ycc[sample]
    if len(vals) < 10:
        out = np.zeros((h, w), bool)
        out[by0:by1, bx0:bx1] = region
        return out
    med = np.median(vals, 0)
    dev = vals - med
    keep = np.abs(dev[:, 1:]).max(1) <= np.percentile(np.abs(dev[:, 1:]).max(1), 90) + 1e-3
    cov = np.cov(vals[keep][:, 1:].T) + np.eye(2) * 4.0
    d = (ycc[..., 1:] - med[1:]).reshape(-1, 2)
    m2 = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d).reshape(region.shape)
    luma_sd = max(np.std(vals[keep][:, 0]), 8.0)
    luma_ok = np.abs(ycc[..., 0] - med[0]) <= 3.5 * luma_sd
    skin = region & (m2 <= colour_threshold ** 2) & luma_ok
    out = np.zeros((h, w), bool)
    out[by0:by1, bx0:bx1] = skin
    return out


def _disc(c: np.ndarray, r: float, n: int = 12) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    r = max(r, 1.5)
    return np.stack([c[0] + r * np.cos(t), c[1] + r * np.sin(t)], 1)
