"""Trilinear 3D LUTs on the CPU (numba): SDR code values -> the LUT's output (linear light, relative).

The LUT contract (issue #11; the window's 3D texture uses the same layout):
- float32 ``(D, D, D, 3)``, C order, indexed ``lut[b, g, r]`` (red fastest = a 3D texture's x axis), D >= 2;
- ``lut[b, g, r]`` is the output for the code values ``(r, g, b) / (D - 1)``: gamma-encoded input as the
  operator receives it, linear BT.709 output relative to paper white;
- between entries: trilinear interpolation, input clamped to [0, 1].

uint8 frames take a fast path: each of the 256 codes has its cell index and fraction precomputed, and the LUT
is expanded along red to every code (``expand_rows``), so a pixel costs four reads and three lerps per
channel. ``lut_pack.py`` fuses the same per-pixel function (``lut_u8_pixel``) with the file encoding, so a
file frame is read once from uint8 to the encoder's planes. Float code values (> 8-bit sources) take the
plain trilinear (``_trilinear``). Both match ``apply_lut3d_reference`` (numpy, float64) to 1e-6.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

# No 'nnan' / 'ninf': the float path tests for NaN input (fastmath would make that check undefined).
_FAST_FINITE = {"nsz", "arcp", "contract", "afn", "reassoc"}


@dataclass(frozen=True)
class LutFrame:
    """An operator's output not computed yet: the frame's code values and the LUT that maps them.

    LUT operators hand this on instead of a float frame, so the sink applies the LUT inside its own pass
    (the file writer's encoding kernel, the window's shader)."""

    code_values: np.ndarray  # H x W x 3 uint8 (or float32 in [0, 1] from > 8-bit sources)
    lut: np.ndarray  # (D, D, D, 3) float32, the contract above

    @property
    def shape(self) -> tuple:
        return self.code_values.shape

    def relative(self) -> np.ndarray:
        """The operator's output as a float frame (for sinks that need the pixels themselves)."""
        return apply_lut3d(self.code_values, self.lut)


def check_lut(lut: np.ndarray) -> np.ndarray:
    """A LUT as the kernels want it: float32, C-contiguous, (D, D, D, 3), D >= 2, finite (NaN -> 0).

    Operators already return finite LUTs; this guards the fastmath kernels (NaN is undefined there), and
    costs nothing next to a frame (33^3 entries)."""
    lut = np.ascontiguousarray(lut, dtype=np.float32)
    d = lut.shape[0]
    if lut.ndim != 4 or lut.shape != (d, d, d, 3) or d < 2:
        raise ValueError(f"a 3D LUT is (D, D, D, 3) with D >= 2, got {lut.shape}")
    if not np.isfinite(lut).all():
        top = float(np.nanmax(np.where(np.isinf(lut), np.nan, lut), initial=0.0))
        lut = np.nan_to_num(lut, nan=0.0, posinf=top, neginf=0.0)
    return lut


def code_tables(d: int) -> tuple[np.ndarray, np.ndarray]:
    """For each 8-bit code: the LUT cell it falls in (0 .. D-2) and its fraction within the cell."""
    x = np.arange(256, dtype=np.float64) / 255.0 * (d - 1)
    cell = np.minimum(np.floor(x), d - 2).astype(np.int32)
    return cell, (x - cell).astype(np.float32)


_TABLES: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def cached_code_tables(d: int) -> tuple[np.ndarray, np.ndarray]:
    if d not in _TABLES:
        _TABLES[d] = code_tables(d)
    return _TABLES[d]


@numba.njit(cache=True, inline="always", fastmath=True)
def _channel(lut, ir, ig, ib, fr, fg, fb, c):
    """One channel of the LUT at cell (ir, ig, ib) + fractions: lerp along r, then g, then b."""
    c00 = lut[ib, ig, ir, c] + fr * (lut[ib, ig, ir + 1, c] - lut[ib, ig, ir, c])
    c01 = lut[ib, ig + 1, ir, c] + fr * (lut[ib, ig + 1, ir + 1, c] - lut[ib, ig + 1, ir, c])
    c10 = lut[ib + 1, ig, ir, c] + fr * (lut[ib + 1, ig, ir + 1, c] - lut[ib + 1, ig, ir, c])
    c11 = lut[ib + 1, ig + 1, ir, c] + fr * (lut[ib + 1, ig + 1, ir + 1, c] - lut[ib + 1, ig + 1, ir, c])
    c0 = c00 + fg * (c01 - c00)
    c1 = c10 + fg * (c11 - c10)
    return c0 + fb * (c1 - c0)


@numba.njit(cache=True, inline="always", fastmath=True)
def _trilinear(lut, ir, ig, ib, fr, fg, fb):
    return (_channel(lut, ir, ig, ib, fr, fg, fb, 0), _channel(lut, ir, ig, ib, fr, fg, fb, 1),
            _channel(lut, ir, ig, ib, fr, fg, fb, 2))


# The uint8 path reads a LUT expanded along red to all 256 codes: rows[(ib * D + ig) * 256 + r] is the lerp
# along r at code r, so a pixel is four reads and three lerps per channel instead of eight and seven. It is
# 33 * 33 * 256 * 3 floats (3.3 MB) built in ~0.3 ms per LUT; neighbouring pixels of real pictures hit the same
# rows, and at 1080p it took 9.5 ms on one core against 14.9 ms for the plain trilinear (noise input, which
# defeats every cache, ~20 ms either way).
@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _expand_rows_kernel(lut, cell, frac, rows):
    d = lut.shape[0]
    for ib in numba.prange(d):
        for ig in range(d):
            base = (ib * d + ig) * 256
            for code in range(256):
                i = cell[code]
                f = frac[code]
                for c in range(lut.shape[3]):
                    rows[base + code, c] = lut[ib, ig, i, c] + f * (lut[ib, ig, i + 1, c] - lut[ib, ig, i, c])


def expand_rows_on(grid: np.ndarray, cell: np.ndarray, frac: np.ndarray) -> np.ndarray:
    """Any (D, D, D, C) float32 grid indexed [b, g, r] expanded along red to every 8-bit code, with the
    per-code ``cell`` / ``frac`` of its axis (this LUT's uniform ones, or color.table's shaped ones)."""
    d, channels = grid.shape[0], grid.shape[3]
    rows = np.empty((d * d * 256, channels), dtype=np.float32)
    _expand_rows_kernel(grid, cell, frac, rows)
    return rows


def expand_rows(lut: np.ndarray) -> np.ndarray:
    """The red-expanded table the uint8 kernels read (see above); ``lut`` as ``check_lut`` returns it."""
    return expand_rows_on(lut, *cached_code_tables(lut.shape[0]))


@numba.njit(cache=True, inline="always", fastmath=True)
def _rows_channel(rows, p00, p01, p10, p11, fg, fb, c):
    """One channel from four red-expanded rows: lerp along g, then b."""
    c0 = rows[p00, c] + fg * (rows[p01, c] - rows[p00, c])
    c1 = rows[p10, c] + fg * (rows[p11, c] - rows[p10, c])
    return c0 + fb * (c1 - c0)


@numba.njit(cache=True, inline="always", fastmath=True)
def lut_u8_pixel(frame, yy, xx, rows, d, cell, frac):
    """The LUT's output for one uint8 pixel, from ``expand_rows`` and the per-code ``code_tables``."""
    g = frame[yy, xx, 1]
    b = frame[yy, xx, 2]
    fg = frac[g]
    fb = frac[b]
    p00 = (cell[b] * d + cell[g]) * 256 + frame[yy, xx, 0]
    p01 = p00 + 256
    p10 = p00 + d * 256
    p11 = p10 + 256
    return (_rows_channel(rows, p00, p01, p10, p11, fg, fb, 0), _rows_channel(rows, p00, p01, p10, p11, fg, fb, 1),
            _rows_channel(rows, p00, p01, p10, p11, fg, fb, 2))


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _apply_u8_kernel(frame, rows, d, cell, frac, out):
    for yy in numba.prange(frame.shape[0]):
        for xx in range(frame.shape[1]):
            r, g, b = lut_u8_pixel(frame, yy, xx, rows, d, cell, frac)
            out[yy, xx, 0] = r
            out[yy, xx, 1] = g
            out[yy, xx, 2] = b


@numba.njit(cache=True, inline="always", fastmath=_FAST_FINITE)
def _cell(v, top):
    """Code value -> (cell, fraction) on a LUT axis of top + 1 entries; clamped to [0, 1], NaN -> 0."""
    if not (v > 0.0):  # also NaN
        v = 0.0
    x = min(v, 1.0) * top
    i = min(int(x), top - 1)
    return i, np.float32(x - i)


@numba.njit(parallel=True, cache=True, fastmath=_FAST_FINITE, nogil=True)
def _apply_float_kernel(frame, lut, out):
    top = lut.shape[0] - 1
    for yy in numba.prange(frame.shape[0]):
        for xx in range(frame.shape[1]):
            ir, fr = _cell(frame[yy, xx, 0], top)
            ig, fg = _cell(frame[yy, xx, 1], top)
            ib, fb = _cell(frame[yy, xx, 2], top)
            r, g, b = _trilinear(lut, ir, ig, ib, fr, fg, fb)
            out[yy, xx, 0] = r
            out[yy, xx, 1] = g
            out[yy, xx, 2] = b


def apply_lut3d(code_values: np.ndarray, lut: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """H x W x 3 code values (uint8, or float in [0, 1], clamped) through the LUT -> float32 H x W x 3.

    ``out``: an optional float32 H x W x 3 array to write into (saves a large allocation per frame)."""
    if code_values.ndim != 3 or code_values.shape[2] != 3:
        raise ValueError(f"expected H x W x 3 code values, got {code_values.shape}")
    lut = check_lut(lut)
    if out is None:
        out = np.empty(code_values.shape, dtype=np.float32)
    elif out.shape != code_values.shape or out.dtype != np.float32:
        raise ValueError(f"out must be float32 {code_values.shape}, got {out.dtype} {out.shape}")
    if code_values.dtype == np.uint8:
        d = lut.shape[0]
        cell, frac = cached_code_tables(d)
        _apply_u8_kernel(code_values, expand_rows(lut), d, cell, frac, out)
    else:
        _apply_float_kernel(np.asarray(code_values, dtype=np.float32), lut, out)
    return out


def apply_lut3d_reference(code_values: np.ndarray, lut: np.ndarray) -> np.ndarray:
    """The same interpolation in plain numpy (float64): the tests' reference, and readable maths."""
    lut = np.asarray(lut, dtype=np.float64)
    top = lut.shape[0] - 1
    v = np.asarray(code_values, dtype=np.float64)
    if np.asarray(code_values).dtype == np.uint8:
        v = v / 255.0
    x = np.clip(np.nan_to_num(v, nan=0.0), 0.0, 1.0) * top
    i = np.minimum(np.floor(x), top - 1).astype(np.int64)
    f = (x - i)[..., None]
    (ir, ig, ib), (fr, fg, fb) = (i[..., k] for k in range(3)), (f[..., k, :] for k in range(3))
    out = 0.0
    for db, wb in ((0, 1 - fb), (1, fb)):
        for dg, wg in ((0, 1 - fg), (1, fg)):
            for dr, wr in ((0, 1 - fr), (1, fr)):
                out = out + wb * wg * wr * lut[ib + db, ig + dg, ir + dr]
    return out
