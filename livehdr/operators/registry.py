"""Operators by name (``--model``): the classical table, plus one learned operator per shipped weights file.

A ``models/NAME.safetensors`` whose metadata names a registered architecture becomes operator NAME, with
the description from its card: shipping a new model needs no code here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from livehdr.base.errors import UserError
from livehdr.operators.base import Operator, OperatorConfig


@dataclass(frozen=True)
class OperatorEntry:
    name: str
    factory: Callable[[OperatorConfig], Operator]
    description: str
    learned: bool = False


_REGISTRY: dict[str, OperatorEntry] = {}
_learned_loaded = False


def register_operator(name: str, factory: Callable[[OperatorConfig], Operator], description: str,
                      learned: bool = False) -> None:
    _REGISTRY[name] = OperatorEntry(name, factory, description, learned)


def _load_classical() -> None:
    if "naive" in _REGISTRY:
        return
    from livehdr.operators.classical import CURVES, ClassicalOperator

    for curve in CURVES.values():
        register_operator(curve.name, lambda cfg, c=curve: ClassicalOperator(cfg, c), curve.description)


def _load_learned() -> None:
    """Each shipped weights file with a known architecture (torch-heavy, so only on first use)."""
    global _learned_loaded
    if _learned_loaded:
        return
    _learned_loaded = True
    try:
        from livehdr.operators.learned import shipped_learned_models
    except ImportError:  # torch missing: the classical curves still work
        return
    for name, description in shipped_learned_models():
        register_operator(name, lambda cfg, n=name: _learned(cfg, n), description, learned=True)


def _learned(config: OperatorConfig, name: str) -> Operator:
    from livehdr.models.weights import shipped_path

    path = config.weights or shipped_path(name)
    return _learned_class(path)(config, name, path)


def _learned_class(path: str):
    """The operator class for a weights file's architecture: ``clut`` makes a per-frame 3D LUT
    (operators/lut.py), every other architecture runs per pixel (operators/learned.py)."""
    from livehdr.models.weights import read_metadata
    from livehdr.operators.learned import LearnedOperator

    try:
        arch = read_metadata(path).get("arch")
    except Exception:  # unreadable: LearnedOperator's loader reports it in one line
        arch = None
    if arch == "clut":
        from livehdr.operators.lut import LUTOperator

        return LUTOperator
    return LearnedOperator


def list_operators() -> list[OperatorEntry]:
    _load_classical()
    _load_learned()
    return list(_REGISTRY.values())


def default_operator_name() -> str:
    """The shipped learned model whose card records a held-out win over `naive`; else naive."""
    return default_operator_choice()[0]


def default_operator_choice() -> tuple[str, str]:
    """(default operator, why): on a machine without CUDA a real-time winner (clut) comes first."""
    _load_classical()
    _load_learned()
    try:
        from livehdr.operators.learned import default_learned_choice
    except ImportError:
        return "naive", "torch is not installed, so no learned model can run"
    name, why = default_learned_choice()
    if name not in _REGISTRY:
        return "naive", why
    return name, why


def create_operator(name: str, config: OperatorConfig | None = None) -> Operator:
    _load_classical()
    if name not in _REGISTRY:
        _load_learned()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown model {name!r}; available: {known} (see --list-models)")
    config = config or OperatorConfig()
    curve = config.source_curve
    if curve == "auto":
        return _REGISTRY[name].factory(config)
    from livehdr.operators.source_curve import SOURCE_CURVE_CHOICES, SourceCurveOperator

    if curve not in SOURCE_CURVE_CHOICES:
        raise UserError(f"unknown source curve {curve!r}; choose one of {', '.join(SOURCE_CURVE_CHOICES)}")
    if not _REGISTRY[name].learned:
        raise UserError(f"--source-curve {curve} stands in for a learned model; {name} is a classical curve "
                        "with its own inverse (use --source-curve auto, or a learned --model)")
    return SourceCurveOperator(_REGISTRY[name].factory(config), curve)
