"""`reconstruct(photo) -> Reconstruction`: the whole single-photo pipeline.

detect (MediaPipe, 478 points + ARKit scores) -> landmark fit (pose, identity, expression) ->
skin mask -> lighting + albedo (least squares over skin vertices) -> UV texture from the photo.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch

from talkrig.errors import InputError
from talkrig.io.image import load_image
from talkrig.model.arkit import ARKIT_52
from talkrig.model.coefficients import Coefficients
from talkrig.model.morphable import MorphableModel
from talkrig.recon.context import ModelContext, model_context
from talkrig.recon.contour import contour_landmarks
from talkrig.recon.fit import ContourFit, FitSettings, arkit_init, default_focal, fit_landmarks, rest_expression
from talkrig.recon.landmarker import FaceDetection, FaceLandmarker, shared_landmarker
from talkrig.recon.photometric import area_colours, depth_buffer, fit_albedo_lighting, observe
from talkrig.recon.reconstruction import Reconstruction
from talkrig.recon.skin import skin_mask
from talkrig.recon.texture import auto_texture_size, extract_texture, photo_texel_size
from talkrig.render.camera import Camera


def posed_geometry(model: MorphableModel, coeffs, camera: Camera) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frame 0 of ``coeffs`` posed: camera-space vertices ``(N, 3)``, their unit normals
    ``(N, 3)`` and projections ``(N, 3)`` (pixel x, pixel y, depth), float32 numpy."""
    with torch.no_grad():
        v = model.vertices(coeffs)
        return v[0].numpy(), model.normals(v)[0].numpy(), camera.project(v)[0].numpy()


def square_crop(bbox, scale: float = 1.6) -> np.ndarray:
    """Square box ``(x0, y0, x1, y1)`` around a face box, ``scale`` times its larger side."""
    x0, y0, x1, y1 = bbox
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * scale / 2
    return np.array([cx - half, cy - half, cx + half, cy + half], np.float32)


#: Photos are fitted at most this large (longer side, pixels): a 12-megapixel phone photo is
#: used as it is, an 8000 px one is scaled down on loading (JPEGs decode at a reduced scale),
#: which keeps memory near 1 GB; the frames talkrig renders are at most 1024 px anyway.
MAX_PHOTO_SIDE = 4096


def reconstruct(image, model: str | MorphableModel = "default", *, face_index: int = 0,
                texture_size: int | None = None, delight: bool = False, settings: FitSettings | None = None,
                landmarker: FaceLandmarker | None = None, detection: FaceDetection | None = None,
                name: str | None = None, refine_steps: int = 0,
                landmarks68: str = "mediapipe", initializer=None) -> Reconstruction:
    """Reconstruct the face in one photo.

    Args:
        image: path, PIL image or array (see :func:`talkrig.io.image.load_image`); larger than
            :data:`MAX_PHOTO_SIDE` is scaled down (the reconstruction's pixels are then those
            of the scaled photo, ``rec.image``).
        model: ``"default"``, ``"ict"``, a model path, or a loaded :class:`MorphableModel`.
        face_index: which face when there are several (0 = largest).
        texture_size: side of the UV texture; None: 512 or 1024, whichever is closer to the
            photo's own resolution over the face (:func:`~talkrig.recon.texture.auto_texture_size`).
        delight: store an albedo texture (photo divided by the fitted shading).
        settings: landmark-fit settings.
        landmarker: a landmarker to use (default: the process-wide one).
        detection: skip detection and use this one (e.g. from video tracking).
        refine_steps: Adam steps of photometric refinement through the differentiable
            renderer (light, albedo, small shape corrections; :mod:`talkrig.recon.refine`).
            0 (default) keeps the closed-form solve only; each step costs ~0.2-1 s.
        landmarks68: where the fit's 68 iBUG targets come from: ``"mediapipe"`` (mapped from
            the 478 points) or ``"dlib"`` (dlib's 300-W predictor, optional extra ``dlib``,
            non-commercial model; :mod:`talkrig.recon.dlib68`), which follows the 300-W jaw
            line more closely on turned faces and falls back to MediaPipe's when it declines.
        initializer: a learned starting point for the fit: a
            :class:`~talkrig.recon.regressor.CoeffRegressor` or its checkpoint path (trained on
            data_prep outputs by ``talkrig train-recon-init``); None starts from the mean face.
    Returns:
        :class:`Reconstruction`.
    Raises:
        InputError (bad image), NoFaceError (no face / bad face_index), ModelNotFoundError.
    """
    t0 = time.perf_counter()
    label = name or (str(image) if isinstance(image, (str,)) or hasattr(image, "__fspath__") else "image")
    img = load_image(image, name=label, max_side=MAX_PHOTO_SIDE)
    _check_options(texture_size, landmarks68)
    dlib68 = None
    if landmarks68 == "dlib":
        from talkrig.recon.dlib68 import shared_dlib68

        dlib68 = shared_dlib68()  # before the fit work: a missing extra fails fast
    ctx = model_context(model)
    initializer = _load_initializer(initializer, ctx.model)
    t1 = time.perf_counter()
    if detection is None:
        detection = (landmarker or shared_landmarker()).detect_one(img, face_index, name=label)
    if dlib68 is not None:
        detection = dlib68.refine(img, detection)
    t2 = time.perf_counter()
    camera = Camera(default_focal(img.shape[1], img.shape[0]), img.shape[1], img.shape[0])
    coeffs, info = _fit_shape(ctx, detection, camera, settings or FitSettings(), initializer)
    t3 = time.perf_counter()
    colour = _fit_colour(ctx, img, detection, coeffs, camera, refine_steps)
    t4 = time.perf_counter()
    tex, tex_mask = _texture(ctx, img, colour, texture_size, delight)
    t5 = time.perf_counter()

    meta = {
        "fit_rms_px": info["rms_px"], "face_size_px": info["face_size_px"],
        "skin_vertices": int(colour.obs.skin.sum()), "visible_vertices": int(colour.obs.visible.sum()),
        "delight": bool(delight), "face_index": int(face_index),
        "model_source": str(model) if isinstance(model, str) else ctx.model.name,
        "refine_loss": colour.refine_info["loss"] if colour.refine_info else None,
        "landmarks68": "mediapipe" if detection.ibug68 is None else str(landmarks68),
        "fit_start": "regressor" if initializer is not None else "mean",
        "fit_iterations": int(info["iterations"]),
        "seconds": {"load": t1 - t0, "detect": t2 - t1, "fit": t3 - t2, "photometric": t4 - t3,
                    "texture": t5 - t4, "total": t5 - t0},
    }
    return Reconstruction(
        image=img, coeffs=colour.coeffs.detach(), camera=camera, texture=tex, texture_mask=tex_mask,
        landmarks478=detection.points.astype(np.float32), landmarks68=detection.landmarks68.astype(np.float32),
        blendshapes=detection.blendshape_vector(ARKIT_52), bbox=np.asarray(detection.bbox, np.float32),
        crop=square_crop(detection.bbox), model_name=ctx.model.name, skin_mask=colour.skin,
        vertex_colors=colour.vertex_albedo, meta=meta,
        rest_expression=rest_expression(ctx.model, colour.coeffs.expression.detach().cpu().numpy(),
                                        detection.blendshapes))


def _check_options(texture_size: int | None, landmarks68: str) -> None:
    if texture_size is not None and not 16 <= texture_size <= 4096:
        raise InputError(f"texture size must be between 16 and 4096, got {texture_size}")
    if landmarks68 not in ("mediapipe", "dlib"):
        raise InputError(f"landmarks68 must be 'mediapipe' or 'dlib', got {landmarks68!r}")


def _load_initializer(initializer, model: MorphableModel):
    """A :class:`~talkrig.recon.regressor.CoeffRegressor` (loaded from a checkpoint path) that
    fits ``model``, or None."""
    if initializer is not None and not hasattr(initializer, "predict"):
        from talkrig.recon.regressor import CoeffRegressor

        initializer = CoeffRegressor.load(initializer)
    if initializer is not None:
        initializer.check_model(model)
    return initializer


def _fit_shape(ctx: ModelContext, detection: FaceDetection, camera: Camera, settings: FitSettings,
               initializer) -> tuple[Coefficients, dict]:
    """Pose, identity and expression from the detected landmarks (478 dense points, then the
    68 iBUG points weighted by ``settings.ibug_weight``; the jaw rows follow the pose)."""
    m = ctx.model
    target = detection.points.astype(np.float64)
    if ctx.surface.mean.shape[0] > 478:
        target = np.concatenate([target, detection.landmarks68])
    weights = ctx.weights.copy()
    weights[478:] *= settings.ibug_weight  # the model's 68 landmark vertices vs. the detector's 68
    contour = None
    if settings.dynamic_contour and ctx.contour is not None and len(target) > 478:
        contour = ContourFit(ctx.contour, ctx.contour_surface, 478 + ctx.contour.landmarks)
    start = initializer.predict(detection.landmarks) if initializer is not None else None
    return fit_landmarks(m, ctx.surface, target, weights, camera, arkit_init(m, detection.blendshapes),
                         settings, contour, start=start)


@dataclass
class _Colour:
    """The photometric step's result: coefficients with light and albedo, and what the texture
    step reuses (posed geometry, depth buffer, skin mask, vertex albedo)."""

    coeffs: Coefficients
    gamma: np.ndarray
    vertex_albedo: np.ndarray
    obs: object
    skin: np.ndarray
    posed: np.ndarray
    normals: np.ndarray
    pix: np.ndarray
    zbuf: np.ndarray
    refine_info: dict | None


def _fit_colour(ctx: ModelContext, img: np.ndarray, detection: FaceDetection, coeffs: Coefficients,
                camera: Camera, refine_steps: int) -> _Colour:
    """SH lighting and albedo by least squares over the visible skin vertices (area-weighted
    photo colours), then optionally ``refine_steps`` of photometric refinement."""
    m = ctx.model
    h, w = img.shape[:2]
    posed, normals, pix = posed_geometry(m, coeffs, camera)
    skin = skin_mask(img, detection.points)
    zbuf = depth_buffer(pix, ctx.render_faces, h, w)
    obs = observe(img, skin, pix, normals, ctx.render_faces, ctx.depth_tol, zbuf)
    # area-weighted vertex colours (better than point samples on sparse meshes: +0.3-1.6 dB)
    col, cover = area_colours(img, pix, ctx.render_faces, square_crop(detection.bbox, 1.3), obs.colour)
    use = obs.visible & (cover > 0.5)
    obs.colour[use] = col[use]
    gamma, alb_coeffs, vertex_albedo = fit_albedo_lighting(m, obs, normals)
    coeffs = coeffs.replace(lighting=torch.as_tensor(gamma)[None],
                            albedo=torch.as_tensor(alb_coeffs, dtype=torch.float32).reshape(1, -1))
    refine_info = None
    if refine_steps > 0:
        from talkrig.recon.refine import refine_photometric

        coeffs, vertex_albedo, refine_info = refine_photometric(
            m, coeffs, camera, img, skin, vertex_albedo, square_crop(detection.bbox, 1.2), ctx.render_faces,
            steps=refine_steps)
        gamma = coeffs.lighting[0].numpy()
        posed, normals, pix = posed_geometry(m, coeffs, camera)
        zbuf = depth_buffer(pix, ctx.render_faces, h, w)
    return _Colour(coeffs, gamma, vertex_albedo, obs, skin, posed, normals, pix, zbuf, refine_info)


def _texture(ctx: ModelContext, img: np.ndarray, c: _Colour, texture_size: int | None,
             delight: bool) -> tuple[np.ndarray, np.ndarray]:
    """The UV texture from the photo (``texture_size`` None: matched to the photo's own
    resolution over the face) and its coverage mask."""
    m = ctx.model
    if texture_size is None:
        texel = photo_texel_size(c.pix, ctx.render_faces, m.uvs.cpu().numpy(),
                                 m.uv_faces.cpu().numpy()[ctx.render_ids]) if len(m.uvs) else 0.0
        texture_size = auto_texture_size(texel)
    if not len(m.uvs):
        return (np.zeros((texture_size, texture_size, 3), np.uint8),
                np.zeros((texture_size, texture_size), np.uint8))
    return extract_texture(img, ctx.layout(texture_size), c.posed, c.pix, ctx.faces, c.normals,
                           c.vertex_albedo, c.gamma, ctx.depth_tol, delight=delight, zbuf=c.zbuf)


def model_source(rec: Reconstruction) -> str:
    """What to pass to :func:`model_context` for a reconstruction's model (its name, or the
    path it was loaded from)."""
    return str(rec.meta.get("model_source") or rec.model_name)


def model_landmarks68(rec: Reconstruction, model: str | MorphableModel = None, dynamic: bool = True) -> np.ndarray:
    """``(68, 2)`` pixels of the fitted model's 68 landmarks, as the fit defines them
    (:func:`landmark_surface`).

    ``dynamic`` (default): the jaw points (0-16) are the model's silhouette points for the
    fitted pose (:mod:`talkrig.recon.contour`), as the iBUG convention places them; False: the
    model's fixed jaw vertices."""
    ctx = model_context(model if model is not None else model_source(rec))
    m = ctx.model
    c = rec.coeffs
    with torch.no_grad():
        v = m.vertices(c)
        out = contour_landmarks(m, ctx.contour if dynamic else None, v, c.rotation, rec.camera.project)
        if ctx.surface.mean.shape[0] >= 478 + 68:
            from talkrig.model.geometry import transform

            lm = ctx.surface.points(c.identity[:1], c.expression[:1])[:, 478:478 + 68]
            pix = rec.camera.project(transform(lm, c.rotation[:1], c.translation[:1]))[0, :, :2].numpy()
            out[17:] = pix[17:]
    return out.astype(np.float32)
