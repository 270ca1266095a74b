"""Derive `talkrig eval`'s emotion judge from real emotional clips and validate it.

Tracks the MEAD clips of ``../shared/dev/emotion`` (``mead_<speaker>_<emotion>_level<k>_*.mp4``)
with the project's own tracker (MediaPipe in VIDEO mode, :func:`talkrig.eval.track.track_video`),
summarises each clip by its action-unit features (:func:`talkrig.eval.expression.clip_features`),
and fits :class:`talkrig.eval.expression.EmotionJudge` (data centroids mixed with the FACS
prototypes). Validation is leave-one-speaker-out: for each speaker a judge fitted on the other
speakers' clips names that speaker's clips; the softmax temperature is the one that maximises
the held-out likelihood. The in-the-wild ``styletalk_*`` clips are judged by the final judge as
a further check (their labels come from file names only).

    python tools/calibrate_emotion_judge.py [--write] [--docs]

``--write`` saves ``talkrig/eval/emotion_judge.json``; ``--docs`` replaces the block between
the emotion-judge markers in docs/metrics.md. Tracks are cached under the talkrig cache.
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from talkrig.eval.expression import (EMOTIONS, JUDGE_PATH, EmotionJudge, canonical_emotion,  # noqa: E402
                                     clip_features)

PRIOR_WEIGHT = 0.3  # share of the FACS prototype in each centroid (stable over 0.2-0.35 LOSO)
GAIN = 0.5          # prototype strength, in units of the feature's 10-90 % range
SPEAKERS_MIN = 2


def tracks(folder: Path) -> dict[str, np.ndarray]:
    """Clip name -> (T, 52) blendshapes, tracked once and cached."""
    from talkrig.eval.track import FaceTrack, track_video
    from talkrig.io.cache import cache_dir, source_key

    out = {}
    cache = cache_dir() / "emotion_tracks"
    cache.mkdir(parents=True, exist_ok=True)
    for f in sorted(folder.glob("*.mp4")):
        c = cache / f"{f.stem}-{source_key(f)}.npz"
        t = FaceTrack.load(c) if c.is_file() else track_video(f)
        if not c.is_file():
            t.save(c)
        out[f.stem] = t.blendshapes
    return out


def mead_table(tr: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str], list[str], list[str]]:
    names = [k for k in tr if k.startswith("mead_")]
    feats = np.stack([clip_features(tr[k]) for k in names])
    speakers = [k.split("_")[1] for k in names]
    labels = [canonical_emotion(k.split("_")[2]) for k in names]
    return feats, labels, speakers, names


def loso(feats, labels, speakers, temperature=1.0):
    """Held-out predictions and probabilities for every clip."""
    pred, probs = [None] * len(labels), [None] * len(labels)
    for s in sorted(set(speakers)):
        tr = [i for i, v in enumerate(speakers) if v != s]
        judge = EmotionJudge.fit(feats[tr], [labels[i] for i in tr], PRIOR_WEIGHT, GAIN, temperature)
        for i, v in enumerate(speakers):
            if v == s:
                p = judge.probabilities(feats[i])
                probs[i], pred[i] = p, EMOTIONS[int(np.argmax(p))]
    return pred, np.array(probs)


def loso_with_reference(feats, labels, speakers, temperature=1.0):
    """As :func:`loso`, but each speaker's neutral clip (where there is one) is the face at rest
    for that speaker's other clips (the way `talkrig eval --source` uses the source photo)."""
    pred = [None] * len(labels)
    for s in sorted(set(speakers)):
        tr = [i for i, v in enumerate(speakers) if v != s]
        judge = EmotionJudge.fit(feats[tr], [labels[i] for i in tr], PRIOR_WEIGHT, GAIN, temperature)
        rest = [i for i, v in enumerate(speakers) if v == s and labels[i] == "neutral"]
        for i, v in enumerate(speakers):
            if v == s:
                base = feats[rest[0]] if rest and labels[i] != "neutral" else None
                pred[i] = EMOTIONS[int(np.argmax(judge.probabilities(feats[i], base)))]
    return pred


def best_temperature(feats, labels, speakers) -> float:
    grid = np.exp(np.linspace(np.log(0.5), np.log(50), 41))
    nll = []
    for t in grid:
        _, p = loso(feats, labels, speakers, t)
        nll.append(-np.mean(np.log([p[i, EMOTIONS.index(y)] + 1e-9 for i, y in enumerate(labels)])))
    return float(grid[int(np.argmin(nll))])


def confusion_markdown(labels, pred) -> str:
    present = [e for e in EMOTIONS if e in labels]
    head = "| true \\ judged | " + " | ".join(e[:4] for e in EMOTIONS) + " |"
    rows = [head, "| --- |" + " --- |" * len(EMOTIONS)]
    for e in present:
        counts = [sum(1 for y, p in zip(labels, pred) if y == e and p == q) for q in EMOTIONS]
        rows.append(f"| {e} | " + " | ".join(str(c) if c else "." for c in counts) + " |")
    return "\n".join(rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", default=str(Path(os.environ.get("TALKRIG_SHARED", REPO.parent / "shared"))
                                          / "dev" / "emotion"))
    ap.add_argument("--write", action="store_true", help=f"save {JUDGE_PATH.relative_to(REPO)}")
    ap.add_argument("--docs", action="store_true", help="update the block in docs/metrics.md")
    args = ap.parse_args()
    tr = tracks(Path(args.clips))
    feats, labels, speakers, names = mead_table(tr)
    temperature = best_temperature(feats, labels, speakers)
    pred, probs = loso(feats, labels, speakers, temperature)
    lines = [f"Leave-one-speaker-out on {len(names)} MEAD clips ({', '.join(sorted(set(speakers)))}), "
             f"prior weight {PRIOR_WEIGHT}, gain {GAIN}, temperature {temperature:.2f}:", ""]
    per = {}
    for s in sorted(set(speakers)):
        idx = [i for i, v in enumerate(speakers) if v == s]
        ok = sum(pred[i] == labels[i] for i in idx)
        per[s] = f"{ok}/{len(idx)}"
        wrong = ", ".join(f"{labels[i]} -> {pred[i]}" for i in idx if pred[i] != labels[i]) or "none"
        lines.append(f"- {s}: {ok} of {len(idx)} named correctly (wrong: {wrong})")
    lines += ["", confusion_markdown(labels, pred), ""]
    ref = loso_with_reference(feats, labels, speakers, temperature)
    lines.append("With each speaker's neutral clip as the face at rest (as `--source` does): " + ", ".join(
        f"{s} {sum(ref[i] == labels[i] for i, v in enumerate(speakers) if v == s)}/{speakers.count(s)}"
        for s in sorted(set(speakers))) + ".")
    lines.append("")
    judge = EmotionJudge.fit(feats, labels, PRIOR_WEIGHT, GAIN, temperature, meta={
        "derived": datetime.date.today().isoformat(), "tool": "tools/calibrate_emotion_judge.py",
        "clips": names, "prior_weight": PRIOR_WEIGHT, "gain": GAIN, "loso": per})
    wild = [(k, k.split("_")[1]) for k in tr if k.startswith("styletalk_")]
    if wild:
        hits = 0
        lines.append("In-the-wild clips (labels from file names), judged by the judge fitted on all MEAD clips:")
        lines.append("")
        for k, want in wild:
            got = EMOTIONS[int(np.argmax(judge.probabilities(clip_features(tr[k]))))]
            hits += got == canonical_emotion(want)
            lines.append(f"- {k}: {got}")
        lines.append(f"- {hits} of {len(wild)} as named")
    text = "\n".join(lines)
    print(text)
    if args.write:
        judge.save(JUDGE_PATH)
        print(f"wrote {JUDGE_PATH}")
    if args.docs:
        doc = REPO / "docs" / "metrics.md"
        s = doc.read_text(encoding="utf-8")
        start, end = "<!-- emotion-judge:start -->", "<!-- emotion-judge:end -->"
        block = f"{start}\n{text}\n{end}"
        s = s[:s.index(start)] + block + s[s.index(end) + len(end):] if start in s else s + "\n" + block + "\n"
        doc.write_text(s, encoding="utf-8")
        print(f"updated {doc}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
