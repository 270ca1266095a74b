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
) -> None:
    """Fit the face model to PHOTO and save the reconstruction."""
    from talkrig.recon.api import reconstruct

    if output.suffix.lower() != ".npz":
        raise InputError(f"output must be a .npz file, got {output}")
    for p, suffix in ((mesh, ".obj"), (overlay, ".png"), (texture, ".png")):
        if p is not None and p.suffix.lower() != suffix:
            raise InputError(f"{p}: expected a {suffix} file")
    from talkrig.recon.fit import FitSettings

    settings = FitSettings.tight() if tight else FitSettings()
    rec = reconstruct(photo, model, face_index=face_index, texture_size=texture_size, delight=delight,
                      settings=settings, landmarks68=landmarks68)
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


def register(app: typer.Typer) -> None:
    app.command("recon")(recon)
