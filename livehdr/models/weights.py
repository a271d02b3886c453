"""Weights as safetensors (no pickle anywhere) and the JSON model card beside them.

A weights file carries its architecture in the safetensors metadata (``arch`` and ``config`` as JSON
strings), so ``load_model(path)`` rebuilds the right network without any side file. Training checkpoints
add the optimizer state (flattened into tensors) and the step counters in the same way.
"""
from __future__ import annotations

import json
import os

import torch

from livehdr.base.errors import UserError
from livehdr.base.files import atomic_output
from livehdr.base.resources import resource_dir



MODELS_DIR = resource_dir("models")  # the shipped weights (tests point it elsewhere)


def shipped_path(name: str, ext: str = ".safetensors") -> str:
    return os.path.join(MODELS_DIR, name + ext)


def card_path(weights_path: str) -> str:
    return os.path.splitext(weights_path)[0] + ".json"


def save_model(path: str, model, arch: str, extra: dict | None = None) -> None:
    """State dict (contiguous float tensors) + architecture metadata, written atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    meta = {"format": "pt", "arch": arch, "config": json.dumps(model.config)}
    for k, v in (extra or {}).items():
        meta[k] = json.dumps(v)
    with atomic_output(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def read_metadata(path: str) -> dict:
    from safetensors import safe_open

    with safe_open(path, framework="pt") as f:
        return dict(f.metadata() or {})


def load_tensors(path: str) -> tuple[dict, dict]:
    """(tensors, metadata) or UserError with one line."""
    from safetensors import safe_open

    if not os.path.isfile(path):
        raise UserError(f"weights not found: {path}")
    try:
        with safe_open(path, framework="pt") as f:
            meta = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own error types for truncated/garbled files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"cannot read weights {path}: {first}") from None
    return tensors, meta


def load_model(path: str, expect_arch: str | None = None):
    """Rebuild the architecture named in the metadata and load the weights strictly (UserError if not)."""
    from livehdr.models.registry import create_model

    tensors, meta = load_tensors(path)
    arch = meta.get("arch")
    if arch is None or "config" not in meta:
        raise UserError(f"{path}: not a livehdr weights file (no architecture metadata)")
    if expect_arch is not None and arch != expect_arch:
        raise UserError(f"{path}: holds a {arch!r} model, not {expect_arch!r}")
    try:
        config = json.loads(meta["config"])
        model = create_model(arch, **config)
        model.load_state_dict(tensors, strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path}: weights do not fit the {arch!r} architecture ({first[:160]})") from None
    model.eval()
    return model


# --------------------------------------------------------------------------------------------------------
# Training checkpoints: model + optimizer state, all tensors, no pickle
# --------------------------------------------------------------------------------------------------------
def save_checkpoint(path: str, model, optimizer, arch: str, counters: dict) -> None:
    from safetensors.torch import save_file

    tensors = {"model." + k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    state = optimizer.state_dict()
    scalars = {}
    for pid, st in state["state"].items():
        for k, v in st.items():
            if torch.is_tensor(v):
                tensors[f"optim.{pid}.{k}"] = v.detach().cpu().contiguous()
            else:
                scalars[f"{pid}.{k}"] = v
    meta = {
        "format": "pt", "arch": arch, "config": json.dumps(model.config),
        "param_groups": json.dumps(state["param_groups"]), "optim_scalars": json.dumps(scalars),
        "counters": json.dumps(counters),
    }
    with atomic_output(path) as tmp:
        save_file(tensors, tmp, metadata=meta)


def load_checkpoint(path: str, model, optimizer) -> dict:
    """Restore model and optimizer in place; returns the counters (epoch, step, best...)."""
    tensors, meta = load_tensors(path)
    if "counters" not in meta:
        raise UserError(f"{path}: not a training checkpoint")
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")}, strict=True)
    except RuntimeError as e:
        first = (str(e).strip().splitlines() or ["mismatch"])[0]
        raise UserError(f"{path}: checkpoint does not fit this model ({first[:160]}); use the same --width") from None
    state: dict = {"state": {}, "param_groups": json.loads(meta["param_groups"])}
    for k, v in tensors.items():
        if k.startswith("optim."):
            _, pid, name = k.split(".", 2)
            state["state"].setdefault(int(pid), {})[name] = v
    for k, v in json.loads(meta.get("optim_scalars", "{}")).items():
        pid, name = k.split(".", 1)
        state["state"].setdefault(int(pid), {})[name] = v
    optimizer.load_state_dict(state)
    return json.loads(meta["counters"])


# --------------------------------------------------------------------------------------------------------
# Model card
# --------------------------------------------------------------------------------------------------------
def write_card(path: str, card: dict) -> None:
    with atomic_output(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(card, f, indent=2, sort_keys=False)
            f.write("\n")


def read_card(path: str) -> dict | None:
    """The card as a dict, or None when missing or unreadable (a card never blocks using the weights)."""
    try:
        with open(path) as f:
            card = json.load(f)
    except (OSError, ValueError):
        return None
    return card if isinstance(card, dict) else None
