"""The whole single-photo reconstruction: API, file format, CLI and its errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from talkrig.cli.main import main
from talkrig.errors import InputError, NoFaceError
from talkrig.model.arkit import ARKIT_52
from talkrig.recon import Reconstruction, reconstruct
from talkrig.recon.evaluate import nme, read_pts, rerender_psnr

ASTRONAUT = Path(__file__).resolve().parents[1] / "examples" / "astronaut.jpg"


@pytest.fixture(scope="module")
def rec():
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    return reconstruct(ASTRONAUT, "default")


def test_reconstruction_contents(rec):
    h, w = rec.image.shape[:2]
    assert rec.image.dtype == np.uint8 and (h, w) == (512, 512)
    assert rec.coeffs.frames == 1 and rec.model_name == "default"
    assert (rec.camera.width, rec.camera.height) == (w, h)
    assert rec.landmarks478.shape == (478, 2) and rec.landmarks68.shape == (68, 2)
    assert rec.blendshapes.shape == (len(ARKIT_52),)
    assert rec.texture.shape == (512, 512, 3) and rec.texture_mask.shape == (512, 512)
    assert (rec.texture_mask == 255).sum() > 5000  # part of the UV map was seen in the photo
    assert rec.skin_mask.shape == (h, w) and 2000 < rec.skin_mask.sum() < 0.2 * h * w
    assert rec.meta["fit_rms_px"] < 4.0
    # lighting: a bright ambient term, no NaN
    assert 0.3 < float(rec.coeffs.lighting[0, 0]) < 3.0
    # the fitted model's landmarks land on the detected ones (within a few % of the eye distance)
    from talkrig.recon.api import model_landmarks68
    assert nme(model_landmarks68(rec), rec.landmarks68) < 0.05


def test_rerender_matches_photo(rec):
    assert rerender_psnr(rec, textured=True) > 30
    assert rerender_psnr(rec, textured=False) > 26


def test_save_load_roundtrip(rec, tmp_path):
    p = tmp_path / "face.npz"
    rec.save(p)
    back = Reconstruction.load(p)
    assert back.coeffs == rec.coeffs
    assert np.array_equal(back.texture, rec.texture) and np.array_equal(back.image, rec.image)
    assert back.camera.focal == pytest.approx(float(rec.camera.focal))
    assert back.blendshape_dict["mouthSmileLeft"] == pytest.approx(float(rec.blendshapes[ARKIT_52.index("mouthSmileLeft")]))
    assert np.array_equal(back.rest_expression, rec.rest_expression)
    assert back.neutral_coeffs() == rec.neutral_coeffs()
    with np.load(p, allow_pickle=False) as z:  # plain arrays only
        assert "coeffs_identity" in z.files
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError):
        Reconstruction.load(tmp_path / "junk.npz")


def test_rest_keeps_the_brows_the_landmarker_does_not_score():
    """Brow and upper-lid weights the fit used to reach the photo's landmarks stay at rest;
    what the landmarker scores above a face at rest is expression and is dropped; every other
    shape (mouth, jaw, gaze) rests at 0."""
    from talkrig.model import load_model
    from talkrig.recon.fit import REST_SCORES, rest_expression

    model = load_model("default")
    fitted = np.zeros(len(ARKIT_52), np.float32)
    scores = {n: 0.0 for n in ARKIT_52}
    for name, w, s in (("browOuterUpLeft", 0.5, 0.1),   # a high brow the landmarker calls rest
                       ("browDownLeft", 0.6, 0.6),      # a frown the landmarker scores: expression
                       ("browInnerUp", 0.4, 0.41),      # partly raised
                       ("jawOpen", 0.5, 0.5), ("mouthSmileLeft", 0.7, 0.0)):
        fitted[ARKIT_52.index(name)], scores[name] = w, s
    rest = dict(zip(ARKIT_52, rest_expression(model, fitted, scores)))
    assert rest["browOuterUpLeft"] == pytest.approx(0.5)
    assert rest["browDownLeft"] == pytest.approx(0.0, abs=1e-6)
    assert rest["browInnerUp"] == pytest.approx(0.4 - (0.41 - REST_SCORES["browInnerUp"]))
    assert rest["jawOpen"] == rest["mouthSmileLeft"] == 0.0
    assert not rest_expression(model, fitted, None).any()


@pytest.mark.slow
def test_neutral_frame_keeps_the_photos_brows(rec):
    """The rest face rendered reads (to the landmarker) with the photo's brows; zeroing the
    whole fitted expression instead dropped them into a frown."""
    from talkrig.eval.track import detect_photo
    from talkrig.model import load_model
    from talkrig.synth.frames import TalkingHeadRenderer

    renderer = TalkingHeadRenderer(load_model("default"), rec, size=512)
    brow_down = [ARKIT_52.index("browDownLeft"), ARKIT_52.index("browDownRight")]

    def frown(coeffs):
        return float(detect_photo(next(renderer.iter_frames(coeffs)))[1][brow_down].mean())

    photo = float(rec.blendshapes[brow_down].mean())
    zeroed = rec.coeffs.replace(expression=torch.zeros_like(rec.coeffs.expression))
    assert abs(frown(rec.neutral_coeffs()) - photo) < 0.05
    assert frown(zeroed) > photo + 0.1


def test_api_errors(tmp_path):
    with pytest.raises(NoFaceError):
        reconstruct(np.full((128, 128, 3), 90, np.uint8))
    with pytest.raises(InputError, match="too small"):
        reconstruct(np.zeros((16, 16, 3), np.uint8))
    if ASTRONAUT.is_file():
        with pytest.raises(NoFaceError, match="face index"):
            reconstruct(ASTRONAUT, face_index=2)


def test_cli_writes_outputs(tmp_path, capsys):
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    out = tmp_path / "face.npz"
    rc = main(["recon", str(ASTRONAUT), "-o", str(out), "--mesh", str(tmp_path / "face.obj"),
               "--overlay", str(tmp_path / "over.png")])
    assert rc == 0
    assert Reconstruction.load(out).model_name == "default"
    obj = (tmp_path / "face.obj").read_text()
    assert obj.count("\nv ") > 1000 and "mtllib face.mtl" in obj
    assert (tmp_path / "face_texture.png").is_file()
    assert Image.open(tmp_path / "over.png").size == (512, 512)


@pytest.mark.parametrize("kind", ["missing", "text", "tiny", "noface"])
def test_cli_bad_inputs_one_line_no_output(tmp_path, capsys, kind):
    src = tmp_path / "in.png"
    if kind == "text":
        src.write_text("hello")
    elif kind == "tiny":
        Image.new("RGB", (16, 16)).save(src)
    elif kind == "noface":
        Image.new("RGB", (200, 200), (30, 160, 60)).save(src)
    out = tmp_path / "out.npz"
    rc = main(["recon", str(src), "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc != 0 and not out.exists()
    assert [line for line in err if line.startswith("talkrig: error:")] and len([ln for ln in err if "Traceback" in ln]) == 0
    assert not list(tmp_path.glob("*.part*"))  # no temp files left behind


@pytest.mark.shared
@pytest.mark.slow
@pytest.mark.parametrize("model", ["default", "ict"])
def test_landmark_accuracy_on_annotated_photos(shared, model):
    folder = shared("dev", "portraits")
    if model == "ict":
        shared("models", "ICT-FaceKit-FaceXModel.tar.xz")
    from talkrig.recon.api import model_landmarks68
    from talkrig.recon.fit import FitSettings

    for settings, limit in ((FitSettings.tight(), 0.045), (FitSettings(), 0.06)):
        errs = {}
        for name in ("lfpw_test_image_0003", "lfpw_test_image_0007", "eos_lfpw_image_0010"):
            r = reconstruct(folder / f"{name}.png", model, settings=settings)
            errs[name] = nme(model_landmarks68(r), read_pts(folder / f"{name}.pts"))
        assert max(errs.values()) < limit, errs


@pytest.mark.slow
def test_photometric_refinement_lowers_its_loss():
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    r = reconstruct(ASTRONAUT, "default", refine_steps=6)
    before, after = r.meta["refine_loss"]
    assert after < before
    assert torch.isfinite(r.coeffs.lighting).all() and r.vertex_colors.min() >= 0


def test_crop_camera_maps_into_the_crop(rec):
    cam = rec.crop_camera(256)
    with torch.no_grad():
        from talkrig.recon.export import posed_vertices

        v = torch.as_tensor(posed_vertices(rec))[None]
    full = rec.camera.project(v)[0, :, :2]
    crop = cam.project(v)[0, :, :2]
    x0, y0, x1, _ = rec.crop.tolist()
    assert torch.allclose((full - torch.tensor([x0, y0])) * 256 / (x1 - x0), crop, atol=1e-2)


def test_model_given_as_a_file(tmp_path):
    if not ASTRONAUT.is_file():
        pytest.skip("examples/astronaut.jpg missing")
    from talkrig.model import load_model

    path = tmp_path / "my_model.npz"
    load_model("default").save(path)
    r = reconstruct(ASTRONAUT, str(path), texture_size=128)
    assert r.texture.shape == (128, 128, 3) and r.meta["fit_rms_px"] < 4.0
