"""`talkrig prep INPUT -o OUT`: talking-face videos -> training shards + manifest."""

from __future__ import annotations

from pathlib import Path

import typer

from talkrig import api


def prep(
    input_path: Path = typer.Argument(..., metavar="INPUT", help="Folder of videos (searched recursively) or one video."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (created; rerun to resume)."),
    layout: str = typer.Option("auto", help="auto, mead, ravdess, voxceleb2, lrs2, hdtf or plain."),
    workers: int = typer.Option(0, help="Parallel workers (0: one per CPU core)."),
    engine: str = typer.Option("local", help="local (process pool) or ray."),
    ray_address: str = typer.Option(None, help="Ray cluster address (default: start a local Ray)."),
    model: str = typer.Option("default", help="3DMM fitted by tracking: default, ict, a model path, or none."),
    crop_size: int = typer.Option(256, help="Aligned crop side in pixels (256 or 512; 0: no crops)."),
    min_face_fraction: float = typer.Option(0.5, help="Fail a clip whose face is tracked in fewer frames."),
    retry_errors: bool = typer.Option(False, help="Redo clips that failed in an earlier run."),
    progress: bool = typer.Option(True, help="Show a progress bar."),
) -> None:
    """Preprocess talking-face videos into per-clip shards (landmarks, ARKit scores, 3DMM
    coefficients, aligned crops, 16 kHz audio, log-mel) and a manifest.jsonl."""
    s = api.prepare(input_path, out, layout=layout, workers=workers, engine=engine, ray_address=ray_address,
                    model=model, crop_size=crop_size, min_face_fraction=min_face_fraction,
                    retry_errors=retry_errors, progress=progress)
    ok = sum(r["status"] == "ok" for r in s.rows)
    fps = s.frames / s.seconds if s.seconds > 0 else 0.0
    typer.echo(f"{s.total} clips: {s.skipped} already done, {s.processed} processed "
               f"({s.failed} failed) in {s.seconds:.1f} s, {fps:.1f} frames/s; "
               f"manifest: {ok} ok, {len(s.rows) - ok} failed -> {Path(out) / 'manifest.jsonl'}")
    failed = [r for r in s.rows if r["status"] != "ok"]
    if failed:  # a partly failed job is not a success: say so and exit 1
        first = failed[0]
        typer.echo(f"talkrig: error: {len(failed)} of {len(s.rows)} clips failed (first: {first.get('source')}: "
                   f"{first.get('error', 'unknown error')}); rerun with --retry-errors after fixing them",
                   err=True)
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    app.command("prep")(prep)
