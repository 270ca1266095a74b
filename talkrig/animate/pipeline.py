"""Speech -> :class:`Animation`: the rule-based path (visemes + emotion + head + eyes)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from talkrig.animate import emotion as emo
from talkrig.animate import head, visemes
from talkrig.animate.animation import Animation, one_sided
from talkrig.animate.loudness import HOP_S, envelope, runs, voice_activity
from talkrig.animate.speech import Speech
from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52


def speech_from_inputs(text: str | None = None, audio: str | Path | np.ndarray | None = None,
                       transcript: str | None = None, voice: str | None = None,
                       rate: int | None = None, tts_engine: str = "espeak",
                       workers: int | None = None, emotion: str | None = None,
                       intensity: float = 1.0) -> Speech:
    """Get audio and timings: TTS for ``text``; alignment (with ``transcript``) or recognition
    for ``audio`` (a path or 16 kHz float32 samples; ``workers``: decoding processes for
    recognition, see :func:`talkrig.animate.align.recognition_workers`). With ``emotion``
    (a name, blend or schedule), TTS speaks with that emotion's voice (:func:`emotional_tts`)."""
    if (text is None) == (audio is None):
        raise InputError("give exactly one of text or audio")
    if text is not None:
        if emotion is not None:
            return emotional_tts(text, emotion, intensity, voice=voice, rate=rate, engine=tts_engine)
        from talkrig.animate.tts import synthesize

        return synthesize(text, voice=voice, rate=rate, engine=tts_engine)
    from talkrig.animate.align import align, recognize

    if isinstance(audio, (str, Path)):
        from talkrig.io.audio import load_audio

        samples, sr = load_audio(audio)
    else:
        samples, sr = np.asarray(audio, np.float32).reshape(-1), 16000
    if len(samples) < sr // 20:
        raise InputError("audio is shorter than 50 ms")
    if transcript is not None and transcript.strip():
        return align(samples, transcript, sr)
    return recognize(samples, sr, workers=workers)


def emotional_tts(text: str, emotion: str, intensity: float = 1.0, voice: str | None = None,
                  rate: int | None = None, engine: str = "espeak") -> Speech:
    """TTS in an emotion's voice (:func:`talkrig.animate.emotion.prosody_for`). A schedule is
    spoken sentence by sentence, each in the voice of the emotion in force when it starts
    (known exactly, since every sentence's duration is known before the next one)."""
    from talkrig.animate.tts import check_text_length, concat_speech, split_sentences, synthesize

    schedule = emo.parse_schedule(emotion, intensity)
    if len(schedule) == 1:
        return synthesize(text, voice=voice, rate=rate, engine=engine, prosody=emo.prosody_for(schedule[0][1]))
    check_text_length(text)  # on the whole text, not per sentence
    parts, t = [], 0.0
    for sentence in split_sentences(text) or [text]:
        mix = [m for start, m in schedule if start <= t + 1e-9][-1]
        parts.append(synthesize(sentence, voice=voice, rate=rate, engine=engine, prosody=emo.prosody_for(mix)))
        t += parts[-1].duration
    return concat_speech(parts)


def audio_pauses(audio: np.ndarray, sample_rate: int = 16000, min_pause_s: float = 0.15) -> list[tuple[float, float]]:
    """Silent stretches ``[(start_s, end_s)]`` of at least ``min_pause_s`` found by energy."""
    times, active = voice_activity(audio, sample_rate, min_pause_s=min_pause_s)
    out = []
    for a, b, v in runs(active):
        if not v and (b - a) * HOP_S >= min_pause_s:
            out.append((max(a * HOP_S - HOP_S / 2, 0.0), b * HOP_S - HOP_S / 2))
    return out


#: How far the blended mouth shapes run ahead of the sound (s): frame ``t`` shows the
#: coarticulated shape of time ``t + LEAD_S`` (seals and tucks start that much earlier and
#: release on the sound; pauses keep the acoustic timing, see
#: :func:`talkrig.animate.visemes.articulation`). Speakers shape a sound before it is heard
#: (Chandrasekaran et al. 2009). Measured with the validated offset of `talkrig eval`
#: (docs/metrics.md): real in-sync dev videos peak at a mouth lead of 0, +2 and 0 frames;
#: talkrig's renders peaked at -1 (late) without a lead. On the mesh of 7 dev clips the peak
#: moved to 0..+1 at 40-60 ms and +1..+2 at 80 ms; renders of two faces x 5 clips at 60 ms
#: peak at 0 or +1 with pause closure as before; r(jaw, loudness ahead) falls with the lead
#: (TTS sentences: mean 0.79 at 0, 0.70 at 60 ms, 0.67 at 80 ms), so the smallest lead that
#: puts renders inside the real range was taken (benchmarks/RESULTS.md, lip sync).
LEAD_S = 0.06


def mouth_curves(speech: Speech, fps: float, n_frames: int,
                 articulation: float = 1.0, lead_s: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Viseme ARKit weights ``(T, 52)`` and the articulation channels ``(T, C)`` at frames,
    ``lead_s`` (default :data:`LEAD_S`) ahead of the sound."""
    lead_s = LEAD_S if lead_s is None else float(lead_s)
    n_int = int(np.ceil(speech.duration * visemes.RATE)) + 1
    t_int = np.arange(n_int) / visemes.RATE
    lt, env = envelope(speech.audio, speech.sample_rate)
    loud = np.interp(t_int, lt, env)
    pauses = visemes.pause_intervals(speech.phonemes, audio_pauses(speech.audio, speech.sample_rate))
    ch = visemes.articulation(speech.phonemes, t_int, loud, pauses, fps=fps,
                              articulation_gain=articulation, lead_s=lead_s,
                              loudness_ahead=np.interp(t_int + lead_s, lt, env))
    t_frames = np.arange(n_frames) / fps
    ch_f = np.stack([np.interp(t_frames, t_int, ch[:, k]) for k in range(ch.shape[1])], 1)
    return visemes.to_arkit(ch_f.astype(np.float32)), ch_f.astype(np.float32)


def animate_speech(speech: Speech, emotion: str = "neutral", intensity: float = 1.0,
                   pose: str | Path = "natural", seed: int = 0, fps: float = 25.0,
                   transition_s: float = 0.5, gaze: bool = True, lead_s: float | None = None) -> Animation:
    """Rule-based animation of ``speech`` (see :func:`talkrig.animate.animate`); ``lead_s``:
    how far the mouth runs ahead of the sound (default :data:`LEAD_S`)."""
    if not 1.0 <= float(fps) <= 240.0:
        raise InputError(f"fps must be within 1..240, got {fps}")
    schedule = emo.parse_schedule(emotion, intensity)
    n = max(int(round(speech.duration * fps)), 1)
    t = np.arange(n) / fps
    speech_w, ch = mouth_curves(speech, fps, n, lead_s=lead_s)
    style = emo.head_curves(schedule, t, transition_s)  # (n, 8): see emotion.HeadStyle
    c = {name: i for i, name in enumerate(visemes.CHANNELS)}
    seal, rounding = ch[:, c["seal"]], np.maximum(ch[:, c["pucker"]], ch[:, c["funnel"]])
    # aroused speech opens the jaw wider, but never into a /p b m/ seal
    speech_w[:, ARKIT_52.index("jawOpen")] *= 1.0 + style[:, 6] * np.clip(1.0 - 2.0 * seal, 0.0, 1.0)
    speaking = np.clip(ch[:, c["jaw"]] * 4.0 + seal, 0.0, 1.0)
    emotion_w = emo.emotion_curves(schedule, t, transition_s)
    expression = emo.compose(speech_w, emotion_w, seal, rounding, speaking)
    # the emotion's held jaw (surprise, fear): open through words and pauses alike, so it does
    # not move in pauses, with speech's own jaw movement riding on top of it (the jaw still
    # follows loudness); it gives way where the lips seal, exactly as the jaw gain above
    jaw = ARKIT_52.index("jawOpen")
    held = style[:, 7] * np.clip(1.0 - 2.0 * seal, 0.0, 1.0)
    expression[:, jaw] = held + expression[:, jaw] * (1.0 - held)
    eyes = head.eye_weights(n, fps, seed, gaze=gaze, blink_rate=1.0 + float(style[:, 5].mean()),
                            gaze_offset=style[:, 4])
    # Blinks close the lids over whatever the emotion does (wide eyes still blink).
    for side in ("Left", "Right"):
        b = ARKIT_52.index(f"eyeBlink{side}")
        expression[:, b] = np.maximum(expression[:, b], eyes[:, b])
        w = ARKIT_52.index(f"eyeWide{side}")
        expression[:, w] *= 1.0 - eyes[:, b]
    look = [i for i, name in enumerate(ARKIT_52) if name.startswith("eyeLook")]
    expression[:, look] = eyes[:, look]
    if isinstance(pose, Path) or str(pose).lower().endswith(".csv"):
        rotation = head.load_pose_csv(pose, n)
        translation = head.neck_translation(rotation).astype(np.float32)
        pose_name = str(pose)
    else:
        lt, env = envelope(speech.audio, speech.sample_rate)
        rotation, translation = head.head_motion(n, fps, speech.phonemes, lt, env, str(pose), seed,
                                                 speech.accents)
        if str(pose) != "still":  # the emotion's head: held offsets and livelier or calmer motion
            rotation, translation = head.styled_head(rotation, style[:, :3], 1.0 + style[:, 3], fps)
        pose_name = str(pose)
    return Animation(fps=fps, expression=np.clip(expression, 0, 1), rotation=rotation,
                     translation=translation, audio=speech.audio, sample_rate=speech.sample_rate,
                     phonemes=speech.phonemes, words=speech.words, tongue_tip=ch[:, c["tip"]],
                     emotion=emo.schedule_text(schedule),
                     metadata={"engine": "rules", "timings": speech.source, "pose": pose_name,
                               "seed": int(seed), "intensity": float(intensity),
                               "emotion_spec": emotion, "one_sided": one_sided(emotion_w)})
