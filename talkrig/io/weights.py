"""Reading user-supplied torch checkpoints (never downloaded): one error style for all."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from talkrig.errors import InputError, ModelNotFoundError


def read_state_dict(path: str | Path, what: str, key: str | None = None) -> dict:
    """The state dict in a ``torch.save`` file, read with ``weights_only=True``.

    Args:
        path: the checkpoint.
        what: a short name for messages ("SyncNet weights").
        key: if the file holds a dict with this entry (``"net_recon"``), that entry is used.
    Raises:
        ModelNotFoundError / InputError with a one-line message.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{what} not found: {path}")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
        raise InputError(f"cannot read {what} {path}: {type(exc).__name__}") from None
    if key is not None and isinstance(obj, dict) and key in obj:
        obj = obj[key]
    if not isinstance(obj, dict):
        raise InputError(f"{path} does not hold a state dict for {what}")
    return obj


def load_into(net: nn.Module, state: dict, path: str | Path, what: str,
              ignore_missing: tuple[str, ...] = ("num_batches_tracked",),
              ignore_unexpected: tuple[str, ...] = ()) -> nn.Module:
    """``net.load_state_dict(state)`` with one-line errors on shape or key mismatches; keys
    ending in ``ignore_missing`` / starting with ``ignore_unexpected`` are tolerated.
    Returns ``net`` in eval mode."""
    try:
        missing, unexpected = net.load_state_dict(state, strict=False)
    except RuntimeError:  # shape mismatches
        raise InputError(f"{path} does not match the {what} network (tensor shapes differ)") from None
    missing = [k for k in missing if not k.endswith(ignore_missing)]
    unexpected = [k for k in unexpected if not k.startswith(ignore_unexpected)] if ignore_unexpected else unexpected
    if missing or unexpected:
        raise InputError(f"{path} does not match the {what} network "
                         f"({len(missing)} missing, {len(unexpected)} unexpected tensors)")
    return net.eval()


def save_module(path: str | Path, module: nn.Module, kind: str, config: dict) -> None:
    """Write ``module``'s state dict as safetensors, atomically, with ``{"kind", "config"}``
    (JSON) in the metadata entry ``talkrig``; read back with :func:`read_module`."""
    import json

    from safetensors.torch import save_file

    from talkrig.io.files import atomic_path

    tensors = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"talkrig": json.dumps({"kind": kind, "config": config})})


def read_module(path: str | Path, kind: str, what: str) -> tuple[dict, dict]:
    """``(state_dict, config)`` of a checkpoint written by :func:`save_module` with ``kind``.

    Raises:
        ModelNotFoundError / InputError (unreadable, or another kind) with a one-line message.
    """
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelNotFoundError(f"{what} not found: {path}")
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {}).get("talkrig", "{}"))
        state = load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        raise InputError(f"cannot read {what} {path}: {type(exc).__name__}") from None
    if not isinstance(meta, dict) or meta.get("kind") != kind or "config" not in meta:
        raise InputError(f"{path} is not a talkrig {what}")
    return state, meta["config"]
