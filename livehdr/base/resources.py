"""Where the shipped files live: ``shaders/`` (GLSL) and ``models/`` (weights and cards).

In a checkout they are the top-level folders of the repository; an installed wheel carries them as the
data packages ``livehdr._shaders`` and ``livehdr._weights`` (pyproject.toml maps the folders there).
"""
from __future__ import annotations

import importlib.util
import os

_PACKAGES = {"shaders": "livehdr._shaders", "models": "livehdr._weights"}
_CHECKOUT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def resource_dir(kind: str) -> str:
    """The folder holding the shipped ``kind`` ('shaders' or 'models')."""
    try:  # resolved against the livehdr package actually imported, so a checkout never sees a stray install
        spec = importlib.util.find_spec(_PACKAGES[kind])
    except ModuleNotFoundError:
        spec = None
    if spec is not None and spec.submodule_search_locations:
        return list(spec.submodule_search_locations)[0]
    return os.path.join(_CHECKOUT, kind)  # a checkout (or missing: callers name the path in their error)
