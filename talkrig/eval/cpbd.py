"""CPBD: no-reference sharpness, Narvekar & Karam 2011.

N. D. Narvekar and L. J. Karam, "A No-Reference Image Blur Metric Based on the Cumulative
Probability of Blur Detection (CPBD)", IEEE Trans. Image Processing 20(9), 2011.

The image is split into 64x64 blocks; blocks with more than 0.2% edge pixels are edge
blocks. For each edge pixel in an edge block the edge width ``w`` is measured (Marziliano et
al. 2002: distance between the intensity extrema on either side of the edge, along the row,
for edges whose gradient is mostly horizontal). The block's contrast sets the
just-noticeable-blur width ``w_JNB`` (5 for contrast <= 50, else 3); the probability of
detecting blur at that edge is ``1 - exp(-|w / w_JNB|^3.6)``. CPBD is the share of edges
whose probability rounds to at most ``P_JNB = 63%`` (1% bins): sharper images score higher, in [0, 1].

Edges come from Canny with MATLAB ``edge(I, 'canny')``'s automatic thresholds (Gaussian
sigma sqrt(2), high threshold at the 70th percentile of gradient magnitude, low = 0.4 high),
since the paper's implementation used MATLAB.
"""

from __future__ import annotations

import numpy as np
from numba import njit

BLOCK = 64
EDGE_BLOCK_SHARE = 0.002
BETA = 3.6
P_JNB = 0.63


def _gray(img) -> np.ndarray:
    a = np.asarray(img)
    if a.ndim == 3:
        a = a[..., 0] * 0.299 + a[..., 1] * 0.587 + a[..., 2] * 0.114
    return a.astype(np.float64)


def canny_edges(gray: np.ndarray) -> np.ndarray:
    """``(H, W)`` bool Canny edge map with MATLAB-style automatic thresholds."""
    import cv2

    g = cv2.GaussianBlur(gray.astype(np.float32), (0, 0), np.sqrt(2.0))
    gx = cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.hypot(gx, gy)
    hi = float(np.percentile(mag, 70))
    if hi <= 1e-6:
        return np.zeros(gray.shape, bool)
    # cv2.Canny wants 8-bit input: feed the rounded blurred image; its L2 magnitude with a
    # 3x3 Sobel is ``mag`` above up to rounding, so the thresholds keep their meaning.
    e = cv2.Canny(np.clip(np.round(g), 0, 255).astype(np.uint8), 0.4 * hi, hi, L2gradient=True)
    return e > 0


@njit(cache=True)
def _edge_widths(img, rows, cols, signs):
    """Marziliano edge width along the row at each (row, col); sign of d/dx picks the side."""
    w = img.shape[1]
    out = np.empty(rows.shape[0])
    for n in range(rows.shape[0]):
        r, c, s = rows[n], cols[n], signs[n]
        # walk to the extremum on the right and on the left
        k = c
        if s > 0:  # rising to the right: local max to the right, local min to the left
            while k + 1 < w and img[r, k + 1] > img[r, k]:
                k += 1
            right = k
            k = c
            while k - 1 >= 0 and img[r, k - 1] < img[r, k]:
                k -= 1
            left = k
        else:
            while k + 1 < w and img[r, k + 1] < img[r, k]:
                k += 1
            right = k
            k = c
            while k - 1 >= 0 and img[r, k - 1] > img[r, k]:
                k -= 1
            left = k
        out[n] = right - left
    return out


def cpbd(img) -> float:
    """CPBD sharpness of one image (RGB uint8 or gray) in [0, 1]; NaN when it has no edges."""
    import cv2

    gray = _gray(img)
    edges = canny_edges(gray)
    gx = cv2.Sobel(gray, cv2.CV_64F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_64F, 0, 1, ksize=3)
    # width is measured along the row, so keep edges whose gradient is mostly horizontal
    vertical = edges & (np.abs(gx) >= np.abs(gy)) & (gx != 0)
    h, w = gray.shape
    probs = []
    for y0 in range(0, h - BLOCK + 1, BLOCK):
        for x0 in range(0, w - BLOCK + 1, BLOCK):
            eb = edges[y0:y0 + BLOCK, x0:x0 + BLOCK]
            if eb.sum() <= EDGE_BLOCK_SHARE * BLOCK * BLOCK:
                continue
            blk = gray[y0:y0 + BLOCK, x0:x0 + BLOCK]
            w_jnb = 5.0 if (blk.max() - blk.min()) <= 50 else 3.0
            rr, cc = np.nonzero(vertical[y0:y0 + BLOCK, x0:x0 + BLOCK])
            if rr.size == 0:
                continue
            rr, cc = rr + y0, cc + x0
            widths = _edge_widths(gray, rr.astype(np.int64), cc.astype(np.int64),
                                  np.sign(gx[rr, cc]).astype(np.int64))
            probs.append(1.0 - np.exp(-np.abs(widths / w_jnb) ** BETA))
    if not probs:
        return float("nan")
    p = np.concatenate(probs)
    # The paper accumulates a histogram of P_blur in 1% bins up to P_JNB = 63%; a bin holds
    # probabilities that round to it, so 0.632 (width == w_JNB, 1 - 1/e) counts as sharp.
    return float(np.mean(np.round(p * 100) <= P_JNB * 100))
