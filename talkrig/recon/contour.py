"""Pose-dependent jaw contour: the iBUG jaw points (0-16) as silhouette points of the model.

The 68-point convention puts the jaw line on the *visible outline* of the face. On a frontal
face that is the model's fixed jaw landmark vertices; on a turned head the outline on the side
that turns away slides forward over the cheek, and a fixed vertex ends up hidden behind it.
So each jaw landmark gets a *row* of candidate surface points -- the model's surface cut by the
horizontal plane (model space) through the landmark, on the landmark's side, from the landmark
forward over the cheek (and optionally a little backward) -- and for a given pose the landmark
is the candidate that lies furthest out in the image, along the projected direction that points
away from the face's vertical centre line. Candidates are barycentric points on the mesh, so
they follow identity and expression like every other landmark.

Chin points whose rows would cut the chin front (small ``|x|``) keep their fixed point.

A model's 68 landmarks are its ``landmarks68_face`` / ``landmarks68_bary`` surface points when
it has them (the default model: jaw transferred from the ICT model's iBUG vertex ids), else its
``landmarks68`` vertex ids (:func:`landmark_points`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from talkrig.model.morphable import MorphableModel

#: Regions a jaw row must not enter (other features' outlines, inner parts, ears, neck...).
EXCLUDED_REGIONS = ("ears", "neck", "scalp", "head_neck", "eyes", "eye_left", "eye_right", "eyelids", "brows",
                    "lips", "nose", "mouth_interior", "teeth", "upper_teeth", "lower_teeth", "tongue",
                    "gums_tongue", "eye_extras", "mouth_socket", "eye_socket_left", "eye_socket_right")


#: Sine of the head turn beyond which the far side's jaw points follow the silhouette (~9 deg).
MIN_TURN = 0.15


def landmark_points(model: MorphableModel) -> tuple[np.ndarray, np.ndarray]:
    """``(68,)`` triangle ids and ``(68, 3)`` barycentrics of a model's 68 landmarks: its
    ``landmarks68_face`` / ``landmarks68_bary`` buffers when present, otherwise one-hot weights
    at its ``landmarks68`` vertices (a triangle that uses each vertex)."""
    fb = getattr(model, "landmarks68_face", None)
    bb = getattr(model, "landmarks68_bary", None)
    if fb is not None and bb is not None and len(fb) == len(model.landmarks68):
        return fb.cpu().numpy().astype(np.int64), bb.cpu().numpy().astype(np.float32)
    faces = model.faces.cpu().numpy()
    vids = model.landmarks68.cpu().numpy()
    first: dict[int, tuple[int, int]] = {}
    want = set(int(v) for v in vids)
    for f, tri in enumerate(faces):
        for c, v in enumerate(tri):
            if int(v) in want:
                first.setdefault(int(v), (f, c))
    fid = np.zeros(len(vids), np.int64)
    bary = np.zeros((len(vids), 3), np.float32)
    for i, v in enumerate(vids):
        f, c = first[int(v)]
        fid[i], bary[i, c] = f, 1.0
    return fid, bary


@dataclass
class ContourRows:
    """Candidate surface points of the dynamic jaw landmarks.

    Attributes:
        landmarks: ``(R,)`` iBUG indices (0-16) that have a row.
        face_ids: ``(S,)`` triangle index of each candidate; bary ``(S, 3)``.
        row: ``(S,)`` which entry of ``landmarks`` each candidate belongs to.
        side: ``(R,)`` +1 for the subject's left (model +x), -1 for the right.
    """

    landmarks: np.ndarray
    face_ids: np.ndarray
    bary: np.ndarray
    row: np.ndarray
    side: np.ndarray

    @property
    def n_candidates(self) -> int:
        return len(self.face_ids)

    @classmethod
    def build(cls, model: MorphableModel, forward: float = 0.3, backward: float = 0.0,
              min_x: float = 0.3) -> "ContourRows | None":
        """Rows for a model's jaw landmarks, from its neutral mean.

        Args:
            forward: how far a row reaches towards the face's centre line, as a fraction of the
                landmark's ``|x|`` (0.3: samples down to 70 % of it).
            backward: how far behind the landmark a row may go, as a fraction of the face
                width (0: the landmark is the row's back end).
            min_x: landmarks closer to the centre line than this fraction of the widest jaw
                landmark keep their fixed vertex (the chin).
        Returns:
            None when the model has no 68 landmarks.
        """
        if len(model.landmarks68) != 68:
            return None
        verts = model.mean.detach().cpu().numpy().astype(np.float64)
        faces = model.faces.cpu().numpy()
        lm_f, lm_b = landmark_points(model)
        lm_f, lm_b = lm_f[:17], lm_b[:17]
        lm_p = (verts[faces[lm_f]] * lm_b[..., None]).sum(1)  # (17, 3)
        names = set(model.region_names)
        bad = np.zeros(model.n_vertices, bool)
        for r in EXCLUDED_REGIONS:
            if r in names:
                bad |= model.region(r).cpu().numpy()
        bad[faces[lm_f].ravel()] = False  # a landmark's own triangle is always allowed
        keep_f = faces[~bad[faces].any(1)]
        keep_idx = np.flatnonzero(~bad[faces].any(1))
        width = float(np.ptp(lm_p[:, 0]))
        centre_x = float(lm_p[[0, 16], 0].mean())
        reach = np.abs(lm_p[:, 0] - centre_x)
        rows_lm, fid, bary, row, side = [], [], [], [], []
        for k in range(17):
            if reach[k] < min_x * reach.max():
                continue
            p = lm_p[k]
            s = 1.0 if p[0] > centre_x else -1.0
            # triangle edges crossing the plane y = p_y, as (triangle, barycentric) points
            d = verts[keep_f, 1] - p[1]  # (F, 3)
            cand_f, cand_b = [], []
            for a, b in ((0, 1), (1, 2), (2, 0)):
                da, db = d[:, a], d[:, b]
                cross = (da * db < 0) | ((da == 0) & (db != 0))
                t = da[cross] / (da[cross] - db[cross])
                bw = np.zeros((int(cross.sum()), 3))
                bw[np.arange(len(t)), a] = 1 - t
                bw[np.arange(len(t)), b] = t
                cand_f.append(keep_idx[cross])
                cand_b.append(bw)
            cf, cb = np.concatenate(cand_f), np.concatenate(cand_b)
            pts = (verts[faces[cf]] * cb[..., None]).sum(1)
            rel = s * (pts[:, 0] - centre_x)
            ok = (rel >= (1 - forward) * reach[k]) & (pts[:, 2] >= p[2] - backward * width)
            ok &= np.abs(pts[:, 0] - p[0]) <= max(forward, 0.3) * reach[k] + backward * width
            # the landmark itself is always a candidate (the first of its row)
            f0, b0 = int(lm_f[k]), lm_b[k].astype(np.float64)
            rows_lm.append(k)
            side.append(s)
            fid.extend([f0, *cf[ok].tolist()])
            bary.append(b0[None])
            bary.append(cb[ok])
            row.extend([len(rows_lm) - 1] * (1 + int(ok.sum())))
        return cls(np.array(rows_lm, np.int64), np.array(fid, np.int64), np.concatenate(bary).astype(np.float32),
                   np.array(row, np.int64), np.array(side, np.float64))


def outward_directions(rows: ContourRows, rotation: np.ndarray) -> np.ndarray:
    """``(R, 2)`` image directions (pixels, y down) in which each row's landmark is 'outside':
    the model's lateral axis ``side * x`` turned by ``rotation`` (3x3, model -> camera)."""
    lat = rotation[:, 0]  # model +x in camera space (camera y up)
    # pixels: u = cx - f X/Z, v = cy + f Y/Z with Z < 0 in front, so +X -> +u and +Y -> -v
    d = np.array([lat[0], -lat[1]])
    n = np.linalg.norm(d)
    d = d / n if n > 1e-9 else np.array([1.0, 0.0])
    return rows.side[:, None] * d[None]


def turned_away(rows: ContourRows, rotation: np.ndarray, min_turn: float = MIN_TURN) -> np.ndarray:
    """``(R,)`` bool: rows on the side of the face that turns away from the camera by more than
    ``min_turn`` (sine of the yaw-like angle between the model's lateral axis and the image
    plane)."""
    lat_z = float(rotation[2, 0])  # camera z of the model's +x axis (camera looks down -z)
    return rows.side * lat_z < -min_turn


def select(rows: ContourRows, uv: np.ndarray, rotation: np.ndarray, min_turn: float = MIN_TURN) -> np.ndarray:
    """Index (into the candidates) of each row's silhouette point.

    Rows on the side that turns away from the camera take the candidate furthest out in the
    image; the others (near-frontal faces, the side facing the camera) keep the fixed landmark
    vertex, which is where the jaw line is seen from the front.

    Args:
        uv: ``(S, 2)`` projected candidates; rotation ``(3, 3)`` model -> camera.
    Returns:
        ``(R,)`` candidate indices.
    """
    d = outward_directions(rows, rotation)
    score = (uv * d[rows.row]).sum(1)
    fixed = ~turned_away(rows, rotation, min_turn)[rows.row]
    first = np.r_[True, rows.row[1:] != rows.row[:-1]]  # each row starts with its landmark vertex
    score = np.where(fixed, np.where(first, 1.0, 0.0), score)
    out = np.empty(len(rows.landmarks), np.int64)
    order = np.lexsort((-score, rows.row))  # by row, best first
    first = np.ones(len(order), bool)
    first[1:] = rows.row[order][1:] != rows.row[order][:-1]
    out[rows.row[order][first]] = order[first]
    return out


def contour_landmarks(model: MorphableModel, rows: ContourRows | None, vertices: torch.Tensor,
                      rotation: torch.Tensor, project) -> np.ndarray:
    """``(68, 2)`` pixels of a posed model's 68 landmarks with the jaw on the silhouette.

    Args:
        vertices: ``(1, N, 3)`` camera-space vertices; rotation ``(1, 3)`` Euler angles (the
            coefficients'); project: callable ``(1, P, 3) -> (1, P, >=2)`` pixels.
    """
    from talkrig.model.rotation import euler_to_matrix

    with torch.no_grad():
        lm_f, lm_b = landmark_points(model)
        tri = model.faces[torch.as_tensor(lm_f)]
        pts = (vertices[0][tri] * torch.as_tensor(lm_b, dtype=vertices.dtype)[..., None]).sum(1)
        out = project(pts[None])[0, :, :2].cpu().numpy().astype(np.float64)
        if rows is None:
            return out
        tri = model.faces[torch.as_tensor(rows.face_ids)]
        w = torch.as_tensor(rows.bary, dtype=vertices.dtype)[..., None]
        cand = (vertices[0][tri] * w).sum(1)
        uv = project(cand[None])[0, :, :2].cpu().numpy().astype(np.float64)
        rot = euler_to_matrix(rotation[0].double()).cpu().numpy()
    sel = select(rows, uv, rot)
    out[rows.landmarks] = uv[sel]
    return out
