"""Weights as safetensors (no pickle anywhere) and the JSON model card beside them.

A weights file carries its architecture in the safetensors metadata (``arch`` and ``config`` as JSON
strings), so ``load_model(path)`` rebuilds the right network without any side file. Training checkpoints
add the optimizer state (flattened into tensors) and the step counters in the same way.
"""
from __future__ import annotations

import json
import os

import torch

from livehdr.base.errors import UserError, one_line
from livehdr.base.files import atomic_output
from livehdr.base.resources import resource_dir



MODELS_DIR = resource_dir("models")  # the shipped weights (tests point it elsewhere)


def shipped_path(name: str, ext: str = ".safetensors") -> str:
    return os.path.join(MODELS_DIR, name + ext)


def file_sha256(path: str) -> str:
    """The identity a card records for the weights it was made from (an int8 twin's base, a fine-tune's start)."""
    import hashlib

    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


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


# No livehdr model comes near this (the shipped MQNet: 0.34 M); a file asking for more is not one of ours.
MAX_PARAMETERS = 50_000_000


def load_model(path: str, expect_arch: str | None = None):
    """Rebuild the architecture named in the metadata and load the weights strictly (UserError if not).

    Nothing from the file is trusted before it is checked: the config against the architecture's declared
    bounds, the tensor names and shapes against a skeleton built on the meta device (no memory), every value
    for being finite, and finally one small forward pass for a finite, plausible output."""
    from livehdr.models.registry import create_model

    tensors, meta = load_tensors(path)
    arch = meta.get("arch")
    if arch is None or "config" not in meta:
        raise UserError(f"{path}: not a livehdr weights file (no architecture metadata)")
    if expect_arch is not None and arch != expect_arch:
        raise UserError(f"{path}: holds a {arch!r} model, not {expect_arch!r}")
    try:
        config = json.loads(meta["config"])
    except ValueError:
        raise UserError(f"{path}: its config metadata is not valid JSON") from None
    check_config(path, arch, config)
    try:
        with torch.device("meta"):  # shapes only: nothing is allocated
            skeleton = create_model(arch, **config)
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path}: weights do not fit the {arch!r} architecture ({first[:160]})") from None
    check_tensors(path, arch, skeleton.state_dict(), tensors)
    try:
        model = create_model(arch, **config)
        model.load_state_dict(tensors, strict=True)
    except (ValueError, TypeError, RuntimeError, KeyError) as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise UserError(f"{path}: weights do not fit the {arch!r} architecture ({first[:160]})") from None
    model.eval()
    check_output_sane(path, model)
    return model


def check_config(path: str, arch: str, config) -> None:
    """Every config value inside the architecture's declared bounds (models/<arch>_bounds.py)."""
    from livehdr.models.registry import config_bounds, list_models

    if arch not in list_models():
        raise UserError(f"{path}: unknown architecture {arch!r}; this livehdr knows {', '.join(list_models())}")
    if not isinstance(config, dict):
        raise UserError(f"{path}: its config is not a set of named values")
    bounds = config_bounds(arch)
    if bounds is None:
        return  # no declaration: the parameter budget and the shape check below still apply
    for key, value in config.items():
        if key not in bounds:
            raise UserError(f"{path}: config {key!r} is not a {arch!r} setting")
        problem = bounds[key].problem(value)
        if problem:
            raise UserError(f"{path}: config {key} {problem}")


def check_tensors(path: str, arch: str, expected: dict, tensors: dict) -> None:
    """Names, shapes and finiteness, before a single real tensor of the network is allocated."""
    total = sum(t.numel() for t in expected.values())
    if total > MAX_PARAMETERS:
        raise UserError(f"{path}: its config asks for {total / 1e6:.0f} M values; livehdr models stay below "
                        f"{MAX_PARAMETERS / 1e6:.0f} M")
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        what = f"missing {missing[0]!r}" if missing else f"unexpected {extra[0]!r}"
        raise UserError(f"{path}: weights do not fit the {arch!r} architecture ({what}, "
                        f"{len(missing)} missing, {len(extra)} unexpected)")
    for name, want in expected.items():
        got = tensors[name]
        if tuple(got.shape) != tuple(want.shape):
            raise UserError(f"{path}: weights do not fit the {arch!r} architecture (tensor {name} is "
                            f"{tuple(got.shape)}, the config needs {tuple(want.shape)})")
        if got.is_floating_point() and not bool(torch.isfinite(got).all()):
            raise UserError(f"{path}: tensor {name} holds NaN or infinite values")


def check_output_sane(path: str, model) -> None:
    """One small forward pass on a grey ramp: the output must be finite, not negative, and keep mid-tones
    within a few stops of the plain sRGB decode (every livehdr operator does; random weights do not)."""
    from livehdr.color.transfer import eotf_sRGB

    ramp = torch.linspace(0.02, 0.98, 64).expand(3, 32, 64).unsqueeze(0).contiguous()
    try:
        with torch.no_grad():
            out = model(ramp)
    except Exception as e:  # any failure here means the weights cannot be used
        raise UserError(f"{path}: the model fails on a test image ({one_line(e)})") from None
    if tuple(out.shape) != tuple(ramp.shape) or not bool(torch.isfinite(out).all()):
        raise UserError(f"{path}: the model gives non-finite output on a test image (damaged weights?)")
    if float(out.min()) < -1e-3:
        raise UserError(f"{path}: the model gives negative light on a test image (damaged weights?)")
    naive = eotf_sRGB(ramp)
    mid = (ramp > 0.2) & (ramp < 0.7)
    stops = torch.log2((out[mid] + 1e-4) / (naive[mid] + 1e-4)).abs().median()
    if float(stops) > MAX_MIDTONE_STOPS:
        raise UserError(f"{path}: the model moves mid-grey by {float(stops):.1f} stops on a test image "
                        f"(random or damaged weights?); refusing it")


MAX_MIDTONE_STOPS = 1.5  # trained models keep mid-tones within about half a stop of SDR


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
