"""VMAF through the ffmpeg that imageio-ffmpeg ships, when it was built with libvmaf.

VMAF: Li et al. 2016, "Toward a practical perceptual video quality metric" (Netflix tech
blog); libvmaf's built-in default model (vmaf_v0.6.1). 0-100, higher is better.
"""

from __future__ import annotations

import functools
import json
import subprocess
import tempfile
from pathlib import Path

from talkrig.errors import InputError


def ffmpeg_exe() -> str | None:
    """Path of the bundled ffmpeg, or None when imageio-ffmpeg has none."""
    try:
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:  # noqa: BLE001 - any failure means "no ffmpeg"
        return None


@functools.lru_cache(maxsize=1)
def vmaf_available() -> bool:
    """Whether the bundled ffmpeg has the ``libvmaf`` filter."""
    exe = ffmpeg_exe()
    if exe is None:
        return False
    try:
        out = subprocess.run([exe, "-hide_banner", "-filters"], capture_output=True, text=True,
                             timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return False
    return any(line.split()[1:2] == ["libvmaf"] for line in out.splitlines() if line.strip())


def vmaf(distorted: str | Path, reference: str | Path, threads: int = 1) -> dict[str, float]:
    """Pooled VMAF of ``distorted`` against ``reference`` (distorted is scaled to the
    reference's size; frames paired from the start).

    Returns ``{"vmaf": mean, "vmaf_min": min, "vmaf_frames": n}``. Raises
    :class:`InputError` when ffmpeg has no libvmaf or fails.
    """
    if not vmaf_available():
        raise InputError("the bundled ffmpeg has no libvmaf filter; VMAF is unavailable")
    from talkrig.io.video import read_video

    ref = read_video(reference)
    graph = (f"[0:v]scale={ref.width}:{ref.height}:flags=bicubic,setpts=PTS-STARTPTS,"
             f"format=yuv420p[d];[1:v]setpts=PTS-STARTPTS,format=yuv420p[r];"
             f"[d][r]libvmaf=log_fmt=json:n_threads={threads}:log_path=")
    with tempfile.TemporaryDirectory(prefix="talkrig-vmaf-") as tmp:
        log = Path(tmp) / "vmaf.json"
        cmd = [ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "error",
               "-i", str(distorted), "-i", str(reference),
               "-lavfi", graph + str(log).replace(":", r"\:"), "-f", "null", "-"]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0 or not log.is_file():
            msg = " ".join(res.stderr.split())[-200:]
            raise InputError(f"ffmpeg libvmaf failed: {msg}")
        data = json.loads(log.read_text())
    pooled = data["pooled_metrics"]["vmaf"]
    return {"vmaf": float(pooled["mean"]), "vmaf_min": float(pooled["min"]),
            "vmaf_frames": len(data.get("frames", []))}
