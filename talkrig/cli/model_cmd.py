"""`talkrig model ...`: inspect and export face models."""

from __future__ import annotations

from pathlib import Path

import typer

from talkrig.errors import InputError

model_app = typer.Typer(help="Inspect and export face models.", no_args_is_help=True)


def parse_weights(text: str | None, what: str, lo: float = -10.0, hi: float = 10.0) -> dict[str, float]:
    """``"a=1,b=0.5"`` -> ``{"a": 1.0, "b": 0.5}``; a bare name means weight 1. Weights outside
    ``[lo, hi]`` (NaN and inf included) are a one-line :class:`InputError`."""
    out: dict[str, float] = {}
    for item in (text or "").split(","):
        item = item.strip()
        if not item:
            continue
        name, _, value = item.partition("=")
        try:
            w = float(value) if value.strip() else 1.0
        except ValueError:
            raise InputError(f"bad {what} weight {item!r}: expected name=number") from None
        if not (lo <= w <= hi):  # also refuses nan and inf
            raise InputError(f"bad {what} weight {item!r}: expected a finite number in [{lo:g}, {hi:g}]")
        out[name.strip()] = w
    return out


def _identity_vector(model, weights: dict[str, float]):
    import torch

    names = list(model.info.extra.get("identity_names") or [f"id{k}" for k in range(model.n_identity)])
    v = torch.zeros(model.n_identity)
    for k, w in weights.items():
        if k not in names:
            hint = ", ".join(names[:6]) + ("..." if len(names) > 6 else "")
            raise InputError(f"model {model.name!r} has no identity coefficient {k!r} (e.g. {hint})")
        v[names.index(k)] = w
    return v


@model_app.command("info")
def info() -> None:
    """List the available face models, their sizes and licences."""
    from talkrig.model.default import asset_path, load_default

    m = load_default()
    size = asset_path().stat().st_size / 1e6
    typer.echo(f"default  (embedded, always available)  {m.n_vertices} vertices, {m.faces.shape[0]} "
               f"triangles, {m.n_identity} identity, {m.n_expression} ARKit expressions, "
               f"units {m.info.units}, {size:.1f} MB")
    typer.echo(f"         licence: {m.info.licence}")
    typer.echo(f"         {m.info.provenance}")
    try:
        from talkrig.model.loaders.ict import find_ict
    except ImportError:
        find_ict = None
    ict = find_ict() if find_ict else None
    if ict:
        typer.echo(f"ict      found at {ict} (ICT-FaceKit; see its licence)")
    else:
        typer.echo("ict      not found (set TALKRIG_ICT_MODEL to a FaceXModel folder or tarball)")
    typer.echo("bfm      not bundled (licence): use a path as the model name, e.g. "
               "'talkrig model export /path/to/01_MorphableModel.mat -o bfm.obj' "
               "(also BFM_model_front.mat or a BFM 2017/2019 .h5)")


@model_app.command("export")
def export(
    model: str = typer.Argument("default", help="model name ('default', 'ict') or path"),
    output: Path = typer.Option(..., "-o", "--output", help="mesh file: .obj, .ply or .glb"),
    expression: str = typer.Option("", "--expression", "-e", help="e.g. jawOpen=1,mouthSmileLeft=0.5"),
    identity: str = typer.Option("", "--identity", "-i", help="e.g. macro-gender-female-male=0.5"),
    yaw: float = typer.Option(0.0, "--yaw", help="head yaw in degrees (turns towards +x)"),
    landmarks: Path | None = typer.Option(None, "--landmarks", help="also write 68 landmarks: .pts or .npy"),
) -> None:
    """Write a model's mesh with chosen expression/identity weights."""
    import math

    import torch

    from talkrig.model.export import LANDMARK_SUFFIXES, MESH_SUFFIXES, export_landmarks, export_mesh
    from talkrig.model.registry import load_model
    from talkrig.model.rotation import euler_to_matrix

    # check everything the user typed before loading or writing anything
    from talkrig.io.files import check_output, same_file

    if output.suffix.lower() not in MESH_SUFFIXES:
        raise InputError(f"cannot write a mesh to {output.name}: use one of {', '.join(MESH_SUFFIXES)}")
    if landmarks is not None and landmarks.suffix.lower() not in LANDMARK_SUFFIXES:
        raise InputError(f"cannot write landmarks to {landmarks.name}: use .pts or .npy")
    source = Path(model) if Path(model).exists() else None
    check_output(output, inputs=(source,))
    if landmarks is not None:
        check_output(landmarks, inputs=(source,), what="--landmarks")
        if same_file(landmarks, output):
            raise InputError("--landmarks and -o name the same file")
    if not math.isfinite(yaw):
        raise InputError(f"--yaw must be a finite number of degrees, got {yaw}")
    exp_w, id_w = parse_weights(expression, "expression"), parse_weights(identity, "identity")
    m = load_model(model)
    e = m.expression_vector(exp_w)
    i = _identity_vector(m, id_w)
    with torch.no_grad():
        v = m(identity=i[None], expression=e[None])
        r = euler_to_matrix(torch.tensor([[0.0, math.radians(yaw), 0.0]]))
        v = (v @ r.transpose(1, 2))[0]
    texture = None
    if m.name == "default":
        from talkrig.model.default import default_texture

        texture = default_texture()
    colors = m.albedo_mean if m.has_albedo else None
    export_mesh(output, v, m.faces, uvs=m.uvs if len(m.uvs) else None,
                uv_faces=m.uv_faces if len(m.uvs) else None, texture=texture, vertex_colors=colors)
    if landmarks is not None:
        if not len(m.landmarks68):
            raise InputError(f"model {m.name!r} has no 68-point landmarks")
        export_landmarks(landmarks, v[m.landmarks68])
    typer.echo(f"wrote {output}" + (f" and {landmarks}" if landmarks else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(model_app, name="model")
