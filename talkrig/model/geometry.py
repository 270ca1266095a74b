"""Small pure functions on triangle meshes (batched, differentiable)."""

import torch
from torch import Tensor


def blend(mean: Tensor, basis: Tensor, coeffs: Tensor) -> Tensor:
    """Linear blend ``mean + sum_k coeffs[k] * basis[k]``.

    Args:
        mean: ``(N, 3)``.
        basis: ``(K, N, 3)``.
        coeffs: ``(B, K)``; ``K`` may be 0.
    Returns:
        ``(B, N, 3)`` vertices.
    """
    b = coeffs.shape[0]
    if basis.shape[0] == 0:
        return mean.expand(b, -1, -1)
    return mean + (coeffs @ basis.reshape(basis.shape[0], -1)).reshape(b, *mean.shape)


def vertex_normals(vertices: Tensor, faces: Tensor) -> Tensor:
    """Area-weighted, unit-length vertex normals.

    Args:
        vertices: ``(B, N, 3)`` float.
        faces: ``(F, 3)`` int64, counter-clockwise seen from outside.
    Returns:
        ``(B, N, 3)`` normals.
    """
    v0, v1, v2 = (vertices[:, faces[:, i]] for i in range(3))
    fn = torch.cross(v1 - v0, v2 - v0, dim=-1)  # length = 2 * area: area weighting for free
    n = torch.zeros_like(vertices)
    for i in range(3):
        n = n.index_add(1, faces[:, i], fn)
    return torch.nn.functional.normalize(n, dim=-1, eps=1e-12)


def transform(vertices: Tensor, rotation: Tensor, translation: Tensor) -> Tensor:
    """Rigid transform ``R v + t`` with ``R`` from Euler angles.

    Args:
        vertices: ``(B, N, 3)``; rotation ``(B, 3)``; translation ``(B, 3)``.
    """
    from talkrig.model.rotation import euler_to_matrix

    r = euler_to_matrix(rotation)
    return vertices @ r.transpose(1, 2) + translation[:, None, :]
