"""The spatial highlight stage's network (issue #23): a tiny MLP from coarse-grid features to a log2 gain.

Not an architecture of its own: a part the ``clut`` model carries (``CLUT.highlight``) so that one weights
file holds the whole operator. The features and the field's application live in ``color/highlight.py``;
this file only maps (cells x FEATURES) to (cells,) log2 gains in [-LIMIT, LIMIT]. ``field_numpy`` is the
same arithmetic in float64 numpy for the CPU pipelines (tested equal to the torch forward).
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from livehdr.color.highlight import FEATURES

LOG2_LIMIT = 3.0  # stops either way: a clipped sun rarely needs more than 8x over the pointwise light
BASES = ("known", "auto")  # the stage after a known curve's exact inverse, and the blind LUT's (level-free)


def stage_attribute(base: str) -> str:
    """The ``CLUT`` attribute holding the stage for a base (its config key is this + "_hidden")."""
    if base not in BASES:
        raise ValueError(f"highlight stage base {base!r}: expected one of {', '.join(BASES)}")
    return "highlight" if base == "known" else "highlight_auto"


class HighlightMLP(nn.Module):
    """FEATURES -> hidden (tanh) -> 1, then LOG2_LIMIT * tanh. Zero output weights: untrained = no gain."""

    def __init__(self, hidden: int = 16):
        super().__init__()
        self.hidden = int(hidden)
        self.inner = nn.Linear(FEATURES, self.hidden)
        self.outer = nn.Linear(self.hidden, 1)
        nn.init.zeros_(self.outer.weight)
        nn.init.zeros_(self.outer.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return LOG2_LIMIT * torch.tanh(self.outer(torch.tanh(self.inner(features))))[..., 0]

    def numpy_parameters(self) -> tuple[np.ndarray, ...]:
        return tuple(p.detach().cpu().double().numpy() for p in (self.inner.weight, self.inner.bias,
                                                                self.outer.weight, self.outer.bias))


def field_numpy(features: np.ndarray, parameters) -> np.ndarray:
    """``HighlightMLP.forward`` in float64 numpy: (cells, FEATURES) -> (cells,) log2 gains."""
    w1, b1, w2, b2 = parameters
    hidden = np.tanh(np.asarray(features, np.float64) @ w1.T + b1)
    return LOG2_LIMIT * np.tanh(hidden @ w2.T + b2)[..., 0]
