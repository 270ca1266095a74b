"""Evaluate a generated talking-face video: every metric talkrig has, in one report.

:func:`evaluate` runs the landmarker once per video, then one streaming pass over the frames
for the image metrics, then the landmark, lip-sync, emotion and identity metrics, and the
weight-dependent ones (SyncNet LSE, FID) when weights are given. With a reference video
(self-reenactment) the no-reference metrics are also computed on it, as a yardstick.
:func:`no_reference_report` is the quick variant the render command prints at the end.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from talkrig.errors import InputError, TalkrigError

# key -> (label, better: "higher"/"lower"/"", group)
METRICS: dict[str, tuple[str, str, str]] = {
    "psnr": ("PSNR (dB)", "higher", "reference"),
    "ssim": ("SSIM", "higher", "reference"),
    "mse": ("MSE", "lower", "reference"),
    "psnr_face": ("PSNR face (dB)", "higher", "reference"),
    "ssim_face": ("SSIM face", "higher", "reference"),
    "mse_face": ("MSE face", "lower", "reference"),
    "psnr_mouth": ("PSNR mouth (dB)", "higher", "reference"),
    "ssim_mouth": ("SSIM mouth", "higher", "reference"),
    "mse_mouth": ("MSE mouth", "lower", "reference"),
    "vmaf": ("VMAF", "higher", "reference"),
    "m_lmd": ("M-LMD (px)", "lower", "reference"),
    "f_lmd": ("F-LMD (px)", "lower", "reference"),
    "mouth_corr": ("Mouth vs real corr.", "higher", "reference"),
    "mouth_lag": ("Mouth lag vs real (frames)", "", "reference"),
    "fid": ("FID", "lower", "reference"),
    "cpbd": ("CPBD sharpness", "higher", "quality"),
    "flicker": ("Temporal flicker", "lower", "quality"),
    "face_found": ("Frames with a face", "higher", "quality"),
    "env_corr": ("Mouth/loudness corr.", "higher", "lip sync"),
    "av_offset": ("Mouth lead (frames)", "", "lip sync"),
    "offset_corr": ("Corr. at offset", "higher", "lip sync"),
    "pause_closed": ("Closed in pauses", "higher", "lip sync"),
    "speech_motion": ("Mouth motion in speech", "higher", "lip sync"),
    "bilabial_closed": ("Closure at p/b/m", "higher", "lip sync"),
    "lse_d": ("LSE-D", "lower", "lip sync"),
    "lse_c": ("LSE-C", "higher", "lip sync"),
    "syncnet_offset": ("SyncNet offset", "", "lip sync"),
    "emotion_prob": ("Emotion prob.", "higher", "emotion"),
    "emotion_top": ("Emotion seen", "", "emotion"),
    "emotion_hit": ("Emotion recognised", "higher", "emotion"),
    "identity_dist": ("Identity distance (dlib)", "lower", "identity"),
    "identity_cos": ("Identity cosine (dlib)", "higher", "identity"),
    "identity_same": ("Same person (dlib)", "higher", "identity"),
    "identity_drift": ("Identity drift (geometry)", "lower", "identity"),
    "identity_drift_p95": ("Identity drift p95", "lower", "identity"),
}


@dataclass
class EvalReport:
    """Metric values of one generated video (and of the reference, where it applies).

    ``values`` / ``reference_values`` map metric keys (see :data:`METRICS`) to numbers (or
    a label for ``emotion_top``); missing metrics are absent, not NaN. ``notes`` say what
    was skipped and why.
    """

    generated: str
    reference: str | None = None
    values: dict = field(default_factory=dict)
    reference_values: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict:
        clean = lambda d: {k: (None if isinstance(v, float) and not math.isfinite(v) else v)  # noqa: E731
                           for k, v in d.items()}
        return {"generated": self.generated, "reference": self.reference,
                "metrics": clean(self.values), "reference_metrics": clean(self.reference_values),
                "notes": list(self.notes), "seconds": round(self.seconds, 2)}

    def save_json(self, path: str | Path) -> None:
        from talkrig.io.files import atomic_path

        with atomic_path(path) as tmp:
            Path(tmp).write_text(json.dumps(self.as_dict(), indent=2) + "\n")


def _nanmean(xs) -> float:
    a = np.asarray([x for x in xs if x is not None], float)
    return float(np.nanmean(a)) if np.isfinite(a).any() else float("nan")


def _resize(frame: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    if (frame.shape[1], frame.shape[0]) == tuple(size):
        return frame
    return cv2.resize(frame, tuple(size), interpolation=cv2.INTER_AREA)


def _image_pass(gclip, rclip, gtrack, rtrack, cpbd_every: int, values: dict, refvals: dict):
    """One decode pass: full/face/mouth MSE-PSNR-SSIM, CPBD, flicker (both videos)."""
    from talkrig.eval.cpbd import cpbd
    from talkrig.eval.frames import FlickerMeter, frame_metrics
    from talkrig.eval.landmarks import face_mask, mouth_mask

    g_flick, r_flick = FlickerMeter(), FlickerMeter()
    g_cpbd, r_cpbd, per = [], [], {}
    rframes = rclip.frames() if rclip is not None else None
    for i, g in enumerate(gclip.frames()):
        g_flick.update(g)
        if i % cpbd_every == 0:
            g_cpbd.append(cpbd(g))
        if rframes is None:
            continue
        r = next(rframes, None)
        if r is None:
            rframes = None
            continue
        r_flick.update(r)
        if i % cpbd_every == 0:
            r_cpbd.append(cpbd(r))
        masks = {"face": None, "mouth": None}
        if i < rtrack.n_frames and rtrack.found[i]:
            masks = {"face": face_mask(rtrack.points[i], rtrack.size),
                     "mouth": mouth_mask(rtrack.points[i], rtrack.size)}
        for k, v in frame_metrics(_resize(g, rclip.size), r, masks).items():
            per.setdefault(k, []).append(v)
    values["cpbd"] = _nanmean(g_cpbd)
    values["flicker"] = g_flick.value
    for k, v in per.items():
        values[k] = _nanmean(v)
    if rclip is not None:
        refvals["cpbd"] = _nanmean(r_cpbd)
        refvals["flicker"] = r_flick.value


def _audio_of(gclip, rclip, notes) -> np.ndarray | None:
    if gclip.has_audio:
        return gclip.audio()
    if rclip is not None and rclip.has_audio:
        notes.append("generated video has no audio; lip sync measured against the reference's")
        return rclip.audio()
    notes.append("no audio track: lip-sync checks skipped")
    return None


def _phones(audio: np.ndarray, text: str, notes) -> list | None:
    try:
        from talkrig.animate.align import align
    except ImportError:
        notes.append("forced aligner not available: p/b/m closure skipped")
        return None
    try:
        speech = align(audio, text)
    except TalkrigError as exc:
        notes.append(f"alignment failed ({exc}): p/b/m closure skipped")
        return None
    if speech.source != "align":
        notes.append(f"transcript could not be aligned (timings from {speech.source})")
    return [(ph, s, e) for s, e, ph in speech.phonemes]


def _lipsync_values(track, audio, fps, phones) -> dict:
    from talkrig.eval.landmarks import mouth_opening
    from talkrig.eval.lipsync import lip_sync

    d = lip_sync(mouth_opening(track.landmarks68), audio, 16000, fps, phones).as_dict()
    d.pop("speech_share", None)
    if not d.get("n_bilabials"):
        d.pop("bilabial_closed", None)
    d.pop("n_bilabials", None)
    return d


def _identity(gclip, rclip, gtrack, rtrack, source, v, rv, notes) -> None:
    """Geometric drift always; dlib descriptor similarity when the extra is installed.
    The identity is the source photo, else the reference's first face frame, else the
    generated video's own first face frame."""
    from talkrig.eval import face_id
    from talkrig.eval.expression import identity_drift
    from talkrig.eval.track import detect_photo

    if source is not None:
        from talkrig.io.image import load_image

        image, ident = load_image(source), detect_photo(source)[0]
    elif rtrack is not None and rtrack.found.any():
        i = int(np.argmax(rtrack.found))
        image, ident = next(rclip.frames(i, i + 1)), rtrack.points[i]
        notes.append("identity measured against the reference's first face frame")
    else:
        i = int(np.argmax(gtrack.found))
        image, ident = next(gclip.frames(i, i + 1)), gtrack.points[i]
        notes.append("identity measured against the video's own first face frame")
    v.update(identity_drift(gtrack.points, ident))
    if rtrack is not None and rtrack.found.any():
        rv.update(identity_drift(rtrack.points, ident))
    if not face_id.available():
        notes.append("learned identity skipped: pip install 'talkrig[identity]' (dlib)")
        return
    desc = face_id.FaceDescriptor()
    v.update(face_id.identity_similarity(gclip.frames(), gtrack.points, image, ident,
                                         descriptor=desc))
    if rtrack is not None and rtrack.found.any():
        rv.update(face_id.identity_similarity(rclip.frames(), rtrack.points, image, ident,
                                              descriptor=desc))


def evaluate(generated: str | Path, reference: str | Path | None = None,
             source: str | Path | None = None, text: str | None = None,
             emotion: str | None = None, syncnet: str | Path | None = None,
             inception: str | Path | None = None, use_vmaf: bool = True,
             cpbd_every: int = 1, landmarker=None) -> EvalReport:
    """Compute every applicable metric for ``generated``.

    Args:
        generated: the video to judge.
        reference: the real video it should reproduce (self-reenactment): enables PSNR,
            SSIM, MSE (whole/face/mouth), VMAF, M-LMD/F-LMD and FID, and a reference column.
        source: the portrait photo the video was made from (identity; without it the
            reference's first face frame, else the generated video's, is the identity).
        text: transcript of the speech (lip closure at p/b/m via forced alignment).
        emotion: the requested emotion label (recognisability).
        syncnet: path of ``syncnet_v2.model`` (LSE-D/LSE-C).
        inception: path of ``pt_inception-2015-12-05-*.pth`` (FID, needs ``reference``).
        use_vmaf: run VMAF when ffmpeg has libvmaf.
        cpbd_every: CPBD on every n-th frame (it costs ~10 ms a frame at 512x512).
        landmarker: optional VIDEO-mode landmarker to reuse (a new one per video otherwise).
    """
    from talkrig.eval.track import track_frames
    from talkrig.io.video import read_video

    t0 = time.perf_counter()
    if emotion is not None:
        from talkrig.eval.expression import canonical_emotion

        emotion = canonical_emotion(emotion)
    gclip = read_video(generated)
    rclip = read_video(reference) if reference is not None else None
    rep = EvalReport(str(generated), str(reference) if reference else None)
    v, rv, notes = rep.values, rep.reference_values, rep.notes
    if rclip is not None and abs(gclip.fps - rclip.fps) > 0.01:
        notes.append(f"frame rates differ ({gclip.fps:g} vs {rclip.fps:g}); frames paired by index")
    if rclip is not None and gclip.n_frames != rclip.n_frames:
        notes.append(f"frame counts differ ({gclip.n_frames} vs {rclip.n_frames}); "
                     "compared over the shorter")

    gtrack = track_frames(gclip.frames(), gclip.fps, landmarker)
    rtrack = track_frames(rclip.frames(), rclip.fps, landmarker) if rclip is not None else None
    v["face_found"] = float(gtrack.found.mean())
    if rtrack is not None:
        rv["face_found"] = float(rtrack.found.mean())
    if not gtrack.found.any():
        notes.append("no face found in the generated video: landmark metrics skipped")

    _image_pass(gclip, rclip, gtrack, rtrack, max(1, cpbd_every), v, rv)

    if rclip is not None:
        from talkrig.eval.landmarks import lmd

        from talkrig.eval.landmarks import mouth_opening
        from talkrig.eval.lipsync import mouth_lag

        d = lmd(gtrack.landmarks68, rtrack.landmarks68, gtrack.size, rtrack.size)
        v["m_lmd"], v["f_lmd"] = d["m_lmd"], d["f_lmd"]
        if gtrack.found.any() and rtrack.found.any():
            v["mouth_corr"], v["mouth_lag"] = mouth_lag(mouth_opening(gtrack.landmarks68),
                                                        mouth_opening(rtrack.landmarks68))
        if use_vmaf:
            from talkrig.eval.vmaf import vmaf, vmaf_available

            if vmaf_available():
                v["vmaf"] = vmaf(generated, reference)["vmaf"]
            else:
                notes.append("VMAF skipped: the bundled ffmpeg has no libvmaf")

    audio = _audio_of(gclip, rclip, notes)
    if audio is not None and gtrack.found.any():
        phones = _phones(audio, text, notes) if text else None
        v.update(_lipsync_values(gtrack, audio, gclip.fps, phones))
        if rtrack is not None and rclip.has_audio and rtrack.found.any():
            rv.update(_lipsync_values(rtrack, rclip.audio(), rclip.fps, phones))
        if syncnet is not None:
            from talkrig.eval.syncnet import load_syncnet, sync_score_video

            net = load_syncnet(syncnet)
            v.update(sync_score_video(net, gclip.frames(), gtrack.points, audio,
                                      gclip.fps).as_dict())
            if rtrack is not None and rclip.has_audio:
                rv.update(sync_score_video(net, rclip.frames(), rtrack.points, rclip.audio(),
                                           rclip.fps).as_dict())
    if syncnet is None:
        notes.append("LSE-D/LSE-C skipped: pass --syncnet syncnet_v2.model")

    if emotion is not None and gtrack.found.any():
        from talkrig.eval.expression import recognisability

        # the source photo is the face at rest: the judge reads the video relative to it
        rest = None
        if source is not None:
            from talkrig.errors import TalkrigError
            from talkrig.eval.track import detect_photo

            from talkrig.eval.expression import rest_reference

            try:
                rest, why = rest_reference(detect_photo(source)[1])
                if why:
                    notes.append(f"emotion judged without a reference: {why}")
            except TalkrigError:
                notes.append("emotion judged without a reference: no face in the source photo")
        v.update(recognisability(gtrack.blendshapes, emotion, baseline=rest))
        if rtrack is not None and rtrack.found.any():
            rv.update(recognisability(rtrack.blendshapes, emotion))

    if gtrack.found.any():
        _identity(gclip, rclip, gtrack, rtrack, source, v, rv, notes)

    if inception is not None:
        if rclip is None:
            notes.append("FID needs --reference: skipped")
        else:
            from talkrig.eval.fid import fid, load_fid_inception

            v["fid"] = fid(load_fid_inception(inception), gclip.frames(), rclip.frames())
    else:
        notes.append("FID skipped: pass --inception pt_inception-2015-12-05.pth")
    rep.seconds = time.perf_counter() - t0
    return rep


def no_reference_report(video: str | Path, emotion: str | None = None,
                        text: str | None = None, source: str | Path | None = None) -> EvalReport:
    """The checks that need nothing but the video (CPBD on every 5th frame): for the end of
    ``talkrig render``."""
    rep = evaluate(video, source=source, text=text, emotion=emotion, use_vmaf=False,
                   cpbd_every=5)
    rep.notes = [n for n in rep.notes if not n.startswith(("FID", "LSE"))]
    return rep


def _fmt(key: str, value) -> str:
    if value is None:
        return "-"
    if isinstance(value, str):
        return value or "-"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return f"{int(value):+d}" if key.endswith("offset") else str(int(value))
    f = float(value)
    if not math.isfinite(f):
        return "n/a"
    if key.startswith("psnr") or key in ("vmaf", "fid", "flicker") or key.endswith("lmd"):
        return f"{f:.2f}"
    if key.startswith("mse"):
        return f"{f:.1f}"
    return f"{f:.3f}"


def print_report(rep: EvalReport, console=None, title: str | None = None) -> None:
    """Print the report as a rich table grouped by kind of metric, then the notes."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title=title or f"talkrig eval: {Path(rep.generated).name}", show_lines=False)
    table.add_column("group", style="dim")
    table.add_column("metric")
    table.add_column("generated", justify="right")
    if rep.reference_values:
        table.add_column("reference", justify="right")
    table.add_column("better", style="dim")
    last = None
    for key, (label, better, group) in METRICS.items():
        if key not in rep.values and key not in rep.reference_values:
            continue
        row = [group if group != last else "", label, _fmt(key, rep.values.get(key))]
        if rep.reference_values:
            row.append(_fmt(key, rep.reference_values.get(key)))
        row.append(better)
        table.add_row(*row)
        last = group
    console.print(table)
    from rich.markup import escape  # notes name pip extras like talkrig[identity]

    for n in rep.notes:
        console.print(f"[dim]note: {escape(n)}[/dim]")
    console.print(f"[dim]{rep.seconds:.1f} s[/dim]")


def check_inputs(generated, reference=None, source=None) -> None:
    """Fail early with one line when an input file is missing."""
    for label, p in (("video", generated), ("reference video", reference),
                     ("source photo", source)):
        if p is not None and not Path(p).is_file():
            raise InputError(f"{label} not found: {p}")


def print_no_reference_checks(video: str | Path, console=None, emotion: str | None = None,
                              text: str | None = None, source: str | Path | None = None) -> EvalReport:
    """Run :func:`no_reference_report` on a freshly rendered video and print it (for the end
    of ``talkrig render``). Returns the report."""
    rep = no_reference_report(video, emotion=emotion, text=text, source=source)
    print_report(rep, console, title=f"self-checks: {Path(video).name}")
    return rep
