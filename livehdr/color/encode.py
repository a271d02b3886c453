"""After the operator: nits, highlight roll-off, BT.2020, PQ / HLG, and the SDR preview.
"""
from __future__ import annotations

import math

from livehdr.color.levels import PEAK_DEFAULT, PQ_PEAK, ReferenceLevels
from livehdr.color.primaries import RGB_BT709_to_BT2020
from livehdr.color.shim import _ops, _prepare
from livehdr.color.transfer import eotf_inverse_sRGB, eotf_inverse_ST2084, oetf_BT2100_HLG, ootf_inverse_BT2100_HLG


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

    The content's peak (``source_peak``, else ``levels.source_peak``) is rolled onto ``levels.peak``; when
    the content fits (no source peak, or one at or below the display's) the roll-off only clips strays.
    """
    ops, relative = _prepare(relative)
    relative = ops.nan_to_num(relative, posinf=PQ_PEAK / levels.paper_white)  # NaN -> black, inf -> the top
    nits = RGB_BT709_to_BT2020(ops.clip(relative, 0.0, None) * levels.paper_white)
    src = levels.content_peak if source_peak is None else source_peak
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
    x = ops.clip(ops.nan_to_num(x, posinf=PQ_PEAK / levels.paper_white), 0.0, None)
    w = max(levels.headroom, 1.0 + 1e-6)
    y = _ops(x).clip(x * (1 + x / (w * w)) / (1 + x), 0.0, 1.0)
    return eotf_inverse_sRGB(y)


__all__ = [
    "rolloff_knee",
    "rolloff_slope",
    "rolloff_highlights",
    "relative_BT709_to_display_nits_BT2020",
    "encode_PQ_BT2020",
    "encode_HLG_BT2020",
    "tonemap_preview_SDR",
]
