"""Speech audio -> phoneme and word timings with pocketsphinx (en-us model shipped in its wheel).

* :func:`align` - forced alignment to a known transcript. Pocketsphinx aligns in two passes
  (``set_align_text`` + decode gives words, ``set_alignment`` + decode again gives phones).
  Its phone pass fails on long utterances, so the word pass runs over the whole file and the
  phone pass over chunks of at most ~5 s cut at the word boundaries it found.
* :func:`recognize` - no transcript: the audio is cut in the middle of pauses into pieces of
  >= 4 s; each piece gets word recognition with the shipped language model (over its 20,000
  most probable words, :func:`recognition_dict`) and a phone alignment of the hypothesis over
  the recognizer's own word segmentation (free phone recognition is poor, see
  shared/NOTES.md). Audio of 20 s or more decodes its pieces in 2 worker processes (fresh
  interpreters, never a fork of this process); the result is the same with one.
* Anything that fails degrades to :func:`energy_segments` (voiced stretches as open vowels,
  quiet stretches as ``SIL``) so the mouth still follows the voice.

Words missing from CMUdict are added with their espeak-ng pronunciation mapped to ARPAbet.
Silent digital zeros break pocketsphinx's feature extraction ("Final result does not match the
grammar"), so a fixed, inaudible dither (std 3 LSB, seeded) is added before decoding.

Two pocketsphinx behaviours made results depend on what the process had decoded before, and
are neutralised here:

* Its feature extraction carries state from one utterance to the next (cepstral means
  differed for the same audio; most likely the noise estimate of ``-remove_noise``), so the
  same audio aligned differently depending on the previous decode (and the phone pass
  sometimes failed only on the second try). Every decode starts with ``reinit_feat()``.
* When speech starts in the first frame, the word pass emits a one-frame ``<s>`` overlapping
  the first word; the phone pass cannot fit a 3-state silence HMM into one frame and fails
  ("Failed to reach final state"), which sent whole sentences to the split-and-retry path.
  Every decoded stretch is padded with :data:`PAD_S` of silence on both sides.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from talkrig.animate.phonemes import SIL, merge_silences, normalize, split_segment
from talkrig.animate.speech import Speech
from talkrig.errors import InputError

FRAME_S = 0.01  # pocketsphinx frame period (frate 100)
# Frame k analyses samples from k * 10 ms over a 25.6 ms window, i.e. it is centred at
# k * 10 + 12.8 ms. A change the aligner puts at frame k happened between the centres of
# frames k-1 and k, so boundaries are reported at k * 10 ms + 7.8 ms.
FRAME_OFFSET_S = 0.0078
_CHUNK_S = 5.0
PAD_S = 0.2  # silence added before and after every decoded stretch (see module docstring)
# Word recognition without a transcript: no second (flat-lexicon) pass and no lattice
# rescoring, at most 3000 active HMMs and 10 word exits per frame, and a vocabulary of the
# language model's RECOGNIZE_VOCAB most probable words instead of all 134k CMUdict entries (see
# :func:`recognition_dict`). On three 60 s TTS files this took ~2.5x less CPU than
# pocketsphinx's defaults and found p/b/m, boundaries and pauses as well (benchmarks/RESULTS.md):
# the hypothesis is only a scaffold for the phone alignment, so rare words matter little.
_RECOGNIZE_OPTS = {"fwdflat": False, "bestpath": False, "maxhmmpf": 3000, "maxwpf": 10}
RECOGNIZE_VOCAB = 20000
_PIECE_S = 4.0  # recognize(): shortest piece between two pause cuts
_MIN_LAST_S = 1.0  # ... and no cut closer than this to the end
MAX_WORKERS = 2  # recognize(): decoding processes by default
PARALLEL_MIN_S = 20.0  # ... for audio at least this long (see recognition_workers)
_DECODERS: dict[str, object] = {}
_LOCK = threading.RLock()


def _decoder(kind: str = "align", dict_path: str | None = None):
    """One cached pocketsphinx decoder per kind and process (loading takes ~0.3 s).

    ``align_nofiller`` disallows optional silences between words: used when the normal word
    pass fails to reach the grammar's final state. ``dict_path``: the recognizer's dictionary
    (default :func:`recognition_dict`)."""
    from pocketsphinx import Decoder

    if kind not in _DECODERS:
        opts = {"align_nofiller": {"fsgusefiller": False}, "recognize": _RECOGNIZE_OPTS}.get(kind, {})
        if kind == "recognize":
            opts = {**opts, "dict": dict_path or str(recognition_dict())}
        _DECODERS[kind] = Decoder(loglevel="FATAL", **opts)
    return _DECODERS[kind]


def recognition_dict(vocab: int = RECOGNIZE_VOCAB):
    """Path of a pronunciation dictionary holding the ``vocab`` words of pocketsphinx's CMUdict
    that its en-us language model finds most probable as unigrams (with all their alternate
    pronunciations). Written once into talkrig's cache (~0.2 s); a smaller lexicon tree is
    what makes recognition cheaper. Where the cache cannot be written, the full dictionary
    (same results as before the smaller vocabulary, ~1.7x the CPU time)."""
    from pathlib import Path

    from pocketsphinx import NGramModel, get_model_path

    from talkrig.errors import TalkrigError
    from talkrig.io.files import atomic_path
    from talkrig.io.cache import cache_dir, source_key

    model = Path(get_model_path()) / "en-us"
    lm_path, dict_path = model / "en-us.lm.bin", model / "cmudict-en-us.dict"
    try:
        out = cache_dir() / "pocketsphinx" / f"recognize-{vocab}-{source_key(lm_path)}-{source_key(dict_path)}.dict"
        if out.is_file():
            return out
        lines = dict_path.read_text(encoding="utf-8").splitlines()
        base = [re.sub(r"\(\d+\)$", "", ln.split(maxsplit=1)[0]) if ln.strip() else "" for ln in lines]
        lm = NGramModel.readfile(str(lm_path))
        words = sorted({w for w in base if w}, key=lambda w: (-lm.prob([w]), w))
        keep = set(words[:vocab])
        out.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(out) as tmp:
            tmp.write_text("".join(ln + "\n" for ln, w in zip(lines, base) if w in keep), encoding="utf-8")
        return out
    except (OSError, TalkrigError):
        return dict_path


def _pcm16(audio: np.ndarray, pad_s: float = 0.0) -> bytes:
    """Dithered 16-bit PCM of ``audio`` with ``pad_s`` of silence on both sides."""
    pad = np.zeros(int(round(pad_s * 16000)), np.float32)
    audio = np.concatenate([pad, np.asarray(audio, np.float32), pad])
    rng = np.random.default_rng(0)
    x = audio * 32767.0 + rng.normal(0.0, 3.0, len(audio))
    return np.clip(x, -32768, 32767).astype(np.int16).tobytes()


def transcript_words(text: str) -> list[str]:
    """Lower-case word tokens of a transcript (letters, digits and inner apostrophes)."""
    text = text.lower().replace("\u2019", "'")
    return [w.strip("'") for w in re.findall(r"[a-z0-9']+", text) if w.strip("'")]


def _ensure_words(decoder, words: list[str]) -> None:
    """Add words missing from the dictionary using espeak-ng's pronunciation."""
    missing = [w for w in dict.fromkeys(words) if decoder.lookup_word(w) is None]
    if not missing:
        return
    from talkrig.animate.tts import synthesize

    for w in missing:
        phones = [p for _, _, p in synthesize(w).phonemes if p != SIL]
        decoder.add_word(w, " ".join(phones or ["AH"]), True)


def _decode(decoder, pcm: bytes) -> None:
    decoder.reinit_feat()  # no front-end state from the previous utterance
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()


def _word_pass(decoder, audio: np.ndarray, words: list[str]) -> list[tuple[float, float, str]] | None:
    """Word segments ``[(start_s, end_s, word)]`` incl. ``<sil>``, or None on failure."""
    try:
        decoder.set_align_text(" ".join(words))
        _decode(decoder, _pcm16(audio, PAD_S))
        t0 = FRAME_OFFSET_S - PAD_S
        segs = [(s.start_frame * FRAME_S + t0, (s.end_frame + 1) * FRAME_S + t0, s.word)
                for s in decoder.seg() or []]
    except RuntimeError:
        return None
    return segs or None


def _phone_pass(decoder, audio: np.ndarray, words: list[str]) -> list | None:
    """``([(start, end, phone)], [(start, end, word)])`` for one chunk, or None on failure."""
    if not words:
        return None
    try:
        pcm = _pcm16(audio, PAD_S)
        decoder.set_align_text(" ".join(words))
        _decode(decoder, pcm)
        decoder.set_alignment()
        _decode(decoder, pcm)
        alignment = decoder.get_alignment()
    except RuntimeError:
        return None
    if alignment is None:
        return None
    phones, spoken = [], []
    t0, dur = FRAME_OFFSET_S - PAD_S, len(audio) / 16000
    for w in alignment:
        ws, we = w.start * FRAME_S + t0, (w.start + w.duration) * FRAME_S + t0
        name = re.sub(r"\(\d+\)$", "", w.name)
        if not _is_filler(name):
            spoken.append((min(max(ws, 0.0), dur), min(max(we, 0.0), dur), name))
        for p in w:
            phones.append((p.start * FRAME_S + t0, (p.start + p.duration) * FRAME_S + t0, normalize(p.name)))
    return phones, spoken


def _is_filler(word: str) -> bool:
    return word.startswith(("<", "["))


def _is_pause(word: str) -> bool:
    """A filler that stands for time in the audio (``<sil>``, noises), not the zero-length
    utterance markers ``<s>`` / ``</s>``."""
    return _is_filler(word) and word not in ("<s>", "</s>")


def _index_words(segs: list, words: list[str]) -> list[tuple[float, float, str, int]]:
    """Real word segments with their index in the transcript. The word pass can drop a word
    (seen with a short "the"), so segments are matched to the transcript in order."""
    out, j = [], 0
    for a, b, w in segs:
        if _is_filler(w):
            continue
        w = re.sub(r"\(\d+\)$", "", w)
        k = next((k for k in range(j, min(j + 4, len(words))) if words[k] == w), None)
        if k is not None:
            out.append((a, b, w, k))
            j = k + 1
    return out


def _chunks(segs: list, duration: float) -> list[float]:
    """Cut times splitting the file into chunks of <= ~5 s, preferring the middle of silences."""
    cuts, start = [0.0], 0.0
    for a, b, w in segs:
        if b - start >= _CHUNK_S and (_is_pause(w) or b - start >= 1.5 * _CHUNK_S):
            cut = (a + b) / 2 if _is_pause(w) else b
            if cut - start > 0.5 and duration - cut > 0.5:
                cuts.append(cut)
                start = cut
    return cuts + [duration]


def _words_between(indexed: list, words: list[str], c0: float, c1: float) -> list[str]:
    """Transcript words from the first word starting in ``[c0, c1)`` up to the first word of
    the next stretch (so words the word pass dropped stay with their neighbours)."""
    mids = [((a + b) / 2, k) for a, b, _, k in indexed]
    lo = next((k for m, k in mids if m >= c0), len(words))
    hi = next((k for m, k in mids if m >= c1), len(words))
    if c0 <= 0.0:
        lo = 0
    return words[lo:hi]


def align(audio: np.ndarray, transcript: str, sample_rate: int = 16000) -> Speech:
    """Forced alignment of ``audio`` ``(S,)`` float32 16 kHz to ``transcript``.

    Returns a :class:`Speech` with ``source="align"`` (or ``"energy"`` when pocketsphinx could
    not align at all).
    """
    if sample_rate != 16000:
        raise ValueError("align() expects 16 kHz audio (use talkrig.io.audio.load_audio)")
    words = transcript_words(transcript)
    if not words:
        raise InputError("transcript has no words")
    duration = len(audio) / sample_rate
    with _LOCK:
        dec = _decoder("align")
        _ensure_words(dec, words)
        segs = _word_pass(dec, audio, words)
        if segs is None:
            dec = _decoder("align_nofiller")
            _ensure_words(dec, words)
            segs = _word_pass(dec, audio, words)
        if segs is None:
            return energy_segments(audio, sample_rate)
        indexed = _index_words(segs, words)
        cuts = _chunks(segs, duration)
        phones, spoken = [], []
        for c0, c1 in zip(cuts[:-1], cuts[1:]):
            p, w = _align_chunk(dec, audio, sample_rate, segs, indexed, words, c0, c1)
            phones += p
            spoken += w
    return Speech(audio=audio, sample_rate=sample_rate, phonemes=_cover(phones, duration),
                  words=spoken, source="align")


def _align_chunk(dec, audio, sample_rate, segs, indexed, words, c0, c1, depth=0):
    """Phones and words of ``[c0, c1)`` (absolute times). On failure the chunk is split at
    its longest inner silence (or its middle word) and retried; at the bottom each word's
    dictionary phones share the word's interval from the word pass evenly."""
    cwords = _words_between(indexed, words, c0, c1)
    i0, i1 = int(round(c0 * sample_rate)), int(round(c1 * sample_rate))
    res = _phone_pass(dec, audio[i0:i1], cwords)
    if res is not None:
        return [(a + c0, b + c0, p) for a, b, p in res[0]], [(a + c0, b + c0, w) for a, b, w in res[1]]
    inner = [(a, b, w) for a, b, w, _ in indexed if c0 <= (a + b) / 2 < c1]
    if len(inner) >= 2 and depth < 4:
        gaps = [(b - a, (a + b) / 2) for a, b, w in segs if _is_pause(w) and c0 < a and b < c1]
        cut = max(gaps)[1] if gaps else inner[len(inner) // 2][0]
        p0, w0 = _align_chunk(dec, audio, sample_rate, segs, indexed, words, c0, cut, depth + 1)
        p1, w1 = _align_chunk(dec, audio, sample_rate, segs, indexed, words, cut, c1, depth + 1)
        return p0 + p1, w0 + w1
    phones = []
    for a, b, w in inner:
        pron = (dec.lookup_word(w) or "AH").split()
        phones += split_segment(a, b, tuple(normalize(p) for p in pron))
    return phones, inner


def recognize(audio: np.ndarray, sample_rate: int = 16000, workers: int | None = None) -> Speech:
    """Timings without a transcript.

    The audio is cut in the middle of its pauses (:func:`pause_cuts`) into pieces of at least
    :data:`_PIECE_S`; each piece is decoded by the word recognizer and its hypothesis aligned
    to phones, with the recognizer's own word segmentation as the scaffold (no separate word
    alignment pass). Pieces are independent, so ``workers`` processes can decode them in
    parallel (see :func:`recognition_workers`; ``None``: automatic, ``1``: in this process);
    the result does not depend on ``workers``.
    """
    if sample_rate != 16000:
        raise ValueError("recognize() expects 16 kHz audio")
    cuts = pause_cuts(audio, sample_rate)
    pieces = [(np.ascontiguousarray(audio[int(round(a * sample_rate)):int(round(b * sample_rate))]), a)
              for a, b in zip(cuts[:-1], cuts[1:])]
    n = recognition_workers(workers, len(pieces), len(audio) / sample_rate)
    results = _map_parallel(pieces, n) if n > 1 else None
    if results is None:
        with _LOCK:
            results = [_recognize_piece(p, t0) for p, t0 in pieces]
    phones, spoken = [], []
    for (piece, t0), res in zip(pieces, results):
        if res is None:  # nothing recognised: the piece's loudness gives the timings
            res = ([(a + t0, b + t0, ph) for a, b, ph in energy_segments(piece, sample_rate).phonemes], [])
        phones += res[0]
        spoken += res[1]
    if not spoken:
        return energy_segments(audio, sample_rate)
    return Speech(audio=audio, sample_rate=sample_rate, phonemes=_cover(phones, len(audio) / sample_rate),
                  words=spoken, source="recognize")


def pause_cuts(audio: np.ndarray, sample_rate: int = 16000, min_piece_s: float | None = None) -> list[float]:
    """Times ``[0, ..., duration]`` that cut ``audio`` in the middle of pauses found by
    :func:`~talkrig.animate.loudness.voice_activity` (>= 150 ms below its threshold), each
    piece at least ``min_piece_s`` (default :data:`_PIECE_S`) long. Speech is never cut
    elsewhere: a long stretch without a pause stays one piece."""
    from talkrig.animate.loudness import HOP_S, runs, voice_activity

    min_piece_s = _PIECE_S if min_piece_s is None else min_piece_s
    duration = len(audio) / sample_rate
    _, active = voice_activity(audio, sample_rate)
    cuts = [0.0]
    for a, b, voiced in runs(active):
        mid = (a + b) / 2 * HOP_S
        if (not voiced and a > 0 and b < len(active) and mid - cuts[-1] >= min_piece_s
                and duration - mid >= _MIN_LAST_S):
            cuts.append(mid)
    return cuts + [duration]


def recognition_workers(workers: int | None, n_pieces: int = 2, duration: float | None = None) -> int:
    """Processes to decode with. ``None`` means: ``$TALKRIG_RECOGNIZE_WORKERS`` if set, else up
    to :data:`MAX_WORKERS` bounded by the CPUs this process may use; and 1 for audio shorter
    than :data:`PARALLEL_MIN_S` (``duration``; starting workers costs more than it saves) or
    inside a worker process (a data_prep pool, a daemon, a non-main thread), so parallel
    callers do not multiply processes."""
    import multiprocessing as mp
    import os

    if workers is None:
        env = os.environ.get("TALKRIG_RECOGNIZE_WORKERS", "").strip()
        if env:
            try:
                workers = int(env)
            except ValueError:
                raise InputError(f"TALKRIG_RECOGNIZE_WORKERS must be a whole number, got {env!r}") from None
        elif (mp.parent_process() is not None or mp.current_process().daemon
              or threading.current_thread() is not threading.main_thread()
              or (duration is not None and duration < PARALLEL_MIN_S)):
            workers = 1
        else:
            cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
            workers = min(MAX_WORKERS, cpus)
    return max(1, min(int(workers), n_pieces))


_POOL: dict[str, object] = {}


def _init_recognizer(dict_path: str) -> None:
    """Worker initializer: load both decoders once per worker process."""
    _decoder("recognize", dict_path)
    _decoder("align")


def _map_parallel(pieces: list, n: int) -> list | None:
    """:func:`_recognize_piece` over ``pieces`` in a persistent pool of ``n`` worker processes.

    The workers are fresh interpreters (:class:`talkrig.io.workers.WorkerPool`), never a
    ``fork`` of this process: by now it usually holds MediaPipe's and torch's threads, and a
    forked child of such a process hung at exit. Each worker loads the decoders once (~0.5 s,
    in parallel); the pool lives as long as this process. None if the pool cannot be used
    (the caller then decodes serially)."""
    import os

    from talkrig.io.workers import WorkerError, WorkerPool

    with _LOCK:
        pool = _POOL.get("pool")
        if pool is None or pool.size != n or pool.pid != os.getpid():
            if pool is not None and pool.pid == os.getpid():
                pool.terminate()
            try:
                pool = WorkerPool(n, _init_recognizer, (str(recognition_dict()),))
            except OSError:
                return None
            _POOL["pool"] = pool
            import atexit

            atexit.register(_close_pool, os.getpid())
        # Longest pieces first, so the last piece to finish is a short one.
        order = sorted(range(len(pieces)), key=lambda i: -len(pieces[i][0]))
        try:
            return pool.map(_recognize_piece, pieces, order=order)
        except WorkerError:
            _POOL.clear()
            pool.terminate()
            return None
        except BaseException:  # Ctrl-C, a signal: map() has killed the workers
            _POOL.clear()
            raise


def _close_pool(pid: int) -> None:
    """End the pool's workers at exit; nothing in any other process than the one that made it."""
    import os

    pool = _POOL.get("pool")
    if pid != os.getpid() or pool is None or pool.pid != pid:
        return
    _POOL.clear()
    pool.close()


def _recognize_piece(piece: np.ndarray, t0: float) -> tuple[list, list] | None:
    """Phones and words (absolute times: ``t0`` is the piece's start) of one piece, or None
    when the recognizer heard no words."""
    dec = _decoder("recognize")
    try:
        # No silence padding here (unlike the alignment passes): on three 60 s TTS files it
        # cost p/b/m closures and pauses; pieces begin and end mid-pause anyway.
        _decode(dec, _pcm16(piece))
        segs = [(s.start_frame * FRAME_S + FRAME_OFFSET_S, (s.end_frame + 1) * FRAME_S + FRAME_OFFSET_S, s.word)
                for s in dec.seg() or []]
    except RuntimeError:
        return None
    words = [re.sub(r"\(\d+\)$", "", w) for _, _, w in segs if not _is_filler(w)]
    if not words:
        return None
    # The recognizer's segments are the word scaffold: phones come from forced alignment of
    # <= ~5 s stretches of the hypothesis, cut at its pauses (see align()).
    adec = _decoder("align")
    indexed = _index_words(segs, words)
    duration = len(piece) / 16000
    cuts = _chunks(segs, duration)
    phones, spoken = [], []
    for c0, c1 in zip(cuts[:-1], cuts[1:]):
        p, w = _align_chunk(adec, piece, 16000, segs, indexed, words, c0, c1)
        phones += p
        spoken += w
    return ([(a + t0, b + t0, p) for a, b, p in phones if a < duration and b > 0],
            [(a + t0, b + t0, w) for a, b, w in spoken])


def _cover(phones: list, duration: float) -> list[tuple[float, float, str]]:
    """Sort, clip to [0, duration] and fill gaps with SIL so segments tile the audio."""
    out, t = [], 0.0
    for a, b, p in sorted(phones):
        a, b = max(a, t), min(b, duration)
        if b <= a:
            continue
        if a > t + 1e-6:
            out.append((t, a, SIL))
        out.append((a, b, p))
        t = b
    if t < duration:
        out.append((t, duration, SIL))
    return merge_silences(out)


def energy_segments(audio: np.ndarray, sample_rate: int = 16000) -> Speech:
    """Fallback timings from loudness alone: voiced stretches become ``AH``, the rest ``SIL``."""
    from talkrig.animate.loudness import voice_activity

    times, active = voice_activity(audio, sample_rate)
    hop = times[1] - times[0] if len(times) > 1 else FRAME_S
    phones = [(float(t - hop / 2), float(t + hop / 2), "AH" if v else SIL) for t, v in zip(times, active)]
    return Speech(audio=audio, sample_rate=sample_rate,
                  phonemes=_cover(_merge_same(phones), len(audio) / sample_rate), source="energy")


def _merge_same(phones: list) -> list:
    out: list = []
    for a, b, p in phones:
        if out and out[-1][2] == p:
            out[-1] = (out[-1][0], b, p)
        else:
            out.append((a, b, p))
    return out
