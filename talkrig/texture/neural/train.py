"""Training the refiner: `RefinerTrainer` (one G/D step at a time, EMA, checkpoints) and
`train_refiner` (the time-boxed loop behind ``talkrig train-renderer``).

Per step (batch of conditioning maps, source photo, target frame):
  G: weighted L1 (face, mouth) + feature matching on D's blocks + non-saturating GAN loss
  D: logistic loss on real vs G's output, plus lazy R1 every ``r1_interval`` steps
  EMA of G with a half-life in images (ramped up early as StyleGAN2-ADA does).
Outputs in the run folder: ``last.safetensors`` (full state, for --resume),
``refiner.safetensors`` (EMA generator, for inference), ``log.jsonl``, ``samples/*.png``.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Dataset

from talkrig.errors import InputError
from talkrig.io.image import save_image
from talkrig.texture.neural import losses
from talkrig.texture.neural.checkpoint import load_checkpoint, save_checkpoint
from talkrig.texture.neural.config import RefinerConfig
from talkrig.texture.neural.data import (collate, from_signed, grid_image, resize,
                                         stack_conditions, to_signed)
from talkrig.texture.neural.networks import Discriminator, Generator


class RefinerTrainer:
    """Generator, discriminator, EMA generator and their optimisers, with step counters."""

    def __init__(self, cfg: RefinerConfig, device: str | torch.device = "cpu"):
        torch.manual_seed(cfg.seed)
        self.cfg, self.device = cfg, torch.device(device)
        self.G = Generator(cfg).to(self.device)
        self.D = Discriminator(cfg).to(self.device)
        self.G_ema = copy.deepcopy(self.G).eval().requires_grad_(False)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=cfg.lr_g, betas=tuple(cfg.betas))
        # Lazy regularisation: D's optimiser is rescaled so R1 every k steps matches the
        # every-step dynamics (StyleGAN2, appendix B: c = k / (k + 1)).
        c = cfg.r1_interval / (cfg.r1_interval + 1) if cfg.r1_interval > 0 else 1.0
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=cfg.lr_d * c,
                                      betas=(cfg.betas[0] ** c, cfg.betas[1] ** c))
        self.step = 0
        self.nimg = 0

    # -- one step -----------------------------------------------------------------------
    def _prepare(self, batch: dict[str, Tensor]) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Batch dict -> (cond, source, target, L1 weight) on the device, in [-1, 1]. For
        super-resolution the conditions are shrunk to ``cfg.cond_resolution``."""
        b = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
        cond = stack_conditions(b, self.cfg)
        if self.cfg.upscale > 1:
            cond = resize(cond, self.cfg.cond_resolution)
        src, tgt = to_signed("source", b["source"]), to_signed("target", b["target"])
        face = b["loss_face"] if "loss_face" in b else b.get("mask_face")
        mouth = b["loss_mouth"] if "loss_mouth" in b else b.get("mask_mouth")
        w = losses.loss_weights(tgt.shape, face, mouth,
                                self.cfg.w_face, self.cfg.w_mouth).to(self.device)
        return cond, src, tgt, w

    def train_step(self, batch: dict[str, Tensor]) -> dict[str, float]:
        """One generator and one discriminator update; returns the losses as floats."""
        cfg = self.cfg
        cond, src, tgt, weight = self._prepare(batch)
        gan_on = self.step >= cfg.adv_start and (cfg.w_adv > 0 or cfg.w_fm > 0)
        log: dict[str, float] = {}

        # generator
        self.G.train()
        self.D.requires_grad_(False)
        fake = self.G(cond, src)
        l1 = losses.weighted_l1(fake, tgt, weight)
        loss_g = cfg.w_l1 * l1
        log["g_l1"] = l1.item()
        if gan_on:
            cond_d = self._full(cond)
            logits_fake, feats_fake = self.D(fake, cond_d)
            with torch.no_grad():
                _, feats_real = self.D(tgt, cond_d)
            fm = losses.feature_matching(feats_fake, feats_real)
            adv = losses.g_nonsaturating(logits_fake)
            loss_g = loss_g + cfg.w_fm * fm + cfg.w_adv * adv
            log["g_fm"], log["g_adv"] = fm.item(), adv.item()
        self.opt_G.zero_grad(set_to_none=True)
        loss_g.backward()
        self.opt_G.step()

        # discriminator
        if gan_on:
            self.D.requires_grad_(True)
            do_r1 = cfg.r1_interval > 0 and cfg.r1_gamma > 0 and self.step % cfg.r1_interval == 0
            real = tgt.detach().requires_grad_(do_r1)
            logits_real, _ = self.D(real, cond_d)
            logits_fake, _ = self.D(fake.detach(), cond_d)
            loss_d = losses.d_logistic(logits_real, logits_fake)
            log["d"] = loss_d.item()
            if do_r1:
                r1 = losses.r1_penalty(logits_real, real)
                loss_d = loss_d + 0.5 * cfg.r1_gamma * cfg.r1_interval * r1
                log["r1"] = r1.item()
            self.opt_D.zero_grad(set_to_none=True)
            loss_d.backward()
            self.opt_D.step()

        self.step += 1
        self.nimg += cond.shape[0]
        self.update_ema(cond.shape[0])
        return log

    def _full(self, cond: Tensor) -> Tensor:
        """Conditions at the output resolution (upsampled for super-resolution)."""
        r = self.cfg.resolution
        if cond.shape[-1] == r:
            return cond
        return torch.nn.functional.interpolate(cond, size=(r, r), mode="bilinear", align_corners=False)

    @torch.no_grad()
    def update_ema(self, batch: int) -> None:
        """EMA of G's weights; half-life ``ema_halflife_images`` capped at ``rampup * nimg``."""
        half = self.cfg.ema_halflife_images
        if self.cfg.ema_rampup > 0:
            half = min(half, self.nimg * self.cfg.ema_rampup)
        beta = 0.5 ** (batch / max(half, 1e-8))
        for p_ema, p in zip(self.G_ema.parameters(), self.G.parameters()):
            p_ema.lerp_(p.detach(), 1.0 - beta)
        for b_ema, b in zip(self.G_ema.buffers(), self.G.buffers()):
            b_ema.copy_(b)

    @torch.no_grad()
    def predict(self, batch: dict[str, Tensor], ema: bool = True, seed: int = 0) -> Tensor:
        """Refined frames ``(B, 3, R, R)`` in [0, 1] with fixed noise (``seed``)."""
        net = self.G_ema if ema else self.G
        cond, src, _, _ = self._prepare({**batch, "target": batch.get("target", batch["source"])})
        noise = net.make_noise(1, torch.Generator().manual_seed(seed), self.device)
        return from_signed(net(cond, src, [n.expand(cond.shape[0], -1, -1, -1) for n in noise])).cpu()

    # -- persistence --------------------------------------------------------------------
    def train_state(self) -> dict:
        return {"step": self.step, "nimg": self.nimg}

    def save(self, path: str | Path) -> Path:
        """Full training state (G, G_ema, D, both optimisers, counters)."""
        return save_checkpoint(path, self.cfg, {"G": self.G, "G_ema": self.G_ema, "D": self.D},
                               {"opt_G": self.opt_G, "opt_D": self.opt_D}, self.train_state())

    def export(self, path: str | Path) -> Path:
        """Inference checkpoint: the EMA generator and the config only."""
        return save_checkpoint(path, self.cfg, {"G_ema": self.G_ema}, None, self.train_state())

    @classmethod
    def resume(cls, path: str | Path, device: str | torch.device = "cpu") -> "RefinerTrainer":
        """Rebuild a trainer from a full checkpoint; training continues at its step."""
        ck = load_checkpoint(path)
        if "opt_G.meta" not in ck.meta:
            raise InputError(f"{path} is an inference export without optimiser state; "
                             "resume from last.safetensors or fine-tune with --init")
        tr = cls(ck.config, device)
        ck.restore_module("G", tr.G)
        ck.restore_module("G_ema", tr.G_ema)
        ck.restore_module("D", tr.D)
        ck.restore_optimizer("opt_G", tr.opt_G)
        ck.restore_optimizer("opt_D", tr.opt_D)
        tr.step = int(ck.train_state.get("step", 0))
        tr.nimg = int(ck.train_state.get("nimg", 0))
        return tr


def infinite_batches(data: Dataset, batch_size: int, seed: int = 0) -> Iterator[dict[str, Tensor]]:
    """Shuffled batches from a map-style dataset, forever (reshuffled every epoch)."""
    n = len(data)
    if n == 0:
        raise InputError("refiner: the training data is empty")
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(data, batch_size=min(batch_size, n), shuffle=True, drop_last=True,
                        collate_fn=collate, generator=g, num_workers=0)
    while True:
        yield from loader


def sample_grid(trainer: RefinerTrainer, batch: dict[str, Tensor]) -> np.ndarray:
    """Rows: classical render (or first condition), refined (EMA), target."""
    first = trainer.cfg.residual_from or next(iter(trainer.cfg.cond_channels))
    rows = [batch[first][:, :3].clamp(0, 1), trainer.predict(batch)]
    if "target" in batch:
        rows.append(batch["target"])
    return grid_image(rows)


def train_refiner(data: Dataset, out_dir: str | Path, cfg: RefinerConfig | None = None, *,
                  minutes: float | None = None, max_steps: int | None = None, resume: bool = False,
                  init_from: str | Path | None = None, device: str | None = None,
                  on_log: Callable[[dict], None] | None = None) -> RefinerTrainer:
    """Train until ``minutes`` of wall time or ``max_steps`` total steps, whichever first.

    ``resume`` continues ``out_dir/last.safetensors`` (its config wins); ``init_from`` starts
    from another run's weights (per-subject fine-tuning) with a fresh step count. Writes
    checkpoints, ``log.jsonl`` and sample grids into ``out_dir``; returns the trainer.
    """
    if minutes is None and max_steps is None:
        raise InputError("train-renderer: give a time budget (--minutes) or a step count")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    last = out / "last.safetensors"
    if resume and last.is_file():
        trainer = RefinerTrainer.resume(last, device)
    else:
        if resume:
            raise InputError(f"--resume: no checkpoint to resume in {out}")
        trainer = RefinerTrainer(cfg or RefinerConfig.preset("tiny"), device)
        if init_from is not None:
            ck = load_checkpoint(init_from)
            src = "G" if ck.has("G") else "G_ema"
            ck.restore_module(src, trainer.G)
            ck.restore_module("G_ema" if ck.has("G_ema") else src, trainer.G_ema)
            if ck.has("D"):
                ck.restore_module("D", trainer.D)
    cfg = trainer.cfg
    batches = infinite_batches(data, cfg.batch_size, seed=cfg.seed + trainer.step)
    fixed = collate([data[i] for i in np.linspace(0, len(data) - 1, min(8, len(data))).astype(int)])
    t0 = time.monotonic()
    deadline = t0 + minutes * 60 if minutes is not None else None
    acc: dict[str, list[float]] = {}
    with open(out / "log.jsonl", "a") as log_fh:
        while True:
            if max_steps is not None and trainer.step >= max_steps:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            for k, v in trainer.train_step(next(batches)).items():
                acc.setdefault(k, []).append(v)
            s = trainer.step
            if s % cfg.log_every == 0:
                rec = {"step": s, "nimg": trainer.nimg, "time_s": round(time.monotonic() - t0, 2),
                       **{k: float(np.mean(v)) for k, v in acc.items()}}
                acc = {}
                log_fh.write(json.dumps(rec) + "\n")
                log_fh.flush()
                if on_log:
                    on_log(rec)
            if s % cfg.sample_every == 0:
                save_image(out / "samples" / f"step_{s:07d}.png", sample_grid(trainer, fixed))
            if s % cfg.checkpoint_every == 0:
                trainer.save(last)
    trainer.save(last)
    trainer.export(out / "refiner.safetensors")
    save_image(out / "samples" / f"step_{trainer.step:07d}.png", sample_grid(trainer, fixed))
    return trainer
