"""A LUT operator test double (issue #11's contract, without the learned model): applies_lut, a fixed LUT
per frame, and the generic ``operator(code_values)`` path that applies the same LUT, so the fused paths
(file writer, window shader) can be compared with the generic one."""
from __future__ import annotations

import numpy as np

from livehdr import color
from livehdr.color.lut3d import apply_lut3d
from livehdr.operators import OperatorConfig
from livehdr.operators.base import Operator


def expanding_lut(d: int, levels: color.ReferenceLevels, input_gamma: str = "srgb") -> np.ndarray:
    """lut[b, g, r] for code values (r, g, b) / (D - 1): the input EOTF, then a luminance-driven highlight
    expansion up to the display's headroom (so roll-off, colour mixing and the top of the range all show)."""
    axis = np.linspace(0.0, 1.0, d)
    b, g, r = np.meshgrid(axis, axis, axis, indexing="ij")
    linear = color.eotf_input(np.stack([r, g, b], axis=-1), input_gamma)
    y = color.luminance_BT709(linear)[..., None]
    out = linear * (1.0 + (levels.headroom - 1.0) * y**4)
    return np.clip(out, 0.0, levels.headroom).astype(np.float32)


class LUTDouble(Operator):
    name = "lut-double"
    applies_lut = True

    def __init__(self, config: OperatorConfig | None = None, d: int = 33, lut: np.ndarray | None = None):
        super().__init__(config or OperatorConfig())
        self.lut = expanding_lut(d, self.levels, self.config.input_gamma) if lut is None else lut
        self.frames_seen: list[tuple] = []  # shapes given to lut_for_frame
        self.thumbnails_seen: list[tuple] = []  # shapes given to lut_for_thumbnail

    def lut_for_frame(self, frame_u8: np.ndarray) -> np.ndarray:
        assert frame_u8.dtype == np.uint8 and frame_u8.ndim == 3
        self.frames_seen.append(frame_u8.shape)
        return self.lut

    def lut_for_thumbnail(self, thumb_u8: np.ndarray) -> np.ndarray:
        assert thumb_u8.dtype == np.uint8 and thumb_u8.ndim == 3
        self.thumbnails_seen.append(thumb_u8.shape)
        return self.lut

    def expand(self, code_values):
        return apply_lut3d(np.asarray(code_values, dtype=np.float32), self.lut)


class GenericDouble(LUTDouble):
    """The same operator seen as an ordinary one: the pipelines call ``operator(...)`` per pixel."""

    applies_lut = False
