"""`Animation`: facial motion over time plus the audio that drives it.

Data contract (other stages rely on it):
    fps           float, video frame rate; frame ``i`` shows time ``i / fps``
    expression    (T, 52) float32 ARKit-52 weights in ``ARKIT_52`` order, in [0, 1]
    rotation      (T, 3) float32 (pitch, yaw, roll) radians RELATIVE to the photo's pose
    translation   (T, 3) float32 offsets in model units (cm) relative to the photo's position
    tongue_tip    (T,) float32 in [0, 1], how far the tongue's tip is raised to the alveolar
                  ridge (/l t d n s/...; ARKit has no such shape); zeros when not given
    audio         (S,) float32 mono samples at ``sample_rate`` (16 kHz)
    phonemes      [(start_s, end_s, phoneme)], ARPAbet-style names without stress digits,
                  ``SIL`` for pauses
    words         [(start_s, end_s, word)]
    emotion       the emotion schedule as text (e.g. ``"neutral@0,happy:0.8@1.5"``)
    metadata      JSON-serialisable dict (source, seed, pose style, engine, ...);
                  ``one_sided``: ``"right"``/``"left"`` when the emotion acts on one side of the
                  face (contempt): that side is mirrored onto the other where a photo turns it
                  away from the camera (:meth:`Animation.to_coefficients`)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from talkrig.errors import InputError
from talkrig.model.arkit import ARKIT_52, canonical_name

if TYPE_CHECKING:  # annotations only: torch loads when a method needs it
    import torch

_ARRAYS = ("expression", "rotation", "translation", "audio", "tongue_tip")


def _arkit_for(name: str) -> str | None:
    """ARKit channel driving a model's expression: its canonical name, or for split halves of
    a symmetric ARKit shape (ICT's ``browInnerUp_L``/``_R``, ``cheekPuff_L``) the whole shape."""
    c = canonical_name(name)
    if c is None and name[-2:] in ("_L", "_R", "_l", "_r"):
        c = canonical_name(name[:-2])
    return c


#: Beyond this head yaw (degrees) in the photo, one side of the face is turned away from the
#: camera (eos-0010 at -30 degrees shows its right mouth corner at a quarter of the left's width).
FAR_SIDE_YAW = 10.0
#: Left and right channels of each pair that mirrors; gaze keeps its own direction.
_LEFT = [i for i, n in enumerate(ARKIT_52) if n.endswith("Left") and not n.startswith("eyeLook")]
_RIGHT = [ARKIT_52.index(ARKIT_52[i][:-4] + "Right") for i in _LEFT]


def mirror_sides(weights: np.ndarray) -> np.ndarray:
    """``(..., 52)`` ARKit weights with every Left/Right pair swapped (gaze kept)."""
    out = np.array(weights, copy=True)
    out[..., _LEFT], out[..., _RIGHT] = weights[..., _RIGHT], weights[..., _LEFT]
    return out


def one_sided(weights: np.ndarray, tol: float = 0.05) -> str | None:
    """``"right"`` / ``"left"``: the side ``(..., 52)`` weights favour by more than ``tol`` on
    some pair at some frame (a one-sided action such as contempt's); None when symmetric."""
    w = np.asarray(weights, np.float32).reshape(-1, len(ARKIT_52))
    d = w[:, _RIGHT] - w[:, _LEFT]
    right, left = float(d.max(initial=0.0)), float(-d.min(initial=0.0))  # 0 frames: symmetric
    if max(right, left) <= tol:
        return None
    return "right" if right >= left else "left"


def far_side(base) -> str | None:
    """The side of the face that ``base`` coefficients (a photo's fit) turn away from the
    camera: ``"right"`` (the subject's right) when its mean yaw is below -:data:`FAR_SIDE_YAW`
    degrees, ``"left"`` above +, None for a face that is near frontal."""
    yaw = float(base.rotation[:, 1].detach().float().mean().cpu()) * 180.0 / np.pi
    return "right" if yaw < -FAR_SIDE_YAW else "left" if yaw > FAR_SIDE_YAW else None


@dataclass
class Animation:
    fps: float
    expression: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray
    audio: np.ndarray
    sample_rate: int = 16000
    phonemes: list = field(default_factory=list)
    words: list = field(default_factory=list)
    emotion: str = "neutral"
    metadata: dict = field(default_factory=dict)
    tongue_tip: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.tongue_tip is None:
            self.tongue_tip = np.zeros(len(np.asarray(self.expression)), np.float32)
        self.fps = float(self.fps)
        self.sample_rate = int(self.sample_rate)
        for name in _ARRAYS:
            setattr(self, name, np.ascontiguousarray(np.asarray(getattr(self, name), dtype=np.float32)))
        self.phonemes = [(float(a), float(b), str(p)) for a, b, p in self.phonemes]
        self.words = [(float(a), float(b), str(w)) for a, b, w in self.words]
        self.validate()

    # -- checks -----------------------------------------------------------------------------
    def validate(self) -> None:
        """Raise :class:`InputError` on inconsistent shapes or non-finite values."""
        t = self.expression.shape[0] if self.expression.ndim == 2 else -1
        if self.expression.ndim != 2 or self.expression.shape[1] != len(ARKIT_52):
            raise InputError(f"animation: expression must be (T, 52), got {self.expression.shape}")
        for name in ("rotation", "translation"):
            a = getattr(self, name)
            if a.shape != (t, 3):
                raise InputError(f"animation: {name} must be ({t}, 3), got {a.shape}")
        if self.tongue_tip.shape != (t,):
            raise InputError(f"animation: tongue_tip must be ({t},), got {self.tongue_tip.shape}")
        if self.audio.ndim != 1:
            raise InputError(f"animation: audio must be mono (S,), got {self.audio.shape}")
        if not self.fps > 0:
            raise InputError(f"animation: fps must be positive, got {self.fps}")
        for name in _ARRAYS:
            if not np.isfinite(getattr(self, name)).all():
                raise InputError(f"animation: {name} contains NaN or infinite values")

    @property
    def n_frames(self) -> int:
        return int(self.expression.shape[0])

    @property
    def duration(self) -> float:
        """Seconds covered by the frames (``n_frames / fps``)."""
        return self.n_frames / self.fps

    @property
    def times(self) -> np.ndarray:
        """``(T,)`` float64 time of each frame in seconds."""
        return np.arange(self.n_frames) / self.fps

    def channel(self, name: str) -> np.ndarray:
        """``(T,)`` curve of one ARKit expression channel."""
        return self.expression[:, ARKIT_52.index(name)]

    # -- model coefficients -------------------------------------------------------------------
    def to_coefficients(self, model, base, calibrate_lids: bool = True):
        """Per-frame :class:`~talkrig.model.Coefficients` for ``model`` starting from ``base``.

        Args:
            model: a :class:`~talkrig.model.MorphableModel`. ARKit-named expressions receive the
                weights by name; other models need an ARKit mapping (``talkrig.animate.transfer``).
            base: ``Coefficients`` with ``T == 1`` (the photo's reconstruction) or ``T`` frames.
        Returns:
            ``Coefficients`` with ``T = n_frames``: identity/albedo/lighting/focal from ``base``,
            expression = base expression + mapped weights, rotation composed as
            ``R_anim @ R_base`` (head moves about its own frame), translation = base + offset.
            A one-sided emotion (``metadata["one_sided"]``) is mirrored when ``base`` turns
            that side away from the camera (:func:`far_side`).
            With ``calibrate_lids`` (default) the blink channels are read as lid closure and
            scaled to what closes this face's eyes in each frame (:mod:`talkrig.animate.lids`).
        """
        import torch

        from talkrig.model.coefficients import Coefficients
        from talkrig.model.rotation import euler_to_matrix, matrix_to_euler

        t = self.n_frames
        if base.frames == 1:
            base = base.repeat(t)
        elif base.frames != t:
            raise InputError(f"base coefficients have {base.frames} frames, animation has {t}")
        dev = base.rotation.device
        expression = self.expression
        side = self.metadata.get("one_sided")
        if side is not None and far_side(base) == side:  # show the one-sided action to the camera
            expression = mirror_sides(expression)
        weights = torch.from_numpy(expression).to(dev)
        delta = self._expression_for(model, weights)
        expression = base.expression + delta.to(base.expression.dtype)
        r_anim = euler_to_matrix(torch.from_numpy(self.rotation).to(dev))
        r_base = euler_to_matrix(base.rotation)
        rotation = matrix_to_euler(r_anim @ r_base)
        translation = base.translation + torch.from_numpy(self.translation).to(dev)
        tongue = base.tongue + torch.from_numpy(self.tongue_tip).to(dev)[:, None]
        out = Coefficients(identity=base.identity, expression=expression, albedo=base.albedo,
                           rotation=rotation, translation=translation, lighting=base.lighting,
                           focal=base.focal, tongue=tongue.clamp(0, 1))
        if calibrate_lids:
            from talkrig.animate.lids import calibrate_blinks

            out = calibrate_blinks(model, out)
        return out

    @staticmethod
    def _expression_for(model, weights: "torch.Tensor") -> "torch.Tensor":
        """Map ``(T, 52)`` ARKit weights onto ``model``'s expression space ``(T, E)``."""
        import torch

        names = list(model.exp_names)
        idx = [(i, ARKIT_52.index(c)) for i, n in enumerate(names) if (c := _arkit_for(n))]
        if idx:
            out = torch.zeros(weights.shape[0], len(names), dtype=weights.dtype, device=weights.device)
            dst = torch.tensor([i for i, _ in idx], device=weights.device)
            src = torch.tensor([j for _, j in idx], device=weights.device)
            out[:, dst] = weights[:, src]
            return out
        from talkrig.animate.transfer import arkit_mapping  # PCA models: cached transfer matrix

        mapping = arkit_mapping(model).to(weights.device)  # (52, E)
        return weights @ mapping

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> None:
        """Write an ``.npz`` of plain arrays (``allow_pickle=False`` loads it), atomically."""
        from talkrig.io.files import save_npz

        ph = self.phonemes
        wd = self.words
        arrays = {
            "fps": np.array(self.fps, dtype=np.float64),
            "sample_rate": np.array(self.sample_rate, dtype=np.int64),
            "expression": self.expression, "rotation": self.rotation,
            "translation": self.translation, "audio": self.audio, "tongue_tip": self.tongue_tip,
            "expression_names": np.array(ARKIT_52),
            "phoneme_times": np.array([(a, b) for a, b, _ in ph], dtype=np.float64).reshape(-1, 2),
            "phoneme_labels": np.array([p for _, _, p in ph], dtype=np.str_).reshape(-1),
            "word_times": np.array([(a, b) for a, b, _ in wd], dtype=np.float64).reshape(-1, 2),
            "word_labels": np.array([w for _, _, w in wd], dtype=np.str_).reshape(-1),
            "emotion": np.array(self.emotion),
            "metadata_json": np.array(json.dumps(self.metadata)),
        }
        save_npz(path, arrays)

    @classmethod
    def load(cls, path: str | Path) -> "Animation":
        from talkrig.io.files import load_npz

        path = Path(path)
        d = load_npz(path, "animation")
        missing = [k for k in ("fps", "expression", "rotation", "translation", "audio") if k not in d]
        if missing:
            raise InputError(f"{path} is not an animation file (missing {', '.join(missing)})")
        expression = d["expression"]
        if "expression_names" in d and tuple(d["expression_names"].tolist()) != ARKIT_52:
            raise InputError(f"{path}: expression channels are not in ARKit-52 order")
        pairs = lambda t, l: [(float(a), float(b), str(s)) for (a, b), s in zip(t, l)]  # noqa: E731
        return cls(fps=float(d["fps"]), expression=expression, rotation=d["rotation"],
                   translation=d["translation"], audio=d["audio"], tongue_tip=d.get("tongue_tip"),
                   sample_rate=int(d.get("sample_rate", 16000)),
                   phonemes=pairs(d.get("phoneme_times", np.zeros((0, 2))), d.get("phoneme_labels", [])),
                   words=pairs(d.get("word_times", np.zeros((0, 2))), d.get("word_labels", [])),
                   emotion=str(d.get("emotion", "neutral")),
                   metadata=json.loads(str(d.get("metadata_json", "{}"))))
