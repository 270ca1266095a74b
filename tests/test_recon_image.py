"""talkrig.io.image: every way a user can hand us a photo, and every way it can be wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from talkrig.errors import InputError
from talkrig.io.image import load_image, resize_max_side, save_image


def _gradient(h=60, w=40) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 77)], -1).astype(np.uint8)


def test_rgb_png_roundtrip(tmp_path):
    img = _gradient()
    save_image(tmp_path / "a.png", img)
    out = load_image(tmp_path / "a.png")
    assert out.dtype == np.uint8 and out.shape == (60, 40, 3)
    assert np.array_equal(out, img)


def test_exif_rotation_is_applied(tmp_path):
    img = _gradient(60, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=95)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape == (40, 60, 3)  # upright: width and height swapped
    # orientation 6 means the stored top row becomes the right column
    assert abs(int(out[:, -1, 1].mean()) - int(img[0, :, 1].mean())) < 12


def test_grayscale_alpha_palette_cmyk(tmp_path):
    g = Image.fromarray(_gradient()[..., 0])
    g.save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (60, 40, 3) and np.array_equal(out[..., 0], out[..., 2])

    rgba = np.dstack([_gradient(), np.zeros((60, 40), np.uint8)])
    rgba[:30, :, 3] = 255
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert np.array_equal(out[:30], _gradient()[:30])
    assert (out[30:] == 255).all()  # transparent -> white background

    Image.fromarray(_gradient()).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (60, 40, 3)

    Image.fromarray(_gradient()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    out = load_image(tmp_path / "c.jpg")
    assert out.shape == (60, 40, 3)
    assert np.abs(out.astype(int) - _gradient().astype(int)).mean() < 10


def test_sixteen_bit(tmp_path):
    g16 = (np.linspace(0, 65535, 60 * 40).reshape(60, 40)).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out = load_image(tmp_path / "g16.png")
    assert out.dtype == np.uint8 and out.shape == (60, 40, 3)
    assert out[0, 0, 0] == 0 and out[-1, -1, 0] == 255
    arr = load_image(np.dstack([g16] * 3))
    assert arr[-1, -1].tolist() == [255, 255, 255]


def test_arrays_float_and_gray():
    f = np.linspace(0, 1, 50 * 50, dtype=np.float32).reshape(50, 50)
    out = load_image(f)
    assert out.shape == (50, 50, 3) and out[-1, -1, 0] == 255
    with pytest.raises(InputError, match="NaN"):
        load_image(np.full((50, 50, 3), np.nan))
    with pytest.raises(InputError, match="shape"):
        load_image(np.zeros((50, 50, 5), np.uint8))


def test_bad_inputs_are_one_line_errors(tmp_path):
    cases = []
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "missing.jpg")
    cases.append(e.value)
    (tmp_path / "text.jpg").write_text("this is not a picture\n")
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "text.jpg")
    cases.append(e.value)
    Image.new("RGB", (16, 16)).save(tmp_path / "tiny.png")
    with pytest.raises(InputError, match="too small") as e:
        load_image(tmp_path / "tiny.png")
    cases.append(e.value)
    (tmp_path / "trunc.png").write_bytes((tmp_path / "tiny.png").read_bytes()[:30])
    with pytest.raises(InputError) as e:
        load_image(tmp_path / "trunc.png")
    cases.append(e.value)
    with pytest.raises(InputError) as e:
        load_image(tmp_path)
    cases.append(e.value)
    for exc in cases:
        assert "\n" not in str(exc) and str(exc)


def test_resize_max_side():
    img = np.zeros((300, 1000, 3), np.uint8)
    small, s = resize_max_side(img, 500)
    assert small.shape == (150, 500, 3) and s == pytest.approx(2.0)
    same, s = resize_max_side(img, 2000)
    assert same is img and s == 1.0
