"""A learned alternative to the rule-based curves: audio + emotion -> expression and pose.

Model (:class:`SpeechToFace`): log-mel features at 100 Hz -> two dilated 1-D convolutions ->
bidirectional GRU -> resampled to the video frame times -> concatenated with the per-frame
emotion weights (8 MEAD categories x intensity) -> linear heads for the 52 ARKit weights
(sigmoid) and 3 rotation angles (tanh, radians up to ``max_angle``).

Training (:func:`train`) takes :class:`Example`\\ s (audio, per-frame emotion weights, target
curves). Targets can come from any source: prepared video datasets (ARKit scores and head
pose per frame) or, to bootstrap, the rule-based animator (:func:`examples_from_rules`).
Checkpoints are ``.safetensors`` with the configuration in the metadata.

Blinks and gaze stay procedural (seeded statistics, :mod:`talkrig.animate.head`) whatever the
engine: they are not driven by speech.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from talkrig.animate.emotion import EMOTIONS, parse_schedule
from talkrig.model.arkit import ARKIT_52

_PROCEDURAL = [i for i, n in enumerate(ARKIT_52) if n.startswith(("eyeBlink", "eyeLook"))]


@dataclass
class PredictorConfig:
    n_mels: int = 40
    hidden: int = 64
    max_angle: float = 0.35  # radians
    sample_rate: int = 16000


def log_mel(audio: np.ndarray | Tensor, n_mels: int = 40, sample_rate: int = 16000) -> Tensor:
    """``(F, n_mels)`` float32 log-mel energies, 25 ms windows every 10 ms (100 Hz)."""
    x = torch.as_tensor(np.asarray(audio, np.float32))
    win, hop, n_fft = int(0.025 * sample_rate), int(0.01 * sample_rate), 512
    spec = torch.stft(x, n_fft, hop_length=hop, win_length=win, window=torch.hann_window(win),
                      center=True, return_complex=True).abs() ** 2  # (n_fft/2+1, F)
    fb = _mel_filterbank(n_mels, n_fft, sample_rate)  # (n_mels, n_fft/2+1)
    return torch.log(fb @ spec + 1e-6).T.contiguous()


def _mel_filterbank(n_mels: int, n_fft: int, sr: int) -> Tensor:
    """Triangular filters equally spaced on the mel scale (HTK formula), 20 Hz .. sr/2."""
    mel = lambda f: 2595.0 * np.log10(1.0 + f / 700.0)  # noqa: E731
    inv = lambda m: 700.0 * (10 ** (m / 2595.0) - 1.0)  # noqa: E731
    pts = inv(np.linspace(mel(20.0), mel(sr / 2), n_mels + 2))
    bins = np.fft.rfftfreq(n_fft, 1.0 / sr)
    fb = np.zeros((n_mels, len(bins)), np.float32)
    for m in range(n_mels):
        lo, c, hi = pts[m], pts[m + 1], pts[m + 2]
        fb[m] = np.clip(np.minimum((bins - lo) / (c - lo), (hi - bins) / (hi - c)), 0, None)
    return torch.from_numpy(fb)


def emotion_weights(schedule_text: str, n_frames: int, fps: float, intensity: float = 1.0) -> Tensor:
    """``(T, 8)`` per-frame weight of each MEAD emotion (intensity-scaled), from a schedule."""
    sched = parse_schedule(schedule_text, intensity)
    t = np.arange(n_frames) / fps
    out = np.zeros((n_frames, len(EMOTIONS)), np.float32)
    for k, (start, mix) in enumerate(sched):
        end = sched[k + 1][0] if k + 1 < len(sched) else np.inf
        m = (t >= start) & (t < end)
        for name, w in mix.parts:
            out[m, EMOTIONS.index(name)] += w
    return torch.from_numpy(out)


class SpeechToFace(nn.Module):
    def __init__(self, cfg: PredictorConfig | None = None):
        super().__init__()
        self.cfg = cfg or PredictorConfig()
        c = self.cfg
        self.conv = nn.Sequential(
            nn.Conv1d(c.n_mels, c.hidden, 5, padding=2), nn.GELU(),
            nn.Conv1d(c.hidden, c.hidden, 5, padding=4, dilation=2), nn.GELU())
        self.gru = nn.GRU(c.hidden, c.hidden, batch_first=True, bidirectional=True)
        self.mix = nn.Sequential(nn.Linear(2 * c.hidden + len(EMOTIONS), c.hidden), nn.GELU())
        self.expr = nn.Linear(c.hidden, len(ARKIT_52))
        self.pose = nn.Linear(c.hidden, 3)

    def forward(self, mel: Tensor, emotion: Tensor, n_frames: int) -> tuple[Tensor, Tensor]:
        """
        Args:
            mel: ``(B, F, n_mels)`` log-mel at 100 Hz.
            emotion: ``(B, T, 8)`` per-frame emotion weights.
            n_frames: ``T``, video frames covering the same time span.
        Returns:
            expression ``(B, T, 52)`` in [0, 1] and rotation ``(B, T, 3)`` radians.
        """
        # per-utterance, per-band normalisation keeps the loudness contour (the jaw needs it)
        mel = (mel - mel.mean(1, keepdim=True)) / (mel.std(1, keepdim=True) + 1e-3)
        h = self.conv(mel.transpose(1, 2))  # (B, H, F)
        h = nn.functional.interpolate(h, size=n_frames, mode="linear", align_corners=False)
        h, _ = self.gru(h.transpose(1, 2))  # (B, T, 2H)
        h = self.mix(torch.cat([h, emotion], -1))
        return torch.sigmoid(self.expr(h)), torch.tanh(self.pose(h)) * self.cfg.max_angle


@dataclass
class Example:
    """One training clip: 16 kHz audio, fps, per-frame emotion ``(T, 8)`` and targets
    ``expression (T, 52)``, ``rotation (T, 3)``."""

    audio: np.ndarray
    fps: float
    emotion: Tensor
    expression: Tensor
    rotation: Tensor


def examples_from_rules(texts: list[str], emotions: list[str], fps: float = 25.0,
                        seed: int = 0) -> list[Example]:
    """Bootstrap targets: animate each (text, emotion) with the rule-based path."""
    from talkrig.animate import animate

    out = []
    for i, text in enumerate(texts):
        emo = emotions[i % len(emotions)]
        a = animate(text, emotion=emo, fps=fps, seed=seed + i)
        out.append(Example(a.audio, fps, emotion_weights(emo, a.n_frames, fps),
                           torch.from_numpy(a.expression), torch.from_numpy(a.rotation)))
    return out


def train(examples: list[Example], steps: int = 200, lr: float = 3e-3, seed: int = 0,
          cfg: PredictorConfig | None = None, log_every: int = 0) -> tuple[SpeechToFace, list[float]]:
    """Fit a :class:`SpeechToFace` (one clip per step, cycling). Returns the model and the
    per-step losses (squared error on expression, mouth channels x4, + on rotation; blink/gaze
    channels excluded: they are procedural)."""
    torch.manual_seed(seed)
    model = SpeechToFace(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    feats = [log_mel(e.audio, model.cfg.n_mels)[None] for e in examples]
    weight = torch.tensor([0.0 if i in _PROCEDURAL else (4.0 if n.startswith(("jaw", "mouth")) else 1.0)
                           for i, n in enumerate(ARKIT_52)])
    losses = []
    model.train()
    for step in range(steps):
        k = step % len(examples)
        ex = examples[k]
        t = ex.expression.shape[0]
        expr, rot = model(feats[k], ex.emotion[None], t)
        loss = ((expr[0] - ex.expression) ** 2 * weight).mean() + ((rot[0] - ex.rotation) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if log_every and step % log_every == 0:
            print(f"step {step:5d}  loss {np.mean(losses[-log_every:]):.4f}")
    model.eval()
    return model, losses


def save_checkpoint(model: SpeechToFace, path: str | Path) -> None:
    from talkrig.io.weights import save_module

    save_module(path, model, "speech_to_face", asdict(model.cfg))


def load_checkpoint(path: str | Path) -> SpeechToFace:
    from talkrig.io.weights import read_module

    state, config = read_module(path, "speech_to_face", "speech-to-face checkpoint")
    model = SpeechToFace(PredictorConfig(**config))
    model.load_state_dict(state)
    model.eval()
    return model


def predict(model: SpeechToFace, audio: np.ndarray, emotion: Tensor, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """``(T, 52)`` expression and ``(T, 3)`` rotation for one clip."""
    with torch.no_grad():
        e, r = model(log_mel(audio, model.cfg.n_mels)[None], emotion[None], n_frames)
    return e[0].numpy(), r[0].numpy()


def apply_predictor(anim, checkpoint: str | Path):
    """Replace a rule-based :class:`Animation`'s speech/emotion channels and head rotation with
    the learned model's prediction (blinks and gaze stay procedural)."""
    from dataclasses import replace

    from talkrig.animate.head import neck_translation

    model = load_checkpoint(checkpoint)
    emo = emotion_weights(anim.metadata.get("emotion_spec", "neutral"), anim.n_frames, anim.fps,
                          float(anim.metadata.get("intensity", 1.0)))
    expr, rot = predict(model, anim.audio, emo, anim.n_frames)
    expr[:, _PROCEDURAL] = anim.expression[:, _PROCEDURAL]
    if anim.metadata.get("pose") == "still":
        rot = np.zeros_like(rot)
    rot = rot - rot[:1]
    meta = dict(anim.metadata, engine="learned", checkpoint=str(checkpoint))
    return replace(anim, expression=expr.astype(np.float32), rotation=rot.astype(np.float32),
                   translation=neck_translation(rot).astype(np.float32), metadata=meta)
