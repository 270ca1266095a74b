"""Text to speech with phoneme timings, offline.

Engines implement :class:`TTSEngine` (``synthesize(text, voice, rate) -> Speech``) and are
looked up by name in :data:`ENGINES`; espeak-ng is the built-in one.

espeak-ng is driven through its C library (bundled by the ``espeakng-loader`` wheel) with
``espeakINITIALIZE_PHONEME_EVENTS``: the synthesis callback receives the PCM together with
PHONEME/WORD events whose ``sample`` field is the exact sample the event belongs to. The
library keeps global state and a second ``espeak_Initialize`` shifted later events by ~40 ms
(shared/NOTES.md), so it is initialised once per process and guarded by a lock.
"""

from __future__ import annotations

import ctypes
import re
import threading
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from talkrig.animate.phonemes import SIL, espeak_to_arpabet, merge_silences, split_segment
from talkrig.animate.speech import Speech
from talkrig.errors import InputError
from talkrig.io.audio import SAMPLE_RATE, resample

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INIT_PHONEME_EVENTS = 0x0001
_INIT_DONT_EXIT = 0x8000
_EV_WORD, _EV_PHONEME, _EV_END = 1, 7, 5
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_PARAM_RATE, _PARAM_VOLUME, _PARAM_PITCH, _PARAM_RANGE = 1, 2, 3, 4  # espeak_PARAMETER


@dataclass(frozen=True)
class Prosody:
    """How a voice is spoken: espeak-ng's base pitch (0-100, 50 = the voice's own), pitch
    range (0-100, 50 = its own; 0 is monotone), a factor on the speech rate, and volume
    (0-200, 100 = its own)."""

    pitch: float = 50.0
    range: float = 50.0
    rate_scale: float = 1.0
    volume: float = 100.0

    def clipped(self) -> "Prosody":
        return Prosody(float(np.clip(self.pitch, 0, 100)), float(np.clip(self.range, 0, 100)),
                       float(np.clip(self.rate_scale, 0.5, 2.0)), float(np.clip(self.volume, 0, 200)))


NEUTRAL_PROSODY = Prosody()


class TTSEngine(Protocol):
    name: str

    def synthesize(self, text: str, voice: str | None = None, rate: int | None = None) -> Speech:
        """Speak ``text``; returns 16 kHz audio with phoneme/word timings."""


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    # espeak_EVENT from speak_lib.h
    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint),
                ("text_position", ctypes.c_int), ("length", ctypes.c_int),
                ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", _EventId)]


class _Voice(ctypes.Structure):
    # espeak_VOICE from speak_lib.h; ``languages`` is [priority byte, name, NUL]... then 0
    _fields_ = [("name", ctypes.c_char_p), ("languages", ctypes.c_void_p),
                ("identifier", ctypes.c_char_p), ("gender", ctypes.c_ubyte), ("age", ctypes.c_ubyte),
                ("variant", ctypes.c_ubyte), ("xx1", ctypes.c_ubyte), ("score", ctypes.c_int),
                ("spare", ctypes.c_void_p)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.POINTER(_Event))


class _EspeakLib:
    """The process-wide espeak-ng instance (created on first use)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = ctypes.CDLL(espeakng_loader.get_library_path())
        self.lib.espeak_Initialize.restype = ctypes.c_int
        self.lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        self.lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        self.lib.espeak_Synth.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
        self.lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        rate = self.lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0,
                                          espeakng_loader.get_data_path().encode(),
                                          _INIT_PHONEME_EVENTS | _INIT_DONT_EXIT)
        if rate <= 0:
            raise RuntimeError("espeak-ng failed to initialise")
        self.rate = rate
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._cb = _CALLBACK(self._on_synth)  # keep a reference: C holds the pointer
        self.lib.espeak_SetSynthCallback(self._cb)
        self.lock = threading.Lock()
        self.voices = self._list_voices()

    def _list_voices(self) -> dict[str, str]:
        """Lower-case names under which a voice can be asked for (its name, identifier and
        languages) -> the name espeak selects it by. A language spoken by several voices
        maps to the one that lists it with the best priority (``zh`` -> Chinese Mandarin)."""
        self.lib.espeak_ListVoices.restype = ctypes.POINTER(ctypes.POINTER(_Voice))
        arr = self.lib.espeak_ListVoices(None)
        names: dict[str, str] = {}
        langs: dict[str, tuple[int, str]] = {}
        i = 0
        while arr[i]:
            v = arr[i].contents
            name = v.name.decode()
            for key in (name, v.identifier.decode(), v.identifier.decode().rsplit("/", 1)[-1]):
                names.setdefault(key.lower(), name)
            p = v.languages
            while (priority := ctypes.c_ubyte.from_address(p).value):
                lang = ctypes.string_at(p + 1)
                key = lang.decode().lower()
                if key not in langs or priority < langs[key][0]:
                    langs[key] = (priority, name)
                p += 2 + len(lang)
            i += 1
        return {**{k: n for k, (_, n) in langs.items()}, **names}

    def _on_synth(self, wav, n, events) -> int:
        if wav and n > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
        i = 0
        while events[i].type != 0:
            e = events[i]
            name = bytes(e.id.string).split(b"\0")[0].decode("ascii", "replace") if e.type == _EV_PHONEME else ""
            self._events.append((e.type, e.sample, e.text_position, e.length, name))
            i += 1
        return 0

    def run(self, text: str, voice: str, rate: int,
            prosody: Prosody = NEUTRAL_PROSODY) -> tuple[np.ndarray, list]:
        """Synthesize; returns ``(int16 samples at self.rate, events)``. Every parameter is set
        on every call (espeak keeps them between calls)."""
        with self.lock:
            base, plus, variant = voice.partition("+")  # "en-us+f3": voice + variant
            if (self.lib.espeak_SetVoiceByName(voice.encode()) != 0
                    and (base.lower() not in self.voices
                         or self.lib.espeak_SetVoiceByName((self.voices[base.lower()] + plus + variant).encode()) != 0)):
                raise InputError(f"unknown espeak-ng voice or language: {voice!r}")
            self.lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
            self.lib.espeak_SetParameter(_PARAM_PITCH, int(round(prosody.pitch)), 0)
            self.lib.espeak_SetParameter(_PARAM_RANGE, int(round(prosody.range)), 0)
            self.lib.espeak_SetParameter(_PARAM_VOLUME, int(round(prosody.volume)), 0)
            self._chunks, self._events = [], []
            data = text.encode("utf-8") + b"\0"
            buf = ctypes.create_string_buffer(data)
            err = self.lib.espeak_Synth(buf, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
            self.lib.espeak_Synchronize()
            if err != 0:
                raise RuntimeError(f"espeak_Synth failed with code {err}")
            pcm = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
            return pcm, list(self._events)


_LIB: _EspeakLib | None = None
_LIB_LOCK = threading.Lock()


def _espeak() -> _EspeakLib:
    global _LIB  # one C library instance per process (see module docstring)
    with _LIB_LOCK:
        if _LIB is None:
            _LIB = _EspeakLib()
        return _LIB


#: Longest text spoken in one call (about 12 minutes of speech at the default rate).
MAX_TEXT_CHARS = 10_000

# Writing systems whose text an English voice cannot read: the voice to use for each, and the
# languages (espeak-ng codes) whose voices read it. Ranges are Unicode blocks.
_SCRIPTS = (
    ("Chinese", ((0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0xF900, 0xFAFF)), "cmn", ("cmn", "zh", "yue", "ja", "hak")),
    ("Japanese kana", ((0x3040, 0x30FF),), "ja", ("ja",)),
    ("Korean", ((0xAC00, 0xD7AF), (0x1100, 0x11FF), (0x3130, 0x318F)), "ko", ("ko",)),
    ("Arabic", ((0x0600, 0x06FF), (0x0750, 0x077F), (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)), "ar",
     ("ar", "fa", "ur", "ps", "sd", "ku", "ug")),
    ("Hebrew", ((0x0590, 0x05FF),), "he", ("he",)),
    ("Cyrillic", ((0x0400, 0x04FF),), "ru", ("ru", "uk", "bg", "sr", "mk", "be", "kk", "ky", "tt", "ba", "cv", "mn")),
    ("Greek", ((0x0370, 0x03FF),), "el", ("el", "grc")),
    ("Devanagari", ((0x0900, 0x097F),), "hi", ("hi", "mr", "ne", "sa", "kok", "bpy")),
    ("Bengali", ((0x0980, 0x09FF),), "bn", ("bn", "as", "bpy")),
    ("Gurmukhi", ((0x0A00, 0x0A7F),), "pa", ("pa",)),
    ("Gujarati", ((0x0A80, 0x0AFF),), "gu", ("gu",)),
    ("Tamil", ((0x0B80, 0x0BFF),), "ta", ("ta",)),
    ("Telugu", ((0x0C00, 0x0C7F),), "te", ("te",)),
    ("Kannada", ((0x0C80, 0x0CFF),), "kn", ("kn",)),
    ("Malayalam", ((0x0D00, 0x0D7F),), "ml", ("ml",)),
    ("Thai", ((0x0E00, 0x0E7F),), "th", ("th",)),
    ("Georgian", ((0x10A0, 0x10FF),), "ka", ("ka",)),
    ("Armenian", ((0x0530, 0x058F),), "hy", ("hy", "hyw")),
    ("Ethiopic", ((0x1200, 0x137F),), "am", ("am",)),
)
_MARKUP = re.compile(r"<\s*/?\s*[A-Za-z!?][^<>]{0,500}>")


def check_text_length(text: str) -> None:
    """:class:`InputError` for a text over :data:`MAX_TEXT_CHARS` characters."""
    if len(str(text)) > MAX_TEXT_CHARS:
        raise InputError(f"text is too long ({len(str(text)):,} characters; at most {MAX_TEXT_CHARS:,}, "
                         "about 12 minutes of speech): split it, or record it and pass the audio")


def prepare_text(text: str) -> str:
    """The words to speak: markup tags (SSML, HTML) removed and their entities decoded, emoji
    and other pictographs dropped, whitespace collapsed. None of it is ever read aloud."""
    import html
    import unicodedata

    text = str(text)
    if _MARKUP.search(text):
        text = html.unescape(_MARKUP.sub(" ", text))
    keep = []
    for ch in text:
        cat = unicodedata.category(ch)
        # symbols (emoji), control/format/unassigned characters, emoji variation selectors and
        # the keycap mark; tabs and newlines stay (sentence breaks)
        pictograph = cat in ("So", "Sk") or 0xFE00 <= ord(ch) <= 0xFE0F or ord(ch) == 0x20E3
        control = cat.startswith("C") and ch not in "\t\n"
        keep.append(" " if pictograph or control else ch)
    return " ".join("".join(keep).split())


def text_script(text: str) -> tuple[str, str, tuple[str, ...]] | None:
    """``(script name, voice, languages)`` of the non-Latin writing system most of the
    letters of ``text`` are in, or None for Latin (or letter-less) text."""
    counts: dict[int, int] = {}
    letters = 0
    for ch in text:
        if not ch.isalpha():
            continue
        letters += 1
        o = ord(ch)
        for k, (_, ranges, _, _) in enumerate(_SCRIPTS):
            if any(a <= o <= b for a, b in ranges):
                counts[k] = counts.get(k, 0) + 1
                break
    if not counts:
        return None
    k, n = max(counts.items(), key=lambda kv: kv[1])
    if n * 2 < letters:
        return None
    if _SCRIPTS[k][0] == "Chinese" and counts.get(1):  # kanji with kana: Japanese
        k = 1
    name, _, voice, langs = _SCRIPTS[k]
    return name, voice, langs


def choose_voice(text: str, voice: str | None, default: str = "en-us") -> str:
    """The voice for ``text``: ``voice`` when given, else one that reads its writing system.
    A given voice that cannot read the text's script is refused with the one to use."""
    script = text_script(text)
    if voice is None:
        return script[1] if script else default
    if script is not None:
        lang = voice.partition("+")[0].lower()
        if not (lang in script[2] or lang.split("-")[0] in script[2]
                or any(lang.startswith(code + "-") for code in script[2])):
            raise InputError(f"the text is written in {script[0]} script, which voice {voice!r} cannot "
                             f"read: use --voice {script[1]} (or leave --voice out to pick it from the text)")
    return voice


def _span_words(text: str, position: int, next_position: int | None) -> list[str]:
    """Words of the text from espeak's 1-based ``position`` up to the next WORD event.

    espeak joins some function words to their neighbour ("from the" is one event), so one
    event can carry several words."""
    end = next_position - 1 if next_position else len(text)
    return re.findall(r"[\w'\-]+", text[max(position - 1, 0):end])


class EspeakTTS:
    """espeak-ng speech synthesis (formant voice; any of its ~100 languages)."""

    name = "espeak"
    default_voice = "en-us"
    default_rate = 165  # words per minute; espeak's own default is 175

    def synthesize(self, text: str, voice: str | None = None, rate: int | None = None,
                   stop_closures: bool = True, prosody: Prosody | None = None) -> Speech:
        """Speak ``text``. ``stop_closures=False`` keeps espeak's raw event times (stops start
        at their release) instead of moving stop onsets to the closure. ``prosody``: pitch,
        range, rate factor and volume (e.g. an emotion's, :func:`talkrig.animate.emotion.prosody_for`)."""
        if not str(text).strip():
            raise InputError("text to speak is empty")
        check_text_length(text)
        text = prepare_text(text)
        if not any(ch.isalnum() for ch in text):
            raise InputError("the text has nothing to speak (only symbols, emoji or markup)")
        rate = int(rate or self.default_rate)
        if not 80 <= rate <= 450:
            raise InputError(f"speech rate must be 80-450 words per minute, got {rate}")
        voice = choose_voice(text, voice, self.default_voice)
        prosody = (prosody or NEUTRAL_PROSODY).clipped()
        rate = int(np.clip(round(rate * prosody.rate_scale), 80, 450))
        pcm, events = _espeak().run(text, voice, rate, prosody)
        sr = _espeak().rate
        total = len(pcm) / sr
        phon = [(s / sr, name) for t, s, _, _, name in events if t == _EV_PHONEME]
        phonemes, accents = [], []
        for i, (start, name) in enumerate(phon):
            end = phon[i + 1][0] if i + 1 < len(phon) else total
            if name.startswith("'"):
                accents.append(start)
            phonemes += split_segment(start, end, espeak_to_arpabet(name))
        if phonemes and phonemes[0][0] > 0:
            phonemes.insert(0, (0.0, phonemes[0][0], SIL))
        if phonemes and phonemes[-1][1] < total:
            phonemes.append((phonemes[-1][1], total, SIL))
        phonemes = merge_silences(_with_stop_closures(phonemes, pcm, sr) if stop_closures else phonemes)
        words = self._words(text, events, phonemes, sr)
        audio = resample(pcm.astype(np.float32) / 32768.0, sr, SAMPLE_RATE)
        return Speech(audio=audio, sample_rate=SAMPLE_RATE, phonemes=phonemes, words=words,
                      accents=accents, source=f"tts:{self.name}")

    @staticmethod
    def _words(text: str, events: list, phonemes: list, sr: int) -> list:
        """Word intervals: from each WORD event to the end of its last sounding phoneme; an
        event carrying several words shares its interval by their letter counts."""
        ev = [(s / sr, pos) for t, s, pos, _, _ in events if t == _EV_WORD]
        words = []
        for i, (start, pos) in enumerate(ev):
            nxt_t, nxt_pos = ev[i + 1] if i + 1 < len(ev) else (float("inf"), None)
            ends = [b for a, b, p in phonemes if start <= a < nxt_t and p != SIL]
            tokens = _span_words(text, pos, nxt_pos)
            if not ends or not tokens:
                continue
            end = max(ends)
            weights = np.cumsum([0] + [len(w) for w in tokens]) / sum(len(w) for w in tokens)
            bounds = start + weights * (end - start)
            words += [(float(bounds[k]), float(bounds[k + 1]), w) for k, w in enumerate(tokens)]
        return words


_STOPS = frozenset({"P", "B", "T", "D", "K", "G", "CH", "JH"})


def _with_stop_closures(phonemes: list, pcm: np.ndarray, sr: int, max_s: float = 0.15) -> list:
    """Start each stop at its closure instead of its release.

    espeak-ng emits a stop's PHONEME event at the burst; the silent closure before it is
    counted in the previous phone. Phonetically (and for the lips: /p b m/ close during the
    closure) the stop begins where that silence begins, so the boundary is moved back to the
    start of the silent run (5 ms RMS below -60 dBFS) that ends at the event.
    """
    hop = max(int(sr * 0.005), 1)
    n = len(pcm) // hop
    if n == 0:
        return phonemes
    frames = pcm[: n * hop].astype(np.float32).reshape(n, hop) / 32768.0
    silent = np.sqrt((frames ** 2).mean(1)) < 1e-3
    out = list(phonemes)
    for i in range(1, len(out)):
        a, b, p = out[i]
        pa, pb, pp = out[i - 1]
        if p not in _STOPS or pp == SIL:
            continue
        k = min(int(round(a * sr / hop)), n) - 1  # last 5 ms frame before the event
        k = k if k >= 0 and silent[k] else k - 1  # tolerate one frame of event jitter
        j = k
        while j >= 0 and silent[j] and (a - j * hop / sr) <= max_s:
            j -= 1
        start = (j + 1) * hop / sr
        if k >= 0 and silent[k] and pa + 0.02 < start < a:
            out[i - 1] = (pa, start, pp)
            out[i] = (start, b, p)
    return out


ENGINES: dict[str, type] = {"espeak": EspeakTTS}


def synthesize(text: str, voice: str | None = None, rate: int | None = None,
               engine: str = "espeak", prosody: Prosody | None = None) -> Speech:
    """Speak ``text`` with a named engine (default espeak-ng). See :class:`EspeakTTS`."""
    if engine not in ENGINES:
        raise InputError(f"unknown TTS engine {engine!r} (available: {', '.join(ENGINES)})")
    if prosody is None:
        return ENGINES[engine]().synthesize(text, voice=voice, rate=rate)
    return ENGINES[engine]().synthesize(text, voice=voice, rate=rate, prosody=prosody)


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` (cut after . ! ? and their CJK forms), whitespace kept out."""
    parts = re.split(r"(?<=[.!?\u3002\uff01\uff1f])\s+", " ".join(str(text).split()))
    return [p for p in parts if p.strip()]


def concat_speech(parts: list[Speech]) -> Speech:
    """One :class:`Speech` of several in a row (times shifted; same rate)."""
    audio, phonemes, words, accents, t = [], [], [], [], 0.0
    for sp in parts:
        audio.append(sp.audio)
        phonemes += [(a + t, b + t, p) for a, b, p in sp.phonemes]
        words += [(a + t, b + t, w) for a, b, w in sp.words]
        accents += [a + t for a in sp.accents]
        t += len(sp.audio) / sp.sample_rate
    return Speech(audio=np.concatenate(audio) if audio else np.zeros(0, np.float32),
                  sample_rate=parts[0].sample_rate if parts else SAMPLE_RATE,
                  phonemes=merge_silences(phonemes), words=words, accents=accents,
                  source=parts[0].source if parts else "")
