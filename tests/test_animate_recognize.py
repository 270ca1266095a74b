"""Recognition without a transcript: pause cuts and parallel decoding of the pieces."""

import os
import threading

import numpy as np
import pytest

from talkrig.animate import align as A
from talkrig.animate.loudness import HOP_S, voice_activity
from talkrig.errors import InputError

SENTENCES = ["Bob bought a big blue balloon, but it popped.",
             "Please call Stella and ask her to bring these things with her from the store.",
             "My mother made marmalade, maybe more than we need."]


@pytest.fixture(scope="module")
def speech(tmp_path_factory):
    """~12 s of TTS speech: three sentences with 0.4 s of silence between them, synthesised in a
    fresh process (espeak-ng's output drifts with what the process synthesised before, so the
    audio would otherwise depend on which tests ran first)."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("speech") / "speech.npy"
    code = ("import sys, numpy as np; from talkrig.animate.tts import synthesize; "
            "gap = np.zeros(int(0.4 * 16000), np.float32); parts = []\n"
            f"for s in {SENTENCES!r}: parts += [synthesize(s).audio, gap]\n"
            "np.save(sys.argv[1], np.concatenate(parts))")
    subprocess.run([sys.executable, "-c", code, str(path)], check=True, timeout=120)
    return np.load(path)


def test_cuts_fall_in_pauses(speech):
    cuts = A.pause_cuts(speech)
    assert cuts[0] == 0.0 and cuts[-1] == pytest.approx(len(speech) / 16000)
    assert len(cuts) >= 3  # at least two pieces, so two processes have work
    _, active = voice_activity(speech)
    for c in cuts[1:-1]:
        assert not active[int(round(c / HOP_S))], c  # a cut is in a pause, never in speech
    assert all(b - a >= A._PIECE_S for a, b in zip(cuts[:-2], cuts[1:-1]))


def test_parallel_and_serial_recognition_agree(speech):
    serial = A.recognize(speech, workers=1)
    parallel = A.recognize(speech, workers=2)
    assert serial.source == parallel.source == "recognize"
    assert parallel.phonemes == serial.phonemes and parallel.words == serial.words
    assert A.recognize(speech, workers=2).phonemes == serial.phonemes  # pool reused, same result
    assert len(serial.words) >= 10
    # the pieces' phones tile the audio and the p/b/m of "Bob bought a big blue balloon" show up
    assert serial.phonemes[0][0] == 0.0 and serial.phonemes[-1][1] == pytest.approx(len(speech) / 16000)
    first = [p for a, _, p in serial.phonemes if a < 3.0]
    assert sum(p in ("P", "B", "M") for p in first) >= 3


@pytest.mark.shared
def test_parallel_recognition_of_real_speech(shared):
    from talkrig.io.audio import load_audio

    audio, _ = load_audio(shared("dev", "audio", "sadtalker_RD_Radio31_000.wav"))
    assert len(A.pause_cuts(audio)) >= 3
    serial = A.recognize(audio, workers=1)
    assert A.recognize(audio, workers=2).phonemes == serial.phonemes
    assert serial.source == "recognize" and len(serial.words) >= 10


def test_worker_count_policy(monkeypatch):
    monkeypatch.delenv("TALKRIG_RECOGNIZE_WORKERS", raising=False)
    assert A.recognition_workers(1, 5) == 1
    assert A.recognition_workers(4, 3) == 3  # never more processes than pieces
    assert 1 <= A.recognition_workers(None, 5) <= A.MAX_WORKERS
    out = []
    t = threading.Thread(target=lambda: out.append(A.recognition_workers(None, 5)))
    t.start()
    t.join()
    assert out == [1]  # no pools from worker threads
    # short audio decodes in this process: starting workers would cost more than they save
    assert A.recognition_workers(None, 5, duration=A.PARALLEL_MIN_S - 1) == 1
    assert A.recognition_workers(None, 5, duration=A.PARALLEL_MIN_S + 1) == min(A.MAX_WORKERS, len(os.sched_getaffinity(0)))
    monkeypatch.setenv("TALKRIG_RECOGNIZE_WORKERS", "1")
    assert A.recognition_workers(None, 5, duration=600) == 1
    monkeypatch.setenv("TALKRIG_RECOGNIZE_WORKERS", "two")
    with pytest.raises(InputError, match="whole number"):
        A.recognition_workers(None, 5)


def test_recognition_vocabulary_is_the_language_models_most_probable_words(tmp_path, monkeypatch):
    import re
    from pathlib import Path

    from pocketsphinx import get_model_path

    monkeypatch.setenv("TALKRIG_CACHE", str(tmp_path))
    path = A.recognition_dict(500)
    assert path.parent.parent == tmp_path
    lines = path.read_text().splitlines()
    words = {re.sub(r"\(\d+\)$", "", ln.split()[0]) for ln in lines}
    assert len(words) == 500
    assert {"the", "and", "you", "people"} <= words and not {"mongolia", "audits"} & words
    full = set((Path(get_model_path()) / "en-us" / "cmudict-en-us.dict").read_text().splitlines())
    assert set(lines) <= full  # pronunciations copied unchanged, alternates included
    assert "the(2)" in {ln.split()[0] for ln in lines}
    mtime = path.stat().st_mtime_ns
    assert A.recognition_dict(500) == path and path.stat().st_mtime_ns == mtime  # cached


def test_recognition_vocabulary_falls_back_to_the_full_dictionary(tmp_path, monkeypatch):
    """An unwritable cache costs speed, not the feature."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("TALKRIG_CACHE", str(blocker / "cache"))  # a path below a file
    assert A.recognition_dict(500).name == "cmudict-en-us.dict"
