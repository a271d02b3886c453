"""Transfer functions, named after their standards with the clause cited (colour-science's style):
``eotf_<standard>``, ``eotf_inverse_<standard>``, ``oetf_<standard>``. ``CURVES`` lists each with its inverse.
"""
from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable

from livehdr.color.levels import PEAK_DEFAULT, PQ_PEAK
from livehdr.color.primaries import expand_channel_dim, luminance_BT2020
from livehdr.color.shim import _prepare


# --------------------------------------------------------------------------------------------------------
# SDR transfer functions
# --------------------------------------------------------------------------------------------------------
def eotf_sRGB(V):
    """IEC 61966-2-1:1999 clause 5.2: the piecewise sRGB decoding (linear segment below 0.04045)."""
    ops, V = _prepare(V)
    return ops.where(V <= 0.04045, V / 12.92, ops.pow(ops.clip((V + 0.055) / 1.055, 0.0, None), 2.4))


def eotf_inverse_sRGB(L):
    """IEC 61966-2-1:1999 clause 5.3: linear -> sRGB code value."""
    ops, L = _prepare(L)
    return ops.where(L <= 0.0031308, L * 12.92, 1.055 * ops.pow(ops.clip(L, 0.0031308, None), 1 / 2.4) - 0.055)


def eotf_gamma(V, gamma: float):
    """A pure power-law display (gamma 2.2 for most PC/game mastering, 2.4 for BT.1886 with zero black)."""
    ops, V = _prepare(V)
    return ops.pow(ops.clip(V, 0.0, None), gamma)


def eotf_inverse_gamma(L, gamma: float):
    ops, L = _prepare(L)
    return ops.pow(ops.clip(L, 0.0, None), 1.0 / gamma)


def eotf_BT1886(V, L_B: float = 0.0, L_W: float = 1.0):
    """ITU-R BT.1886 Annex 1: L = a * max(V + b, 0)^2.4, with a, b from the display's black and white."""
    ops, V = _prepare(V)
    g = 2.4
    n = L_W ** (1 / g) - L_B ** (1 / g)
    a = n**g
    b = L_B ** (1 / g) / n
    return a * ops.pow(ops.clip(V + b, 0.0, None), g)


def eotf_inverse_BT1886(L, L_B: float = 0.0, L_W: float = 1.0):
    """Inverse of ITU-R BT.1886 Annex 1."""
    ops, L = _prepare(L)
    g = 2.4
    n = L_W ** (1 / g) - L_B ** (1 / g)
    a = n**g
    b = L_B ** (1 / g) / n
    return ops.pow(ops.clip(L / a, 0.0, None), 1 / g) - b


INPUT_GAMMAS = ("srgb", "2.2", "2.4")


def eotf_input(V, input_gamma: str = "srgb"):
    """Decode SDR code values with the explicitly chosen display EOTF (``--input-gamma``).

    Games and PCs are often mastered on gamma 2.2 screens; video on BT.1886 (2.4). Mixing them up
    raises or crushes blacks, so the choice is always explicit.
    """
    if input_gamma == "srgb":
        return eotf_sRGB(V)
    if input_gamma in ("2.2", "2.4"):
        return eotf_gamma(V, float(input_gamma))
    raise ValueError(f"unknown input gamma {input_gamma!r}; choose one of {', '.join(INPUT_GAMMAS)}")


def eotf_inverse_input(L, input_gamma: str = "srgb"):
    if input_gamma == "srgb":
        return eotf_inverse_sRGB(L)
    if input_gamma in ("2.2", "2.4"):
        return eotf_inverse_gamma(L, float(input_gamma))
    raise ValueError(f"unknown input gamma {input_gamma!r}; choose one of {', '.join(INPUT_GAMMAS)}")



# --------------------------------------------------------------------------------------------------------
# SMPTE ST 2084 (PQ)
# --------------------------------------------------------------------------------------------------------
PQ_M1 = 2610 / 16384  # SMPTE ST 2084:2014 clause 5.1 constants
PQ_M2 = 2523 / 4096 * 128
PQ_C1 = 3424 / 4096
PQ_C2 = 2413 / 4096 * 32
PQ_C3 = 2392 / 4096 * 32


def eotf_inverse_ST2084(nits, L_p: float = PQ_PEAK):
    """SMPTE ST 2084:2014 clause 5.3 (inverse EOTF): absolute cd/m2 -> PQ code value in [0, 1]."""
    ops, nits = _prepare(nits)
    Y = ops.clip(nits / L_p, 0.0, 1.0)
    Ym = ops.pow(Y, PQ_M1)
    return ops.pow((PQ_C1 + PQ_C2 * Ym) / (1 + PQ_C3 * Ym), PQ_M2)


def eotf_ST2084(N, L_p: float = PQ_PEAK):
    """SMPTE ST 2084:2014 clause 5.2 (EOTF): PQ code value in [0, 1] -> absolute cd/m2."""
    ops, N = _prepare(N)
    Np = ops.pow(ops.clip(N, 0.0, 1.0), 1 / PQ_M2)
    return L_p * ops.pow(ops.clip(Np - PQ_C1, 0.0, None) / (PQ_C2 - PQ_C3 * Np), 1 / PQ_M1)



# --------------------------------------------------------------------------------------------------------
# ITU-R BT.2100 HLG
# --------------------------------------------------------------------------------------------------------
HLG_A = 0.17883277  # ITU-R BT.2100-2 Table 5
HLG_B = 1 - 4 * HLG_A
HLG_C = 0.5 - HLG_A * math.log(4 * HLG_A)
HLG_REFERENCE_PEAK = 1e3  # cd/m2: the display at which BT.2100's HLG system gamma is 1.2 (Table 5 note 5f)


def oetf_BT2100_HLG(E):
    """ITU-R BT.2100-2 Table 5, HLG OETF: normalised scene light E in [0, 1] -> signal E' in [0, 1]."""
    ops, E = _prepare(E)
    E = ops.clip(E, 0.0, None)
    return ops.where(
        E <= 1 / 12,
        ops.sqrt(3 * E),
        HLG_A * ops.log(ops.clip(12 * E - HLG_B, 1e-12, None)) + HLG_C,
    )


def oetf_inverse_BT2100_HLG(E_p):
    """ITU-R BT.2100-2 Table 5, inverse HLG OETF: signal -> normalised scene light."""
    ops, E_p = _prepare(E_p)
    E_p = ops.clip(E_p, 0.0, None)
    return ops.where(E_p <= 0.5, E_p * E_p / 3, (ops.exp((E_p - HLG_C) / HLG_A) + HLG_B) / 12)


def gamma_BT2100_HLG(L_W: float = PEAK_DEFAULT) -> float:
    """ITU-R BT.2100-2 Table 5 note 5f: system gamma 1.2 at 1000 cd/m2, 1.2 + 0.42 log10(L_W / 1000)."""
    return 1.2 + 0.42 * math.log10(L_W / HLG_REFERENCE_PEAK)


def ootf_BT2100_HLG(E_rgb2020, L_W: float = PEAK_DEFAULT):
    """ITU-R BT.2100-2 Table 5, HLG OOTF: scene-linear BT.2020 RGB -> display nits (L_B = 0).

    Accepts H x W x 3 numpy or N x 3 x H x W torch.
    """
    g = gamma_BT2100_HLG(L_W)
    ops, E = _prepare(E_rgb2020)
    Y = luminance_BT2020(E)
    return L_W * expand_channel_dim(ops.pow(ops.clip(Y, 1e-12, None), g - 1)) * E


def ootf_inverse_BT2100_HLG(F_D_rgb2020, L_W: float = PEAK_DEFAULT):
    """Inverse HLG OOTF (BT.2100-2 Table 5): display nits (BT.2020) -> normalised scene light."""
    g = gamma_BT2100_HLG(L_W)
    ops, F = _prepare(F_D_rgb2020)
    Y_d = luminance_BT2020(F) / L_W
    scale = ops.pow(ops.clip(Y_d, 1e-12, None), (1 - g) / g) / L_W
    return expand_channel_dim(scale) * F



# --------------------------------------------------------------------------------------------------------
# The table: each curve with its inverse (libplacebo-style)
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Curve:
    """A transfer function and its exact inverse. ``decode`` goes from signal to light, ``encode`` back."""

    name: str
    standard: str
    decode: Callable
    encode: Callable


CURVES: dict[str, Curve] = {c.name: c for c in (
    Curve("srgb", "IEC 61966-2-1:1999 clause 5.2 / 5.3", eotf_sRGB, eotf_inverse_sRGB),
    Curve("2.2", "pure power 2.2 (PC and game displays)", lambda V: eotf_gamma(V, 2.2),
          lambda L: eotf_inverse_gamma(L, 2.2)),
    Curve("2.4", "pure power 2.4 (ITU-R BT.1886 with zero black)", lambda V: eotf_gamma(V, 2.4),
          lambda L: eotf_inverse_gamma(L, 2.4)),
    Curve("bt1886", "ITU-R BT.1886 Annex 1", eotf_BT1886, eotf_inverse_BT1886),
    Curve("pq", "SMPTE ST 2084:2014 clauses 5.2 / 5.3 (cd/m2)", eotf_ST2084, eotf_inverse_ST2084),
    Curve("hlg", "ITU-R BT.2100-2 Table 5 (inverse OETF / OETF)", oetf_inverse_BT2100_HLG, oetf_BT2100_HLG),
)}

__all__ = [
    "Curve",
    "CURVES",
    "HLG_REFERENCE_PEAK",
    "eotf_sRGB",
    "eotf_inverse_sRGB",
    "eotf_gamma",
    "eotf_inverse_gamma",
    "eotf_BT1886",
    "eotf_inverse_BT1886",
    "INPUT_GAMMAS",
    "eotf_input",
    "eotf_inverse_input",
    "PQ_M1",
    "PQ_M2",
    "PQ_C1",
    "PQ_C2",
    "PQ_C3",
    "eotf_inverse_ST2084",
    "eotf_ST2084",
    "HLG_A",
    "HLG_B",
    "HLG_C",
    "oetf_BT2100_HLG",
    "oetf_inverse_BT2100_HLG",
    "gamma_BT2100_HLG",
    "ootf_BT2100_HLG",
    "ootf_inverse_BT2100_HLG",
]
