"""`RefinerConfig`: every size and hyper-parameter of the neural refiner, saved in checkpoints.

The conditioning stack is described by name -> channel count (``cond_channels``) so the same
network serves the full 3DMM conditioning of ``talkrig render`` (rendered RGB, normals, UV,
masks, warped source photo) and reduced stacks (e.g. the minimal self-reenactment pipeline of
``benchmarks/refiner.py``). Presets: ``tiny`` (64 px, CPU tests), ``128``, ``256``, ``512``, and ``sr512`` (super-resolution:
conditions at 256, output at 512).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace

from talkrig.errors import InputError

# The full conditioning of the classical renderer, in stacking order. Images are RGB in [0, 1];
# normals are camera-space unit vectors in [-1, 1]; uv in [0, 1]; masks in {0, 1}.
FULL_COND: dict[str, int] = {
    "render": 3,      # classical (SH-shaded, textured) render of the 3DMM
    "normals": 3,     # camera-space normals
    "uv": 2,          # UV coordinates of the visible surface
    "mask_face": 1,   # pixels covered by the face mesh
    "mask_mouth": 1,  # mouth interior (between the inner lips)
    "mask_teeth": 1,  # teeth geometry
    "warped": 3,      # source photo warped to the target pose/expression
}


@dataclass(frozen=True)
class RefinerConfig:
    """Network sizes and training hyper-parameters (JSON round-trippable)."""

    resolution: int = 64
    base_channels: int = 32          # channels at full resolution; doubles per level down
    max_channels: int = 128
    bottom: int = 8                  # spatial size of the deepest U-Net level
    style_dim: int = 64              # width of the appearance code w
    mapping_layers: int = 2          # MLP after the appearance encoder
    cond_channels: dict = field(default_factory=lambda: dict(FULL_COND))
    residual_from: str = "render"    # the decoder adds its output to this condition (or "")
    upscale: int = 1                 # 2: super-resolution, conditions at resolution/2
    crop_scale: float = 0.0          # framing trained on: crop side / face-box side as in
                                     # render.frames.video_crop (0: whatever frame it is given)
    use_noise: bool = True
    d_base_channels: int = 32
    d_max_channels: int = 128
    d_cond: bool = True              # discriminator sees the conditioning stack too
    mbstd_group: int = 4             # minibatch-stddev group size
    # training
    batch_size: int = 4
    lr_g: float = 0.005              # above StyleGAN2's 0.002: per-subject runs are short
    lr_d: float = 0.002
    betas: tuple = (0.5, 0.99)       # beta1 0.5 (StyleGAN2: 0) steadies the L1 part
    w_l1: float = 1.0
    w_mouth: float = 4.0             # extra L1 weight inside the mouth mask (1 + w_mouth)
    w_face: float = 1.0              # extra L1 weight inside the face mask (1 + w_face)
    w_fm: float = 1.0                # discriminator feature matching
    w_adv: float = 0.05
    adv_start: int = 0               # generator step at which the GAN losses switch on
    r1_gamma: float = 1.0
    r1_interval: int = 16            # lazy R1 (StyleGAN2: every 16 minibatches)
    ema_halflife_images: float = 2000.0
    ema_rampup: float = 0.05         # StyleGAN2-ADA: half-life at most 5 % of images seen
    sample_every: int = 200
    checkpoint_every: int = 500
    log_every: int = 10
    seed: int = 0

    # -- presets ------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, **overrides) -> "RefinerConfig":
        """``tiny`` | ``128`` | ``256`` | ``512`` | ``sr512``; ``overrides`` replace single fields."""
        presets = {
            "tiny": dict(resolution=64, base_channels=16, max_channels=64, bottom=8, style_dim=32,
                         d_base_channels=16, d_max_channels=64, batch_size=4),
            # 16 channels at full resolution keep a per-subject run trainable on a CPU
            "128": dict(resolution=128, base_channels=16, max_channels=128, bottom=8, style_dim=64,
                        d_base_channels=16, d_max_channels=128, batch_size=4),
            "256": dict(resolution=256, base_channels=16, max_channels=256, bottom=8, style_dim=128,
                        d_base_channels=16, d_max_channels=256, batch_size=4),
            # super-resolution: a 256 face crop (render + conditions) refined to 512
            "sr512": dict(resolution=512, upscale=2, base_channels=16, max_channels=512, bottom=8,
                          style_dim=256, d_base_channels=16, d_max_channels=512, batch_size=4),
            "512": dict(resolution=512, base_channels=32, max_channels=512, bottom=8, style_dim=256,
                        d_base_channels=32, d_max_channels=512, batch_size=8),
        }
        if name not in presets:
            raise InputError(f"unknown refiner config {name!r}; choose one of {', '.join(presets)}")
        return cls(**{**presets[name], **overrides}).validated()

    def validated(self) -> "RefinerConfig":
        """Return self after checking sizes; raises :class:`InputError`."""
        r, b = self.resolution, self.bottom
        if r < 16 or r & (r - 1) or b < 4 or b & (b - 1) or b >= r:
            raise InputError(f"refiner: resolution ({r}) and bottom ({b}) must be powers of two, "
                             "16 <= resolution, 4 <= bottom < resolution")
        if self.upscale not in (1, 2, 4):
            raise InputError(f"refiner: upscale must be 1, 2 or 4, got {self.upscale}")
        if not self.cond_channels:
            raise InputError("refiner: cond_channels is empty")
        if self.residual_from and self.cond_channels.get(self.residual_from) != 3:
            raise InputError(f"refiner: residual_from={self.residual_from!r} must name a 3-channel condition")
        return self

    # -- derived ------------------------------------------------------------------------
    @property
    def cond_resolution(self) -> int:
        """Size of the conditioning maps the generator takes (``resolution / upscale``)."""
        return self.resolution // self.upscale

    @property
    def cond_total(self) -> int:
        return int(sum(self.cond_channels.values()))

    @property
    def levels(self) -> int:
        """Number of 2x steps between full resolution and ``bottom``."""
        return (self.resolution // self.bottom).bit_length() - 1

    def channels_at(self, level: int, discriminator: bool = False) -> int:
        """Feature width at ``level`` (0 = full resolution)."""
        base = self.d_base_channels if discriminator else self.base_channels
        cap = self.d_max_channels if discriminator else self.max_channels
        return int(min(base * 2 ** level, cap))

    # -- (de)serialisation --------------------------------------------------------------
    def to_json(self) -> str:
        raw = asdict(self)
        # the stacking order of the conditions matters: keep it as an ordered list of pairs
        raw["cond_channels"] = [[k, int(v)] for k, v in self.cond_channels.items()]
        return json.dumps(raw)

    @classmethod
    def from_json(cls, text: str) -> "RefinerConfig":
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"refiner: config JSON is invalid: {exc}") from None
        known = {f.name for f in fields(cls)}
        raw = {k: v for k, v in raw.items() if k in known}  # tolerate fields from newer versions
        if isinstance(raw.get("cond_channels"), list):
            raw["cond_channels"] = {str(k): int(v) for k, v in raw["cond_channels"]}
        if "betas" in raw:
            raw["betas"] = tuple(raw["betas"])
        return cls(**raw).validated()

    def replace(self, **changes) -> "RefinerConfig":
        return replace(self, **changes).validated()
