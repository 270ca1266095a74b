"""`talkrig recon PHOTO -o face.npz`: reconstruct a face from one photo."""

from __future__ import annotations

from pathlib import Path

import typer

from talkrig import api
from talkrig.errors import InputError


def recon(
    photo: Path = typer.Argument(..., help="portrait photo (JPEG, PNG, ...)"),
    output: Path = typer.Option(..., "-o", "--output", help="reconstruction file to write (.npz)"),
    mesh: Path | None = typer.Option(None, "--mesh", help="also write the fitted mesh (.obj, with the texture beside it)"),
    overlay: Path | None = typer.Option(None, "--overlay", help="also write the fitted mesh drawn over the photo (.png)"),
    texture: Path | None = typer.Option(None, "--texture", help="also write the UV texture (.png)"),
    model: str = typer.Option("default", "--model", help="face model: default, ict, or a model file"),
    face_index: int = typer.Option(0, "--face-index", min=0, help="which face when there are several (0 = largest)"),
    texture_size: int | None = typer.Option(None, "--texture-size",
                                            help="side of the UV texture in pixels (default: 512 or 1024, "
                                                 "matched to the face's resolution in the photo)"),
    delight: bool = typer.Option(False, "--delight", help="store an albedo texture (photo divided by the fitted light)"),
    tight: bool = typer.Option(False, "--tight", help="fit the landmarks more closely (weaker shape priors; less plausible 3D)"),
    landmarks68: str = typer.Option("mediapipe", "--landmarks68",
                                    help="iBUG-68 targets: mediapipe, or dlib (pip install 'talkrig[dlib]'; "
                                         "non-commercial model; closer jaw line on turned faces)"),
    init: Path | None = typer.Option(None, "--init", help="learned fit initialiser (.safetensors from train-recon-init)"),
) -> None:
    """Fit the face model to PHOTO and save the reconstruction."""
    api.check_output(output, (".npz",), inputs=(photo, init))
    outputs = [output]
    for p, suffix, what in ((mesh, ".obj", "--mesh"), (overlay, ".png", "--overlay"), (texture, ".png", "--texture")):
        if p is not None:
            api.check_output(p, (suffix,), inputs=(photo, init), what=what)
            if any(api.same_file(p, q) for q in outputs):
                raise InputError(f"{what} {p} is already another output of this command")
            outputs.append(p)
    rec = api.reconstruct(photo, model, face_index=face_index, texture_size=texture_size, delight=delight,
                          tight=tight, landmarks68=landmarks68, initializer=init)
    rec.save(output)
    api.save_reconstruction_extras(rec, mesh=mesh, overlay=overlay, texture=texture)
    s = rec.meta["seconds"]["total"]
    typer.echo(f"{output}: model {rec.model_name}, fit error {rec.meta['fit_rms_px']:.1f} px, "
               f"68 points from {rec.meta['landmarks68']}, {s:.2f} s")


def train_recon_init(
    data: Path = typer.Argument(..., help="talkrig prep output folder (fitted coefficients + landmarks)"),
    out: Path = typer.Option(..., "-o", "--output", help="checkpoint to write (.safetensors)"),
    model: str = typer.Option("default", "--model", help="the face model the prep fitted"),
    steps: int = typer.Option(2000, "--steps", min=1, help="Adam steps"),
    hidden: int = typer.Option(256, "--hidden", min=8, help="width of the MLP"),
    synthetic: int = typer.Option(20000, "--synthetic", min=0,
                                  help="pairs drawn from the face model itself, mixed into every batch"),
) -> None:
    """Train the small landmark -> coefficient regressor that starts `recon --init` fits."""

    def show(step: int, total: int, loss: float) -> None:
        if step == 1 or step % max(total // 10, 1) == 0 or step == total:
            typer.echo(f"step {step:6d}/{total}  loss {loss:.5f}")

    def started(run: api.RegressorRun) -> None:
        typer.echo(f"train-recon-init: {run.frames} frames from {run.clips} clips, model {run.model}")

    api.train_recon_init(data, out, model=model, steps=steps, hidden=hidden, synthetic=synthetic,
                         progress=show, on_start=started)
    typer.echo(f"train-recon-init: wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("recon")(recon)
    app.command("train-recon-init")(train_recon_init)
