"""Refiner checkpoints as ``.safetensors``: model and optimiser tensors, the step counters and the
config JSON in the file's metadata, so one file resumes training exactly or serves inference.

Layout: tensors ``<module>.<param>`` for each module state dict (``G``, ``G_ema``, ``D``) and
``<opt>.state.<i>.<key>`` for optimiser state; metadata ``format``, ``config`` (RefinerConfig
JSON), ``train_state`` (JSON: step, images seen, …) and ``<opt>.meta`` (param groups and
non-tensor state as JSON). An inference export holds ``G_ema`` only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import Tensor, nn

from talkrig.errors import InputError, ModelNotFoundError
from talkrig.io.files import atomic_path
from talkrig.texture.neural.config import RefinerConfig

FORMAT = "talkrig-refiner/1"


@dataclass
class Checkpoint:
    """A loaded checkpoint: config, flat tensors and decoded metadata."""

    config: RefinerConfig
    tensors: dict[str, Tensor]
    train_state: dict = field(default_factory=dict)
    meta: dict[str, str] = field(default_factory=dict)

    def has(self, prefix: str) -> bool:
        return any(k.startswith(prefix + ".") for k in self.tensors)

    def module_state(self, prefix: str) -> dict[str, Tensor]:
        """The state dict saved under ``prefix``."""
        n = len(prefix) + 1
        return {k[n:]: v for k, v in self.tensors.items() if k.startswith(prefix + ".")}

    def restore_module(self, prefix: str, module: nn.Module) -> None:
        state = self.module_state(prefix)
        if not state:
            raise InputError(f"refiner checkpoint has no {prefix!r} weights")
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise InputError(f"refiner checkpoint does not fit the network ({prefix}): "
                             f"{str(exc).splitlines()[0]}") from None

    def restore_optimizer(self, prefix: str, opt: torch.optim.Optimizer) -> None:
        opt.load_state_dict(optimizer_state(self, prefix))


def optimizer_tensors(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], str]:
    """Flatten an optimiser's state dict into tensors and a JSON string of everything else."""
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for idx, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = val.detach().cpu().contiguous()
            else:
                scalars.setdefault(str(idx), {})[key] = val
    return tensors, json.dumps({"param_groups": sd["param_groups"], "scalars": scalars})


def optimizer_state(ckpt: Checkpoint, prefix: str) -> dict:
    """Rebuild an optimiser state dict saved by :func:`optimizer_tensors`."""
    meta = ckpt.meta.get(f"{prefix}.meta")
    if meta is None:
        raise InputError(f"refiner checkpoint has no optimiser state {prefix!r} (an inference export?)")
    meta = json.loads(meta)
    state: dict[int, dict] = {}
    n = len(prefix) + len(".state.")
    for k, v in ckpt.tensors.items():
        if k.startswith(prefix + ".state."):
            idx, key = k[n:].split(".", 1)
            state.setdefault(int(idx), {})[key] = v
    for idx, st in meta["scalars"].items():
        state.setdefault(int(idx), {}).update(st)
    groups = [{**g, "betas": tuple(g["betas"])} if "betas" in g else g for g in meta["param_groups"]]
    return {"state": state, "param_groups": groups}


def save_checkpoint(path: str | Path, cfg: RefinerConfig, modules: dict[str, nn.Module],
                    optimizers: dict[str, torch.optim.Optimizer] | None = None,
                    train_state: dict | None = None) -> Path:
    """Write modules (+ optimisers + counters) to ``path`` atomically; returns the path."""
    tensors: dict[str, Tensor] = {}
    meta = {"format": FORMAT, "config": cfg.to_json(), "train_state": json.dumps(train_state or {})}
    for name, mod in modules.items():
        for k, v in mod.state_dict().items():
            tensors[f"{name}.{k}"] = v.detach().cpu().contiguous().clone()
    for name, opt in (optimizers or {}).items():
        t, m = optimizer_tensors(name, opt)
        tensors.update(t)
        meta[f"{name}.meta"] = m
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors on the CPU)."""
    path = Path(path)
    if path.is_dir():
        for name in ("refiner.safetensors", "last.safetensors"):
            if (path / name).is_file():
                path = path / name
                break
    if not path.is_file():
        raise ModelNotFoundError(f"refiner checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = dict(f.metadata() or {})
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(f"not a readable safetensors checkpoint: {path} ({exc})") from None
    if meta.get("format") != FORMAT or "config" not in meta:
        raise InputError(f"{path} is not a talkrig refiner checkpoint")
    return Checkpoint(RefinerConfig.from_json(meta["config"]), tensors,
                      json.loads(meta.get("train_state", "{}")), meta)
