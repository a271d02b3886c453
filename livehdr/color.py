"""The colour contract: transfer functions, primaries, nits conventions.

Every function works on numpy arrays *and* torch tensors from one definition (the ``_ops`` shim picks the
namespace), so the CPU path, the training losses and the GPU engine cannot drift apart.

Names follow the standards, in colour-science's style: ``eotf_<standard>``, ``eotf_inverse_<standard>``,
``oetf_<standard>``.  Each docstring cites the clause it implements.

Conventions (DESIGN.md):
- operator output is *linear light, BT.709 primaries, relative to SDR reference white* (1.0 = paper white);
- absolute nits = relative x paper_white (default 203 cd/m2, ITU-R BT.2408-7 clause 2.2);
- the display peak defaults to 1000 cd/m2; highlights above it are rolled off softly, never hard-clipped.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numpy as np

try:  # torch is a core dependency, but keep color.py importable without it (e.g. in tiny tools)
    import torch
except ImportError:  # pragma: no cover
    torch = None


# --------------------------------------------------------------------------------------------------------
# numpy / torch shim
# --------------------------------------------------------------------------------------------------------
class _NumpyOps:
    where = staticmethod(np.where)
    exp = staticmethod(np.exp)
    log = staticmethod(np.log)
    sqrt = staticmethod(np.sqrt)

    @staticmethod
    def pow(x, p):
        return np.power(x, p)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return np.clip(x, lo, hi)

    @staticmethod
    def asarray(x):
        x = np.asarray(x)
        return x if x.dtype.kind == "f" else x.astype(np.float64)

    @staticmethod
    def matmul_rgb(x, m):
        return x @ np.asarray(m, dtype=x.dtype).T


class _TorchOps:
    @staticmethod
    def where(c, a, b):
        return torch.where(c, a, b)

    exp = staticmethod(lambda x: torch.exp(x))
    log = staticmethod(lambda x: torch.log(x))
    sqrt = staticmethod(lambda x: torch.sqrt(x))

    @staticmethod
    def pow(x, p):
        return torch.pow(x, p)

    @staticmethod
    def clip(x, lo=None, hi=None):
        return torch.clamp(x, lo, hi)

    @staticmethod
    def asarray(x):
        return x if x.is_floating_point() else x.float()

    @staticmethod
    def matmul_rgb(x, m):
        # torch tensors follow the N x 3 x H x W layout of the operators.
        mt = torch.as_tensor(np.asarray(m), dtype=x.dtype, device=x.device)
        return torch.einsum("ij,...jhw->...ihw", mt, x)


def _ops(x):
    if torch is not None and isinstance(x, torch.Tensor):
        return _TorchOps
    return _NumpyOps


def _prepare(x):
    ops = _ops(x)
    return ops, ops.asarray(x)


# --------------------------------------------------------------------------------------------------------
# Reference levels
# --------------------------------------------------------------------------------------------------------
PAPER_WHITE_BT2408 = 203.0  # cd/m2, ITU-R BT.2408-7 clause 2.2 (HDR reference white)
PEAK_DEFAULT = 1000.0  # cd/m2, typical HDR10 mastering peak
SDR_REFERENCE_WHITE = 100.0  # cd/m2, ITU-R BT.2035 / BT.1886 reference display
PQ_PEAK = 10000.0  # cd/m2, SMPTE ST 2084 absolute ceiling


@dataclass(frozen=True)
class ReferenceLevels:
    """Where SDR reference white and the display peak sit, in cd/m2.

    ``headroom`` is the largest relative value an operator may return: peak / paper_white.
    """

    paper_white: float = PAPER_WHITE_BT2408
    peak: float = PEAK_DEFAULT

    def __post_init__(self):
        if not (math.isfinite(self.peak) and self.peak > 0):
            raise ValueError(f"peak must be a positive number of cd/m2, got {self.peak}")
        if not (math.isfinite(self.paper_white) and self.paper_white > 0):
            raise ValueError(f"paper white must be a positive number of cd/m2, got {self.paper_white}")
        if self.paper_white > self.peak:
            raise ValueError(f"paper white ({self.paper_white:g}) cannot be above the peak ({self.peak:g})")
        if self.peak > PQ_PEAK:
            raise ValueError(f"peak {self.peak:g} cd/m2 is above PQ's 10000 cd/m2 ceiling")

    @property
    def headroom(self) -> float:
        return self.peak / self.paper_white


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
    return 1.2 + 0.42 * math.log10(L_W / 1000.0)


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
# Primaries and luminance
# --------------------------------------------------------------------------------------------------------
# ITU-R BT.2087-0 clause 2: linear BT.709 RGB -> linear BT.2020 RGB.
MATRIX_BT709_TO_BT2020 = np.array(
    [
        [0.6274039, 0.3292830, 0.0433131],
        [0.0690973, 0.9195404, 0.0113623],
        [0.0163914, 0.0880133, 0.8955953],
    ]
)
MATRIX_BT2020_TO_BT709 = np.linalg.inv(MATRIX_BT709_TO_BT2020)

WEIGHTS_BT709 = (0.2126, 0.7152, 0.0722)  # ITU-R BT.709-6 item 3.2
WEIGHTS_BT2020 = (0.2627, 0.6780, 0.0593)  # ITU-R BT.2020-2 Table 4
WEIGHTS_BT601 = (0.299, 0.587, 0.114)  # ITU-R BT.601-7 clause 2.5.1


def channel(x, i):
    """Channel i of H x W x 3 numpy or N x 3 x H x W torch."""
    return x[..., i] if _ops(x) is _NumpyOps else x[..., i, :, :]


def stack_channels(c0, c1, c2):
    """Inverse of ``channel``: three planes back into the layout of their type."""
    if _ops(c0) is _NumpyOps:
        return np.stack([c0, c1, c2], axis=-1)
    return torch.stack([c0, c1, c2], dim=-3)


def expand_channel_dim(plane):
    """A luminance plane shaped to broadcast against the RGB layout of its type."""
    return plane[..., None] if _ops(plane) is _NumpyOps else plane.unsqueeze(-3)


def _weighted(x, w):
    return w[0] * channel(x, 0) + w[1] * channel(x, 1) + w[2] * channel(x, 2)


def luminance_BT709(rgb):
    """Relative luminance Y of linear BT.709 RGB (H x W x 3 numpy or N x 3 x H x W torch)."""
    return _weighted(rgb, WEIGHTS_BT709)


def luminance_BT2020(rgb):
    """Relative luminance Y of linear BT.2020 RGB."""
    return _weighted(rgb, WEIGHTS_BT2020)


def RGB_BT709_to_BT2020(rgb):
    ops, rgb = _prepare(rgb)
    return ops.matmul_rgb(rgb, MATRIX_BT709_TO_BT2020)


def RGB_BT2020_to_BT709(rgb):
    ops, rgb = _prepare(rgb)
    return ops.matmul_rgb(rgb, MATRIX_BT2020_TO_BT709)


# --------------------------------------------------------------------------------------------------------
# Highlight roll-off
# --------------------------------------------------------------------------------------------------------
def rolloff_knee(peak: float) -> float:
    """Where the roll-off starts: 75 % of the peak (BT.2390's EETF also bends at about that point)."""
    return 0.75 * peak


def rolloff_slope(peak: float, source_peak: float | None = None) -> float:
    """The shoulder's constant a: chosen so that ``source_peak`` lands exactly on ``peak``."""
    k = rolloff_knee(peak)
    if source_peak is None or not math.isfinite(source_peak):
        return 1.0 / (peak - k)
    if source_peak <= peak:
        return 0.0
    return 1.0 / (peak - k) - 1.0 / (source_peak - k)


def rolloff_highlights(nits, peak: float = PEAK_DEFAULT, source_peak: float | None = None):
    """Soft shoulder into the display ``peak`` for content that may reach ``source_peak`` (cd/m2).

    Identity below the knee k; above it f(x) = k + (x - k) / (1 + a (x - k)), which has slope 1 at the
    knee (C1, no visible kink), is monotonic, and maps ``source_peak`` exactly onto ``peak`` (with no
    source peak given, it approaches the peak asymptotically). When the content already fits
    (source_peak <= peak), a = 0 and nothing changes: mastering-accurate output stays untouched.
    The result never exceeds the peak.
    """
    ops, x = _prepare(nits)
    k = rolloff_knee(peak)
    a = rolloff_slope(peak, source_peak)
    d = ops.clip(x - k, 0.0, None)
    shoulder = k + d / (1 + a * d)
    return ops.clip(ops.where(x > k, shoulder, x), None, peak)


# --------------------------------------------------------------------------------------------------------
# Complete encodings (after the operator)
# --------------------------------------------------------------------------------------------------------
def relative_BT709_to_display_nits_BT2020(relative, levels: ReferenceLevels, source_peak: float | None = None):
    """Operator output -> absolute, rolled-off, BT.2020 nits: the common head of every HDR encoding.

    ``source_peak`` (cd/m2) is the brightest the content can be; operators honour the contract and stay
    within ``levels.peak``, so by default it equals the peak and the roll-off only clips stray values.
    """
    ops, relative = _prepare(relative)
    nits = RGB_BT709_to_BT2020(ops.clip(relative, 0.0, None) * levels.paper_white)
    src = levels.peak if source_peak is None else source_peak
    return rolloff_highlights(ops.clip(nits, 0.0, None), levels.peak, src)


def encode_PQ_BT2020(relative, levels: ReferenceLevels = ReferenceLevels(), source_peak: float | None = None):
    """Operator output (linear BT.709, relative) -> PQ BT.2020 R'G'B' code values in [0, 1] (HDR10)."""
    return eotf_inverse_ST2084(relative_BT709_to_display_nits_BT2020(relative, levels, source_peak))


def encode_HLG_BT2020(relative, levels: ReferenceLevels = ReferenceLevels(), source_peak: float | None = None):
    """Operator output -> HLG BT.2020 R'G'B' for a display of nominal peak ``levels.peak``.

    Display light goes through the inverse OOTF to scene light and then the OETF (BT.2100-2 Table 5).
    """
    nits = relative_BT709_to_display_nits_BT2020(relative, levels, source_peak)
    return oetf_BT2100_HLG(ootf_inverse_BT2100_HLG(nits, levels.peak))


def tonemap_preview_SDR(relative, levels: ReferenceLevels = ReferenceLevels()):
    """HDR -> SDR preview (BT.709, sRGB code values) for ordinary screens: paper white maps near 0.8
    and the headroom above it is squeezed by an extended Reinhard curve, so highlights stay visible."""
    ops, x = _prepare(relative)
    x = ops.clip(x, 0.0, None)
    w = max(levels.headroom, 1.0 + 1e-6)
    y = _ops(x).clip(x * (1 + x / (w * w)) / (1 + x), 0.0, 1.0)
    return eotf_inverse_sRGB(y)
