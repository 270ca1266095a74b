"""The hostile-input sweep of the `talkrig` command: odd and bad inputs, one table.

Each :class:`Case` is a command line (with ``{name}`` placeholders for the files that
:func:`make_inputs` writes) and what must happen: ``ok`` (exit 0 and a valid output) or
``error`` (a non-zero exit and exactly one line on stderr that starts ``talkrig: error:``).
Either way: nothing but the finished output at ``-o``, no temporary files, every input file
unchanged, no code from a pickle executed, and an exit within the time limit.

``tests/test_cli_robustness.py`` runs the table; ``tools/errors_table.py`` runs it and writes
``docs/errors.md``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
ASTRONAUT = REPO / "examples" / "astronaut.jpg"
SHORT = ("--size", "256", "--no-check", "--pose", "still")  # fast render settings


@dataclass(frozen=True)
class Case:
    """One command line and its expected outcome."""

    id: str
    argv: tuple[str, ...]          # after `talkrig`; {placeholders} name inputs/outputs
    expect: str                    # "ok" or "error"
    match: str = ""                # regex the error line (or stderr on success) must match
    output: str = "{out}/result"   # where the command writes (checked: absent on error)
    timeout: float = 240.0
    env: tuple[tuple[str, str], ...] = ()
    shared: bool = False           # needs ../shared data
    keeps_output: bool = False     # an error still leaves the output (prep's error records)
    what: str = ""                 # the input class, for docs/errors.md

    def fill(self, paths: dict[str, str]) -> list[str]:
        return [a.format(**paths) for a in self.argv]


@dataclass
class Outcome:
    """What one run did."""

    rc: int
    stderr: str
    seconds: float
    leftovers: list[str] = field(default_factory=list)  # files at the output besides the result
    changed_inputs: list[str] = field(default_factory=list)
    pickle_ran: bool = False
    timed_out: bool = False

    @property
    def message(self) -> str:
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else ""


# -- inputs ---------------------------------------------------------------------------------
def _wav(path: Path, samples: np.ndarray, rate: int, channels: int = 1) -> None:
    x = np.clip(samples, -1, 1)
    pcm = (x * 32767).astype("<i2")
    if channels > 1:
        pcm = np.repeat(pcm[:, None], channels, 1)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())


def _speech(rate: int = 16000) -> np.ndarray:
    """Real synthetic speech (espeak-ng through talkrig's own TTS), resampled to ``rate``."""
    from talkrig.animate.tts import synthesize
    from talkrig.io.audio import resample

    s = synthesize("Please call Stella. Ask her to bring these things with her.")
    return resample(s.audio, 16000, rate) if rate != 16000 else s.audio


class _Evil:
    """Unpickling this would create a marker file (it must never happen)."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def make_inputs(root: Path, shared: Path | None = None) -> dict[str, str]:
    """Write every input file of the sweep under ``root/in``; return placeholder -> path."""
    from PIL import Image

    d = root / "in"
    d.mkdir(parents=True, exist_ok=True)
    p: dict[str, Path] = {}
    photo = Image.open(ASTRONAUT).convert("RGB")
    p["photo"] = d / "photo.jpg"
    shutil.copy(ASTRONAUT, p["photo"])
    p["grey"] = d / "grey.png"
    photo.convert("L").save(p["grey"])
    p["cmyk"] = d / "cmyk.jpg"
    photo.convert("CMYK").save(p["cmyk"])
    p["rgba"] = d / "alpha.png"
    rgba = photo.convert("RGBA")
    rgba.putalpha(200)
    rgba.save(p["rgba"])
    p["png16"] = d / "deep16.png"
    Image.fromarray((np.asarray(photo.convert("L"), np.uint16) * 257)).save(p["png16"])
    p["rotated"] = d / "exif_rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned; viewers rotate it upright
    photo.transpose(Image.Transpose.ROTATE_90).save(p["rotated"], exif=exif)
    p["webp"] = d / "photo.webp"
    photo.save(p["webp"])
    p["gif"] = d / "photo.gif"
    photo.save(p["gif"])
    p["two"] = d / "two_faces.jpg"
    two = Image.new("RGB", (photo.width * 2, photo.height))
    two.paste(photo, (0, 0))
    two.paste(photo.resize((photo.width * 3 // 4, photo.height * 3 // 4)), (photo.width, 64))
    two.save(p["two"])
    p["tiny"] = d / "tiny.png"
    photo.resize((24, 24)).save(p["tiny"])
    p["huge"] = d / "huge.jpg"
    photo.resize((6000, 6000), Image.Resampling.BILINEAR).save(p["huge"], quality=80)
    p["noface"] = d / "noface.png"
    yy, xx = np.mgrid[0:256, 0:256]
    Image.fromarray(np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8)).save(p["noface"])
    p["empty_img"] = d / "empty.jpg"
    p["empty_img"].write_bytes(b"")
    p["trunc_img"] = d / "truncated.jpg"
    p["trunc_img"].write_bytes(ASTRONAUT.read_bytes()[:2000])
    p["text_img"] = d / "notes.jpg"
    p["text_img"].write_text("this is not a picture\n")

    speech = _speech()
    p["wav"] = d / "speech.wav"
    _wav(p["wav"], speech, 16000)
    p["wav8k"] = d / "speech_8k.wav"
    _wav(p["wav8k"], _speech(8000), 8000)
    p["wav96k"] = d / "speech_96k.wav"
    _wav(p["wav96k"], _speech(96000), 96000)
    p["wav6ch"] = d / "speech_6ch.wav"
    _wav(p["wav6ch"], _speech(48000), 48000, channels=6)
    p["silent"] = d / "silent.wav"
    _wav(p["silent"], np.zeros(32000, np.float32), 16000)
    p["wav1ms"] = d / "one_ms.wav"
    _wav(p["wav1ms"], speech[:16], 16000)
    p["empty_wav"] = d / "empty.wav"
    p["empty_wav"].write_bytes(b"")
    p["header_wav"] = d / "header_only.wav"
    _wav(p["header_wav"], np.zeros(0, np.float32), 16000)
    p["trunc_wav"] = d / "truncated.wav"
    p["trunc_wav"].write_bytes(p["wav"].read_bytes()[: len(p["wav"].read_bytes()) // 3])
    p["text_wav"] = d / "notes.wav"
    p["text_wav"].write_text("not audio\n")
    p["mp3"] = d / "speech.mp3"
    _mp3(p["mp3"], speech)
    p["trunc_mp3"] = d / "truncated.mp3"
    data = p["mp3"].read_bytes()
    p["trunc_mp3"].write_bytes(data[: len(data) // 2])
    p["video_audio"] = d / "talking.mp4"
    _video_with_audio(p["video_audio"], speech)

    p["nan_model"] = d / "nan_model.npz"
    with np.load(REPO / "talkrig" / "assets" / "default_head.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    key = next(k for k, v in arrays.items() if v.dtype.kind == "f" and v.ndim >= 2 and v.size > 100)
    arrays[key] = arrays[key].copy()
    arrays[key].flat[::7] = np.nan
    np.savez(p["nan_model"], **arrays)
    p["junk_model"] = d / "junk_model.npz"
    p["junk_model"].write_bytes(os.urandom(4096))
    p["evil"] = d / "refiner.pth"
    import pickle

    p["evil"].write_bytes(pickle.dumps(_Evil(str(root / "PICKLE_RAN"))))
    p["pose_csv"] = d / "pose_nan.csv"
    p["pose_csv"].write_text("yaw,pitch,roll\n0,0,0\nnan,0,0\n")

    clips = d / "clips"
    clips.mkdir(exist_ok=True)
    (clips / "zero.mp4").write_bytes(b"")
    (clips / "corrupt.mp4").write_bytes(os.urandom(20000))
    p["clips"] = clips
    p["notes_txt"] = d / "notes.txt"
    p["notes_txt"].write_text("plain text\n")

    paths = {k: str(v) for k, v in p.items()}
    paths["marker"] = str(root / "PICKLE_RAN")
    if shared is not None:
        for name, rel in (("real_speech", "dev/audio/librispeech_116-288045-0000.flac"),
                          ("real_video", "dev/video/hdtf_WDA_KatieHill_000.mp4")):
            if (shared / rel).exists():
                paths[name] = str(shared / rel)
    return paths


def _mp3(path: Path, speech: np.ndarray) -> None:
    import av

    with av.open(str(path), "w", format="mp3") as box:
        st = box.add_stream("libmp3lame", rate=16000, layout="mono")
        frame = av.AudioFrame.from_ndarray((speech[None] * 32767).astype(np.int16), format="s16", layout="mono")
        frame.sample_rate = 16000
        for pkt in st.encode(frame):
            box.mux(pkt)
        for pkt in st.encode(None):
            box.mux(pkt)


def _video_with_audio(path: Path, speech: np.ndarray) -> None:
    from talkrig.io.video import VideoWriter

    n = int(len(speech) / 16000 * 25)
    with VideoWriter(path, 25, (64, 64), audio=speech, sample_rate=16000, preset="ultrafast") as w:
        for i in range(n):
            w.write(np.full((64, 64, 3), i % 255, np.uint8))


# -- the table ------------------------------------------------------------------------------
def _render(photo: str = "{photo}", *extra: str, out: str = "{out}/result.mp4") -> tuple[str, ...]:
    return ("render", photo, *SHORT, *extra, "-o", out)  # later options win: extras override SHORT


HI = ("--text", "Hi there.")

CASES: list[Case] = [
    # photos
    Case("photo-ok", _render("{photo}", *HI), "ok", output="{out}/result.mp4", what="photo: plain JPEG"),
    Case("photo-missing", _render("{out}/nope.jpg", *HI), "error", "not found", output="{out}/result.mp4", what="photo: missing"),
    Case("photo-empty", _render("{empty_img}", *HI), "error", "empty|not an image|cannot read", output="{out}/result.mp4", what="photo: 0 bytes"),
    Case("photo-truncated", _render("{trunc_img}", *HI), "error", "truncated|cannot read|not an image", output="{out}/result.mp4", what="photo: truncated JPEG"),
    Case("photo-text", _render("{text_img}", *HI), "error", "not an image|cannot read", output="{out}/result.mp4", what="photo: a text file named .jpg"),
    Case("photo-noface", _render("{noface}", *HI), "error", "no face", output="{out}/result.mp4", what="photo: no face"),
    Case("photo-tiny", _render("{tiny}", *HI), "error", "too small|no face", output="{out}/result.mp4", what="photo: 24x24 pixels"),
    Case("photo-grey", _render("{grey}", *HI), "ok", output="{out}/result.mp4", what="photo: greyscale PNG"),
    Case("photo-cmyk", _render("{cmyk}", *HI), "ok", output="{out}/result.mp4", what="photo: CMYK JPEG"),
    Case("photo-16bit", _render("{png16}", *HI), "ok", output="{out}/result.mp4", what="photo: 16-bit PNG"),
    Case("photo-alpha", _render("{rgba}", *HI), "ok", output="{out}/result.mp4", what="photo: RGBA PNG"),
    Case("photo-exif", _render("{rotated}", *HI), "ok", output="{out}/result.mp4", what="photo: EXIF-rotated JPEG"),
    Case("photo-webp", _render("{webp}", *HI), "ok", output="{out}/result.mp4", what="photo: WebP"),
    Case("photo-gif", _render("{gif}", *HI), "ok", output="{out}/result.mp4", what="photo: GIF"),
    Case("photo-two-faces", _render("{two}", *HI, "--face-index", "1"), "ok", output="{out}/result.mp4", what="photo: two faces, the second chosen"),
    Case("photo-face-index", _render("{photo}", *HI, "--face-index", "3"), "error", "face index|only 1 face", output="{out}/result.mp4", what="photo: --face-index past the faces found"),
    Case("photo-face-index-neg", _render("{photo}", *HI, "--face-index", "-1"), "error", "face-index", output="{out}/result.mp4", what="photo: negative --face-index"),
    Case("photo-huge", _render("{huge}", *HI), "ok", output="{out}/result.mp4", what="photo: 6000x6000 JPEG"),
    # audio
    Case("audio-wav", _render("{photo}", "--audio", "{wav}"), "ok", output="{out}/result.mp4", what="audio: 16 kHz speech WAV, no transcript"),
    Case("audio-8k", _render("{photo}", "--audio", "{wav8k}"), "ok", output="{out}/result.mp4", what="audio: 8 kHz"),
    Case("audio-96k", _render("{photo}", "--audio", "{wav96k}"), "ok", output="{out}/result.mp4", what="audio: 96 kHz"),
    Case("audio-6ch", _render("{photo}", "--audio", "{wav6ch}"), "ok", output="{out}/result.mp4", what="audio: 6 channels"),
    Case("audio-mp3", _render("{photo}", "--audio", "{mp3}"), "ok", output="{out}/result.mp4", what="audio: MP3"),
    Case("audio-video", _render("{photo}", "--audio", "{video_audio}"), "ok", output="{out}/result.mp4", what="audio: a video file with sound"),
    Case("audio-silent", _render("{photo}", "--audio", "{silent}"), "ok", output="{out}/result.mp4", what="audio: 2 s of silence"),
    Case("audio-trunc-mp3", _render("{photo}", "--audio", "{trunc_mp3}"), "ok", "warning: .*(truncated|damaged|incomplete)", output="{out}/result.mp4", what="audio: truncated MP3 (renders, warns)"),
    Case("audio-1ms", _render("{photo}", "--audio", "{wav1ms}"), "error", "shorter than", output="{out}/result.mp4", what="audio: 1 ms"),
    Case("audio-empty", _render("{photo}", "--audio", "{empty_wav}"), "error", "empty|cannot read|no audio", output="{out}/result.mp4", what="audio: 0 bytes"),
    Case("audio-header", _render("{photo}", "--audio", "{header_wav}"), "error", "no samples|shorter than|empty", output="{out}/result.mp4", what="audio: WAV header only"),
    Case("audio-trunc-wav", _render("{photo}", "--audio", "{trunc_wav}"), "ok", output="{out}/result.mp4", what="audio: truncated WAV (renders what is there)"),
    Case("audio-text", _render("{photo}", "--audio", "{text_wav}"), "error", "cannot read|not an audio|no audio", output="{out}/result.mp4", what="audio: a text file named .wav"),
    Case("audio-missing", _render("{photo}", "--audio", "{out}/nope.wav"), "error", "not found", output="{out}/result.mp4", what="audio: missing"),
    Case("audio-and-text", _render("{photo}", "--audio", "{wav}", *HI), "error", "exactly one", output="{out}/result.mp4", what="audio and text together"),
    # text
    Case("text-empty", _render("{photo}", "--text", ""), "error", "empty", output="{out}/result.mp4", what="text: empty"),
    Case("text-space", _render("{photo}", "--text", "   \t "), "error", "empty", output="{out}/result.mp4", what="text: whitespace"),
    Case("text-emoji", _render("{photo}", "--text", "\U0001F600\U0001F389"), "error", "nothing to speak", output="{out}/result.mp4", what="text: emoji only"),
    Case("text-emoji-words", _render("{photo}", "--text", "Great news \U0001F389 today!"), "ok", output="{out}/result.mp4", what="text: words with emoji"),
    Case("text-chinese", _render("{photo}", "--text", "你好，今天天气很好。"), "ok", output="{out}/result.mp4", what="text: Chinese (voice from the script)"),
    Case("text-arabic", _render("{photo}", "--text", "مرحبا بكم"), "ok", output="{out}/result.mp4", what="text: Arabic (voice from the script)"),
    Case("text-chinese-english-voice", _render("{photo}", "--text", "你好", "--voice", "en-us"), "error", "script|--voice", output="{out}/result.mp4", what="text: Chinese with --voice en-us"),
    Case("text-ssml", _render("{photo}", "--text", "<speak>Hello <break time='300ms'/> there.</speak>"), "ok", output="{out}/result.mp4", what="text: SSML markup (tags are not read)"),
    Case("text-long", _render("{photo}", "--text", "word " * 4000), "error", "too long", output="{out}/result.mp4", what="text: 20,000 characters"),
    Case("voice-zh", _render("{photo}", "--text", "你好", "--voice", "zh"), "ok", output="{out}/result.mp4", what="--voice zh (a listed language)"),
    Case("voice-bad", _render("{photo}", *HI, "--voice", "nosuchvoice"), "error", "voice", output="{out}/result.mp4", what="--voice unknown"),
    # emotion, intensity, pose
    Case("emotion-bad", _render("{photo}", *HI, "--emotion", "bored"), "error", "unknown emotion", output="{out}/result.mp4", what="--emotion unknown"),
    Case("emotion-schedule-bad", _render("{photo}", *HI, "--emotion", "happy@soon"), "error", "bad time", output="{out}/result.mp4", what="--emotion schedule with a bad time"),
    Case("emotion-blend", _render("{photo}", *HI, "--emotion", "happy:0.7+sad:0.3"), "ok", output="{out}/result.mp4", what="--emotion blend"),
    Case("intensity-nan", _render("{photo}", *HI, "--intensity", "nan"), "error", "intensity", output="{out}/result.mp4", what="--intensity nan"),
    Case("intensity-big", _render("{photo}", *HI, "--intensity", "2"), "error", "intensity", output="{out}/result.mp4", what="--intensity 2"),
    Case("pose-bad", _render("{photo}", *HI, "--pose", "wobbly"), "error", "pose", output="{out}/result.mp4", what="--pose unknown"),
    Case("pose-nan-csv", _render("{photo}", *HI, "--pose", "{pose_csv}"), "error", "pose|non-finite|number", output="{out}/result.mp4", what="--pose CSV with NaN"),
    # sizes and rates
    Case("size-7", _render("{photo}", *HI, "--size", "7"), "error", "size", output="{out}/result.mp4", what="--size 7"),
    Case("size-0", _render("{photo}", *HI, "--size", "0"), "error", "size", output="{out}/result.mp4", what="--size 0"),
    Case("size-neg", _render("{photo}", *HI, "--size", "-512"), "error", "size", output="{out}/result.mp4", what="--size -512"),
    Case("size-huge", _render("{photo}", *HI, "--size", "100000"), "error", "size", output="{out}/result.mp4", what="--size 100000"),
    Case("size-text", _render("{photo}", *HI, "--size", "big"), "error", "size", output="{out}/result.mp4", what="--size big"),
    Case("fps-24", _render("{photo}", *HI, "--fps", "24"), "error", "fps", output="{out}/result.mp4", what="--fps 24"),
    Case("fps-nan", _render("{photo}", *HI, "--fps", "nan"), "error", "fps", output="{out}/result.mp4", what="--fps nan"),
    Case("edit-size-7", ("edit", "{photo}", "--emotion", "happy", "--size", "7", "-o", "{out}/result.png"), "error", "size", output="{out}/result.png", what="edit --size 7"),
    Case("edit-size-huge", ("edit", "{photo}", "--emotion", "happy", "--size", "100000", "-o", "{out}/result.png"), "error", "size", output="{out}/result.png", what="edit --size 100000"),
    Case("edit-yaw-nan", ("edit", "{photo}", "--yaw", "nan", "-o", "{out}/result.png"), "error", "yaw", output="{out}/result.png", what="edit --yaw nan"),
    Case("edit-expression-nan", ("edit", "{photo}", "--expression", "jawOpen=nan", "-o", "{out}/result.png"), "error", "jawOpen", output="{out}/result.png", what="edit --expression jawOpen=nan"),
    # outputs
    Case("out-missing-dir", _render("{photo}", *HI, out="{out}/no/such/dir/x.mp4"), "error", "does not exist", output="{out}/no", what="-o in a missing folder"),
    Case("out-file-as-dir", _render("{photo}", *HI, out="{notes_txt}/x.mp4"), "error", "not a folder", output="{notes_txt}/x.mp4", what="-o below a file"),
    Case("out-is-dir", _render("{photo}", *HI, out="{out}/adir.mp4"), "error", "is a folder", output="{out}/adir.mp4/x", what="-o a folder named x.mp4"),
    Case("out-proc", _render("{photo}", *HI, out="/proc/x.mp4"), "error", "cannot write", output="/proc/x.mp4", what="-o under /proc"),
    Case("out-ext", _render("{photo}", *HI, out="{out}/result.avi"), "error", "must end in", output="{out}/result.avi", what="-o with .avi"),
    Case("out-unicode", _render("{photo}", *HI, out="{out}/видео 😀.mp4"), "ok", output="{out}/видео 😀.mp4", what="-o with a unicode name"),
    Case("out-dash", ("render", "{photo}", *HI, *SHORT, "-o", "-dash.mp4"), "ok", output="{out}/-dash.mp4", what="-o with a leading dash (relative)"),
    Case("edit-onto-photo", ("edit", "{photo}", "--emotion", "happy", "-o", "{photo}"), "error", "overwrite the input", output="{out}/none", what="edit -o the input photo"),
    Case("recon-overlay-photo", ("recon", "{rgba}", "-o", "{out}/r.npz", "--overlay", "{rgba}"), "error", "overwrite the input", output="{out}/r.npz", what="recon --overlay the input photo"),
    Case("render-onto-audio", ("render", "{photo}", "--audio", "{video_audio}", *SHORT, "-o", "{video_audio}"), "error", "overwrite the input", output="{out}/none", what="render -o the input audio"),
    # models and checkpoints
    Case("model-nan", _render("{photo}", *HI, "--model", "{nan_model}"), "error", "non-finite|NaN", output="{out}/result.mp4", what="--model file with NaN"),
    Case("model-junk", _render("{photo}", *HI, "--model", "{junk_model}"), "error", "cannot read|not a", output="{out}/result.mp4", what="--model random bytes .npz"),
    Case("model-missing", _render("{photo}", *HI, "--model", "{out}/none.npz"), "error", "not found|no face model", output="{out}/result.mp4", what="--model missing"),
    Case("export-nan", ("model", "export", "default", "-e", "jawOpen=nan", "-o", "{out}/result.obj"), "error", "jawOpen", output="{out}/result.obj", what="model export -e jawOpen=nan"),
    Case("export-nan-model", ("model", "export", "{nan_model}", "-o", "{out}/result.obj"), "error", "non-finite|NaN", output="{out}/result.obj", what="model export of a NaN model"),
    Case("refiner-pickle", _render("{photo}", *HI, "--refiner", "{evil}"), "error", "safetensors|not a .*checkpoint|cannot read", output="{out}/result.mp4", what="--refiner pickle .pth (never unpickled)"),
    # other commands
    Case("prep-workers-neg", ("prep", "{clips}", "-o", "{out}/result", "--workers", "-3"), "error", "workers", output="{out}/result", what="prep --workers -3"),
    Case("prep-corrupt", ("prep", "{clips}", "-o", "{out}/prep", "--workers", "2", "--no-progress"), "error", "2 of 2 clips failed", output="{out}/prep", keeps_output=True,
         what="prep of corrupt and 0-byte clips (error records kept)"),
    Case("eval-json-missing-dir", ("eval", "{video_audio}", "--json", "{out}/no/dir/m.json"), "error", "does not exist", output="{out}/no", what="eval --json into a missing folder"),
    Case("animate-intensity-nan", ("animate", *HI, "--intensity", "nan", "-o", "{out}/result.npz"), "error", "intensity", output="{out}/result.npz", what="animate --intensity nan"),
    Case("animate-rate", ("animate", *HI, "--rate", "5", "-o", "{out}/result.npz"), "error", "rate", output="{out}/result.npz", what="animate --rate 5"),
    # real speech from ../shared, no transcript (the hang of issue 16)
    Case("real-speech", _render("{photo}", "--audio", "{real_speech}"), "ok", output="{out}/result.mp4", shared=True, what="real speech FLAC, no transcript"),
    Case("real-video-audio", _render("{photo}", "--audio", "{real_video}"), "ok", output="{out}/result.mp4", shared=True, what="real talking video as --audio"),
    Case("real-speech-parallel", _render("{photo}", "--audio", "{real_speech}"), "ok", output="{out}/result.mp4", shared=True,
         env=(("TALKRIG_RECOGNIZE_WORKERS", "2"),), what="real speech, recognition in 2 worker processes"),
]


# -- running --------------------------------------------------------------------------------
def _digest(path: Path) -> str:
    if path.is_dir():
        return "|".join(f"{p.name}:{_digest(p)}" for p in sorted(path.iterdir()))
    return hashlib.sha256(path.read_bytes()).hexdigest()


def input_digests(paths: dict[str, str], root: Path) -> dict[str, str]:
    return {k: _digest(Path(v)) for k, v in paths.items() if Path(v).exists() and Path(v).is_relative_to(root)}


def run_case(case: Case, exe: str, paths: dict[str, str], out: Path, digests: dict[str, str],
             root: Path) -> Outcome:
    """Run one case in a fresh output folder ``out`` (also the working directory)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    (out / "adir.mp4").mkdir()
    marker = Path(paths["marker"])
    marker.unlink(missing_ok=True)
    filled = {**paths, "out": str(out)}
    env = {**os.environ, **dict(case.env)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([exe, *case.fill(filled)], cwd=out, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    timed_out = False
    try:
        _, err = proc.communicate(timeout=case.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        _, err = proc.communicate()
        timed_out = True
    seconds = time.perf_counter() - t0
    result = Path(case.output.format(**filled))
    allowed = {result.name, "adir.mp4"}
    leftovers = sorted(p.name for p in out.iterdir() if p.name not in allowed)
    if case.expect == "error" and not case.keeps_output and result.exists() and result.parent == out:
        leftovers.append(result.name)
    leftovers += [f"adir.mp4/{p.name}" for p in (out / "adir.mp4").iterdir()]
    now = input_digests(paths, root)
    changed = sorted(k for k, v in digests.items() if now.get(k) != v)
    return Outcome(rc=proc.returncode, stderr=err, seconds=seconds, leftovers=leftovers,
                   changed_inputs=changed, pickle_ran=marker.exists(), timed_out=timed_out)


def problems(case: Case, o: Outcome, paths: dict[str, str], out: Path) -> list[str]:
    """What is wrong with an outcome (empty when the case behaved)."""
    import re

    bad = []
    if o.timed_out:
        bad.append(f"did not exit within {case.timeout:.0f} s")
    if o.pickle_ran:
        bad.append("a pickle was unpickled (code ran)")
    if o.changed_inputs:
        bad.append(f"inputs changed: {o.changed_inputs}")
    if o.leftovers:
        bad.append(f"left behind: {o.leftovers}")
    if "Traceback" in o.stderr:
        bad.append("printed a traceback")
    if case.expect == "ok":
        if o.rc != 0:
            bad.append(f"exit {o.rc}: {o.message}")
        result = Path(case.output.format(**paths, out=str(out)))
        if not result.exists():
            bad.append("no output written")
        elif result.suffix == ".mp4" and not _valid_mp4(result):
            bad.append("output is not a playable mp4 with audio")
        if case.match and not re.search(case.match, o.stderr, re.I):
            bad.append(f"stderr does not match {case.match!r}: {o.stderr[-300:]!r}")
    else:
        lines = [ln for ln in o.stderr.strip().splitlines() if ln.strip()]
        if o.rc == 0:
            bad.append("exit 0 on bad input")
        if len(lines) != 1 or not lines[0].startswith("talkrig: error:"):
            bad.append(f"not one 'talkrig: error:' line: {o.stderr[-400:]!r}")
        elif case.match and not re.search(case.match, lines[0], re.I):
            bad.append(f"message does not match {case.match!r}: {lines[0]!r}")
        if "internal error" in o.stderr:
            bad.append("reported as an internal error")
    return bad


def _valid_mp4(path: Path) -> bool:
    from talkrig.io.video import read_video

    try:
        clip = read_video(path)
        n = sum(1 for _ in clip.frames())
        return n > 0 and clip.audio() is not None and len(clip.audio()) > 0
    except Exception:  # noqa: BLE001
        return False
