"""The classical curves as one table (libplacebo's tone-mapping functions are the model): each entry has
a name, a description, its parameters with min / default / max, the expansion (SDR code values -> relative
linear HDR) and its forward inverse (relative linear HDR -> SDR code values, the SDR-side curve).

All maths runs on numpy H x W x 3 and torch N x 3 x H x W alike (``livehdr.color``'s shim).
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable

import numpy as np

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.color import ReferenceLevels, channel, expand_channel_dim, stack_channels
from livehdr.operators.base import Operator, OperatorConfig, adjust_saturation


@dataclass(frozen=True)
class Param:
    name: str
    minimum: float
    default: float
    maximum: float
    doc: str


@dataclass(frozen=True)
class Curve:
    """One entry of the table. ``expand(V, levels, input_gamma, **params)`` and
    ``forward(relative, levels, input_gamma, **params)`` are inverses of each other on [0, 1]."""

    name: str
    description: str
    expand: Callable
    forward: Callable
    params: tuple[Param, ...] = ()


# --------------------------------------------------------------------------------------------------------
# naive: the "sRGB inverse" of game mods and most players
# --------------------------------------------------------------------------------------------------------
def expand_naive(V, levels: ReferenceLevels, input_gamma: str):
    """Decode with the input EOTF; SDR white lands on paper white. No expansion at all."""
    return color.eotf_input(V, input_gamma)


def forward_naive(relative, levels: ReferenceLevels, input_gamma: str):
    ops = color.ops_for(relative)
    return color.eotf_inverse_input(ops.clip(relative, 0.0, 1.0), input_gamma)


# --------------------------------------------------------------------------------------------------------
# ITU-R BT.2446-1 Method A (clause 4.2), run backwards
# --------------------------------------------------------------------------------------------------------
BT2446A_YP_KNEE_LOW = 0.7399
BT2446A_YP_KNEE_HIGH = 0.9909


def _rho_BT2446a(L: float) -> float:
    """BT.2446-1 Method A, steps 2 and 5: rho = 1 + 32 (L / 10000)^(1/2.4)."""
    return 1 + 32 * (L / color.PQ_PEAK) ** (1 / 2.4)


def luma_forward_BT2446a(Yp_hdr, L_hdr: float, L_sdr: float = color.SDR_REFERENCE_WHITE):
    """ITU-R BT.2446-1 Method A steps 2-5 as written: HDR gamma-2.4 luma Y' -> SDR luma Y'_SDR."""
    ops, Yp_hdr = color.prepare_array(Yp_hdr)
    rho_h, rho_s = _rho_BT2446a(L_hdr), _rho_BT2446a(L_sdr)
    Yp = ops.log(1 + (rho_h - 1) * ops.clip(Yp_hdr, 0.0, 1.0)) / math.log(rho_h)
    Yc = ops.where(Yp <= BT2446A_YP_KNEE_LOW, 1.077 * Yp,
                   ops.where(Yp < BT2446A_YP_KNEE_HIGH, -1.1510 * Yp * Yp + 2.7811 * Yp - 0.6302, 0.5 * Yp + 0.5))
    return (ops.exp(Yc * math.log(rho_s)) - 1) / (rho_s - 1)


def luma_inverse_BT2446a(Y_sdr, L_sdr: float = color.SDR_REFERENCE_WHITE, L_hdr: float = color.PEAK_DEFAULT):
    """Inverse of the luma tone curve of ITU-R BT.2446-1 Method A (clause 4.2, steps 2-5).

    Takes SDR gamma-2.4 luma Y'_SDR in [0, 1]; returns HDR gamma-2.4 luma Y' (normalised to L_hdr).
    Each forward step is invertible in closed form:
      step 5: Y'_SDR = (rho_SDR^Y'c - 1)/(rho_SDR - 1)   ->  Y'c = log(1 + (rho_SDR-1) Y'_SDR)/log(rho_SDR)
      step 4: the three-piece curve (linear / quadratic / linear) is monotonic; invert each piece
      step 3: Y'p = log(1 + (rho_HDR-1) Y')/log(rho_HDR)  ->  Y' = (rho_HDR^Y'p - 1)/(rho_HDR - 1)
    """
    ops, Y_sdr = color.prepare_array(Y_sdr)
    rho_s = _rho_BT2446a(L_sdr)
    rho_h = _rho_BT2446a(L_hdr)
    Yc = ops.log(1 + (rho_s - 1) * ops.clip(Y_sdr, 0.0, 1.0)) / math.log(rho_s)
    lo = 1.077 * BT2446A_YP_KNEE_LOW  # Y'c at the first knee
    hi = 0.5 * BT2446A_YP_KNEE_HIGH + 0.5  # Y'c at the second knee
    # Quadratic piece: -1.1510 p^2 + 2.7811 p - 0.6302 = c  ->  smaller root of the increasing branch.
    disc = ops.clip(2.7811**2 - 4 * 1.1510 * (Yc + 0.6302), 0.0, None)
    Yp_quad = (2.7811 - ops.sqrt(disc)) / (2 * 1.1510)
    Yp = ops.where(Yc <= lo, Yc / 1.077, ops.where(Yc < hi, Yp_quad, (Yc - 0.5) / 0.5))
    return (ops.exp(Yp * math.log(rho_h)) - 1) / (rho_h - 1)


def _ycbcr_BT2020(rgb_p):
    """BT.2020-2 Table 4 non-constant luminance: Y' = weights . R'G'B', C'b = (B'-Y')/1.8814, C'r = (R'-Y')/1.4746."""
    kr, kg, kb = color.WEIGHTS_BT2020
    Rp, Gp, Bp = (channel(rgb_p, i) for i in range(3))
    Y = kr * Rp + kg * Gp + kb * Bp
    return Y, (Bp - Y) / 1.8814, (Rp - Y) / 1.4746


def _rgb_BT2020(Y, Cb, Cr):
    kr, kg, kb = color.WEIGHTS_BT2020
    R = Y + 1.4746 * Cr
    B = Y + 1.8814 * Cb
    return stack_channels(R, (Y - kr * R - kb * B) / kg, B)


def expand_BT2446a(V, levels: ReferenceLevels, input_gamma: str, sdr_white: float = color.SDR_REFERENCE_WHITE):
    """BT.2446-1 Method A backwards, in BT.2020 Y'C'bC'r with gamma 2.4 as the Recommendation works: luma
    through the inverse tone curve, chroma through the inverse of the colour correction f = Y'_SDR / (1.1 Y')."""
    ops = color.ops_for(V)
    lin2020 = ops.clip(color.RGB_BT709_to_BT2020(color.eotf_input(V, input_gamma)), 0.0, None)
    Y_tmo, Cb_tmo, Cr_tmo = _ycbcr_BT2020(ops.pow(lin2020, 1 / 2.4))
    # Step 6 inverse: Y'_tmo = Y'_SDR - max(0.1 C'r,tmo, 0).
    Y_sdr = ops.clip(Y_tmo + ops.clip(0.1 * Cr_tmo, 0.0, None), 0.0, 1.0)
    Y_hdr = luma_inverse_BT2446a(Y_sdr, sdr_white, levels.peak)
    gain = 1.1 * Y_hdr / ops.clip(Y_sdr, 1e-6, None)  # C' = C'_tmo / f
    rgb2020 = ops.pow(ops.clip(_rgb_BT2020(Y_hdr, Cb_tmo * gain, Cr_tmo * gain), 0.0, 1.0), 2.4) * levels.peak
    return color.RGB_BT2020_to_BT709(rgb2020) / levels.paper_white


def forward_BT2446a(relative, levels: ReferenceLevels, input_gamma: str,
                    sdr_white: float = color.SDR_REFERENCE_WHITE):
    """BT.2446-1 Method A as written (clause 4.2, steps 1-6): relative HDR -> SDR code values."""
    ops = color.ops_for(relative)
    nits2020 = ops.clip(color.RGB_BT709_to_BT2020(ops.clip(relative, 0.0, None) * levels.paper_white), 0.0, None)
    Y_hdr, Cb, Cr = _ycbcr_BT2020(ops.pow(ops.clip(nits2020 / levels.peak, 0.0, 1.0), 1 / 2.4))  # step 1
    Y_sdr = luma_forward_BT2446a(Y_hdr, levels.peak, sdr_white)  # steps 2-5
    f = Y_sdr / ops.clip(1.1 * Y_hdr, 1e-6, None)  # step 6: colour correction
    Cb_tmo, Cr_tmo = Cb * f, Cr * f
    Y_tmo = Y_sdr - ops.clip(0.1 * Cr_tmo, 0.0, None)
    lin2020 = ops.pow(ops.clip(_rgb_BT2020(Y_tmo, Cb_tmo, Cr_tmo), 0.0, 1.0), 2.4)
    return color.eotf_inverse_input(ops.clip(color.RGB_BT2020_to_BT709(lin2020), 0.0, 1.0), input_gamma)


# --------------------------------------------------------------------------------------------------------
# ITU-R BT.2446-1 Method C (clause 6), run backwards on luminance with hue and saturation kept
# --------------------------------------------------------------------------------------------------------
BT2446C_K1 = 0.83802  # Table 5
BT2446C_K2 = 15.09968
BT2446C_K3 = 0.74204
BT2446C_K4 = 78.99439
BT2446C_Y_SDR_IP = 58.5  # cd/m2: inflection point of the SDR side


def luminance_forward_BT2446c(Y_hdr_nits):
    """ITU-R BT.2446-1 Method C tone curve (clause 6.2), cd/m2: k1 Y below the inflection point,
    k2 ln(Y / Y_HDR,ip - k3) + k4 above it."""
    ops, Y = color.prepare_array(Y_hdr_nits)
    Y_hdr_ip = BT2446C_Y_SDR_IP / BT2446C_K1
    upper = BT2446C_K2 * ops.log(ops.clip(Y / Y_hdr_ip - BT2446C_K3, 1e-12, None)) + BT2446C_K4
    return ops.where(Y < Y_hdr_ip, BT2446C_K1 * Y, upper)


def luminance_inverse_BT2446c(Y_sdr_nits):
    """Inverse of ITU-R BT.2446-1 Method C's tone curve (clause 6.2), in cd/m2."""
    ops, Y = color.prepare_array(Y_sdr_nits)
    Y_hdr_ip = BT2446C_Y_SDR_IP / BT2446C_K1
    upper = (ops.exp((Y - BT2446C_K4) / BT2446C_K2) + BT2446C_K3) * Y_hdr_ip
    return ops.where(Y < BT2446C_Y_SDR_IP, Y / BT2446C_K1, upper)


def expand_BT2446c(V, levels: ReferenceLevels, input_gamma: str):
    """Method C is the one BT.2446 designs to be invertible: SDR at 100 cd/m2 reference white expands to
    about 330 cd/m2 at SDR 1.0. Conservative by design."""
    ops = color.ops_for(V)
    lin = color.eotf_input(V, input_gamma)
    Y_sdr = color.luminance_BT709(lin) * color.SDR_REFERENCE_WHITE
    ratio = luminance_inverse_BT2446c(Y_sdr) / ops.clip(Y_sdr, 1e-6, None)
    return lin * expand_channel_dim(ratio) * (color.SDR_REFERENCE_WHITE / levels.paper_white)


def forward_BT2446c(relative, levels: ReferenceLevels, input_gamma: str):
    ops = color.ops_for(relative)
    nits = ops.clip(relative, 0.0, None) * levels.paper_white
    Y_hdr = color.luminance_BT709(nits)
    ratio = luminance_forward_BT2446c(Y_hdr) / ops.clip(Y_hdr, 1e-6, None)
    lin = nits * expand_channel_dim(ratio) / color.SDR_REFERENCE_WHITE
    return color.eotf_inverse_input(ops.clip(lin, 0.0, 1.0), input_gamma)


# --------------------------------------------------------------------------------------------------------
# The table and its operator
# --------------------------------------------------------------------------------------------------------
CURVES: dict[str, Curve] = {c.name: c for c in (
    Curve("naive", "inverse input EOTF, SDR white at paper white (no highlight expansion)",
          expand_naive, forward_naive),
    Curve("bt2446a", "ITU-R BT.2446 Method A inverse (SDR white -> peak)", expand_BT2446a, forward_BT2446a,
          (Param("sdr_white", 48.0, color.SDR_REFERENCE_WHITE, 400.0,
                 "cd/m2 of the SDR reference white the Method A curve assumes (L_SDR)"),)),
    Curve("bt2446c", "ITU-R BT.2446 Method C inverse (gentle, invertible curve)", expand_BT2446c,
          forward_BT2446c),
)}


class ClassicalOperator(Operator):
    """Runs one table entry under the operator contract."""

    pointwise = True

    def __init__(self, config: OperatorConfig, curve: Curve):
        super().__init__(config)
        self.curve = curve
        self.name = curve.name
        self.description = curve.description
        self.params = resolve_params(curve, dict(config.params))
        self.shader_curve = curve.name
        self._table = None

    def expand(self, V):
        return self.curve.expand(V, self.levels, self.config.input_gamma, **self.params)

    def forward(self, relative):
        """The SDR-side curve: relative linear HDR -> SDR code values (inverse of ``expand``)."""
        return self.curve.forward(relative, self.levels, self.config.input_gamma, **self.params)

    def expand_uint8(self, frame_u8: np.ndarray) -> np.ndarray:
        if self.curve.name != "naive":
            return super().expand_uint8(frame_u8)
        # naive is per channel with 8 bits in: a 256-entry table is exact and ~20x faster than pow() per pixel.
        if self._table is None:
            ramp = np.arange(256, dtype=np.float32)[:, None, None].repeat(3, 2) / 255
            self._table = np.asarray(self(ramp), dtype=np.float32)[:, 0, 0]
        out = self._table[frame_u8]
        if self.config.saturation != 1.0:  # the table holds neutral values; chroma needs the whole pixel
            out = np.clip(adjust_saturation(out, self.config.saturation), 0.0, self.max_relative)
        return out


def resolve_params(curve: Curve, given: dict) -> dict:
    """Defaults for the curve's parameters, overridden by ``given``, each checked against its range."""
    declared = {p.name: p for p in curve.params}
    unknown = set(given) - set(declared)
    if unknown:
        raise UserError(f"{curve.name} has no parameter {sorted(unknown)[0]!r}; "
                        f"it takes: {', '.join(declared) or 'none'}")
    values = {}
    for name, p in declared.items():
        value = float(given.get(name, p.default))
        if not p.minimum <= value <= p.maximum:
            raise UserError(f"{curve.name} {name}={value:g} is outside {p.minimum:g}..{p.maximum:g}")
        values[name] = value
    return values
