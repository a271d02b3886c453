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


# --------------------------------------------------------------------------------------------------------
# Config bounds: what a weights file may ask each architecture to build (checked before anything is built)
# --------------------------------------------------------------------------------------------------------
class Range:
    """A number in [lo, hi]; ``integer`` refuses fractions (channel counts)."""

    def __init__(self, lo: float, hi: float, integer: bool = False):
        self.lo, self.hi, self.integer = lo, hi, integer

    def problem(self, value) -> str | None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"must be a number, got {value!r}"
        if self.integer and not float(value).is_integer():
            return f"must be a whole number, got {value!r}"
        if not (self.lo <= value <= self.hi):  # NaN fails this too
            return f"is {value!r}, outside {self.lo:g}..{self.hi:g}"
        return None


class OneOf:
    def __init__(self, *choices):
        self.choices = choices

    def problem(self, value) -> str | None:
        return None if value in self.choices else f"is {value!r}, not one of {', '.join(map(str, self.choices))}"


class ConfigOf:
    """A nested config (a dict) that must itself keep inside another architecture's declared bounds."""

    def __init__(self, arch: str):
        self.arch = arch

    def problem(self, value) -> str | None:
        if not isinstance(value, dict):
            return f"must be a {self.arch} config (a set of named values), got {value!r}"
        bounds = config_bounds(self.arch) or {}
        for key, v in value.items():
            if key not in bounds:
                return f"holds {key!r}, which is not a {self.arch!r} setting"
            problem = bounds[key].problem(v)
            if problem:
                return f"{key} {problem}"
        return None


_BOUNDS: dict[str, dict] = {}


def declare_config_bounds(arch: str, **bounds) -> None:
    """Declare, per config key, the values a weights file may use for ``arch`` (``Range`` or ``OneOf``)."""
    _BOUNDS[arch] = bounds


def config_bounds(arch: str) -> dict | None:
    _populate()
    return _BOUNDS.get(arch)
