"""Temporal smoothing of a learned model's head maps (issue #10: a static scene must not pump).

Why: MQNet's head maps (a log2 luminance gain and a chroma term per pixel) react to each pixel's own code
value. Sensor noise of +-1 code value on a clipped lamp turns 255 into 254 and back, and the gain there swings
by stops, so the frame's mean light jumps from frame to frame (2.3-5.5x naive's change on a procedural night
scene, docs/MODEL.md). The light the maps are applied to is today's frame; only the maps carry history.

How: per pixel, an exponential moving average of the maps, gated by how much the frame and that pixel moved:

    a = smoothing * exp(-(m / follow)^2) * exp(-(d / tolerance)^2)
    maps = a * previous maps + (1 - a) * this frame's maps

with m the change of the frame's mean code value and d the largest change of the pixel's R, G, B codes.
- static frame, static pixel (m ~ 1e-5 and d of 1-2 code values: noise): a is 0.85-0.9, and the maps'
  frame-to-frame change drops ~10x;
- a fade or a pan (the mean moves by 1/255 or more a frame: m / follow >= 2): a < 0.02, the maps follow at once;
- a pixel that really changed (a moving object, a lamp switched on: d of many code values): that pixel's
  history is dropped while the static rest stays smoothed;
- a new frame size: the history is dropped (``reset`` does the same on a seek, a new file and every still).
Measured (procedural scenes, 24 frames of +-1 noise, frame-mean pumping over naive's, docs/MODEL.md): 2.3-6.8x
without, 1.0-1.2x with (fp32); the int8 twin 2.7-17x without, 1.0-1.7x with.
The state is updated in place, so a CUDA graph captured over the operator replays the same update.
"""
from __future__ import annotations

import math

import torch

SMOOTHING = 0.9  # the weight of the history on a perfectly static pixel: ~10 frames' memory
TOLERANCE = 8.0 / 255  # pixel code-value change at which the history's weight has fallen to 1/e
FOLLOW = 0.5 / 255  # frame-mean code-value change at which it has fallen to 1/e (a fade of 1 code a frame: 2 %)


class TemporalMaps:
    """Per-pixel gated EMA of head maps over the frames of one stream (module docstring)."""

    def __init__(self, smoothing: float = SMOOTHING, tolerance: float = TOLERANCE, follow: float = FOLLOW):
        if not 0.0 <= smoothing < 1.0:
            raise ValueError(f"smoothing {smoothing} is outside 0 .. 1")
        if tolerance <= 0.0 or follow <= 0.0:
            raise ValueError(f"tolerance {tolerance} and follow {follow} must be positive")
        self.smoothing, self.tolerance, self.follow = float(smoothing), float(tolerance), float(follow)
        self.reset()

    def reset(self) -> None:
        self.code = None
        self.mean = None
        self.maps = None

    def update(self, code: torch.Tensor, maps: torch.Tensor) -> torch.Tensor:
        """``code``: this frame's 1 x 3 x H x W code values; ``maps``: its 1 x C x H x W head maps. Returns
        the maps to apply to this frame (a tensor the caller must not keep: the next update overwrites it)."""
        if self.smoothing == 0.0:
            return maps
        if self.maps is None or self.maps.shape != maps.shape or self.code.shape != code.shape \
                or self.maps.dtype != maps.dtype or self.maps.device != maps.device:
            self.code = code.detach().clone()
            self.mean = code.detach().float().mean()
            self.maps = maps.detach().clone()
            return self.maps
        mean = code.float().mean()
        frame = torch.exp(-((mean - self.mean) / self.follow).square()) * self.smoothing
        # exp(-(d / tolerance)^2) * frame factor, in one buffer (this runs on every frame)
        history = torch.sub(code, self.code).abs_().amax(dim=1, keepdim=True).float()
        history = history.div_(self.tolerance).square_().neg_().exp_().mul_(frame).to(maps.dtype)
        # maps + a (previous - maps), written into the history's buffer
        self.maps.sub_(maps).mul_(history).add_(maps)
        self.code.copy_(code)
        self.mean.copy_(mean)
        return self.maps


def frame_smoothing(smoothing: float, follow: float, mean_change: float | None, cut: bool) -> tuple[float, str]:
    """The weight of the history for a per-frame EMA (the LUT weights, the highlight field) and what
    happened: no history ('start'), a cut ('cut': none kept), else ``smoothing * exp(-(m / follow)^2)`` of
    the frame mean's change m ('smooth' while above half the smoothing, else 'follow')."""
    if mean_change is None:
        return 0.0, "start"
    if cut:
        return 0.0, "cut"
    alpha = smoothing * math.exp(-(mean_change / follow) ** 2)
    return alpha, "smooth" if alpha > 0.5 * smoothing else "follow"
