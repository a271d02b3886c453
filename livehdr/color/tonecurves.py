"""How cameras and games make SDR from scene-linear HDR: the tone curves we invert.

Each curve maps linear scene light (numpy H x W x 3 or torch N x 3 x H x W, any float) to *display-linear*
SDR in [0, 1], i.e. before the display's inverse EOTF.  ``sdr_from_hdr`` chains exposure, a curve, the
clip and the inverse EOTF; ``quantize_8bit`` then gives the uint8 frame a game would present.

The curves are applied per RGB channel, as real-time renderers do (it is also why game highlights
desaturate towards white, which an ITM operator has to learn to undo); AgX and PBR Neutral couple the channels
(a matrix, or the pixel's min / max), so they need the RGB layout.

Each curve also has its exact inverse (display-linear -> scene-linear over the range the curve does not clip),
and ``SOURCE_CURVES`` lists the curves a user can name as their source's (``--source-curve``), libplacebo-style:
the curve, its inverse, the display encoding its SDR is decoded with, and where it clips.
"""
from __future__ import annotations

from dataclasses import dataclass
import functools
import math
from typing import Callable

import numba
import numpy as np

from livehdr import color
from livehdr.color.primaries import channel, expand_channel_dim
from livehdr.color.shim import _NumpyOps, _prepare, torch
from livehdr.color.transfer import INPUT_GAMMAS

_TINY = 1e-12  # keeps the inverses finite (and warning-free) at their asymptotes; the operator clamps after


def tonemap_clip(x):
    """No tone curve: the display simply clips at 1 (cameras without a shoulder, naive renderers)."""
    ops, x = _prepare(x)
    return ops.clip(x, 0.0, 1.0)


def tonemap_reinhard(x, white: float | None = None):
    """Reinhard et al. 2002, "Photographic Tone Reproduction for Digital Images".

    Without ``white``: eq. 3, L / (1 + L).  With ``white`` (the smallest value that maps to 1): eq. 4,
    L (1 + L / white^2) / (1 + L).
    """
    ops, x = _prepare(x)
    x = ops.clip(x, 0.0, None)
    if white is None:
        y = x / (1.0 + x)
    else:
        if not white > 0:
            raise ValueError(f"Reinhard white point must be positive, got {white}")
        y = x * (1.0 + x / (white * white)) / (1.0 + x)
    return ops.clip(y, 0.0, 1.0)


def tonemap_inverse_clip(y):
    """Inverse of ``tonemap_clip`` below the clip: the identity on [0, 1].

    >>> tonemap_inverse_clip(np.array([0.25, 1.0, 2.0])).tolist()
    [0.25, 1.0, 1.0]
    """
    ops, y = _prepare(y)
    return ops.clip(y, 0.0, 1.0)


def tonemap_inverse_reinhard(y, white: float | None = None):
    """Inverse of Reinhard et al. 2002: eq. 3 gives L = y / (1 - y); eq. 4 the positive root of
    L^2 / white^2 + (1 - y) L - y = 0. Display 1 (never reached by eq. 3) gives a huge finite value.

    >>> float(tonemap_inverse_reinhard(np.array(0.75)))
    3.0
    >>> round(float(tonemap_inverse_reinhard(np.array(0.75), white=4.0)), 12)
    2.0
    """
    ops, y = _prepare(y)
    y = ops.clip(y, 0.0, 1.0)
    if white is None:
        return y / ops.clip(1.0 - y, _TINY, None)
    if not white > 0:
        raise ValueError(f"Reinhard white point must be positive, got {white}")
    w2 = white * white
    b = 1.0 - y
    return 2.0 * y / (b + ops.sqrt(b * b + 4.0 * y / w2))  # the root without cancellation (b >= 0)


# Narkowicz 2015, "ACES Filmic Tone Mapping Curve" (blog post, 2016-01-06): a rational fit to the
# ACES RRT+ODT for sRGB at 1000 nits; his post pre-scales the input by 0.6, which we leave to exposure.
ACES_NARKOWICZ = (2.51, 0.03, 2.43, 0.59, 0.14)


def tonemap_aces_fitted(x):
    """Narkowicz's ACES fit, x (a x + b) / (x (c x + d) + e), clipped to [0, 1].

    It saturates at a / c = 1.033 (so bright values clip to 1) and has a toe: f(0) = 0, f'(0) = b / e.
    """
    a, b, c, d, e = ACES_NARKOWICZ
    ops, x = _prepare(x)
    x = ops.clip(x, 0.0, None)
    return ops.clip(x * (a * x + b) / (x * (c * x + d) + e), 0.0, 1.0)


def tonemap_inverse_aces_fitted(y):
    """Inverse of Narkowicz's fit: the positive root of (a - c y) x^2 + (b - d y) x - e y = 0.

    >>> round(float(tonemap_inverse_aces_fitted(tonemap_aces_fitted(np.array(0.18)))), 12)
    0.18
    """
    a, b, c, d, e = ACES_NARKOWICZ
    ops, y = _prepare(y)
    y = ops.clip(y, 0.0, 1.0)
    qa, qb, qc = a - c * y, b - d * y, e * y  # qa > 0: the fit saturates above 1
    root = ops.sqrt(qb * qb + 4.0 * qa * qc)
    # each form of the root where it has no cancellation
    return ops.where(qb > 0, 2.0 * qc / ops.clip(qb + root, _TINY, None), (root - qb) / (2.0 * qa))


def aces_fitted_white() -> float:
    """The scene value where Narkowicz's fit reaches 1 (about 7.24): (a - c) x^2 + (b - d) x - e = 0."""
    a, b, c, d, e = ACES_NARKOWICZ
    return (-(b - d) + math.sqrt((b - d) ** 2 + 4 * (a - c) * e)) / (2 * (a - c))


# Hable 2010, "Filmic Tonemapping Operators" / GDC 2010 "Uncharted 2: HDR Lighting": the published constants.
HABLE_A = 0.15  # shoulder strength
HABLE_B = 0.50  # linear strength
HABLE_C = 0.10  # linear angle
HABLE_D = 0.20  # toe strength
HABLE_E = 0.02  # toe numerator
HABLE_F = 0.30  # toe denominator
HABLE_W = 11.2  # linear white point


def _hable_partial(x):
    A, B, C, D, E, F = HABLE_A, HABLE_B, HABLE_C, HABLE_D, HABLE_E, HABLE_F
    return (x * (A * x + C * B) + D * E) / (x * (A * x + B) + D * F) - E / F


def tonemap_hable(x):
    """Hable's Uncharted 2 filmic curve, normalised so that the white point W = 11.2 maps to 1."""
    ops, x = _prepare(x)
    x = ops.clip(x, 0.0, None)
    return ops.clip(_hable_partial(x) / _hable_partial(HABLE_W), 0.0, 1.0)


def tonemap_inverse_hable(y):
    """Inverse of Hable's curve: with z = y f(W) + E / F the rational f(x) + E / F = z is the quadratic
    A (1 - z) x^2 + B (C - z) x + D (E - F z) = 0, whose positive root is x.

    >>> round(float(tonemap_inverse_hable(np.array(1.0))), 9) == HABLE_W
    True
    """
    A, B, C, D, E, F = HABLE_A, HABLE_B, HABLE_C, HABLE_D, HABLE_E, HABLE_F
    ops, y = _prepare(y)
    z = ops.clip(y, 0.0, 1.0) * _hable_partial(HABLE_W) + E / F
    qa, qb, qc = A * (1.0 - z), B * (C - z), D * (E - F * z)  # qa > 0, qc <= 0
    root = ops.sqrt(ops.clip(qb * qb - 4.0 * qa * qc, 0.0, None))
    return ops.clip(ops.where(qb > 0, -2.0 * qc / ops.clip(qb + root, _TINY, None), (root - qb) / (2.0 * qa)),
                    0.0, None)


# --------------------------------------------------------------------------------------------------------
# AgX (Troy Sobotka), the base look without a "punchy" or "golden" look on top
# --------------------------------------------------------------------------------------------------------
# Sobotka, "AgX" (github.com/sobotka/AgX, 2022; Blender 4.0's default view transform). We follow the
# published real-time description of its base look, B. Wrensch, "Minimal AgX Implementation" (iolite-engine.com,
# 2023), which three.js and Godot also derive from: an inset matrix towards the achromatic axis, log2 over a
# fixed range around middle grey (0.18 x 2^-10 .. 0.18 x 2^6.5), a sigmoid (his 6th-order polynomial fit to
# Sobotka's curve), the outset (the inset's inverse), then the 2.2 power that linearises the result for an sRGB
# render target. GLSL's mat3 is column-major: the rows below are Wrensch's columns.
AGX_INSET = np.array([
    [0.842479062253094, 0.0784335999999992, 0.0792237451477643],
    [0.0423282422610123, 0.878468636469772, 0.0791661274605434],
    [0.0423756549057051, 0.0784336, 0.879142973793104],
])
AGX_OUTSET = np.linalg.inv(AGX_INSET)  # Wrensch prints this inverse to 15 digits; computing it keeps it exact
AGX_MIN_EV = math.log2(0.18 * 2.0**-10)  # -12.47393
AGX_MAX_EV = math.log2(0.18 * 2.0**6.5)  # 4.026069
AGX_SIGMOID = (15.5, -40.14, 31.96, -6.868, 0.4298, 0.1191, -0.00232)  # x^6 .. x^0 (monotone on [0, 1])
AGX_DISPLAY_GAMMA = 2.2


def _agx_sigmoid(t):
    y = 0.0
    for k in AGX_SIGMOID:  # Horner
        y = y * t + k
    return y


def _agx_sigmoid_slope(t):
    n = len(AGX_SIGMOID) - 1
    y = 0.0
    for i, k in enumerate(AGX_SIGMOID[:-1]):
        y = y * t + k * (n - i)
    return y


_AGX_GRID = np.linspace(0.0, 1.0, 1025)
_AGX_GRID_VALUES = _agx_sigmoid(_AGX_GRID)  # increasing: the table the inverse starts from


def _agx_sigmoid_inverse(s):
    """t in [0, 1] with sigmoid(t) = s: a start from a 1025-point table, then Newton (the polynomial's slope
    is at least 0.107 on [0, 1], so two steps reach float precision from the table's ~1e-5)."""
    lo, hi = float(_AGX_GRID_VALUES[0]), float(_AGX_GRID_VALUES[-1])
    if isinstance(s, np.ndarray):
        s = np.clip(s, lo, hi)
        t = np.interp(s, _AGX_GRID_VALUES, _AGX_GRID).astype(s.dtype, copy=False)
        clip = np.clip
    else:
        s = torch.clamp(s, lo, hi)
        grid = torch.as_tensor(_AGX_GRID_VALUES, dtype=s.dtype, device=s.device)
        i = torch.clamp(torch.bucketize(s, grid), 1, len(_AGX_GRID) - 1)
        s0, s1 = grid[i - 1], grid[i]
        t = ((i - 1) + (s - s0) / torch.clamp(s1 - s0, min=_TINY)) / (len(_AGX_GRID) - 1)
        clip = torch.clamp
    for _ in range(3):
        t = clip(t - (_agx_sigmoid(t) - s) / _agx_sigmoid_slope(t), 0.0, 1.0)
    return t


def tonemap_agx(x):
    """Sobotka's AgX base look (see the constants above): scene-linear BT.709 RGB -> display-linear RGB.

    >>> grey = tonemap_agx(np.full((1, 3), 0.18))  # middle grey lands at half the sRGB code range
    >>> round(float(color.eotf_inverse_sRGB(grey)[0, 0]), 3)
    0.5
    """
    ops, x = _prepare(x)
    v = ops.clip(ops.matmul_rgb(ops.clip(x, 0.0, None), AGX_INSET), 2.0**AGX_MIN_EV, 2.0**AGX_MAX_EV)
    t = (ops.log(v) / math.log(2.0) - AGX_MIN_EV) / (AGX_MAX_EV - AGX_MIN_EV)
    encoded = ops.matmul_rgb(_agx_sigmoid(t), AGX_OUTSET)
    return ops.clip(ops.pow(ops.clip(encoded, 0.0, None), AGX_DISPLAY_GAMMA), 0.0, 1.0)


def tonemap_inverse_agx(y):
    """Inverse of ``tonemap_agx``: undo the 2.2 power, the outset (the inset matrix), the sigmoid (Newton),
    the log2 encoding and the inset (the outset matrix). Exact while every inset channel is inside the log2
    range and the outset keeps it non-negative; display 1 gives the top of the range (about 16.3).

    >>> x = np.array([[0.18, 0.5, 2.0]])
    >>> bool(np.allclose(tonemap_inverse_agx(tonemap_agx(x)), x, rtol=1e-9))
    True
    """
    ops, y = _prepare(y)
    encoded = ops.matmul_rgb(ops.pow(ops.clip(y, 0.0, 1.0), 1.0 / AGX_DISPLAY_GAMMA), AGX_INSET)
    t = _agx_sigmoid_inverse(encoded)
    v = ops.exp((t * (AGX_MAX_EV - AGX_MIN_EV) + AGX_MIN_EV) * math.log(2.0))
    return ops.clip(ops.matmul_rgb(v, AGX_OUTSET), 0.0, None)


# --------------------------------------------------------------------------------------------------------
# Khronos PBR Neutral
# --------------------------------------------------------------------------------------------------------
# Khronos 3D Commerce, "Khronos PBR Neutral Tone Mapper" specification (2024,
# github.com/KhronosGroup/ToneMapping, PBR_Neutral): a toe offset from the pixel's min channel, identity up to
# the compression start, then the pixel's max channel compressed onto newPeak and a desaturation towards it.
PBR_NEUTRAL_START = 0.8 - 0.04  # startCompression
PBR_NEUTRAL_DESATURATION = 0.15
PBR_NEUTRAL_TOE_END = 0.08  # below this min channel the offset is x - 6.25 x^2, above it 0.04
PBR_NEUTRAL_TOE = 0.04
# The curve only approaches 1, and near it the desaturation swamps the chroma (1 - g -> 0): the inverse caps the
# peak it recovers here (newPeak = 0.9991, above sRGB code 254.9), so a code-255 pixel keeps a sensible colour.
PBR_NEUTRAL_INVERSE_PEAK = 64.0


def _channel_extreme(x, larger: bool):
    ops, x = _prepare(x)
    r, g, b = channel(x, 0), channel(x, 1), channel(x, 2)
    pick = (lambda p, q: ops.where(p > q, p, q)) if larger else (lambda p, q: ops.where(p < q, p, q))
    return expand_channel_dim(pick(pick(r, g), b))


def tonemap_pbr_neutral(x):
    """The Khronos PBR Neutral tone mapper (the specification's reference code): scene-linear -> display-linear.

    >>> tonemap_pbr_neutral(np.array([[0.5, 0.3, 0.2]])).round(6).tolist()  # only the toe offset below 0.76
    [[0.46, 0.26, 0.16]]
    """
    ops, x = _prepare(x)
    x = ops.clip(x, 0.0, None)
    low = _channel_extreme(x, larger=False)
    c = x - ops.where(low < PBR_NEUTRAL_TOE_END, low - 6.25 * low * low, PBR_NEUTRAL_TOE + 0.0 * low)
    peak = _channel_extreme(c, larger=True)
    compressing = ops.clip(peak, PBR_NEUTRAL_START, None)  # the branch below the start is not used
    d = 1.0 - PBR_NEUTRAL_START
    new_peak = 1.0 - d * d / (compressing + d - PBR_NEUTRAL_START)
    scaled = c * (new_peak / compressing)
    g = 1.0 - 1.0 / (PBR_NEUTRAL_DESATURATION * (compressing - new_peak) + 1.0)
    compressed = scaled * (1.0 - g) + new_peak * g
    return ops.clip(ops.where(peak < PBR_NEUTRAL_START, c, compressed), 0.0, 1.0)


def tonemap_inverse_pbr_neutral(y):
    """Inverse of ``tonemap_pbr_neutral``, analytic: the output's max channel is newPeak, so the peak follows
    from newPeak = 1 - d^2 / (peak + d - start); then the mix with newPeak, the scale and the toe offset
    (min channel m = x - 6.25 x^2 below 0.04, i.e. x = 0.4 sqrt(m)) are undone in turn. Exact up to a peak of
    ``PBR_NEUTRAL_INVERSE_PEAK``; brighter display values give that peak.

    >>> x = np.array([[3.0, 1.0, 0.05]])
    >>> bool(np.allclose(tonemap_inverse_pbr_neutral(tonemap_pbr_neutral(x)), x, rtol=1e-9))
    True
    """
    ops, y = _prepare(y)
    y = ops.clip(y, 0.0, 1.0)
    new_peak = _channel_extreme(y, larger=True)
    d = 1.0 - PBR_NEUTRAL_START
    top = 1.0 - d * d / (PBR_NEUTRAL_INVERSE_PEAK + d - PBR_NEUTRAL_START)
    new_peak = ops.clip(new_peak, 0.0, top)
    y = ops.where(y > new_peak, new_peak, y)  # the channels stay at or below the (capped) peak
    peak = d * d / (1.0 - new_peak) - d + PBR_NEUTRAL_START
    g = 1.0 - 1.0 / (PBR_NEUTRAL_DESATURATION * (peak - new_peak) + 1.0)
    scaled = ops.clip((y - g * new_peak) / (1.0 - g), 0.0, None)  # 0 <= c' (quantised codes can dip below)
    c = ops.where(new_peak < PBR_NEUTRAL_START, y, scaled * (peak / ops.clip(new_peak, _TINY, None)))
    low = ops.clip(_channel_extreme(c, larger=False), 0.0, None)
    toe_top = PBR_NEUTRAL_TOE_END - 6.25 * PBR_NEUTRAL_TOE_END**2  # 0.04: where the two offsets meet
    offset = ops.where(low < toe_top, 0.4 * ops.sqrt(low) - low, PBR_NEUTRAL_TOE + 0.0 * low)
    return ops.clip(c + offset, 0.0, None)


TONE_CURVES: dict[str, Callable] = {
    "clip": tonemap_clip,
    "reinhard": tonemap_reinhard,
    "aces": tonemap_aces_fitted,
    "hable": tonemap_hable,
    "agx": tonemap_agx,  # couples the channels: RGB layout only
    "pbr-neutral": tonemap_pbr_neutral,  # couples the channels: RGB layout only
}
PER_CHANNEL_CURVES = ("clip", "reinhard", "aces", "hable")  # the ones the fused 8-bit path handles


# --------------------------------------------------------------------------------------------------------
# The source curves a user can name (--source-curve): each curve with its inverse (libplacebo-style)
# --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceCurve:
    """A source's tone curve and display encoding. ``forward``: scene-linear -> display-linear (clipped to 1);
    ``inverse``: display-linear -> scene-linear, exact below the clip. ``scene_white``: the largest scene value
    the curve reaches below the clip (inf: it only approaches 1). ``per_channel``: no coupling between R, G, B."""

    name: str
    citation: str
    forward: Callable
    inverse: Callable
    encoding: str  # the display EOTF its code values are decoded with (transfer.INPUT_GAMMAS)
    scene_white: float
    per_channel: bool = True


# The set: the three display encodings that carry SDR with no shoulder (camera clip on sRGB, PC / game
# gamma 2.2, BT.1886 video), plus the tone mappers games and renderers ship by default: Narkowicz's ACES fit
# (Unreal-style filmic, countless engines), Hable's Uncharted 2 curve, Reinhard eq. 3, AgX (Blender 4, Godot 4.2,
# three.js) and Khronos PBR Neutral (glTF / e-commerce viewers, three.js).
SOURCE_CURVES: dict[str, SourceCurve] = {c.name: c for c in (
    SourceCurve("srgb", "no tone curve (clip) on an IEC 61966-2-1:1999 sRGB display (clause 5.2)",
                tonemap_clip, tonemap_inverse_clip, "srgb", 1.0),
    SourceCurve("gamma2.2", "no tone curve (clip) on a pure gamma 2.2 display (PCs, games)",
                tonemap_clip, tonemap_inverse_clip, "2.2", 1.0),
    SourceCurve("bt1886", "no tone curve (clip) on ITU-R BT.1886 Annex 1 with L_B = 0 (gamma 2.4, video)",
                tonemap_clip, tonemap_inverse_clip, "2.4", 1.0),
    SourceCurve("aces", "Narkowicz 2016, 'ACES Filmic Tone Mapping Curve' (rational fit of the ACES RRT+ODT), "
                "sRGB", tonemap_aces_fitted, tonemap_inverse_aces_fitted, "srgb", aces_fitted_white()),
    SourceCurve("hable", "Hable 2010, 'Filmic Tonemapping Operators' (Uncharted 2, GDC 2010), W = 11.2, sRGB",
                tonemap_hable, tonemap_inverse_hable, "srgb", HABLE_W),
    SourceCurve("reinhard", "Reinhard et al. 2002, 'Photographic Tone Reproduction', eq. 3, sRGB",
                tonemap_reinhard, tonemap_inverse_reinhard, "srgb", math.inf),
    SourceCurve("agx", "Sobotka 2022, AgX base look (Wrensch 2023, 'Minimal AgX Implementation'), sRGB target",
                tonemap_agx, tonemap_inverse_agx, "srgb", 2.0**AGX_MAX_EV * float(AGX_OUTSET.sum(axis=1).max()),
                per_channel=False),
    SourceCurve("pbr-neutral", "Khronos 3D Commerce 2024, 'Khronos PBR Neutral Tone Mapper', sRGB",
                tonemap_pbr_neutral, tonemap_inverse_pbr_neutral, "srgb", PBR_NEUTRAL_INVERSE_PEAK,
                per_channel=False),
)}
SOURCE_CURVE_CHOICES = ("auto", *SOURCE_CURVES)  # auto: the learned model, blind to the source's curve


def source_curve(name: str) -> SourceCurve:
    """An entry of ``SOURCE_CURVES`` by name; ValueError listing the names otherwise."""
    try:
        return SOURCE_CURVES[name]
    except KeyError:
        raise ValueError(f"unknown source curve {name!r}; choose one of {', '.join(SOURCE_CURVE_CHOICES)}") from None


def input_encoding(curve: str, input_gamma: str | None = None) -> str:
    """The display EOTF the SDR code values are decoded with: a known source curve's own ``encoding`` (the
    curve says how its SDR was encoded), else ``input_gamma`` ('auto': --input-gamma, default srgb)."""
    return (input_gamma or "srgb") if curve == "auto" else source_curve(curve).encoding


def get_tone_curve(curve) -> Callable:
    """A curve by name (see ``TONE_CURVES``) or the callable itself."""
    if callable(curve):
        return curve
    try:
        return TONE_CURVES[curve]
    except KeyError:
        raise ValueError(f"unknown tone curve {curve!r}; choose one of {', '.join(TONE_CURVES)}") from None


def sdr_from_hdr(hdr_linear, exposure: float = 1.0, curve="aces", encode_gamma: str = "srgb"):
    """Scene-linear HDR -> SDR code values in [0, 1], the way a game or camera makes them.

    exposure multiply -> tone curve -> clip to [0, 1] -> inverse display EOTF (``color.eotf_inverse_input``:
    'srgb', '2.2' or '2.4').  numpy input gives float32; torch input keeps its dtype and device.
    """
    ops, x = _prepare(hdr_linear)
    display = ops.clip(get_tone_curve(curve)(x * exposure), 0.0, 1.0)
    code = ops.clip(color.eotf_inverse_input(display, encode_gamma), 0.0, 1.0)
    if ops is _NumpyOps:
        return np.asarray(code, dtype=np.float32)
    return code


def quantize_8bit(code) -> np.ndarray:
    """Code values in [0, 1] -> uint8 with round-to-nearest (what a game's 8-bit swap chain stores)."""
    code = np.asarray(code, dtype=np.float32)
    return np.clip(np.rint(code * 255.0), 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------------------------------------
# Fast 8-bit path for frame sources (the demo)
# --------------------------------------------------------------------------------------------------------
# Curve, clip and inverse EOTF are all monotonic, so the 8-bit code of a value x is just the number of
# "decision levels" at or below it: the scene values where the reference output crosses k + 1/2. They are
# found once per (curve, gamma, white) by bisection on the numpy reference; a frame then costs one binary
# search per channel (no pow, no division).
_CURVE_NAMES = PER_CHANNEL_CURVES


@functools.lru_cache(maxsize=16)
def _scene_decision_levels(curve: str, encode_gamma: str, white: float | None) -> np.ndarray:
    fn = (lambda x: tonemap_reinhard(x, white)) if curve == "reinhard" else TONE_CURVES[curve]
    target = (np.arange(255) + 0.5) / 255.0
    lo, hi = np.zeros(255), np.full(255, 1e4)
    for _ in range(64):  # bisection to float64 precision
        mid = 0.5 * (lo + hi)
        above = color.eotf_inverse_input(np.clip(fn(mid), 0.0, 1.0), encode_gamma) >= target
        hi, lo = np.where(above, mid, hi), np.where(above, lo, mid)
    return hi  # levels a curve never reaches stay at 1e4: those codes are unreachable, as in the reference


_BINS = 4096


@numba.njit(cache=True, fastmath=True, nogil=True)
def _sdr8_kernel(hdr, out, levels, table, x_max):
    """code = number of levels <= x. A table over the 4th root of x gives the count at the bin's lower
    edge (bins are finer than the levels, so the exact fix-up loop below rarely runs)."""
    H, W = hdr.shape[0], hdr.shape[1]
    scale = 1.0 / x_max
    for i in range(H):
        for j in range(W):
            for k in range(3):
                x = hdr[i, j, k]
                t = math.sqrt(math.sqrt(min(max(x * scale, 0.0), 1.0)))
                b = int(t * _BINS)
                if b < 0 or b >= _BINS:  # integer guard: NaN input (fastmath) must not index out of bounds
                    b = 0 if b < 0 else _BINS - 1
                code = table[b]
                while code < 255 and levels[code] <= x:
                    code += 1
                out[i, j, k] = code


def sdr8_from_hdr(hdr_linear: np.ndarray, exposure: float = 1.0, curve: str = "aces", encode_gamma: str = "srgb",
                  white: float | None = None) -> np.ndarray:
    """``quantize_8bit(sdr_from_hdr(...))`` for a numpy H x W x 3 frame in one pass (named curves only).

    Agrees with the two-step reference to +-1 code value (only at rounding ties, float64 vs float32).
    """
    if curve not in _CURVE_NAMES:
        raise ValueError(f"unknown tone curve {curve!r}; choose one of {', '.join(_CURVE_NAMES)}")
    if encode_gamma not in INPUT_GAMMAS:  # the SDR a curve makes is decoded with one of the input gammas
        raise ValueError(f"unknown encode gamma {encode_gamma!r}; choose one of {', '.join(INPUT_GAMMAS)}")
    if not exposure > 0:
        raise ValueError(f"exposure must be positive, got {exposure}")
    hdr = np.ascontiguousarray(hdr_linear, dtype=np.float32)
    if hdr.ndim != 3 or hdr.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 frame, got shape {hdr.shape}")
    # exposure folds into the levels: x * e >= L  <=>  x >= L / e
    levels = _scene_decision_levels(curve, encode_gamma, white) / float(exposure)
    x_max = float(levels[np.isfinite(levels) & (levels < 1e4 / exposure)].max(initial=1.0)) * 1.01
    edges = (np.arange(_BINS) / _BINS) ** 4 * x_max
    table = np.searchsorted(levels, edges, side="right").astype(np.int64)
    out = np.empty(hdr.shape, np.uint8)
    _sdr8_kernel(hdr, out, levels, table, x_max)
    return out
