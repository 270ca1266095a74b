"""Finding clips under an input folder and reading labels from known dataset layouts.

Each layout is a parser ``relative_path -> labels | None``. ``auto`` tries them in a fixed
order per file and falls back to ``plain`` (no labels). Layouts as the datasets publish them:

    mead       M030/video/front/happy/level_3/001.mp4   speaker, view, emotion, level (1-3)
    ravdess    01-01-05-02-01-01-24.mp4                  modality-channel-emotion-intensity-
                                                         statement-repetition-actor (Livingstone
                                                         & Russo 2018); intensity 1 normal, 2 strong
    voxceleb2  id00012/21Uxsk56VDQ/00001.mp4             speaker id, YouTube id, utterance
    lrs2       main/5535415699068794046/00001.mp4        programme id (as speaker), transcript from
                                                         the ``00001.txt`` beside it ("Text: ...")
    hdtf       WDA_KatieHill_000.mp4                     source (RD/WDA/WRA), speaker, segment
    plain      anything                                  nothing
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import asdict, dataclass
from pathlib import Path

from talkrig.errors import InputError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".flv", ".m4v", ".mpg", ".mpeg")
LAYOUTS = ("auto", "mead", "ravdess", "voxceleb2", "lrs2", "hdtf", "plain")

#: MEAD's eight emotions are talkrig's vocabulary; other datasets' words map onto them.
EMOTION_SYNONYMS = {
    "neutral": "neutral", "calm": "neutral", "happy": "happy", "happiness": "happy",
    "sad": "sad", "sadness": "sad", "angry": "angry", "anger": "angry",
    "surprised": "surprised", "surprise": "surprised", "fear": "fearful", "fearful": "fearful",
    "disgusted": "disgusted", "disgust": "disgusted", "contempt": "contempt",
}
#: RAVDESS emotion codes (file-name field 3).
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fearful", "07": "disgust", "08": "surprised"}


@dataclass(frozen=True)
class ClipInfo:
    """One input clip and the labels its path carries. Empty string / 0 = unknown."""

    clip_id: str
    path: str            # absolute path of the video
    rel_path: str        # path relative to the input root (posix), used for ids and layouts
    layout: str          # the layout whose parser matched
    speaker: str = ""
    emotion: str = ""    # canonical (MEAD's eight); "" when the layout has no emotion
    emotion_raw: str = ""
    intensity: int = 0   # the dataset's own level (MEAD 1-3, RAVDESS 1-2)
    text: str = ""       # transcript when the layout ships one (LRS2)

    def to_dict(self) -> dict:
        return asdict(self)


def _emotion(word: str) -> str:
    return EMOTION_SYNONYMS.get(word.lower(), "")


def parse_mead(rel: str) -> dict | None:
    m = re.search(r"(?:^|/)([MW]\d{3})/video/([^/]+)/([a-z]+)/level_(\d)/(\d+)\.\w+$", rel)
    if not m:
        return None
    speaker, _view, emo, level, _utt = m.groups()
    return {"speaker": speaker, "emotion": _emotion(emo), "emotion_raw": emo, "intensity": int(level)}


def parse_ravdess(rel: str) -> dict | None:
    m = re.search(r"(?:^|/)(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)\.\w+$", rel)
    if not m:
        return None
    raw = RAVDESS_EMOTIONS[m.group(3)]
    return {"speaker": f"Actor_{m.group(7)}", "emotion": _emotion(raw), "emotion_raw": raw,
            "intensity": int(m.group(4))}


def parse_voxceleb2(rel: str) -> dict | None:
    m = re.search(r"(?:^|/)(id\d{5})/([A-Za-z0-9_-]{11})/(\d{5})\.\w+$", rel)
    return {"speaker": m.group(1)} if m else None


def parse_lrs2(rel: str, root: Path | None = None) -> dict | None:
    m = re.search(r"(?:^|/)(\d{19})/(\d{5})\.\w+$", rel)
    if not m:
        return None
    out = {"speaker": m.group(1)}
    if root is not None:
        txt = (root / rel).with_suffix(".txt")
        if txt.is_file():
            first = txt.read_text(errors="replace").splitlines()[:1]
            if first and first[0].startswith("Text:"):
                out["text"] = first[0][5:].strip()
    return out


def parse_hdtf(rel: str) -> dict | None:
    m = re.search(r"(?:^|/|_)(RD|WDA|WRA)_([A-Za-z0-9-]+?)(?:_\d+)?(?:_\d+)?\.\w+$", rel)
    return {"speaker": m.group(2)} if m else None


def parse_plain(rel: str) -> dict:
    return {}


_PARSERS = {"mead": parse_mead, "ravdess": parse_ravdess, "voxceleb2": parse_voxceleb2,
            "lrs2": parse_lrs2, "hdtf": parse_hdtf}


def parse_labels(rel: str, layout: str = "auto", root: Path | None = None) -> tuple[str, dict] | None:
    """Labels for one relative path: ``(layout_that_matched, labels)``; None when an explicit
    layout does not match."""
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r} (choose from {', '.join(LAYOUTS)})")
    order = list(_PARSERS) if layout == "auto" else ([] if layout == "plain" else [layout])
    for name in order:
        got = _PARSERS[name](rel, root) if name == "lrs2" else _PARSERS[name](rel)
        if got is not None:
            return name, got
    if layout in ("auto", "plain"):
        return "plain", {}
    return None


def clip_id_for(rel: str) -> str:
    """A file-name-safe id from a relative path: ``a/b/c.mp4`` -> ``a__b__c``. A short hash of
    the path is appended when sanitising changed it, so different paths never share an id."""
    stem = rel.rsplit(".", 1)[0] if "." in rel.rsplit("/", 1)[-1] else rel
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", stem.replace("/", "__")).lstrip(".") or "clip"
    if safe != stem.replace("/", "__"):
        safe += "-" + hashlib.sha1(rel.encode()).hexdigest()[:8]
    return safe[:180]


def discover(input_path: str | Path, layout: str = "auto", exclude: str | Path | None = None) -> list[ClipInfo]:
    """All video clips under ``input_path`` (a folder, searched recursively, or one video
    file), sorted by relative path, with their labels. Files under ``exclude`` (the job's
    own output folder, when it sits inside the input) are left out.

    Raises:
        InputError: missing input, no videos, or files that do not follow an explicit layout.
    """
    root = Path(input_path).expanduser()
    if not root.exists():
        raise InputError(f"input not found: {root}")
    if root.is_file():
        files, base = [root], root.parent
    else:
        skip = Path(exclude).resolve() if exclude is not None else None
        files = sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
                       and p.is_file() and not p.name.startswith(".")
                       and not (skip is not None and p.resolve().is_relative_to(skip)))
        base = root
    if not files:
        raise InputError(f"no video files ({', '.join(VIDEO_SUFFIXES)}) under {root}")
    clips, bad = [], []
    for p in files:
        rel = p.relative_to(base).as_posix()
        got = parse_labels(rel, layout, base)
        if got is None:
            bad.append(rel)
            continue
        matched, labels = got
        clips.append(ClipInfo(clip_id=clip_id_for(rel), path=str(p.resolve()), rel_path=rel,
                              layout=matched, **labels))
    seen: dict[str, int] = {}
    for c in clips:
        seen[c.clip_id] = seen.get(c.clip_id, 0) + 1
    # same stem, different suffix (a.mp4, a.avi): disambiguate by a hash of the full path
    clips = [c if seen[c.clip_id] == 1 else
             ClipInfo(**(c.to_dict() | {"clip_id": f"{c.clip_id}-{hashlib.sha1(c.rel_path.encode()).hexdigest()[:8]}"}))
             for c in clips]
    if bad:
        raise InputError(f"{len(bad)} file(s) under {root} do not follow the {layout} layout "
                         f"(first: {bad[0]}); use --layout auto or plain")
    return clips
