"""MediaPipe face landmarker wrapper and the MediaPipe -> iBUG 68 mapping, on real photos."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from talkrig.errors import NoFaceError
from talkrig.io.image import load_image
from talkrig.model.arkit import ARKIT_52
from talkrig.recon.landmarker import (MODEL_SHA256, FaceLandmarker, ibug68_weights, mediapipe_to_ibug68,
                                      model_path, shared_landmarker)

ASTRONAUT = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def astronaut():
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    return load_image(ASTRONAUT)


def test_model_file_is_the_pinned_one():
    assert hashlib.sha256(model_path().read_bytes()).hexdigest() == MODEL_SHA256


def test_detects_one_face_with_everything(astronaut):
    faces = shared_landmarker().detect(astronaut)
    assert len(faces) == 1
    d = faces[0]
    assert d.landmarks.shape == (478, 3) and d.points.shape == (478, 2)
    assert set(d.blendshapes) == set(ARKIT_52)
    assert d.transform.shape == (4, 4) and not np.allclose(d.transform, np.eye(4))
    x0, y0, x1, y1 = d.bbox
    # the astronaut's face is in the upper middle of the 512x512 picture
    assert 150 < (x0 + x1) / 2 < 300 and 50 < (y0 + y1) / 2 < 200 and 60 < x1 - x0 < 200
    # she smiles: the smile scores beat the frown scores
    assert d.blendshapes["mouthSmileLeft"] > d.blendshapes["mouthFrownLeft"]
    lm68 = d.landmarks68
    assert lm68.shape == (68, 2)
    assert lm68[36, 0] < lm68[45, 0]  # subject's right eye corner is on the image left


def test_huge_photo_is_detected_on_a_downscaled_copy(astronaut):
    big = np.kron(astronaut, np.ones((5, 5, 1), np.uint8))  # 2560 x 2560
    small = shared_landmarker().detect(astronaut)[0].points
    large = shared_landmarker().detect(big)[0].points
    assert np.abs(large / 5 - small).mean() < 1.5  # coordinates come back in full-res pixels


def test_no_face_and_bad_index(astronaut):
    lm = shared_landmarker()
    blank = np.full((256, 256, 3), 127, np.uint8)
    assert lm.detect(blank) == []
    with pytest.raises(NoFaceError, match="no face"):
        lm.detect_one(blank)
    with pytest.raises(NoFaceError, match="face index 3"):
        lm.detect_one(astronaut, face_index=3)


def test_video_mode_tracks_frames(astronaut):
    with FaceLandmarker(num_faces=1, video=True) as lm:
        pts = []
        for i in range(3):
            frame = np.roll(astronaut, 4 * i, axis=1)
            pts.append(lm.detect_video(frame, timestamp_ms=40 * i)[0].points)
    shift = (pts[2] - pts[0])[:, 0].mean()
    assert 6 < shift < 10  # follows the 8-pixel pan


def test_mapping_matrix_matches_function():
    rng = np.random.default_rng(0)
    p = rng.normal(size=(478, 2))
    assert np.allclose(ibug68_weights() @ p, mediapipe_to_ibug68(p))
    assert np.allclose(ibug68_weights().sum(1), 1)


@pytest.mark.shared
def test_ibug68_mapping_against_annotations(shared):
    from talkrig.recon.evaluate import nme, read_pts

    folder = shared("dev", "portraits")
    errs = []
    for name in ("lfpw_test_image_0003", "lfpw_test_image_0007", "lfpw_test_image_0014", "eos_lfpw_image_0010"):
        gt = read_pts(folder / f"{name}.pts")
        d = shared_landmarker().detect(load_image(folder / f"{name}.png"))[0]
        errs.append(nme(d.landmarks68, gt))
    assert max(errs) < 0.045, errs


def test_blendshape_sides_match_the_models_sides():
    """MediaPipe's ...Left scores the subject's left, like ARKit and talkrig's models: a render of
    the default model with only eyeBlinkLeft set is scored as a left blink."""
    import copy

    import torch

    from talkrig.model import load_model
    from talkrig.recon.correspondence import render_neutral

    m = load_model("default")
    winking = copy.deepcopy(m)
    with torch.no_grad():
        winking.mean.copy_(m(expression=m.expression_vector({"eyeBlinkLeft": 1.0})[None])[0])
    img, *_ = render_neutral(winking)
    bs = shared_landmarker().detect_one(img).blendshapes
    assert bs["eyeBlinkLeft"] > bs["eyeBlinkRight"] + 0.2


def _canvas(h: int, w: int, pastes) -> np.ndarray:
    from PIL import Image

    photo = Image.fromarray(load_image(ASTRONAUT))
    out = np.full((h, w, 3), 128, np.uint8)
    for x, y, side in pastes:
        out[y:y + side, x:x + side] = np.asarray(photo.resize((side, side)))
    return out


def test_second_chance_finds_faces_the_whole_image_pass_misses():
    """Two portraits side by side in a wide picture, and a ~27 px face in a 600x450 one: the
    whole-image pass finds neither; tiles do (detect_one asks for them when short)."""
    from talkrig.recon.landmarker import shared_landmarker

    lm = shared_landmarker()
    wide = _canvas(512, 1024, [(0, 0, 512), (560, 64, 384)])
    assert len(lm.detect(wide)) < 2
    second = lm.detect_one(wide, face_index=1)
    first = lm.detect_one(wide, face_index=0)
    assert first.bbox[2] < 512 and second.bbox[0] > 560  # one face in each portrait
    small = _canvas(600, 450, [(225, 200, 150)])
    assert lm.detect(small) == []
    face = lm.detect_one(small)
    x0, y0, x1, y1 = face.bbox
    assert 225 <= x0 < x1 <= 375 and 200 <= y0 < y1 <= 350 and 15 <= x1 - x0 <= 60
