"""talkrig.io.audio.load_audio: any file/rate/channels -> mono float32 16 kHz."""

import numpy as np
import pytest
import soundfile as sf

from talkrig.errors import InputError
from talkrig.io.audio import load_audio, resample


def _tone(rate, seconds=0.5, freq=440.0):
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_wav_44k_stereo_is_resampled_and_downmixed(tmp_path):
    x = _tone(44100)
    stereo = np.stack([x, x], 1)
    p = tmp_path / "a.wav"
    sf.write(p, stereo, 44100)
    y, sr = load_audio(p)
    assert sr == 16000 and y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - 8000) <= 1
    # frequency preserved: dominant FFT bin at 440 Hz
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / len(y) - 440) < 5
    assert abs(np.abs(y).max() - 0.5) < 0.02


def test_m4a_through_pyav(tmp_path):
    av = pytest.importorskip("av")
    p = tmp_path / "a.m4a"
    x = _tone(48000, 1.0, 300.0)
    with av.open(str(p), "w") as c:
        s = c.add_stream("aac", rate=48000)
        s.layout = "mono"
        frame = av.AudioFrame.from_ndarray(x[None], format="flt", layout="mono")
        frame.sample_rate = 48000
        for pkt in s.encode(frame):
            c.mux(pkt)
        for pkt in s.encode(None):
            c.mux(pkt)
    y, sr = load_audio(p)
    assert sr == 16000 and 0.9 < len(y) / 16000 < 1.2
    spec = np.abs(np.fft.rfft(y))
    assert abs(np.argmax(spec) * 16000 / len(y) - 300) < 10


def test_unreadable_and_missing_raise_one_line(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all" * 10)
    for p in (bad, tmp_path / "missing.mp3"):
        with pytest.raises(InputError) as e:
            load_audio(p)
        assert "\n" not in str(e.value)


def test_resample_identity_and_ratio():
    x = _tone(22050)
    assert resample(x, 16000, 16000) is not None
    assert abs(len(resample(x, 22050, 16000)) - 8000) <= 1


@pytest.mark.shared
def test_real_files(shared):
    for name, seconds in (("librispeech_116-288045-0000.flac", 10.65),
                          ("sadtalker_RD_Radio31_000.wav", 8.0),
                          ("ravdess_happy_03-01-03-02-01-01-02.wav", 3.70)):
        y, sr = load_audio(shared("dev", "audio", name))
        assert sr == 16000 and abs(len(y) / sr - seconds) < 0.05
        assert 0.01 < y.std() < 0.5
    y, sr = load_audio(shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4"))
    assert abs(len(y) / sr - 8.0) < 0.1
