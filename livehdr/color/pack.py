"""numba kernels: operator output -> encoder planes / GL words, in one pass over the frame.

Each kernel fuses the whole display encoding of color.py (nits, BT.709 -> BT.2020, soft roll-off, PQ or HLG)
with the final quantisation, so a 1080p frame is touched once. They must agree with color.py's numpy
reference to +-1 code value (tests/test_pack.py).

Dither: a triangular (TPDF) +-1 LSB dither from a per-pixel hash, on by default, so smooth gradients do not
band after the expansion. It is deterministic for a given seed (reproducible files and tests).
"""
from __future__ import annotations

import math

import numba
import numpy as np

from livehdr import color

_M709_TO_2020 = color.MATRIX_BT709_TO_BT2020.astype(np.float32)

# BT.2100 / BT.2020 Y'C'bC'r, limited ("narrow") range at 10 bits: ITU-R BT.2100-2 Table 9.
_KR, _KG, _KB = color.WEIGHTS_BT2020
_Y_SCALE, _Y_OFFSET = 876.0, 64.0
_C_SCALE, _C_OFFSET = 896.0, 512.0

TRANSFER_PQ = 0
TRANSFER_HLG = 1


# Transcendental pow() per channel dominated the kernels (two per PQ value). Both curves are instead read
# from 4097-entry tables indexed by the 8th (PQ) or 4th (sRGB) root, three or two hardware square roots:
# in that domain the curves are smooth, and linear interpolation stays within 1e-4 of a 10-bit code value.
_LUT_SIZE = 4096
_LUT_T = np.linspace(0.0, 1.0, _LUT_SIZE + 1)
_PQ_LUT = color.eotf_inverse_ST2084(_LUT_T**8 * color.PQ_PEAK).astype(np.float64)
_SRGB_LUT = color.eotf_inverse_sRGB(_LUT_T**4).astype(np.float64)


@numba.njit(cache=True, inline="always", fastmath=True)
def _lut(table, t):
    x = min(max(t, 0.0), 1.0) * _LUT_SIZE
    i = min(int(x), _LUT_SIZE - 1)
    f = x - i
    return table[i] * (1.0 - f) + table[i + 1] * f


@numba.njit(cache=True, inline="always", fastmath=True)
def _pq(nits):
    """SMPTE ST 2084 inverse EOTF (clause 5.3), scalar, via the 8th-root table."""
    y = min(max(nits * 1e-4, 0.0), 1.0)
    return _lut(_PQ_LUT, math.sqrt(math.sqrt(math.sqrt(y))))


@numba.njit(cache=True, inline="always", fastmath=True)
def _srgb(linear):
    """IEC 61966-2-1 inverse EOTF, scalar, via the 4th-root table."""
    return _lut(_SRGB_LUT, math.sqrt(math.sqrt(min(max(linear, 0.0), 1.0))))


@numba.njit(cache=True, inline="always", fastmath=True)
def _hlg(e):
    """ITU-R BT.2100-2 Table 5 HLG OETF, scalar."""
    e = max(e, 0.0)
    if e <= 1.0 / 12.0:
        return math.sqrt(3.0 * e)
    return color.HLG_A * math.log(12.0 * e - color.HLG_B) + color.HLG_C


@numba.njit(cache=True, inline="always", fastmath=True)
def _rolloff(x, peak, knee, slope):
    """color.rolloff_highlights, scalar."""
    if x <= knee:
        return x
    d = x - knee
    return min(knee + d / (1.0 + slope * d), peak)


@numba.njit(cache=True, inline="always", fastmath=True)
def _dither(x, y, c, seed):
    """Triangular dither in (-1, 1) LSB from an integer hash of (x, y, channel, seed)."""
    h = (x * 73856093) ^ (y * 19349663) ^ (c * 83492791) ^ (seed * 2654435761)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    a = (h & 0xFFFF) / 65536.0
    b = ((h >> 16) & 0xFFFF) / 65536.0
    return a - b


@numba.njit(cache=True, inline="always", fastmath=True)
def _encode_pixel(r, g, b, paper_white, peak, knee, slope, transfer, gamma_hlg):
    """Relative BT.709 -> non-linear BT.2020 R'G'B' in [0, 1]; also returns the rolled-off max(R,G,B) nits."""
    r = max(r, 0.0) * paper_white
    g = max(g, 0.0) * paper_white
    b = max(b, 0.0) * paper_white
    r2 = max(_M709_TO_2020[0, 0] * r + _M709_TO_2020[0, 1] * g + _M709_TO_2020[0, 2] * b, 0.0)
    g2 = max(_M709_TO_2020[1, 0] * r + _M709_TO_2020[1, 1] * g + _M709_TO_2020[1, 2] * b, 0.0)
    b2 = max(_M709_TO_2020[2, 0] * r + _M709_TO_2020[2, 1] * g + _M709_TO_2020[2, 2] * b, 0.0)
    r2 = _rolloff(r2, peak, knee, slope)
    g2 = _rolloff(g2, peak, knee, slope)
    b2 = _rolloff(b2, peak, knee, slope)
    light = max(r2, max(g2, b2))
    if transfer == TRANSFER_PQ:
        return _pq(r2), _pq(g2), _pq(b2), light
    # HLG: display light -> scene light through the inverse OOTF (BT.2100-2 Table 5), then the OETF.
    yd = (_KR * r2 + _KG * g2 + _KB * b2) / peak
    s = max(yd, 1e-12) ** ((1.0 - gamma_hlg) / gamma_hlg) / peak
    return _hlg(r2 * s), _hlg(g2 * s), _hlg(b2 * s), light


@numba.njit(cache=True, inline="always", fastmath=True)
def _store_luma(y_out, xx, yy, rp, gp, bp, dither, seed):
    """Write one pixel's 10-bit limited-range Y' code; return its (Cb, Cr) for the 2x2 chroma average."""
    luma = _KR * rp + _KG * gp + _KB * bp
    d = _dither(xx, yy, 0, seed) if dither else 0.0
    code = math.floor(_Y_SCALE * luma + _Y_OFFSET + 0.5 + d)
    y_out[yy, xx] = min(max(code, 4), 1019)  # 0-3 and 1020-1023 are reserved timing codes
    return (bp - luma) / 1.8814, (rp - luma) / 1.4746  # BT.2020-2 Table 4


@numba.njit(cache=True, inline="always", fastmath=True)
def _store_chroma(u_out, v_out, i, j, cb_sum, cr_sum, dither, seed):
    """Write the 2x2 box average of chroma at (i, j), computed from the non-linear values (as encoders do)."""
    du = _dither(i, j, 1, seed) if dither else 0.0
    dv = _dither(i, j, 2, seed) if dither else 0.0
    cu = math.floor(_C_SCALE * cb_sum * 0.25 + _C_OFFSET + 0.5 + du)
    cv = math.floor(_C_SCALE * cr_sum * 0.25 + _C_OFFSET + 0.5 + dv)
    u_out[j, i] = min(max(cu, 4), 1019)
    v_out[j, i] = min(max(cv, 4), 1019)


@numba.njit(cache=True, inline="always", fastmath=True)
def encode_row_pair(src, j, y_out, u_out, v_out, paper_white, peak, knee, slope, transfer, gamma_hlg, dither,
                    seed):
    """Rows 2j and 2j + 1 of a frame, given as ``src`` (2 x W x 3 relative light), into the planes.

    The 4:2:0 encoding every packing kernel shares: each kernel only decides where the light of a row pair
    comes from (an operator's output, or a LUT lookup in lut_pack.py). Returns (max, sum) of the encoded
    light (rolled-off max(R, G, B) in cd/m2) over the 2W pixels."""
    mx = 0.0
    sm = 0.0
    for i in range(src.shape[1] // 2):
        cb_sum = 0.0
        cr_sum = 0.0
        for dy in range(2):
            for dx in range(2):
                xx = 2 * i + dx
                rp, gp, bp, light = _encode_pixel(src[dy, xx, 0], src[dy, xx, 1], src[dy, xx, 2],
                                                  paper_white, peak, knee, slope, transfer, gamma_hlg)
                mx = max(mx, light)
                sm += light
                cb, cr = _store_luma(y_out, xx, 2 * j + dy, rp, gp, bp, dither, seed)
                cb_sum += cb
                cr_sum += cr
        _store_chroma(u_out, v_out, i, j, cb_sum, cr_sum, dither, seed)
    return mx, sm


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _yuv420p10_kernel(rel, y_out, u_out, v_out, paper_white, peak, knee, slope, transfer, gamma_hlg, dither,
                      seed):
    h2 = rel.shape[0] // 2
    w2 = rel.shape[1] // 2
    row_max = np.zeros(h2, dtype=np.float64)
    row_sum = np.zeros(h2, dtype=np.float64)
    for j in numba.prange(h2):
        row_max[j], row_sum[j] = encode_row_pair(rel[2 * j:2 * j + 2], j, y_out, u_out, v_out, paper_white, peak,
                                                 knee, slope, transfer, gamma_hlg, dither, seed)
    return row_max.max(), row_sum.sum() / (4.0 * h2 * w2)


def encoding_constants(paper_white: float, peak: float, hlg: bool, source_peak: float | None) -> tuple:
    """The scalar arguments the encode kernels take after the planes: levels, roll-off, transfer."""
    knee = color.rolloff_knee(peak)
    slope = color.rolloff_slope(peak, peak if source_peak is None else source_peak)
    return (float(paper_white), float(peak), float(knee), float(slope), TRANSFER_HLG if hlg else TRANSFER_PQ,
            color.gamma_BT2100_HLG(peak))


def relative_to_yuv420p10(rel: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                          paper_white: float, peak: float, hlg: bool = False, dither: bool = True,
                          seed: int = 0, source_peak: float | None = None) -> tuple[float, float]:
    """Operator output (float32 H x W x 3, H and W even) -> 10-bit BT.2020 NCL limited-range 4:2:0 planes.

    ``y`` (H x W), ``u`` and ``v`` (H/2 x W/2) are uint16 arrays, possibly strided views into an encoder
    frame. Returns (MaxCLL, frame-average light) of this frame in cd/m2, measured on the encoded light
    after roll-off (CTA-861.3 clause 6.1: max over pixels of max(R, G, B)).
    """
    h, w = rel.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    rel = np.ascontiguousarray(rel, dtype=np.float32)
    mx, avg = _yuv420p10_kernel(rel, y, u, v, *encoding_constants(paper_white, peak, hlg, source_peak),
                                bool(dither), int(seed) & 0xFFFF)
    return float(mx), float(avg)


@numba.njit(cache=True, inline="always", fastmath=True)
def _preview_curve(x, headroom):
    """color.tonemap_preview_SDR's extended Reinhard, scalar."""
    x = max(x, 0.0)
    return min(max(x * (1.0 + x / (headroom * headroom)) / (1.0 + x), 0.0), 1.0)


# Public names for the scalar stages, for the other kernels of this package (color/table.py composes tables
# with exactly these).
encode_pixel_scalar = _encode_pixel
dither_scalar = _dither
preview_curve_scalar = _preview_curve
srgb_scalar = _srgb


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _rgb10a2_kernel(rel, out, paper_white, peak, knee, slope, sdr_preview, headroom):
    for yy in numba.prange(rel.shape[0]):
        for xx in range(rel.shape[1]):
            if sdr_preview:
                rp = _srgb(_preview_curve(rel[yy, xx, 0], headroom))
                gp = _srgb(_preview_curve(rel[yy, xx, 1], headroom))
                bp = _srgb(_preview_curve(rel[yy, xx, 2], headroom))
            else:
                rp, gp, bp, _ = _encode_pixel(rel[yy, xx, 0], rel[yy, xx, 1], rel[yy, xx, 2],
                                              paper_white, peak, knee, slope, TRANSFER_PQ, 1.2)
            r10 = np.uint32(min(max(math.floor(rp * 1023.0 + 0.5), 0), 1023))
            g10 = np.uint32(min(max(math.floor(gp * 1023.0 + 0.5), 0), 1023))
            b10 = np.uint32(min(max(math.floor(bp * 1023.0 + 0.5), 0), 1023))
            # GL_RGB10_A2 / GL_UNSIGNED_INT_2_10_10_10_REV: R in the low bits, A (=3) in the top two.
            out[yy, xx] = r10 | (g10 << np.uint32(10)) | (b10 << np.uint32(20)) | (np.uint32(3) << np.uint32(30))


def relative_to_rgb10a2(rel: np.ndarray, paper_white: float, peak: float, mode: str = "pq",
                        source_peak: float | None = None) -> np.ndarray:
    """Operator output -> packed RGB10_A2 words (uint32 H x W), full-range code values.

    ``mode`` 'pq' gives HDR10 R'G'B' (BT.2020, PQ); 'sdr' gives the SDR preview (color.tonemap_preview_SDR).
    """
    if mode not in ("pq", "sdr"):
        raise ValueError(f"mode must be 'pq' or 'sdr', got {mode!r}")
    rel = np.ascontiguousarray(rel, dtype=np.float32)
    out = np.empty(rel.shape[:2], dtype=np.uint32)
    headroom = max(peak / paper_white, 1.0 + 1e-6)
    slope = color.rolloff_slope(peak, peak if source_peak is None else source_peak)
    _rgb10a2_kernel(rel, out, float(paper_white), float(peak), float(color.rolloff_knee(peak)), float(slope),
                    mode == "sdr", float(headroom))
    return out


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _pq_kernel(nits, out):
    flat_in = nits.ravel()
    flat_out = out.ravel()
    for i in numba.prange(flat_in.size):
        flat_out[i] = _pq(flat_in[i])


def eotf_inverse_ST2084_numba(nits: np.ndarray) -> np.ndarray:
    """SMPTE ST 2084 inverse EOTF on the CPU, parallel: cd/m2 -> PQ code values (float32)."""
    nits = np.ascontiguousarray(nits, dtype=np.float32)
    out = np.empty_like(nits)
    _pq_kernel(nits, out)
    return out


def share_cores_in_this_thread(fraction: float = 0.25) -> int:
    """Limit the kernels' OpenMP team for the calling thread when other pipeline stages need the cores.

    numba's thread count is per calling thread. In a pipeline the packer shares the machine with decode,
    inference and x265's own threads, and spinning OpenMP workers that get descheduled cost far more than
    they give: on a loaded 2-core machine a 320x240 frame took 1.6 ms on one thread and 24 ms on two.
    """
    n = max(1, int(numba.config.NUMBA_NUM_THREADS * fraction))
    numba.set_num_threads(n)
    return n


def unpack_rgb10a2(words: np.ndarray) -> np.ndarray:
    """Inverse of the packing, for tests and screenshots: uint32 H x W -> uint16 H x W x 3 (0..1023)."""
    w = words.astype(np.uint32)
    return np.stack([(w >> s) & 0x3FF for s in (0, 10, 20)], axis=-1).astype(np.uint16)
