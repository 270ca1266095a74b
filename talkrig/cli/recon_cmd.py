"""`talkrig recon PHOTO -o face.npz`: reconstruct a face from one photo."""

from __future__ import annotations

from pathlib import Path

import typer

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
    from talkrig.recon.api import reconstruct

    from talkrig.io.files import check_output, same_file

    check_output(output, (".npz",), inputs=(photo, init))
    outputs = [output]
    for p, suffix, what in ((mesh, ".obj", "--mesh"), (overlay, ".png", "--overlay"), (texture, ".png", "--texture")):
        if p is not None:
            check_output(p, (suffix,), inputs=(photo, init), what=what)
            if any(same_file(p, q) for q in outputs):
                raise InputError(f"{what} {p} is already another output of this command")
            outputs.append(p)
    from talkrig.recon.fit import FitSettings

    settings = FitSettings.tight() if tight else FitSettings()
    rec = reconstruct(photo, model, face_index=face_index, texture_size=texture_size, delight=delight,
                      settings=settings, landmarks68=landmarks68, initializer=init)
    rec.save(output)
    if texture is not None:
        from talkrig.io.image import save_image

        save_image(texture, rec.texture)
    if mesh is not None:
        from talkrig.recon.export import write_obj

        write_obj(mesh, rec)
    if overlay is not None:
        from talkrig.io.image import save_image
        from talkrig.recon.export import overlay_picture

        save_image(overlay, overlay_picture(rec))
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
    from talkrig.model.registry import load_model
    from talkrig.recon.regressor import load_prepared, train_regressor

    from talkrig.io.files import check_output

    check_output(out, (".safetensors",), inputs=(data,))
    data_arrays = load_prepared(data)
    m = load_model(model)
    if data_arrays["identity"].shape[1] != m.n_identity or data_arrays["expression"].shape[1] != m.n_expression:
        raise InputError(f"{data} was fitted with another face model than {model!r}")

    def show(step: int, total: int, loss: float) -> None:
        if step == 1 or step % max(total // 10, 1) == 0 or step == total:
            typer.echo(f"step {step:6d}/{total}  loss {loss:.5f}")

    typer.echo(f"train-recon-init: {len(data_arrays['landmarks'])} frames from "
               f"{len(set(data_arrays['clip'].tolist()))} clips, model {m.name}")
    net, _ = train_regressor(data_arrays, m, steps=steps, hidden=hidden, progress=show, synthetic=synthetic)
    net.save(out)
    typer.echo(f"train-recon-init: wrote {out}")


def register(app: typer.Typer) -> None:
    app.command("recon")(recon)
    app.command("train-recon-init")(train_recon_init)
