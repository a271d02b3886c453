"""Device and precision choice for learned models."""
from __future__ import annotations

from livehdr.base.errors import UserError

PRECISIONS = ("auto", "fp32", "int8", "fp16")


def resolve_device(device: str | None):
    """'auto' -> cuda when torch sees a GPU, else cpu; an explicit 'cuda' without one is a UserError."""
    import torch

    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda was asked for, but torch sees no CUDA device; use --device cpu or auto")
    if device not in ("cpu", "cuda"):
        raise UserError(f"unknown device {device!r}; choose auto, cpu or cuda")
    return torch.device(device)


def resolve_precision(precision: str, device) -> str:
    """'fp32', 'fp16' or 'int8' for this device. auto = fp16 on CUDA, fp32 on the CPU. (A float model whose
    shipped int8 twin meets the quality goals is switched to it before this, by ``engine.int8.choose_int8``:
    the choice needs the weights file, this only the device.)"""
    on_cuda = device.type == "cuda"
    if precision not in PRECISIONS:
        raise UserError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision == "int8" and on_cuda or precision == "fp16" and not on_cuda:
        raise UserError(f"--precision {precision} needs {'the CPU' if on_cuda else 'a CUDA GPU'}; use auto or fp32")
    if precision == "auto":
        return "fp16" if on_cuda else "fp32"
    return precision
