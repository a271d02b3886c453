"""``--source-curve NAME``: when the user knows the source's tone curve, invert it exactly.

Code values -> the curve's own display EOTF -> the curve's exact inverse (``color.tonecurves.SOURCE_CURVES``)
-> [0, max_relative]. Below the clip that is the training target itself (``hdr * exposure``); codes at the
clip give the inverse at display 1, clamped to the headroom. The operator stands in for a learned model and
keeps that model's spatial highlight stage (``highlight``), so the learned part still works where the curve
has thrown the light away. Stateless and pointwise: the pipelines compose it into one table (color/table.py).
"""
from __future__ import annotations

import numpy as np

from livehdr import color
from livehdr.color.tonecurves import SOURCE_CURVE_CHOICES, source_curve
from livehdr.operators.base import Operator, adjust_saturation

SEPARATOR = "/"  # operator names 'clut/hable': the model stood in for, and the curve


def qualified_name(model: str, curve: str) -> str:
    """The operator name for ``model`` with source curve ``curve`` ('auto': the model's own name)."""
    return model if curve == "auto" else f"{model}{SEPARATOR}{curve}"


def split_name(name: str) -> tuple[str, str]:
    """Inverse of ``qualified_name``: 'clut/hable' -> ('clut', 'hable'), 'clut' -> ('clut', 'auto')."""
    model, sep, curve = name.partition(SEPARATOR)
    return (model, curve) if sep else (model, "auto")


class SourceCurveOperator(Operator):
    """The exact inverse of a known source curve, in place of the learned model ``learned``."""

    pointwise = True

    def __init__(self, learned: Operator, curve: str):
        super().__init__(learned.config)
        self.curve = source_curve(curve)
        self.source_curve = self.curve.name
        self.model_name = learned.name
        self.name = qualified_name(learned.name, self.curve.name)
        self.description = f"{learned.name} with the exact inverse of {self.curve.citation}"
        # A learned operator with a known-curve stage lends that one (its ``highlight`` is the blind base's).
        src = learned.known_curve_highlight if hasattr(learned, "known_curve_highlight") else learned.highlight
        self.highlight = src.clone() if src is not None else None
        self._u8_table = None

    def expand(self, V):
        # The curve's own encoding, not --input-gamma: the curve says how its SDR was encoded.
        return self.curve.inverse(color.eotf_input(V, self.curve.encoding))

    def expand_uint8(self, frame_u8: np.ndarray) -> np.ndarray:
        if not self.curve.per_channel:
            return super().expand_uint8(frame_u8)
        # A per-channel curve with 8 bits in: a 256-entry table is exact.
        if self._u8_table is None:
            ramp = np.arange(256, dtype=np.float32)[:, None, None].repeat(3, 2) / 255
            self._u8_table = np.asarray(self.base_light(ramp), dtype=np.float32)[:, 0, 0]
        out = self._u8_table[frame_u8]
        if self.config.saturation != 1.0:  # the table holds neutral values; chroma needs the whole pixel
            out = np.clip(adjust_saturation(out, self.config.saturation), 0.0, self.max_relative)
        if self.highlight is not None:
            out = self.highlight.apply(out, frame_u8, self.white_relative(), self.max_relative)
        return out

    def reset(self) -> None:
        super().reset()


__all__ = ["SEPARATOR", "SOURCE_CURVE_CHOICES", "SourceCurveOperator", "qualified_name", "split_name"]
