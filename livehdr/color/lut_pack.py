"""A 3D LUT fused with the file encoding: uint8 SDR frame + LUT -> 10-bit BT.2020 4:2:0 planes, one pass.

The operator's output never exists as a float frame: each pixel goes through the LUT (``lut3d.lut_u8_pixel``)
straight into ``pack.py``'s encoding (nits, BT.709 -> BT.2020, roll-off, PQ / HLG, dither), so a 1080p frame
is read once as 6 MB of bytes instead of written and read again as 24 MB of floats. The result equals
``apply_lut3d`` followed by ``pack.relative_to_yuv420p10`` to +-1 code value (tests/test_lut3d.py).
"""
from __future__ import annotations

import numba
import numpy as np

from livehdr.color import lut3d, pack
from livehdr.color.lut3d import lut_u8_pixel
from livehdr.color.pack import encode_row_pair


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _lut_yuv420p10_kernel(frame, rows, d, cell, frac, y_out, u_out, v_out, paper_white, peak, knee, slope,
                          transfer, gamma_hlg, dither, seed):
    # pack._yuv420p10_kernel with the light of each row pair from the LUT. The pair is looked up first into a
    # small buffer that stays in cache: interleaving the lookups with the encoding in one loop was slower
    # (62 ms against 58 ms for the two kernels apart, 1080p, one core).
    h2 = frame.shape[0] // 2
    w2 = frame.shape[1] // 2
    row_max = np.zeros(h2, dtype=np.float64)
    row_sum = np.zeros(h2, dtype=np.float64)
    for j in numba.prange(h2):
        light_rows = np.empty((2, 2 * w2, 3), dtype=np.float32)
        for dy in range(2):
            for xx in range(2 * w2):
                r, g, b = lut_u8_pixel(frame, 2 * j + dy, xx, rows, d, cell, frac)
                light_rows[dy, xx, 0] = r
                light_rows[dy, xx, 1] = g
                light_rows[dy, xx, 2] = b
        row_max[j], row_sum[j] = encode_row_pair(light_rows, j, y_out, u_out, v_out, paper_white, peak, knee,
                                                 slope, transfer, gamma_hlg, dither, seed)
    return row_max.max(), row_sum.sum() / (4.0 * h2 * w2)


def lut_to_yuv420p10(frame_u8: np.ndarray, lut: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                     paper_white: float, peak: float, hlg: bool = False, dither: bool = True, seed: int = 0,
                     source_peak: float | None = None) -> tuple[float, float]:
    """uint8 H x W x 3 code values through ``lut`` (the lut3d contract) into 10-bit 4:2:0 planes.

    Planes and arguments as ``pack.relative_to_yuv420p10``; returns the same (MaxCLL, frame-average light)
    in cd/m2 of the encoded light, so the writer's HDR10 metadata stays measured."""
    h, w = frame_u8.shape[:2]
    if frame_u8.dtype != np.uint8 or frame_u8.ndim != 3 or frame_u8.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 frame, got {frame_u8.dtype} {frame_u8.shape}")
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    lut = lut3d.check_lut(lut)
    d = lut.shape[0]
    cell, frac = lut3d.cached_code_tables(d)
    mx, avg = _lut_yuv420p10_kernel(np.ascontiguousarray(frame_u8), lut3d.expand_rows(lut), d, cell, frac, y, u, v,
                                    *pack.encoding_constants(paper_white, peak, hlg, source_peak),
                                    bool(dither), int(seed) & 0xFFFF)
    return float(mx), float(avg)
