"""ITM operators: the classical curves and the registry that the learned models join.

The contract (DESIGN.md): an operator takes float code values in [0, 1] — numpy H x W x 3 or torch
N x 3 x H x W — and returns *linear light, BT.709 primaries, relative to paper white*, in
[0, peak / paper_white].  Display encoding (nits, roll-off, BT.2020, PQ/HLG) happens later, in the sinks.
"""
from __future__ import annotations

from dataclasses import dataclass, field
import math
from typing import Callable

import numpy as np

from livehdr import color
from livehdr.color import ReferenceLevels, channel, expand_channel_dim, stack_channels
from livehdr.errors import UserError


@dataclass(frozen=True)
class OperatorConfig:
    """Everything an operator factory may need; one object so that new options reach every operator."""

    levels: ReferenceLevels = field(default_factory=ReferenceLevels)
    input_gamma: str = "srgb"
    saturation: float = 1.0
    device: str = "cpu"  # 'cpu', 'cuda' or 'auto' (learned models resolve it)
    weights: str | None = None  # learned models: a .safetensors path overriding the shipped file
    precision: str = "auto"  # learned models: auto (fp32 on CPU, fp16 on CUDA), fp32, int8 (CPU), fp16 (CUDA)


class Operator:
    """Base class: subclasses implement ``expand``; ``__call__`` enforces the output contract."""

    name = "base"
    description = ""

    def __init__(self, config: OperatorConfig):
        self.config = config
        self.levels = config.levels

    def expand(self, code_values):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, code_values):
        ops = color._ops(code_values)
        x = ops.clip(ops.asarray(code_values), 0.0, 1.0)
        out = self.expand(x)
        if self.config.saturation != 1.0:
            out = adjust_saturation(out, self.config.saturation)
        # Non-negative and within the display's headroom: the contract every sink relies on.
        return ops.clip(out, 0.0, self.levels.headroom)

    def expand_uint8(self, frame_u8: np.ndarray) -> np.ndarray:
        """Convenience for the CPU pipeline: H x W x 3 uint8 -> float32 relative linear light."""
        return np.asarray(self(frame_u8.astype(np.float32) * np.float32(1 / 255)), dtype=np.float32)

    def reset(self):
        """Forget temporal state (scene cut, seek). Stateless operators have none."""


def adjust_saturation(rgb_linear, saturation: float):
    """Scale chroma around BT.709 luminance; luminance itself is unchanged."""
    Y = expand_channel_dim(color.luminance_BT709(rgb_linear))
    return Y + saturation * (rgb_linear - Y)


# --------------------------------------------------------------------------------------------------------
# Classical operators
# --------------------------------------------------------------------------------------------------------
class NaiveOperator(Operator):
    """Decode with the input EOTF; SDR white lands on paper white (203 cd/m2). No expansion at all:
    the "sRGB inverse" baseline that game mods and most players use."""

    name = "naive"
    description = "inverse input EOTF, SDR white at paper white (no highlight expansion)"

    def expand(self, V):
        return color.eotf_input(V, self.config.input_gamma)

    def expand_uint8(self, frame_u8: np.ndarray) -> np.ndarray:
        # Per-channel and 8-bit in: a 256-entry table is exact and ~20x faster than pow() per pixel.
        if self._table is None:
            self._table = np.asarray(self(np.arange(256, dtype=np.float32)[:, None, None].repeat(3, 2) / 255),
                                     dtype=np.float32)[:, 0, 0]
        out = self._table[frame_u8]
        if self.config.saturation != 1.0:  # the table holds neutral values; chroma needs the whole pixel
            out = np.clip(adjust_saturation(out, self.config.saturation), 0.0, self.levels.headroom)
        return out

    _table = None


# ITU-R BT.2446-1 (2019) clause 4.2 (Method A) constants.
_BT2446A_YP_KNEE_LOW = 0.7399
_BT2446A_YP_KNEE_HIGH = 0.9909


def _rho_BT2446a(L: float) -> float:
    """BT.2446-1 Method A, steps 2 and 5: rho = 1 + 32 (L / 10000)^(1/2.4)."""
    return 1 + 32 * (L / 10000.0) ** (1 / 2.4)


def luma_inverse_BT2446a(Y_sdr, L_sdr: float = 100.0, L_hdr: float = 1000.0):
    """Inverse of the luma tone curve of ITU-R BT.2446-1 Method A (clause 4.2, steps 2-5).

    Takes SDR gamma-2.4 luma Y'_SDR in [0, 1]; returns HDR gamma-2.4 luma Y' (normalised to L_hdr).
    Each forward step is invertible in closed form:
      step 5: Y'_SDR = (rho_SDR^Y'c - 1)/(rho_SDR - 1)   ->  Y'c = log(1 + (rho_SDR-1) Y'_SDR)/log(rho_SDR)
      step 4: the three-piece curve (linear / quadratic / linear) is monotonic; invert each piece
      step 3: Y'p = log(1 + (rho_HDR-1) Y')/log(rho_HDR)  ->  Y' = (rho_HDR^Y'p - 1)/(rho_HDR - 1)
    """
    ops, Y_sdr = color._prepare(Y_sdr)
    rho_s = _rho_BT2446a(L_sdr)
    rho_h = _rho_BT2446a(L_hdr)
    Yc = ops.log(1 + (rho_s - 1) * ops.clip(Y_sdr, 0.0, 1.0)) / math.log(rho_s)
    lo = 1.077 * _BT2446A_YP_KNEE_LOW  # Y'c at the first knee
    hi = 0.5 * _BT2446A_YP_KNEE_HIGH + 0.5  # Y'c at the second knee
    # Quadratic piece: -1.1510 p^2 + 2.7811 p - 0.6302 = c  ->  smaller root of the increasing branch.
    disc = ops.clip(2.7811**2 - 4 * 1.1510 * (Yc + 0.6302), 0.0, None)
    Yp_quad = (2.7811 - ops.sqrt(disc)) / (2 * 1.1510)
    Yp = ops.where(Yc <= lo, Yc / 1.077, ops.where(Yc < hi, Yp_quad, (Yc - 0.5) / 0.5))
    return (ops.exp(Yp * math.log(rho_h)) - 1) / (rho_h - 1)


class BT2446aOperator(Operator):
    """ITU-R BT.2446-1 Method A run backwards: SDR 1.0 -> the peak (1000 cd/m2 by default).

    Works in BT.2020 Y'C'bC'r with gamma 2.4, as the Recommendation does: luma goes through the inverse
    tone curve, chroma through the inverse of the colour-correction step f = Y'_SDR / (1.1 Y').
    """

    name = "bt2446a"
    description = "ITU-R BT.2446 Method A inverse (SDR white -> peak)"

    def expand(self, V):
        ops = color._ops(V)
        # SDR input: decode with the chosen EOTF, move to BT.2020, re-encode as gamma 2.4 (BT.2446's domain).
        lin2020 = ops.clip(color.RGB_BT709_to_BT2020(color.eotf_input(V, self.config.input_gamma)), 0.0, None)
        Rp, Gp, Bp = (ops.pow(channel(lin2020, i), 1 / 2.4) for i in range(3))
        kr, kg, kb = color.WEIGHTS_BT2020
        Y_tmo = kr * Rp + kg * Gp + kb * Bp
        Cb_tmo = (Bp - Y_tmo) / 1.8814  # BT.2020-2 Table 4: C'b = (B' - Y') / 1.8814
        Cr_tmo = (Rp - Y_tmo) / 1.4746
        # Step 6 inverse: Y'_tmo = Y'_SDR - max(0.1 C'r,tmo, 0).
        Y_sdr = ops.clip(Y_tmo + ops.clip(0.1 * Cr_tmo, 0.0, None), 0.0, 1.0)
        Y_hdr = luma_inverse_BT2446a(Y_sdr, 100.0, self.levels.peak)
        # Step 6 inverse: C' = C'_tmo / f, with f = Y'_SDR / (1.1 Y').
        gain = 1.1 * Y_hdr / ops.clip(Y_sdr, 1e-6, None)
        Cb, Cr = Cb_tmo * gain, Cr_tmo * gain
        R = Y_hdr + 1.4746 * Cr
        B = Y_hdr + 1.8814 * Cb
        G = (Y_hdr - kr * R - kb * B) / kg
        rgb2020 = ops.pow(ops.clip(stack_channels(R, G, B), 0.0, 1.0), 2.4) * self.levels.peak
        return color.RGB_BT2020_to_BT709(rgb2020) / self.levels.paper_white


# ITU-R BT.2446-1 clause 6 (Method C) constants for the tone curve (Table 5).
_BT2446C_K1 = 0.83802
_BT2446C_K2 = 15.09968
_BT2446C_K3 = 0.74204
_BT2446C_K4 = 78.99439
_BT2446C_Y_SDR_IP = 58.5  # cd/m2: inflection point of the SDR side


def luminance_inverse_BT2446c(Y_sdr_nits):
    """Inverse of ITU-R BT.2446-1 Method C's tone curve (clause 6.2), in cd/m2.

    Forward: Y_SDR = k1 Y_HDR below the inflection point, k2 ln(Y_HDR / Y_HDR,ip - k3) + k4 above it.
    """
    ops, Y = color._prepare(Y_sdr_nits)
    Y_hdr_ip = _BT2446C_Y_SDR_IP / _BT2446C_K1
    upper = (ops.exp((Y - _BT2446C_K4) / _BT2446C_K2) + _BT2446C_K3) * Y_hdr_ip
    return ops.where(Y < _BT2446C_Y_SDR_IP, Y / _BT2446C_K1, upper)


class BT2446cOperator(Operator):
    """ITU-R BT.2446-1 Method C run backwards, on luminance with hue and saturation kept.

    Method C is the one BT.2446 designs to be invertible: SDR at 100 cd/m2 reference white expands to
    about 330 cd/m2 at SDR 1.0 (its "super-white" 109 % corresponds to 1000 cd/m2). Conservative by design.
    """

    name = "bt2446c"
    description = "ITU-R BT.2446 Method C inverse (gentle, invertible curve)"

    def expand(self, V):
        ops = color._ops(V)
        lin = color.eotf_input(V, self.config.input_gamma)
        Y = color.luminance_BT709(lin)
        Y_hdr = luminance_inverse_BT2446c(Y * color.SDR_REFERENCE_WHITE)
        ratio = Y_hdr / ops.clip(Y * color.SDR_REFERENCE_WHITE, 1e-6, None)
        return lin * expand_channel_dim(ratio) * (color.SDR_REFERENCE_WHITE / self.levels.paper_white)


# --------------------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------------------
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


for _cls in (NaiveOperator, BT2446aOperator, BT2446cOperator):
    register_operator(_cls.name, _cls, _cls.description)


def _load_learned():
    """Learned models register themselves from livehdr.models (imported lazily: torch-heavy)."""
    global _learned_loaded
    if _learned_loaded:
        return
    _learned_loaded = True
    try:
        from livehdr import models
    except ImportError:
        return
    hook = getattr(models, "register_operators", None)
    if hook is not None:
        hook(register_operator)


def list_operators() -> list[OperatorEntry]:
    _load_learned()
    return list(_REGISTRY.values())


def default_operator_name() -> str:
    """The learned model once it has shipped weights that beat `naive` (see models/*.json); else naive."""
    _load_learned()
    from_models = None
    try:
        from livehdr import models

        from_models = getattr(models, "default_operator_name", lambda: None)()
    except ImportError:
        pass
    return from_models if from_models in _REGISTRY else "naive"


def create_operator(name: str, config: OperatorConfig | None = None) -> Operator:
    _load_learned()
    if name not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY))
        raise UserError(f"unknown model {name!r}; available: {known} (see --list-models)")
    return _REGISTRY[name].factory(config or OperatorConfig())
