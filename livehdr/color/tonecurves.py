"""How cameras and games make SDR from scene-linear HDR: the tone curves we invert.

Each curve maps linear scene light (numpy H x W x 3 or torch N x 3 x H x W, any float) to *display-linear*
SDR in [0, 1], i.e. before the display's inverse EOTF.  ``sdr_from_hdr`` chains exposure, a curve, the
clip and the inverse EOTF; ``quantize_8bit`` then gives the uint8 frame a game would present.

The curves are applied per RGB channel, as real-time renderers do (it is also why game highlights
desaturate towards white, which an ITM operator has to learn to undo).
"""
from __future__ import annotations

import functools
import math
from typing import Callable

import numba
import numpy as np

from livehdr import color
from livehdr.color.shim import _NumpyOps, _prepare
from livehdr.color.transfer import INPUT_GAMMAS


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


TONE_CURVES: dict[str, Callable] = {
    "clip": tonemap_clip,
    "reinhard": tonemap_reinhard,
    "aces": tonemap_aces_fitted,
    "hable": tonemap_hable,
}


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
_CURVE_NAMES = ("clip", "reinhard", "aces", "hable")


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
