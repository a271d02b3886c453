"""The operator contract (DESIGN.md) and the settings every operator is built from.

An operator takes float code values in [0, 1] (numpy H x W x 3 or torch N x 3 x H x W) and returns *linear
light, BT.709 primaries, relative to paper white*, in [0, max_relative]. ``max_relative`` is the display's
headroom (peak / paper white) unless the operator has its own content range (a learned model's trained
range); the display encoding then rolls its ``content_peak`` onto the display peak.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from livehdr import color
from livehdr.color import ReferenceLevels, expand_channel_dim


@dataclass(frozen=True)
class OperatorConfig:
    """Everything an operator factory may need; one object so that new options reach every operator."""

    levels: ReferenceLevels = field(default_factory=ReferenceLevels)
    input_gamma: str = "srgb"
    saturation: float = 1.0
    device: str = "cpu"  # 'cpu', 'cuda' or 'auto' (learned models resolve it)
    weights: str | None = None  # learned models: a .safetensors path overriding the shipped file
    precision: str = "auto"  # learned models: auto (fp32 on CPU, fp16 on CUDA), fp32, int8 (CPU), fp16 (CUDA)
    params: tuple = ()  # classical curves: (name, value) pairs within the curve's declared ranges
    source_curve: str = "auto"  # learned models: a known source tone curve, inverted exactly (tonecurves.SOURCE_CURVES)


class Operator:
    """Base class: subclasses implement ``expand``; ``__call__`` enforces the output contract."""

    name = "base"
    description = ""
    # A curve the live window's shader evaluates itself from the SDR pixels (window/renderer.SHADER_CURVES):
    # the live pipeline then skips the per-pixel call. None: the operator always runs here.
    shader_curve: str | None = None
    # The output depends only on the pixel's own code values: the pipelines then compose the operator and the
    # display encoding into one table (color/table.py). ``relative_at_nodes`` gives the operator at its nodes.
    pointwise: bool = False

    def __init__(self, config: OperatorConfig):
        self.config = config
        self.levels = config.levels

    @property
    def max_relative(self) -> float:
        """The largest value this operator returns (relative to paper white)."""
        return self.levels.headroom

    @property
    def content_peak(self) -> float:
        """cd/m2 of the brightest output: the source peak the display encoding rolls onto its peak."""
        return self.max_relative * self.levels.paper_white

    @property
    def output_levels(self):
        """The display encoding's levels for this operator's output: the display's, with ``content_peak``
        as the source peak (the one place this is computed; every sink takes it from here)."""
        return self.levels.for_content(self.content_peak)

    def expand(self, code_values):  # pragma: no cover - abstract
        raise NotImplementedError

    # The spatial highlight stage (operators/highlight.HighlightStage, issue #23) after the pointwise
    # expansion: a gain field over near-clipped pixels. None: the operator is only its expansion.
    highlight = None

    def base_light(self, code_values):
        """The operator without its highlight stage (the pointwise part a table can hold)."""
        ops = color.ops_for(code_values)
        x = ops.clip(ops.asarray(code_values), 0.0, 1.0)
        out = self.expand(x)
        if self.config.saturation != 1.0:
            out = adjust_saturation(out, self.config.saturation)
        # Finite, non-negative and within the operator's range: the contract every sink relies on.
        return ops.clip(ops.nan_to_num(out, posinf=self.max_relative), 0.0, self.max_relative)

    def __call__(self, code_values):
        out = self.base_light(code_values)
        if self.highlight is None:
            return out
        ops = color.ops_for(code_values)
        x = ops.clip(ops.asarray(code_values), 0.0, 1.0)
        return self.highlight.apply(out, x, self.white_relative(), self.max_relative, self.knee_relative())

    def white_relative(self) -> np.ndarray:
        """The base light at code (1, 1, 1) for the frame just expanded (what the highlight stage is
        conditioned on). Adaptive operators override it with their current frame's value."""
        cached = getattr(self, "_white", None)
        if cached is None:
            cached = self._white = np.asarray(self.base_light(np.ones((1, 1, 3), np.float32)),
                                              np.float64).reshape(3)
        return cached

    def knee_relative(self) -> np.ndarray:
        """The base light at grey code ``color.highlight.APPLY_KNEE`` for the frame just expanded (the
        level-free highlight field's floor). Adaptive operators override it with their current frame's value."""
        cached = getattr(self, "_knee", None)
        if cached is None:
            from livehdr.color.highlight import APPLY_KNEE

            grey = np.full((1, 1, 3), APPLY_KNEE, np.float32)
            cached = self._knee = np.asarray(self.base_light(grey), np.float64).reshape(3)
        return cached

    def highlight_field(self, frame=None, sums=None) -> np.ndarray | None:
        """This frame's smoothed highlight field (the stage's temporal state advances), from the frame (uint8
        or float code values) or from its cell sums (``color.highlight.cell_sums`` or the torch twin): the one
        call every path makes once per frame, after the frame's base light (the field reads its white and
        its light at the knee). None when the field changes no pixel (the level-free stage on a frame without
        a fully clipped region): every path then draws or packs the frame without the stage."""
        from livehdr.color.highlight import moves_pixels

        if sums is not None:
            field = self.highlight.field_for_sums(sums, self.white_relative(), self.knee_relative())
        else:
            field = self.highlight.field_for_frame(frame, self.white_relative(), self.knee_relative())
        return field if moves_pixels(field) else None

    def expand_uint8(self, frame_u8: np.ndarray) -> np.ndarray:
        """Convenience for the CPU pipeline: H x W x 3 uint8 -> float32 relative linear light."""
        return np.asarray(self(frame_u8.astype(np.float32) * np.float32(1 / 255)), dtype=np.float32)

    def relative_at_nodes(self, frame_u8: np.ndarray) -> np.ndarray:
        """A pointwise operator at ``color.table.table_nodes()`` for this frame (the frame matters only to
        adaptive operators). Stateless operators compute it once."""
        if not self.pointwise:
            raise TypeError(f"{self.name} is not pointwise")
        cached = getattr(self, "_at_nodes", None)
        if cached is None:
            from livehdr.color.table import table_nodes

            cached = self._at_nodes = np.asarray(self.base_light(table_nodes()), dtype=np.float32)
        return cached

    def reset(self):
        """Forget temporal state (scene cut, seek): the highlight stage's field, if any."""
        if self.highlight is not None:
            self.highlight.reset()


def adjust_saturation(rgb_linear, saturation: float):
    """Scale chroma around BT.709 luminance; luminance itself is unchanged."""
    Y = expand_channel_dim(color.luminance_BT709(rgb_linear))
    return Y + saturation * (rgb_linear - Y)


class WeightsOperator(Operator):
    """An operator built from a weights file: its name, the file, the card's description and the device."""

    kind = "learned model"  # the description when the card has none

    def __init__(self, config: OperatorConfig, name: str, weights_path: str):
        from livehdr.engine.device import resolve_device
        from livehdr.models.weights import card_path, read_card

        super().__init__(config)
        self.name = name
        self.weights_path = weights_path
        card = read_card(card_path(weights_path)) or {}
        self.description = str(card.get("description", f"{self.kind} {name}"))
        self.device = resolve_device(config.device)
