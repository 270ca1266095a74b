"""Live talking-head media: utterances and idle motion as audio + frames on one timeline.

:class:`LiveTalker` holds a face prepared once (model, :class:`Reconstruction`, a
:class:`~talkrig.synth.frames.TalkingHeadRenderer` at one size) and the state of a live
session (the last pose, the emotion in force, the position in the idle loop). :meth:`say`
speaks one utterance, :meth:`idle` continues the idle loop for a while; both yield
:class:`MediaChunk` s of a few frames with exactly the audio samples that belong to them, so
a consumer can encode and send each one as soon as it exists. Consecutive chunks are
contiguous in media time: no gaps, no overlaps, no re-timing of what was already sent.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from talkrig.animate.animation import Animation
from talkrig.animate.live import JOIN_S, Pose, frames_for, idle_animation, join
from talkrig.animate.speech import Speech
from talkrig.model.morphable import MorphableModel
from talkrig.synth.frames import TalkingHeadRenderer

#: Frames rendered (and yielded) together: small enough that the first media of an utterance
#: leaves early, large enough that the renderer's batching pays.
CHUNK_FRAMES = 6
#: Idle frames are kept for reuse while a loop fits in this many bytes (the loop repeats).
IDLE_CACHE_BYTES = 64 << 20


class IdleFrames:
    """Rendered frames of idle loops, for reuse: by one talker as its loop comes round again,
    and by every talker of the same face, size and emotion (a server's live sessions share
    one). Holds at most ``loops`` loops, the least recently used dropped first; a loop larger
    than :data:`IDLE_CACHE_BYTES` is not kept. Safe to share between threads."""

    def __init__(self, loops: int = 4):
        self.loops = int(loops)
        self._frames: dict[tuple, dict[int, np.ndarray]] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple, idx: np.ndarray) -> np.ndarray | None:
        with self._lock:
            loop = self._frames.get(key)
            if loop is None:
                return None
            self._frames[key] = self._frames.pop(key)  # most recently used last
            got = [loop.get(int(i)) for i in idx]
        return None if any(g is None for g in got) else np.stack(got)

    def put(self, key: tuple, idx: np.ndarray, frames: np.ndarray, loop_frames: int) -> None:
        if loop_frames * frames[0].nbytes > IDLE_CACHE_BYTES:
            return
        with self._lock:
            loop = self._frames.pop(key, {})
            loop.update((int(i), f) for i, f in zip(idx, frames))
            self._frames[key] = loop
            while len(self._frames) > self.loops:
                self._frames.pop(next(iter(self._frames)))

    def count(self, key: tuple) -> int:
        with self._lock:
            return len(self._frames.get(key, {}))


@dataclass
class MediaChunk:
    """A piece of a live stream.

    Attributes:
        frames: ``(N, S, S, 3)`` uint8 RGB.
        audio: ``(N * sample_rate / fps,)`` float32 mono samples of the same stretch of time.
        start: media time of the first frame (s since the stream began).
        kind: ``"speech"`` or ``"idle"``.
        text: the utterance being spoken (speech chunks).
        last: whether this chunk ends its utterance or idle stretch.
    """

    frames: np.ndarray
    audio: np.ndarray
    start: float
    kind: str
    text: str | None = None
    last: bool = False


class LiveTalker:
    """One live talking head: a face prepared once, and a continuous timeline.

    Args:
        model: the face model the reconstruction was fitted with.
        recon: the :class:`~talkrig.recon.reconstruction.Reconstruction` of the photo.
        size: frame size in pixels.
        emotion, intensity: what the face shows until :meth:`say` is told otherwise.
        pose: head-motion style (``natural``, ``calm``, ``lively``, ``still``).
        fps: frame rate of the stream.
        voice: eSpeak NG voice for :meth:`say` (default: from the text's script).
        seed: seed of the procedural motion (blinks, sways).
        renderer: a prepared renderer to reuse (its size wins over ``size``).
        idle_frames: an :class:`IdleFrames` store to share with other talkers of this face
            (``face_key`` names the face in it); a private one by default.
        face_key: what tells this face apart in a shared ``idle_frames``.
    """

    def __init__(self, model: MorphableModel, recon, size: int = 256, emotion: str = "neutral",
                 intensity: float = 1.0, pose: str = "natural", fps: float = 25.0,
                 voice: str | None = None, seed: int = 0, renderer: TalkingHeadRenderer | None = None,
                 idle_frames: IdleFrames | None = None, face_key: str = ""):
        self.model = model
        self.recon = recon
        self.renderer = renderer or TalkingHeadRenderer(model, recon, size=size)
        self.size = self.renderer.size
        self.fps = float(fps)
        self.sample_rate = 16000
        self.emotion, self.intensity = emotion, float(intensity)
        self.pose_style, self.voice, self.seed = pose, voice, int(seed)
        self.frames_sent = 0  # position on the timeline, in frames
        self._base = recon.neutral_coeffs()
        self._last: Pose | None = None
        self._idle: Animation | None = None
        self._idle_key: tuple | None = None
        self._idle_pos = 0
        self.idle_frames = idle_frames if idle_frames is not None else IdleFrames(loops=1)
        self.face_key = face_key
        self._utterances = 0
        self._idle_join: Pose | None = None  # the pose the next idle frames ease in from
        self._ease: tuple | None = None  # an ease-in under way: (from, loop, first index, frames done)

    @property
    def media_time(self) -> float:
        """Seconds of media produced so far."""
        return self.frames_sent / self.fps

    @property
    def samples_per_frame(self) -> float:
        return self.sample_rate / self.fps

    def warm(self) -> None:
        """Load what the first utterance would otherwise load on its way (the TTS library,
        SciPy's signal tools, the viseme tables): speaks and animates a word without
        rendering it, so the first real :meth:`say` answers at its usual speed."""
        from talkrig.animate.pipeline import animate_speech, emotional_tts

        speech = emotional_tts("Hello.", self.emotion, self.intensity, voice=self.voice)
        anim = animate_speech(speech, emotion=self.emotion, intensity=self.intensity,
                              pose=self.pose_style, fps=self.fps)
        anim.to_coefficients(self.model, self._base)

    # -- speech -----------------------------------------------------------------------------
    def say(self, text: str, emotion: str | None = None, intensity: float | None = None) -> Iterator[MediaChunk]:
        """Speak ``text`` (eSpeak NG in the emotion's voice), from the end of the timeline.
        ``emotion``/``intensity`` change what the face shows from now on (the change blends in
        over :data:`talkrig.animate.live.JOIN_S`)."""
        from talkrig.animate.pipeline import emotional_tts

        self._set_emotion(emotion, intensity)
        speech = emotional_tts(text, self.emotion, self.intensity, voice=self.voice)
        yield from self.say_speech(speech, text=text)

    def say_speech(self, speech: Speech, text: str | None = None) -> Iterator[MediaChunk]:
        """Animate and render a :class:`Speech` (audio with timings from TTS, alignment or
        recognition) in the current emotion."""
        from talkrig.animate.pipeline import animate_speech

        self._utterances += 1
        anim = animate_speech(speech, emotion=self.emotion, intensity=self.intensity,
                              pose=self.pose_style, seed=self.seed + self._utterances, fps=self.fps)
        anim = join(anim, self._last)
        self._last = Pose.last_of(anim)
        self._ease = None
        self._idle_pos = 0  # after speaking, the idle loop starts again (it eases in from here)
        self._idle_join = self._last
        yield from self._render(anim, "speech", text, cache=False)

    # -- idle -------------------------------------------------------------------------------
    def idle(self, seconds: float) -> Iterator[MediaChunk]:
        """Continue the idle loop (listening face: blinks, glances, sway, breathing) for
        ``seconds`` (rounded to whole frames)."""
        loop = self._idle_loop()
        n = max(int(round(seconds * self.fps)), 1)
        idx = (self._idle_pos + np.arange(n)) % loop.n_frames
        self._idle_pos = int((self._idle_pos + n) % loop.n_frames)
        anim = _take(loop, idx, self.samples_per_frame)
        if self._idle_join is not None:  # idle after speech (or a new emotion) eases in from there
            self._ease = (self._idle_join, loop, int(idx[0]), 0)
            self._idle_join = None
        cache = self._ease is None
        if not cache:
            anim, self._ease = _eased(anim, self._ease)
        self._last = Pose.last_of(anim)
        yield from self._render(anim, "idle", None, cache=cache, loop_index=idx)

    def _idle_loop(self) -> Animation:
        key = (self.emotion, self.intensity, self.pose_style)
        if self._idle is None or key != self._idle_key:
            self._idle = idle_animation(self.emotion, self.intensity, fps=self.fps, seed=self.seed,
                                        pose=self.pose_style)
            self._idle_key = key
            if self._last is not None:
                self._idle_join = self._last
        return self._idle

    def _set_emotion(self, emotion: str | None, intensity: float | None) -> None:
        if emotion is not None:
            self.emotion = emotion
        if intensity is not None:
            self.intensity = float(intensity)

    # -- frames -----------------------------------------------------------------------------
    def _render(self, anim: Animation, kind: str, text: str | None, cache: bool,
                loop_index: np.ndarray | None = None) -> Iterator[MediaChunk]:
        n = anim.n_frames
        audio = _fit_audio(anim.audio, n, self.samples_per_frame)
        coeffs = None
        for s in range(0, n, CHUNK_FRAMES):
            e = min(s + CHUNK_FRAMES, n)
            frames = self._cached(loop_index[s:e]) if cache and loop_index is not None else None
            if frames is None:
                if coeffs is None:
                    coeffs = anim.to_coefficients(self.model, self._base)
                frames = np.stack([f.cpu().numpy() for f in self.renderer.render(coeffs[s:e])])
                if cache and loop_index is not None:
                    self._store(loop_index[s:e], frames)
            a0, a1 = round(s * self.samples_per_frame), round(e * self.samples_per_frame)
            start = self.media_time
            self.frames_sent += e - s
            yield MediaChunk(frames=frames, audio=audio[a0:a1], start=start, kind=kind, text=text,
                             last=e == n)

    def _loop_key(self) -> tuple:
        return (self.face_key, self.size, self.fps, self.seed, *self._idle_key)

    def _cached(self, idx: np.ndarray) -> np.ndarray | None:
        return self.idle_frames.get(self._loop_key(), idx)

    def _store(self, idx: np.ndarray, frames: np.ndarray) -> None:
        self.idle_frames.put(self._loop_key(), idx, frames, self._idle.n_frames)


def _eased(anim: Animation, ease: tuple) -> tuple[Animation, tuple | None]:
    """Idle frames ``anim`` with the ease-in ``ease`` = (pose eased from, loop, loop index the
    ease started at, frames of it done) applied (:func:`~talkrig.animate.live.join`); returns
    them and the ease still under way (``None`` once finished). An ease spans several
    :meth:`LiveTalker.idle` calls."""
    start, loop, i0, done = ease
    first = Pose(loop.expression[i0], loop.rotation[i0], loop.translation[i0])
    out = join(anim, start, first=first, done=done)
    done += anim.n_frames
    return out, (None if done >= frames_for(JOIN_S, anim.fps) else (start, loop, i0, done))


def _fit_audio(audio: np.ndarray, n_frames: int, samples_per_frame: float) -> np.ndarray:
    """``audio`` trimmed or padded with silence to exactly ``n_frames`` frames' worth."""
    want = round(n_frames * samples_per_frame)
    audio = np.asarray(audio, np.float32)[:want]
    return np.pad(audio, (0, want - len(audio))) if len(audio) < want else audio


def _take(anim: Animation, idx: np.ndarray, samples_per_frame: float) -> Animation:
    """Frames ``idx`` of ``anim`` (wrapping indices of a loop) with silent audio."""
    return Animation(fps=anim.fps, expression=anim.expression[idx], rotation=anim.rotation[idx],
                     translation=anim.translation[idx], tongue_tip=anim.tongue_tip[idx],
                     audio=np.zeros(round(len(idx) * samples_per_frame), np.float32),
                     sample_rate=anim.sample_rate, emotion=anim.emotion,
                     metadata=dict(anim.metadata))
