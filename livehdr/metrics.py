"""HDR quality metrics on absolute light: PU21-PSNR and log-luminance errors in highlights and mid-tones.

PU21 (Mantiuk and Azimi, "PU21: A novel perceptually uniform encoding for adapting existing quality
metrics for HDR", Picture Coding Symposium 2021), eq. 3:
    V = p7 * (((p1 + p2 Y^p4) / (1 + p3 Y^p4))^p5 - p6),   Y clipped to [0.005, 10000] cd/m2,
with the 'banding_glare' parameters of the paper's Table 1 (the authors' recommended default). The encoding
is scaled so that 100 cd/m2 lands near 256, like 8-bit sRGB; PSNR uses the code value of 10000 cd/m2 as
the peak. Works on numpy and torch (the training loss uses the same function).
"""
from __future__ import annotations

import math

import numpy as np

from livehdr import color
from livehdr.color.highlight import FULL_CLIP
from livehdr.color.regions import label_8_connected

PU21_BANDING_GLARE = (0.353487901, 0.3734658629, 8.277049286e-05, 0.9062562627, 0.09150303166,
                      0.9099517204, 596.3148142)
PU21_L_MIN = 0.005  # cd/m2
PU21_L_MAX = 10000.0  # cd/m2


def pu21_encode(Y_nits, params=PU21_BANDING_GLARE):
    """PU21 eq. 3: absolute luminance (cd/m2) -> perceptually uniform code value (numpy or torch)."""
    ops, Y = color.prepare_array(Y_nits)
    p1, p2, p3, p4, p5, p6, p7 = params
    Yp = ops.pow(ops.clip(Y, PU21_L_MIN, PU21_L_MAX), p4)
    V = p7 * (ops.pow((p1 + p2 * Yp) / (1 + p3 * Yp), p5) - p6)
    return ops.clip(V, 0.0, None)


PU21_PEAK = float(pu21_encode(np.float64(PU21_L_MAX)))


def pu21_psnr(test_nits: np.ndarray, reference_nits: np.ndarray) -> float:
    """PSNR in PU21 units (dB) over all pixels and channels, peak = PU21(10000 cd/m2)."""
    a = pu21_encode(np.asarray(test_nits, dtype=np.float64))
    b = pu21_encode(np.asarray(reference_nits, dtype=np.float64))
    mse = float(np.mean((a - b) ** 2))
    if mse == 0:
        return math.inf
    return 10 * math.log10(PU21_PEAK**2 / mse)


def log10_luminance_error(test_rel: np.ndarray, reference_rel: np.ndarray, mask: np.ndarray,
                          paper_white: float = color.PAPER_WHITE_BT2408) -> float:
    """Mean |log10 Y_test - log10 Y_ref| over ``mask`` (NaN when the mask is empty), luminance in cd/m2
    clipped to PU21's range so that black pixels do not dominate."""
    if not np.any(mask):
        return math.nan
    yt = np.clip(color.luminance_BT709(np.asarray(test_rel, np.float64)) * paper_white, PU21_L_MIN, PU21_L_MAX)
    yr = np.clip(color.luminance_BT709(np.asarray(reference_rel, np.float64)) * paper_white, PU21_L_MIN,
                 PU21_L_MAX)
    return float(np.mean(np.abs(np.log10(yt) - np.log10(yr))[mask]))


def clipped_mask(sdr_code: np.ndarray, threshold: float = FULL_CLIP) -> np.ndarray:
    """Pixels where any channel of the SDR input sits at the top code value: where the SDR lost the light."""
    return np.max(np.asarray(sdr_code), axis=-1) >= threshold


def midtone_mask(sdr_code: np.ndarray, lo: float = 0.1, hi: float = 0.8) -> np.ndarray:
    """Pixels whose SDR code values all lie in [lo, hi]: neither crushed nor near the shoulder."""
    code = np.asarray(sdr_code)
    return (np.min(code, axis=-1) >= lo) & (np.max(code, axis=-1) <= hi)


def nanmean(values) -> float:
    """Mean ignoring NaN (e.g. a highlight error on a case without clipped pixels); NaN if nothing is left."""
    xs = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    return float(np.mean(xs)) if xs else math.nan


# --------------------------------------------------------------------------------------------------------
# Highlight shape (issue #23): does the expansion give a clipped region a peak and a fall-off?
# --------------------------------------------------------------------------------------------------------
SHAPE_MIN_REGION = 64  # px: fully clipped 8-connected regions smaller than this are left out
SHAPE_MIN_STD = 0.02  # log10: regions whose true luminance hardly varies are left out (nothing to shape)
SHAPE_FLOOR_NITS = 0.05  # cd/m2: luminance floor before log10


def log10_luminance(rel, paper_white: float = color.PAPER_WHITE_BT2408) -> np.ndarray:
    """log10 of the BT.709 luminance in cd/m2 of relative light (H x W x 3), floored at ``SHAPE_FLOOR_NITS``."""
    y = color.luminance_BT709(np.asarray(rel, np.float64)) * paper_white
    return np.log10(np.maximum(y, SHAPE_FLOOR_NITS))


def shape_regions(target_rel: np.ndarray, sdr_code: np.ndarray,
                  paper_white: float = color.PAPER_WHITE_BT2408) -> tuple[np.ndarray, int]:
    """The regions the highlight-shape measure scores (its first two rules), labelled 1..n (0: none):
    8-connected regions of fully clipped pixels (all three channels at the top code) of at least
    ``SHAPE_MIN_REGION`` px whose true log10 luminance varies (std >= ``SHAPE_MIN_STD``). One rule for the
    measure and for the highlight trainer's shape loss (train/highlight.py)."""
    top = np.min(np.asarray(sdr_code, np.float64), axis=-1) >= FULL_CLIP
    labels, n = label_8_connected(top)
    if n == 0:
        return labels, 0
    lt = log10_luminance(target_rel, paper_white).ravel()
    flat = labels.ravel()
    size = np.bincount(flat, minlength=n + 1).astype(np.float64)
    mean = np.bincount(flat, lt, minlength=n + 1) / np.maximum(size, 1)
    var = np.bincount(flat, lt * lt, minlength=n + 1) / np.maximum(size, 1) - mean * mean
    keep = (size >= SHAPE_MIN_REGION) & (np.sqrt(np.maximum(var, 0.0)) >= SHAPE_MIN_STD)
    keep[0] = False
    relabel = np.zeros(n + 1, np.int32)
    relabel[keep] = np.arange(1, int(keep.sum()) + 1)
    return relabel[labels], int(keep.sum())


def highlight_shape(pred_rel: np.ndarray, target_rel: np.ndarray, sdr_code: np.ndarray,
                    paper_white: float = color.PAPER_WHITE_BT2408) -> dict:
    """The highlight-shape measure of issue #23, defined so that two implementations agree:

    - the fully clipped pixels (all three SDR channels at the top code) and their 8-connected regions of at
      least ``SHAPE_MIN_REGION`` px;
    - of those, the regions whose true log10 luminance varies (std >= ``SHAPE_MIN_STD``);
    - in each, the Pearson correlation of predicted with true log10 luminance (floor ``SHAPE_FLOOR_NITS``);
      a flat prediction counts 0;
    - ``highlight_shape_corr``: their mean weighted by region size (NaN: no such region).
    Also the median over those regions of peak / edge luminance (the edge: region pixels with a 4-neighbour
    outside it), predicted and true: a flat disc has 1.
    """
    labels, n = shape_regions(target_rel, sdr_code, paper_white)
    lp, lt = log10_luminance(pred_rel, paper_white), log10_luminance(target_rel, paper_white)
    inside = labels > 0
    padded = np.pad(labels, 1)
    edge = inside & ((padded[:-2, 1:-1] != labels) | (padded[2:, 1:-1] != labels)
                     | (padded[1:-1, :-2] != labels) | (padded[1:-1, 2:] != labels))
    corrs, sizes, ratio_pred, ratio_true = [], [], [], []
    for k in range(1, n + 1):
        region = labels == k
        t, p = lt[region], lp[region]
        corrs.append(0.0 if p.std() < 1e-9 else float(np.corrcoef(p, t)[0, 1]))
        sizes.append(int(region.sum()))
        rim = edge & region
        ratio_pred.append(10 ** (p.max() - np.log10(np.mean(10 ** lp[rim]))))
        ratio_true.append(10 ** (t.max() - np.log10(np.mean(10 ** lt[rim]))))
    if not corrs:
        return {"highlight_shape_corr": math.nan, "highlight_regions": 0,
                "peak_to_edge_pred": math.nan, "peak_to_edge_true": math.nan}
    return {"highlight_shape_corr": float(np.average(corrs, weights=sizes)), "highlight_regions": len(corrs),
            "peak_to_edge_pred": float(np.median(ratio_pred)), "peak_to_edge_true": float(np.median(ratio_true))}


def frame_metrics(pred_rel: np.ndarray, target_rel: np.ndarray, sdr_code: np.ndarray,
                  paper_white: float = color.PAPER_WHITE_BT2408) -> dict:
    """All metrics for one case: operator output and target both relative to paper white (H x W x 3)."""
    return {
        "pu21_psnr": pu21_psnr(pred_rel * paper_white, target_rel * paper_white),
        "highlight_log10_error": log10_luminance_error(pred_rel, target_rel, clipped_mask(sdr_code), paper_white),
        "midtone_log10_error": log10_luminance_error(pred_rel, target_rel, midtone_mask(sdr_code), paper_white),
        "clipped_fraction": float(np.mean(clipped_mask(sdr_code))),
        **highlight_shape(pred_rel, target_rel, sdr_code, paper_white),
    }


# --------------------------------------------------------------------------------------------------------
# Neutrality and temporal stability (issue #10)
# --------------------------------------------------------------------------------------------------------
# IEC 61966-2-1 (sRGB) / ITU-R BT.709 primaries with D65 white: linear RGB -> CIE XYZ.
MATRIX_BT709_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                                [0.2126, 0.7152, 0.0722],
                                [0.0193, 0.1192, 0.9505]])


def uv_prime(rgb_bt709) -> np.ndarray:
    """CIE 1976 UCS chromaticity (u', v') of linear BT.709 RGB (..., 3): u' = 4X / (X + 15Y + 3Z),
    v' = 9Y / (X + 15Y + 3Z)."""
    xyz = np.asarray(rgb_bt709, np.float64) @ MATRIX_BT709_TO_XYZ.T
    d = xyz[..., 0] + 15 * xyz[..., 1] + 3 * xyz[..., 2]
    return np.stack([4 * xyz[..., 0] / d, 9 * xyz[..., 1] / d], axis=-1)


D65_UV_PRIME = uv_prime(np.ones(3))  # BT.709 white is D65: (0.1978, 0.4683)


def delta_uv_from_D65(rgb_bt709) -> float:
    """Euclidean distance in (u', v') between the mean of a patch of linear BT.709 light and D65."""
    mean = np.asarray(rgb_bt709, np.float64).reshape(-1, 3).mean(axis=0)
    return float(np.hypot(*(uv_prime(mean) - D65_UV_PRIME)))


def frame_mean_pumping(frames) -> float:
    """Mean absolute frame-to-frame change of the mean luminance, relative to the overall mean luminance
    (a sequence of H x W x 3 relative linear frames of a static scene; 0 = perfectly steady)."""
    means = np.array([float(np.mean(color.luminance_BT709(np.asarray(f, np.float64)))) for f in frames])
    if len(means) < 2:
        raise ValueError("pumping needs at least two frames")
    return float(np.mean(np.abs(np.diff(means))) / max(float(np.mean(means)), 1e-12))
