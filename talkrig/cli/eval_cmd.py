"""`talkrig eval`: talking-face metrics of a generated video (see docs/metrics.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from talkrig import api


def eval_command(
    generated: Path = typer.Argument(..., help="Generated video (.mp4 or anything FFmpeg reads)."),
    reference: Optional[Path] = typer.Option(None, "--reference", "-r",
                                             help="Real video to compare with (self-reenactment)."),
    source: Optional[Path] = typer.Option(None, "--source", "-s",
                                          help="Source portrait photo (identity drift)."),
    text: Optional[str] = typer.Option(None, "--text", "-t",
                                       help="Transcript of the speech (p/b/m lip closure)."),
    emotion: Optional[str] = typer.Option(None, "--emotion", "-e",
                                          help="Requested emotion (recognisability)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the metrics as JSON."),
    syncnet: Optional[Path] = typer.Option(None, "--syncnet",
                                           help="syncnet_v2.model weights (LSE-D / LSE-C)."),
    inception: Optional[Path] = typer.Option(None, "--inception",
                                             help="pt_inception-2015-12-05 weights (FID)."),
    no_vmaf: bool = typer.Option(False, "--no-vmaf", help="Skip VMAF."),
    cpbd_every: int = typer.Option(1, "--cpbd-every", min=1,
                                   help="CPBD on every n-th frame (faster on long videos)."),
) -> None:
    """Measure a generated talking-face video: image quality against a reference (PSNR,
    SSIM, VMAF, landmark distances, FID), sharpness and flicker, lip sync, emotion and
    identity checks."""
    api.check_eval_inputs(generated, reference, source)
    if json_out is not None:  # before the evaluation, not after it
        api.check_output(json_out, (".json",), inputs=(generated, reference, source), what="--json")
    if emotion is not None:
        api.check_emotion(emotion, 1.0)
    if text is not None and Path(text).suffix == ".txt" and Path(text).is_file():
        text = Path(text).read_text()
    rep = api.evaluate(generated, reference=reference, source=source, text=text, emotion=emotion,
                   syncnet=syncnet, inception=inception, use_vmaf=not no_vmaf,
                   cpbd_every=cpbd_every)
    api.print_eval_report(rep)
    if json_out is not None:
        rep.save_json(json_out)


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_command)
