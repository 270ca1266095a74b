"""talkrig.io.video: write/read round trips, atomic writes, corrupt input, the dev video."""

from __future__ import annotations

import numpy as np
import pytest

from talkrig.errors import InputError
from talkrig.io.video import (VideoWriter, decode_audio, iter_frames, read_video, write_frames_png,
                              write_video)

SR = 16000


def _frames(n, h=64, w=96):
    """Frames whose brightness encodes the index, plus a moving bar (checks order)."""
    out = []
    for i in range(n):
        f = np.full((h, w, 3), (i * 4) % 256, np.uint8)
        f[:8, (i * 3) % w: (i * 3) % w + 4, 1] = 255
        out.append(f)
    return out


def _tone(seconds, clicks_at=()):
    t = np.arange(int(seconds * SR)) / SR
    a = 0.2 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 1.7 * t) > 0)
    for c in clicks_at:
        k = int(c * SR)
        a[k:k + 160] = 0.9
    return a.astype(np.float32)


def test_round_trip_frames_fps_duration_audio(tmp_path):
    fps, n = 25, 50
    audio = _tone(n / fps, clicks_at=(0.4, 1.52))
    out = tmp_path / "rt.mp4"
    write_video(out, _frames(n), fps, audio=audio)
    clip = read_video(out)
    assert clip.n_frames == n and clip.fps == pytest.approx(fps)
    assert clip.size == (96, 64) and clip.has_audio
    assert abs(clip.duration - n / fps) <= 1 / fps
    got = clip.read_frames()
    assert got.shape == (n, 64, 96, 3)
    # the brightness ramp survives compression, in order
    means = got[:, 30:50, 40:60, 0].astype(float).mean(axis=(1, 2))
    assert np.all(np.abs(means - np.arange(n) * 4 % 256) < 4)
    a = clip.audio()
    assert a.dtype == np.float32
    assert abs(len(a) - len(audio)) <= SR / fps  # within one frame
    m = min(len(a), len(audio))
    assert np.corrcoef(a[:m], audio[:m])[0, 1] > 0.95
    # clicks land where they were put (same clock as the frames)
    for c in (0.4, 1.52):
        k = int(c * SR)
        win = np.abs(a[k - 800:k + 800])
        assert abs(int(np.argmax(win)) - 800) < 200


def test_ntsc_frame_rate(tmp_path):
    out = tmp_path / "ntsc.mp4"
    write_video(out, _frames(30), 30000 / 1001, audio=_tone(1.0))
    clip = read_video(out)
    assert clip.fps == pytest.approx(29.97, abs=0.01) and clip.n_frames == 30
    assert abs(len(clip.audio()) / SR - clip.duration) <= 1 / clip.fps


def test_audio_is_padded_or_trimmed_to_video_length(tmp_path):
    fps, n = 25, 30
    for seconds in (0.5, 3.0):  # shorter and longer than 1.2 s of video
        out = tmp_path / f"a{seconds}.mp4"
        write_video(out, _frames(n), fps, audio=_tone(seconds))
        a = decode_audio(out)
        assert abs(len(a) / SR - n / fps) <= 1 / fps


def test_no_audio_and_stereo_int16_input(tmp_path):
    out = tmp_path / "silent.mp4"
    write_video(out, _frames(5), 30)
    clip = read_video(out)
    assert not clip.has_audio and clip.audio().size == 0
    stereo = (np.stack([_tone(1.0), _tone(1.0)], 1) * 32767).astype(np.int16)
    out2 = tmp_path / "st.mp4"
    write_video(out2, _frames(25), 25, audio=stereo)
    assert np.abs(decode_audio(out2)).max() > 0.1


def test_exception_mid_write_leaves_nothing(tmp_path):
    out = tmp_path / "x.mp4"
    with pytest.raises(RuntimeError):
        with VideoWriter(out, 25, (96, 64), audio=_tone(2.0)) as w:
            for i, f in enumerate(_frames(20)):
                w.write(f)
                if i == 10:
                    raise RuntimeError("renderer crashed")
    assert list(tmp_path.iterdir()) == []


def test_existing_target_survives_failed_write(tmp_path):
    out = tmp_path / "keep.mp4"
    write_video(out, _frames(5), 25)
    before = out.read_bytes()
    with pytest.raises(InputError):
        with VideoWriter(out, 25, (96, 64)) as w:
            w.write(np.zeros((10, 10, 3), np.uint8))  # wrong size
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.mp4"]


def test_bad_arguments(tmp_path):
    with pytest.raises(InputError, match="even"):
        VideoWriter(tmp_path / "o.mp4", 25, (97, 64))
    with pytest.raises(InputError, match="no frames"):
        write_video(tmp_path / "o.mp4", [], 25)
    with pytest.raises(InputError, match="does not exist"):
        write_video(tmp_path / "nope" / "o.mp4", _frames(2), 25)
    assert [p.name for p in tmp_path.iterdir()] == []


def test_corrupt_and_truncated_files(tmp_path):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video" * 100)
    with pytest.raises(InputError) as e:
        read_video(junk)
    assert "\n" not in str(e.value)
    with pytest.raises(InputError, match="not found"):
        read_video(tmp_path / "missing.mp4")
    # a truncated mp4 (moov atom at the end is lost) cannot be opened at all
    good = tmp_path / "good.mp4"
    write_video(good, _frames(40), 25)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(InputError):
        list(iter_frames(cut))


def test_truncated_stream_lenient(tmp_path):
    """A raw H.264 stream cut short: strict raises or ends; lenient returns what decodes."""
    import av

    good = tmp_path / "g.mp4"
    write_video(good, _frames(40), 25)
    raw = tmp_path / "g.h264"
    with av.open(str(good)) as src, av.open(str(raw), "w", format="h264") as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for p in src.demux(src.streams.video[0]):
            if p.dts is not None:
                p.stream = s
                dst.mux(p)
    data = raw.read_bytes()
    cut = tmp_path / "cut.h264"
    cut.write_bytes(data[: int(len(data) * 0.6)])
    got = list(iter_frames(cut, lenient=True))
    assert 5 <= len(got) < 40
    assert got[0].shape == (64, 96, 3)


def test_write_frames_png(tmp_path):
    from PIL import Image

    paths = write_frames_png(tmp_path, _frames(3))
    assert [p.name for p in paths] == ["frame_000000.png", "frame_000001.png", "frame_000002.png"]
    assert np.array_equal(np.asarray(Image.open(paths[2])), _frames(3)[2])


def test_frame_range(tmp_path):
    out = tmp_path / "r.mp4"
    write_video(out, _frames(20), 25, crf=0)
    clip = read_video(out)
    part = clip.read_frames(5, 8)
    assert part.shape[0] == 3
    assert abs(float(part[0, 5, 5, 0]) - 20) <= 2


@pytest.mark.shared
def test_dev_video_decodes(shared):
    p = shared("dev", "video", "hdtf_WDA_KatieHill_000.mp4")
    clip = read_video(p)
    assert clip.n_frames == 200 and clip.fps == pytest.approx(25.0)
    assert clip.duration == pytest.approx(8.0) and clip.size == (512, 512)
    n = 0
    for f in clip.frames():
        assert f.shape == (512, 512, 3) and f.dtype == np.uint8
        n += 1
    assert n == 200
    a = clip.audio()
    assert a.dtype == np.float32 and abs(len(a) - 8 * SR) <= SR // 25
    assert np.sqrt(np.mean(a ** 2)) > 0.01  # speech, not silence
