"""Which frame path runs (issue #25): the one decision, and the one start-up line that names it.

- ``cuda``: the frame lives on the GPU from upload to the 10-bit planes (operator and packing in torch);
- ``torch-cpu``: the same torch code on torch's CPU backend. Only the documented test switch
  ``LIVEHDR_FRAME_PATH=torch-cpu`` picks it: it is how CI proves the device path equals the numba one;
- ``cpu``: numpy / numba on the host (``color/pack.py``), the default without CUDA.

``LIVEHDR_FRAME_PATH`` may also say ``cpu`` (force numba), ``cuda`` (refused without CUDA) or ``auto``
(the same as unset: cuda when the operator's device setting allows it and torch sees a GPU).
"""
from __future__ import annotations

import os

from livehdr.base.errors import UserError

ENV = "LIVEHDR_FRAME_PATH"
KINDS = ("cuda", "torch-cpu", "cpu")
CHOICES = ("auto",) + KINDS
LINE_PREFIX = "frame path: "  # the log adds "livehdr: "


def cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


def choose_frame_path(device_setting: str | None = "auto", env: dict | None = None) -> str:
    """'cuda', 'torch-cpu' or 'cpu'. ``device_setting``: where the operator runs ('auto', 'cpu', 'cuda',
    or a torch.device's type); ``env`` defaults to ``os.environ``."""
    value = (env if env is not None else os.environ).get(ENV, "").strip().lower() or "auto"
    if value not in CHOICES:
        raise UserError(f"{ENV}={value!r} is not a frame path; choose {', '.join(CHOICES)}")
    if value == "cuda" and not cuda_available():
        raise UserError(f"{ENV}=cuda was asked for, but torch sees no CUDA device")
    if value != "auto":
        return value
    if str(device_setting or "auto") != "cpu" and cuda_available():
        return "cuda"
    return "cpu"


def torch_device(kind: str) -> str | None:
    """The torch device a frame path computes on; None for the numba path."""
    return {"cuda": "cuda", "torch-cpu": "cpu"}.get(kind)


def describe(kind: str, *, nvdec: bool = False, precision: str | None = None, graphs: bool = False,
             threads: int = 1) -> str:
    """The start-up line's text after 'livehdr: ', e.g. 'frame path: cuda (NVDEC, fp16, graphs)'."""
    if kind not in KINDS:
        raise ValueError(f"unknown frame path {kind!r}")
    if kind == "cpu":
        details = ["numba", f"{threads} thread" + ("s" if threads != 1 else "")]
    elif kind == "torch-cpu":
        details = [f"test switch {ENV}"]
    else:
        details = ["NVDEC" if nvdec else "CPU decode, pinned upload"]
        if precision:
            details.append(precision)
        details.append("graphs" if graphs else "eager")
    return f"{LINE_PREFIX}{kind} ({', '.join(details)})"
