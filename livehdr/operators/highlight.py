"""The spatial highlight stage as an operator part (issue #23): one coarse log2-gain field per frame.

``HighlightStage`` holds the fitted MLP's parameters (from the clut weights, models/highlight.py) and the
field's temporal state. Per frame: cell sums and features (color/highlight.py, one numba pass), the MLP on
the ~5k cells (numpy), then the temporal smoothing; the pipelines apply the field themselves (the table
kernels, the shader, torch), and ``apply`` does it for stills and the generic path.

Over time the field is smoothed like the LUT weights (operators/lut.py ``TemporalWeights``): an EMA while
the picture holds still (sensor noise moves the near-clipped share a little, and the field would shimmer;
+-1 code noise flips a lamp's pixels between 254 and 255, so the fully clipped counts that centre the
level-free field move too, and its floor follows the frame's LUT: on the procedural static clips of
tests/test_clut_temporal.py a floored stage pumped 0.99-1.64x as much as with its LUT and field frozen at 0.8,
0.94-1.29x at 0.9, 0.84-1.16x at 0.95, the smoothing now; the shipped weights 0.93-1.05x, docs/HIGHLIGHTS.md),
falling off as the frame's mean luma moves (a pan or a fade follows at once), and dropped at a cut (the
near-clipped share of the grid changes by more than ``cut``) or a new frame size.
"""
from __future__ import annotations

import numpy as np

from livehdr.color import highlight as hl
from livehdr.operators.temporal import frame_smoothing


class HighlightStage:
    """``level_free``: the field is centred on each fully clipped region (``GridRegions.centred``), so the
    stage shapes a region without moving its level: the blind ``auto`` base's stage. The known-curve stage
    also sets the level (the exact inverse under-reads every clipped pixel)."""

    def __init__(self, parameters, smoothing: float = 0.95, follow: float = 0.004, cut: float = 0.05,
                 level_free: bool = False):
        self.parameters = tuple(np.asarray(p, np.float64) for p in parameters)
        self.smoothing, self.follow, self.cut = float(smoothing), float(follow), float(cut)
        self.level_free = bool(level_free)
        self.reset()

    @classmethod
    def from_model(cls, model, base: str = "known"):
        """The stage a clut model carries for ``base`` ("known": a known source curve's exact inverse;
        "auto": the blind LUT, level-free), or None."""
        from livehdr.models.highlight import stage_attribute

        mlp = getattr(model, stage_attribute(base), None)
        return None if mlp is None else cls(mlp.numpy_parameters(), level_free=base == "auto")

    def clone(self) -> "HighlightStage":
        """The same fitted stage with its own (empty) temporal state: for a second operator."""
        return HighlightStage(self.parameters, self.smoothing, self.follow, self.cut, self.level_free)

    def reset(self) -> None:
        self.field = None
        self.share = None
        self.mean = None
        self.last_event = "reset"

    def raw_field(self, sums: np.ndarray, white_rgb, knee_rgb=None) -> np.ndarray:
        """This frame's field without temporal smoothing: (rows, cols) log2 gains. ``knee_rgb``: the base's
        light at grey code ``APPLY_KNEE`` (the level-free field's floor; None: the white, no negative gain)."""
        from livehdr.models.highlight import field_numpy

        regions = hl.GridRegions(sums)
        feats = hl.features_from_sums(sums, hl.log2_white(white_rgb), regions)
        field = field_numpy(feats, self.parameters).reshape(sums.shape[:2])
        if not self.level_free:
            return field
        return regions.centred(field, hl.level_free_floor(white_rgb, white_rgb if knee_rgb is None else knee_rgb))

    def field_for_frame(self, frame: np.ndarray, white_rgb, knee_rgb=None) -> np.ndarray:
        """H x W x 3 uint8 (or float code values) and the base operator's light at white -> the smoothed
        (rows, cols) float64 field for this frame. Updates the temporal state."""
        return self.field_for_sums(hl.cell_sums(frame), white_rgb, knee_rgb)

    def field_for_sums(self, sums: np.ndarray, white_rgb, knee_rgb=None) -> np.ndarray:
        """``field_for_frame`` from the frame's cell sums (``color.highlight.cell_sums`` or its torch twin)."""
        field = self.raw_field(sums, white_rgb, knee_rgb)
        n = np.maximum(sums[..., 0], 1e-9)
        share = sums[..., 1] / n
        mean = float((sums[..., 1] + sums[..., 2]).sum() / n.sum())
        fresh = self.field is None or self.field.shape != field.shape
        alpha, self.last_event = frame_smoothing(
            self.smoothing, self.follow, None if fresh else mean - self.mean,
            not fresh and float(np.abs(share - self.share).mean()) > self.cut)
        self.field = field if alpha == 0.0 else alpha * self.field + (1.0 - alpha) * field
        self.share, self.mean = share, mean
        return self.field

    def apply(self, light, code, white_rgb, top: float, knee_rgb=None):
        """The generic path: light (numpy H x W x 3 or torch N x 3 x H x W) of the frame ``code`` -> gained."""
        if isinstance(light, np.ndarray):
            field = self.field_for_frame(np.asarray(code), white_rgb, knee_rgb)
            return hl.apply_field(light, np.asarray(code), field, top)
        import torch

        out = []
        for i in range(light.shape[0]):  # frames of a batch in order: they update the temporal state in turn
            sums = hl.cell_sums_torch(code[i:i + 1]).cpu().numpy()  # only the small grid leaves the device
            field = torch.from_numpy(self.field_for_sums(sums, white_rgb, knee_rgb)).to(light.device)
            out.append(hl.apply_field_torch(light[i:i + 1], code[i:i + 1], field, top))
        return torch.cat(out)
