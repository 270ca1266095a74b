"""Coefficients: validation, time-axis operations, exact save/load."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from talkrig.errors import InputError, TalkrigError
from talkrig.model.coefficients import FIELDS, Coefficients


def _random(frames: int = 5, seed: int = 0, k: int = 7, e: int = 4, a: int = 3) -> Coefficients:
    g = torch.Generator().manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g)  # noqa: E731
    return Coefficients(identity=r(frames, k), expression=r(frames, e), albedo=r(frames, a),
                        rotation=r(frames, 3) * 0.3, translation=r(frames, 3), lighting=r(frames, 27),
                        focal=r(frames).abs() * 100 + 500)


# -- validation -------------------------------------------------------------------------------

@pytest.mark.parametrize("field,value,message", [
    ("rotation", torch.zeros(5, 4), r"rotation must be \(T, 3\)"),
    ("lighting", torch.zeros(5, 9), r"lighting must be \(T, 27\)"),
    ("translation", torch.zeros(5, 3, 1), "translation must have 2 dims"),
    ("focal", torch.zeros(5, 1), "focal must have 1 dims"),
    ("expression", torch.zeros(4, 4), "expression has 4 frames, rotation has 5"),
    ("identity", torch.full((5, 7), float("nan")), "identity contains NaN"),
    ("albedo", torch.full((5, 3), float("inf")), "albedo contains NaN or infinite"),
])
def test_validation_errors_are_one_line_input_errors(field, value, message):
    parts = _random().to_numpy()
    parts[field] = value
    with pytest.raises(InputError, match=message) as info:
        Coefficients(**parts)
    assert isinstance(info.value, TalkrigError) and "\n" not in str(info.value)


def test_inputs_become_float32_tensors():
    parts = {f: np.asarray(v, dtype=np.float64) for f, v in _random().to_numpy().items()}
    c = Coefficients(**parts)
    assert all(getattr(c, f).dtype == torch.float32 and isinstance(getattr(c, f), torch.Tensor) for f in FIELDS)
    assert torch.equal(c.identity, torch.from_numpy(parts["identity"].astype(np.float32)))


def test_zeros_defaults():
    c = Coefficients.zeros(80, 64, 80, frames=3, focal=1015.0, distance=10.0)
    assert c.frames == 3 and c.identity.shape == (3, 80) and c.albedo.shape == (3, 80)
    assert torch.all(c.translation == torch.tensor([0.0, 0.0, -10.0]))
    assert torch.all(c.lighting[:, [0, 9, 18]] == np.float32(0.8))
    assert c.lighting.abs().sum() == pytest.approx(3 * 3 * 0.8, rel=1e-6)
    assert torch.all(c.focal == 1015.0)


# -- time axis --------------------------------------------------------------------------------

def test_slicing():
    c = _random(6)
    assert len(c) == 6
    one = c[2]
    assert one.frames == 1 and torch.equal(one.expression[0], c.expression[2])
    last = c[-1]
    assert last.frames == 1 and torch.equal(last.rotation[0], c.rotation[5])
    assert torch.equal(c[-2].focal, c.focal[4:5])
    part = c[1:4]
    assert part.frames == 3 and torch.equal(part.lighting, c.lighting[1:4])
    assert c[::2].frames == 3
    picked = c[torch.tensor([5, 0])]
    assert torch.equal(picked.identity, c.identity[[5, 0]])


def test_repeat_and_cat():
    c = _random(1)
    r = c.repeat(4)
    assert r.frames == 4 and all(r[i] == c for i in range(4))
    r.expression[0, 0] = 99.0  # repeat copies: no aliasing of the source
    assert c.expression[0, 0] != 99.0
    with pytest.raises(ValueError):
        _random(2).repeat(3)
    a, b = _random(2, seed=1), _random(3, seed=2)
    both = Coefficients.cat([a, b])
    assert both.frames == 5 and both[:2] == a and both[2:] == b


def test_interpolate():
    c = _random(5)
    fps = 25.0
    same = c.interpolate(torch.arange(5) / fps, fps)
    assert torch.allclose(same.expression, c.expression, atol=1e-6)
    mid = c.interpolate(torch.tensor([0.5 / fps, 3.25 / fps]), fps)
    assert torch.allclose(mid.rotation[0], (c.rotation[0] + c.rotation[1]) / 2, atol=1e-6)
    assert torch.allclose(mid.translation[1], 0.75 * c.translation[3] + 0.25 * c.translation[4], atol=1e-6)
    clamped = c.interpolate(torch.tensor([-1.0, 100.0]), fps)  # outside the clip: hold the ends
    assert torch.equal(clamped.identity[0], c.identity[0]) and torch.equal(clamped.identity[1], c.identity[4])
    resampled = c.interpolate(torch.arange(0, 4 / fps, 1 / 60), fps)  # 25 fps -> 60 fps
    assert resampled.frames == 10


# -- files ------------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".npz", ".safetensors"])
def test_save_load_exact(tmp_path, suffix):
    c = _random(9, seed=3)
    path = tmp_path / f"c{suffix}"
    c.save(path, metadata={"fps": 25})
    back = Coefficients.load(path)
    assert back == c
    assert all(torch.equal(getattr(back, f), getattr(c, f)) for f in FIELDS)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_the_tongue_is_optional_and_travels_with_the_rest(tmp_path):
    """``tongue`` (T, 1) defaults to zeros, is sliced, tiled, joined and saved like the other
    fields, and a file written before it existed loads with zeros."""
    c = _random(4, seed=1)
    assert c.tongue.shape == (4, 1) and float(c.tongue.abs().sum()) == 0.0
    c = c.replace(tongue=torch.tensor([[0.0], [0.25], [1.0], [0.5]]))
    assert torch.equal(c[1:3].tongue, torch.tensor([[0.25], [1.0]]))
    assert torch.equal(Coefficients.cat([c, c[:1]]).tongue[-1], torch.tensor([0.0]))
    assert torch.equal(c[2].repeat(3).tongue, torch.ones(3, 1))
    assert torch.allclose(c.interpolate(torch.tensor([1.5 / 25]), 25.0).tongue, torch.tensor([[0.625]]))
    c.save(tmp_path / "c.npz")
    assert Coefficients.load(tmp_path / "c.npz") == c
    with np.load(tmp_path / "c.npz") as z:
        np.savez(tmp_path / "old.npz", **{f: z[f] for f in FIELDS})     # no tongue in the file
    old = Coefficients.load(tmp_path / "old.npz")
    assert old.tongue.shape == (4, 1) and float(old.tongue.abs().sum()) == 0.0
    with pytest.raises(InputError, match=r"tongue must be \(T, 1\)"):
        c.replace(tongue=torch.zeros(4, 2))


def test_npz_is_plain_arrays(tmp_path):
    c = _random(2)
    c.save(tmp_path / "c.npz", metadata={"source": "test"})
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        assert set(FIELDS) <= set(z.files)
        assert "test" in str(z["metadata_json"])


def test_load_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        Coefficients.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="cannot read coefficients"):
        Coefficients.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "partial.npz", identity=np.zeros((1, 3)))
    with pytest.raises(InputError, match="missing expression"):
        Coefficients.load(tmp_path / "partial.npz")
    with pytest.raises(InputError, match="output folder does not exist"):
        _random(1).save(tmp_path / "nope" / "c.npz")
