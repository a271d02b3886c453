"""Architectures by name, as timm does it: ``@register_model`` on a builder, ``create_model(name, **cfg)``.

Every module in ``livehdr.models`` (except this one and ``weights``) is imported on first use, so adding an
architecture is one new file with one decorator.
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from typing import Callable

_MODELS: dict[str, Callable] = {}
_NOT_ARCHITECTURES = {"registry", "weights"}
_populated = False


def register_model(fn: Callable | None = None, *, name: str | None = None):
    """Decorator: register ``fn`` (a builder returning an ``nn.Module`` with a ``config`` dict) by its name."""
    def deco(f):
        _MODELS[name or f.__name__.replace("_", "-")] = f
        return f
    return deco(fn) if fn is not None else deco


def _populate() -> None:
    global _populated
    if _populated:
        return
    _populated = True
    for info in pkgutil.iter_modules([os.path.dirname(os.path.abspath(__file__))]):
        if info.name not in _NOT_ARCHITECTURES and not info.name.startswith("_"):
            importlib.import_module(f"livehdr.models.{info.name}")


def list_models() -> list[str]:
    _populate()
    return sorted(_MODELS)


def create_model(name: str, **config):
    _populate()
    if name not in _MODELS:
        raise ValueError(f"unknown architecture {name!r}; available: {', '.join(sorted(_MODELS))}")
    return _MODELS[name](**config)
