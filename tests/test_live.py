"""The live streaming core: fragmented MP4 pieces, streamed text in clauses, segments that join
without jumps, idle motion, and `talkrig.stream` on a real face with real TTS."""

from __future__ import annotations

import io

import av
import numpy as np
import pytest

from talkrig.animate.animation import Animation
from talkrig.animate.live import JOIN_S, ClauseBuffer, Pose, idle_animation, join
from talkrig.io.fmp4 import FragmentedMP4, codec_string, stream_samples
from talkrig.model.arkit import ARKIT_52

from conftest import REPO

JAW = ARKIT_52.index("jawOpen")


def _decode(data: bytes) -> tuple[int, float]:
    """(video frames, audio seconds) of an MP4 held in memory."""
    with av.open(io.BytesIO(data)) as c:
        frames = sum(1 for _ in c.decode(video=0))
    with av.open(io.BytesIO(data)) as c:
        samples = sum(f.samples for f in c.decode(audio=0))
        rate = c.streams.audio[0].rate
    return frames, samples / rate


# -- fragmented MP4 ---------------------------------------------------------------------------
def test_fragmented_mp4_pieces_arrive_early_and_join_into_one_playable_file():
    rng = np.random.default_rng(0)
    enc = FragmentedMP4(25, (64, 48), keyint=5)
    pieces, frames_when_first_media = [], None
    t = np.arange(640 * 3) / 16000
    for i in range(30):
        frames = rng.integers(0, 255, (3, 48, 64, 3), dtype=np.uint8)
        pieces.append(enc.write(frames, 0.3 * np.sin(2 * np.pi * 220 * (t + i * 0.12)).astype(np.float32)))
        if frames_when_first_media is None and stream_samples(b"".join(pieces)).get(1):
            frames_when_first_media = 3 * (i + 1)
    pieces.append(enc.close())
    data = b"".join(pieces)
    assert pieces[0][4:8] == b"ftyp"  # the init segment comes first
    assert codec_string(data).startswith("avc1.") and codec_string(data).endswith("mp4a.40.2")
    # media is handed out long before the end, a keyframe interval (+ the muxer's interleave) in
    assert frames_when_first_media is not None and frames_when_first_media <= 15
    assert stream_samples(data)[1] == 90
    n, audio_s = _decode(data)
    # decoded AAC also holds the encoder's priming frame and the padded last frame (64 ms each)
    assert n == 90 and abs(audio_s - 90 / 25) < 0.15


def test_fragmented_mp4_refuses_bad_frames():
    enc = FragmentedMP4(25, (64, 48))
    with pytest.raises(Exception, match="64x48"):
        enc.write([np.zeros((50, 64, 3), np.uint8)])
    with pytest.raises(Exception, match="even"):
        FragmentedMP4(25, (63, 48))


# -- text in clauses --------------------------------------------------------------------------
def test_clause_buffer_releases_sentences_as_soon_as_they_end():
    buf = ClauseBuffer()
    tokens = "Hello there! I have been waiting for you, my old friend, all day. Bye".split(" ")
    released = []
    for i, tok in enumerate(tokens):
        for piece in buf.feed(tok + " "):
            released.append((i, piece))
    released += [(len(tokens), p) for p in buf.flush()]
    assert [p for _, p in released] == ["Hello there!", "I have been waiting for you,",
                                        "my old friend, all day.", "Bye"]
    assert released[0][0] == 1  # spoken right after its second word arrived, not at the end


def test_clause_buffer_cuts_runaway_text_at_a_space():
    buf = ClauseBuffer(max_chars=40)
    pieces = buf.feed("word " * 30)
    assert pieces and all(len(p) <= 40 and not p.endswith("wor") for p in pieces)


# -- joins and idle ----------------------------------------------------------------------------
def _anim(n: int, value: float) -> Animation:
    return Animation(fps=25, expression=np.full((n, 52), value, np.float32),
                     rotation=np.full((n, 3), value, np.float32),
                     translation=np.zeros((n, 3), np.float32), audio=np.zeros(n * 640, np.float32))


def test_join_continues_from_the_previous_pose_and_fades_out():
    prev = Pose(np.full(52, 0.6, np.float32), np.full(3, 0.2, np.float32), np.zeros(3, np.float32))
    out = join(_anim(40, 0.1), prev)
    assert np.allclose(out.expression[0], 0.6) and np.allclose(out.rotation[0], 0.2)
    k = int(np.ceil(JOIN_S * 25))
    assert np.allclose(out.expression[k:], 0.1) and np.allclose(out.rotation[k:], 0.1)
    steps = np.abs(np.diff(out.rotation[:, 0]))
    assert steps.max() < 0.1 / 4  # no frame carries the jump: it is spread over the join


def test_idle_loops_without_a_jump_and_keeps_the_mouth_closed():
    anim = idle_animation("sad", 1.0, seconds=6.0)
    wrap_rot = np.abs(anim.rotation[0] - anim.rotation[-1]).max()
    typical = np.abs(np.diff(anim.rotation, axis=0)).max()
    assert wrap_rot <= 2 * typical + 1e-6
    assert np.abs(anim.expression[0] - anim.expression[-1]).max() < 0.05
    assert anim.expression[:, JAW].max() < 0.05  # listening: mouth closed
    blink = anim.expression[:, ARKIT_52.index("eyeBlinkLeft")]
    assert blink.max() > 0.8  # it blinks
    assert np.ptp(anim.rotation[:, 0]) > np.radians(0.2)  # and breathes / sways


# -- the live talker on a real face ---------------------------------------------------------------
@pytest.fixture(scope="module")
def talker():
    from talkrig import api

    return api.live_talker(REPO / "examples" / "astronaut.jpg", size=256, emotion="neutral")


def test_live_talker_timeline_is_contiguous_and_joins_are_smooth(talker):
    chunks = list(talker.idle(0.6))
    chunks += list(talker.say("Hello there, my friend.", emotion="happy"))
    chunks += list(talker.idle(0.8))
    t = 0.0
    for c in chunks:
        assert abs(c.start - t) < 1e-6  # no gap, no overlap
        assert len(c.audio) == len(c.frames) * 640
        t += len(c.frames) / 25
    frames = np.concatenate([c.frames for c in chunks]).astype(np.float32)
    kinds = np.concatenate([[c.kind] * len(c.frames) for c in chunks])
    steps = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))
    joins = np.flatnonzero(kinds[1:] != kinds[:-1])
    assert len(joins) == 2
    # a join is no bigger a step than the frames around it (no pose or expression jump)
    assert steps[joins].max() <= 1.5 * np.percentile(steps, 90) + 0.5
    speech_audio = np.concatenate([c.audio for c in chunks if c.kind == "speech"])
    assert np.abs(speech_audio).max() > 0.05  # the voice is there
    assert all(np.abs(c.audio).max() == 0 for c in chunks if c.kind == "idle")


def test_live_talker_reuses_idle_frames_and_changes_emotion_at_the_next_utterance(talker):
    loop = talker._idle_loop()
    list(talker.idle(loop.duration + 0.4))  # a whole loop: cached from here on
    cached = talker.idle_frames.count(talker._loop_key())
    assert cached >= loop.n_frames - 13  # all but the eased-in start
    # a second talker of the same face shares the rendered loop: its idle costs no rendering
    from talkrig.synth.stream import LiveTalker

    other = LiveTalker(talker.model, talker.recon, renderer=talker.renderer, idle_frames=talker.idle_frames,
                       emotion=talker.emotion, intensity=talker.intensity)
    other._idle_pos = 100
    calls = []
    render = other.renderer.render
    other.renderer = type("Counting", (), {"render": lambda self, c: calls.append(1) or render(c),
                                           "size": talker.size})()
    chunk = next(other.idle(0.2))
    assert calls == [] and np.array_equal(chunk.frames, talker.idle_frames.get(talker._loop_key(), np.arange(100, 105)))
    before = talker.emotion
    chunks = list(talker.say("Oh no.", emotion="sad", intensity=1.0))
    assert talker.emotion == "sad" != before and chunks[-1].last


def test_stream_mp4_from_streamed_tokens_is_one_playable_file():
    from talkrig import api

    tokens = iter(["Good ", "morning! ", "How are ", "you today?"])
    data = b"".join(api.stream_mp4(REPO / "examples" / "astronaut.jpg", tokens, emotion="happy",
                                   size=256))
    n, audio_s = _decode(data)
    assert n > 25 * 1.5 and abs(audio_s - n / 25) < 0.15
    with pytest.raises(Exception, match="exactly one"):
        api.stream(REPO / "examples" / "astronaut.jpg")


def test_stream_from_speech_audio_with_and_without_a_transcript(shared):
    from talkrig import api
    from talkrig.io.audio import load_audio

    samples, _ = load_audio(shared("dev", "audio", "pocketsphinx_goforward.wav"))
    chunks = list(api.stream(REPO / "examples" / "astronaut.jpg",
                             audio=[(samples, "go forward ten meters"), (samples, None)], size=256))
    speech = [c for c in chunks if c.kind == "speech"]
    n = sum(len(c.frames) for c in speech)
    assert abs(n / 25 - 2 * len(samples) / 16000) < 0.1  # both utterances, back to back
    out = np.concatenate([c.audio for c in speech])
    assert np.allclose(out[:len(samples) - 640], samples[:len(samples) - 640], atol=1e-6)  # the voice itself
    assert [c.text for c in speech if c.last] == ["go forward ten meters", None]
