"""One table per frame: 8-bit R'G'B' code values straight to the encoder's values (issue #21).

For a pointwise operator (the classical curves, the LUT models) everything from the decoded code value to the
output code value is one function of three 8-bit numbers: EOTF -> operator -> nits -> roll-off -> BT.709 ->
BT.2020 -> PQ / HLG (or the SDR preview) -> Y'CbCr. ``compose_table`` samples that function on a grid, in
float, through ``encode.py``'s definitions (so there is still one colour contract); each pixel is then one
trilinear lookup, and the kernels add only the dither and the 4:2:0 chroma average.

The grid (measured, docs/BENCHMARKS.md "The composed table"):
- entries hold **non-linear output** (PQ / HLG Y', Cb, Cr, or R'G'B'), plus the encoded light (the rolled-off
  max(R, G, B) in cd/m2) for MaxCLL / MaxFALL: interpolating in the PQ domain is the usual practice for HDR
  LUTs, and Y'CbCr is linear in R'G'B', so the matrix commutes with the interpolation;
- each axis is **shaped**: PQ's slope is steepest at black, so the first ``BLACK_CELLS`` of ``TABLE_CELLS``
  uniform cells are replaced by ``2 * BLACK_CELLS`` cells spaced as a square (t = E sqrt(c / c_b)), C1 with
  the uniform part; the last uniform cell (codes 247-255), where learned highlight gains are steepest, is
  split in ``TOP_SPLIT``. Every other node is one of the uniform k / 32 of the clut model's own LUT, so a clut
  frame is sampled at its own kinks. Against the exact float path (tests/test_table.py): ramps and scenes
  within 1 code of 10 bits in PQ (HLG: 3 for clut), the colour cube within 1 at the 99.9th percentile and
  at most 4 (saturated darks); a uniform 33^3 grid was 38 codes off at black, a pure square shaper 17 at
  clut's top. The shaper is analytic and piecewise, so GLSL and torch compute it too
  (``table_coordinate``).

Layout: float32 ``(D, D, D, 4)`` indexed ``[b, g, r]`` (red fastest), like ``lut3d``'s LUT contract.
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import numba
import numpy as np

from livehdr.color.encode import (encode_HLG_BT2020, encode_PQ_BT2020, relative_BT709_to_display_nits_BT2020,
                                  tonemap_preview_SDR)
from livehdr.color import highlight, pack
from livehdr.color.lut3d import expand_rows_on
from livehdr.color.levels import PQ_PEAK, ReferenceLevels
from livehdr.color.primaries import WEIGHTS_BT2020

TABLE_CELLS = 32  # uniform cells per axis above the black region (= the clut model's 33-node grid)
BLACK_CELLS = 6  # uniform cells at black replaced by 2 x as many square-spaced ones
BLACK_NODES = 2 * BLACK_CELLS  # this makes the shaper C1 at c_b
BLACK_TOP = BLACK_CELLS / TABLE_CELLS  # c_b: code value where the square spacing meets the uniform one
TOP_SPLIT = 4  # the last uniform cell (codes 247-255), where learned highlight gains are steepest, split in 4
TOP_START = 1.0 - 1.0 / TABLE_CELLS  # c_t
UNIFORM_NODES = TABLE_CELLS - BLACK_CELLS - 1  # uniform cells between c_b and c_t
TABLE_SIZE = BLACK_NODES + UNIFORM_NODES + TOP_SPLIT + 1  # D: nodes per axis (42)

# What a table encodes: the file transfers in Y'CbCr, the window's R'G'B' (PQ or the SDR preview).
TARGETS = ("pq", "hlg", "rgb-pq", "rgb-sdr")

_KR, _KG, _KB = WEIGHTS_BT2020
CB_DIVISOR, CR_DIVISOR = 1.8814, 1.4746  # ITU-R BT.2020-2 Table 4: Cb = (B' - Y') / 1.8814, Cr = (R' - Y') / 1.4746


def table_coordinate(c):
    """Code value in [0, 1] -> the continuous node coordinate t in [0, D - 1] along one axis (numpy array).

    >>> float(table_coordinate(np.array(1.0))) == TABLE_SIZE - 1
    True
    >>> float(table_coordinate(np.array(BLACK_TOP)))
    12.0
    """
    c = np.clip(np.asarray(c, dtype=np.float64), 0.0, 1.0)
    top = BLACK_NODES + UNIFORM_NODES + (c - TOP_START) * (TABLE_CELLS * TOP_SPLIT)
    uniform = BLACK_NODES + (c - BLACK_TOP) * TABLE_CELLS
    return np.where(c >= TOP_START, top, np.where(c >= BLACK_TOP, uniform, BLACK_NODES * np.sqrt(c / BLACK_TOP)))


def node_values() -> np.ndarray:
    """The D code values of the nodes along one axis (the inverse of ``table_coordinate`` at 0 .. D - 1)."""
    black = BLACK_TOP * (np.arange(BLACK_NODES) / BLACK_NODES) ** 2
    uniform = BLACK_TOP + np.arange(UNIFORM_NODES) / TABLE_CELLS
    top = TOP_START + np.arange(TOP_SPLIT + 1) / (TABLE_CELLS * TOP_SPLIT)
    return np.concatenate([black, uniform, top])


def table_nodes() -> np.ndarray:
    """(D, D, D, 3) float32 R'G'B' code values at the nodes, indexed [b, g, r]: what the operator is asked."""
    v = node_values()
    b, g, r = np.meshgrid(v, v, v, indexing="ij")
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def code_cells() -> tuple[np.ndarray, np.ndarray]:
    """For each 8-bit code: its cell (0 .. D - 2) and the fraction within it (the kernels' shaper)."""
    t = table_coordinate(np.arange(256) / 255.0)
    cell = np.minimum(np.floor(t), TABLE_SIZE - 2).astype(np.int32)
    return cell, (t - cell).astype(np.float32)


_CELL, _FRAC = code_cells()


@numba.njit(cache=True, fastmath=True, nogil=True)
def _compose_kernel(rel, out, paper_white, peak, knee, slope, transfer, gamma_hlg, target_code, headroom):
    # One thread: it runs beside the packer and the encoder, and 74k entries take ~1 ms.
    d = rel.shape[0]
    for ib in range(d):
        for ig in range(d):
            for ir in range(d):
                r, g, b = rel[ib, ig, ir, 0], rel[ib, ig, ir, 1], rel[ib, ig, ir, 2]
                if target_code == 3:  # the SDR preview
                    out[ib, ig, ir, 0] = pack.srgb_scalar(pack.preview_curve_scalar(r, headroom))
                    out[ib, ig, ir, 1] = pack.srgb_scalar(pack.preview_curve_scalar(g, headroom))
                    out[ib, ig, ir, 2] = pack.srgb_scalar(pack.preview_curve_scalar(b, headroom))
                    out[ib, ig, ir, 3] = 0.0
                    continue
                rp, gp, bp, light = pack.encode_pixel_scalar(r, g, b, paper_white, peak, knee, slope, transfer,
                                                             gamma_hlg)
                if target_code == 2:
                    out[ib, ig, ir, 0] = rp
                    out[ib, ig, ir, 1] = gp
                    out[ib, ig, ir, 2] = bp
                else:
                    luma = _KR * rp + _KG * gp + _KB * bp
                    out[ib, ig, ir, 0] = luma
                    out[ib, ig, ir, 1] = (bp - luma) / CB_DIVISOR
                    out[ib, ig, ir, 2] = (rp - luma) / CR_DIVISOR
                out[ib, ig, ir, 3] = light


def compose_table(relative: np.ndarray, levels: ReferenceLevels, target: str = "pq",
                  source_peak: float | None = None) -> np.ndarray:
    """``compose_table_reference`` in one numba pass (about 1 ms instead of 12 ms at 42^3, one thread; the same scalar
    encoding as ``pack``'s kernels, tested against the reference to 1e-4 of a 10-bit code)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    rel = np.ascontiguousarray(relative, dtype=np.float32)
    if rel.shape != (TABLE_SIZE,) * 3 + (3,):
        raise ValueError(f"expected the operator at the {TABLE_SIZE}^3 nodes, got {rel.shape}")
    rel = np.nan_to_num(rel, nan=0.0, posinf=PQ_PEAK / levels.paper_white, neginf=0.0)  # fastmath: no NaN inside
    out = np.empty(rel.shape[:3] + (4,), dtype=np.float32)
    src = levels.content_peak if source_peak is None else source_peak
    constants = pack.encoding_constants(levels.paper_white, levels.peak, target == "hlg", src)
    _compose_kernel(rel, out, *constants, TARGETS.index(target), max(levels.headroom, 1.0 + 1e-6))
    return out


def compose_table_reference(relative: np.ndarray, levels: ReferenceLevels, target: str = "pq",
                            source_peak: float | None = None) -> np.ndarray:
    """The operator's output at ``table_nodes()`` (linear BT.709 relative to paper white, (D, D, D, 3)) ->
    the (D, D, D, 4) float32 table for ``target``:

    - 'pq' / 'hlg': (Y', Cb, Cr, light) of BT.2100 Y'CbCr (non-constant luminance), Y' in [0, 1] and Cb, Cr
      in [-0.5, 0.5], light = the rolled-off max(R, G, B) in cd/m2 (CTA-861.3 MaxCLL);
    - 'rgb-pq': (R', G', B', light) PQ BT.2020; 'rgb-sdr': the SDR preview's sRGB R'G'B' and 0.

    ``source_peak`` as in ``encode.py`` (None: ``levels.content_peak``)."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, got {target!r}")
    rel = np.asarray(relative, dtype=np.float64)
    if rel.shape != (TABLE_SIZE,) * 3 + (3,):
        raise ValueError(f"expected the operator at the {TABLE_SIZE}^3 nodes, got {rel.shape}")
    out = np.zeros(rel.shape[:3] + (4,), dtype=np.float64)
    if target == "rgb-sdr":
        out[..., :3] = tonemap_preview_SDR(rel, levels)
        return out.astype(np.float32)
    light = relative_BT709_to_display_nits_BT2020(rel, levels, source_peak).max(axis=-1)
    rgb = (encode_HLG_BT2020 if target == "hlg" else encode_PQ_BT2020)(rel, levels, source_peak)
    if target == "rgb-pq":
        out[..., :3] = rgb
    else:
        luma = _KR * rgb[..., 0] + _KG * rgb[..., 1] + _KB * rgb[..., 2]
        out[..., 0] = luma
        out[..., 1] = (rgb[..., 2] - luma) / CB_DIVISOR
        out[..., 2] = (rgb[..., 0] - luma) / CR_DIVISOR
    out[..., 3] = light
    return out.astype(np.float32)


@dataclass(frozen=True)
class TableFrame:
    """A pointwise operator's frame not computed yet: the uint8 code values and the composed table."""

    code_values: np.ndarray  # H x W x 3 uint8
    table: np.ndarray  # (D, D, D, 4) float32 from compose_table
    target: str
    highlight_field: "HighlightField | None" = None  # the operator's highlight stage for this frame

    @property
    def shape(self) -> tuple:
        return self.code_values.shape

    def pack_into(self, y, u, v, paper_white: float, peak: float, hlg: bool = False, seed: int = 0,
                  source_peak: float | None = None, dither: bool = True) -> tuple[float, float]:
        """The writer's packing call (as ``pack.relative_to_yuv420p10``); the levels are in the table."""
        if self.target != ("hlg" if hlg else "pq"):
            raise ValueError(f"a {self.target!r} table cannot be packed as {'HLG' if hlg else 'PQ'}")
        return table_to_yuv420p10(self.code_values, self.table, y, u, v, dither=dither, seed=seed,
                                  highlight_field=self.highlight_field)


# --------------------------------------------------------------------------------------------------------
# Kernels
# --------------------------------------------------------------------------------------------------------
_dither = pack.dither_scalar  # the same hash and seed as the float kernels: the two paths dither alike


# Each pixel reads the table expanded along red to every 8-bit code (``expand_rows``): rows[(ib * D + ig) * 256
# + r] is already the lerp along r at code r, so a pixel is four 16-byte reads and three lerps per channel
# instead of eight and seven (the same trick as lut3d.py). 42 x 42 x 256 x 4 floats (7.2 MB), built per table in 0.8 ms.
def expand_rows(table: np.ndarray) -> np.ndarray:
    """The red-expanded table the kernels read (see above; lut3d's expansion on this grid's shaped cells)."""
    return expand_rows_on(check_table(table), _CELL, _FRAC)


@numba.njit(cache=True, inline="always", fastmath=True)
def _lookup_row(px, rows, cell, frac, out):
    """One image row (W x 3 uint8) through the red-expanded rows into ``out`` (4 x W float32): per pixel
    four 16-byte reads and three lerps per channel. A row at a time keeps the loop free of stores to the
    planes, which measured 19 ms against 24.5 ms for a per-pixel loop (1080p, one core)."""
    for x in range(px.shape[0]):
        g = px[x, 1]
        b = px[x, 2]
        p = (cell[b] * TABLE_SIZE + cell[g]) * 256 + px[x, 0]
        q = p + 256 * TABLE_SIZE
        fg = frac[g]
        fb = frac[b]
        for c in range(4):
            c0 = rows[p, c] + fg * (rows[p + 256, c] - rows[p, c])
            c1 = rows[q, c] + fg * (rows[q + 256, c] - rows[q, c])
            out[c, x] = c0 + fb * (c1 - c0)


@numba.njit(cache=True, inline="always", fastmath=True)
def _gained_channel(light_rows, p, q, c, fg, fb, gain, top):
    """One channel of the operator's light at a pixel (the trilinear fetch over ``light_rows``) times its gain."""
    c0 = light_rows[p, c] + fg * (light_rows[p + 256, c] - light_rows[p, c])
    c1 = light_rows[q, c] + fg * (light_rows[q + 256, c] - light_rows[q, c])
    return min((c0 + fb * (c1 - c0)) * gain, top)


@numba.njit(cache=True, inline="always", fastmath=True)
def _highlight_row(px, yy, h, rows, light_rows, cell, frac, field, enc, target_code, out):
    """The highlight stage on one looked-up row: pixels at or above the knee whose gain is not 1 are
    encoded here from the operator's light (the same trilinear fetch, on ``light_rows``) times the gain."""
    w = px.shape[0]
    for x in range(w):
        r8 = px[x, 0]
        g8 = px[x, 1]
        b8 = px[x, 2]
        if max(r8, max(g8, b8)) < KNEE_CODE:
            continue
        gain = highlight.pixel_gain(field, yy, x, h, w, r8 / 255.0, g8 / 255.0, b8 / 255.0)
        if gain == 1.0:
            continue
        p = (cell[b8] * TABLE_SIZE + cell[g8]) * 256 + r8
        q = p + 256 * TABLE_SIZE
        fg = frac[g8]
        fb = frac[b8]
        # three scalars, not a small array: an array here is a heap allocation per gained pixel (measured: the
        # 1080p demo's pack went from 15 to 114 ms with the blind clut's stage)
        rr = _gained_channel(light_rows, p, q, 0, fg, fb, gain, enc[6])
        rg = _gained_channel(light_rows, p, q, 1, fg, fb, gain, enc[6])
        rb = _gained_channel(light_rows, p, q, 2, fg, fb, gain, enc[6])
        rp, gp, bp, light = pack.encode_pixel_scalar(rr, rg, rb, enc[0], enc[1], enc[2], enc[3], int(enc[4]), enc[5])
        if target_code == 2:
            out[0, x] = rp
            out[1, x] = gp
            out[2, x] = bp
        else:
            luma = _KR * rp + _KG * gp + _KB * bp
            out[0, x] = luma
            out[1, x] = (bp - luma) / CB_DIVISOR
            out[2, x] = (rp - luma) / CR_DIVISOR
        out[3, x] = light


@numba.njit(cache=True, fastmath=True)
def _yuv_rows(frame, rows, cell, frac, y_out, u_out, v_out, j0, j1, dither, seed, light_rows, field, enc):
    """Row pairs j0 .. j1 - 1 into the planes; returns (max, sum) of the light over them. ``field`` with
    more than one cell: the highlight stage is applied (``enc``: the encoding constants and the top)."""
    w = frame.shape[1]
    h = frame.shape[0]
    buf = np.empty((2, 4, w), dtype=np.float32)  # (Y', Cb, Cr, light) of the pair's two rows
    staged = field.shape[0] * field.shape[1] > 1
    mx = 0.0
    sm = 0.0
    for j in range(j0, j1):
        _lookup_row(frame[2 * j], rows, cell, frac, buf[0])
        _lookup_row(frame[2 * j + 1], rows, cell, frac, buf[1])
        if staged:
            _highlight_row(frame[2 * j], 2 * j, h, rows, light_rows, cell, frac, field, enc, 0, buf[0])
            _highlight_row(frame[2 * j + 1], 2 * j + 1, h, rows, light_rows, cell, frac, field, enc, 0, buf[1])
        for dy in range(2):
            yy = 2 * j + dy
            for x in range(w):
                light = buf[dy, 3, x]
                mx = max(mx, light)
                sm += light
                d = _dither(x, yy, 0, seed) if dither else 0.0
                y_out[yy, x] = min(max(math.floor(876.0 * buf[dy, 0, x] + 64.5 + d), 4), 1019)
        for i in range(w // 2):
            cb = buf[0, 1, 2 * i] + buf[0, 1, 2 * i + 1] + buf[1, 1, 2 * i] + buf[1, 1, 2 * i + 1]
            cr = buf[0, 2, 2 * i] + buf[0, 2, 2 * i + 1] + buf[1, 2, 2 * i] + buf[1, 2, 2 * i + 1]
            du = _dither(i, j, 1, seed) if dither else 0.0
            dv = _dither(i, j, 2, seed) if dither else 0.0
            u_out[j, i] = min(max(math.floor(224.0 * cb + 512.5 + du), 4), 1019)  # 896 / 4: the 2x2 mean
            v_out[j, i] = min(max(math.floor(224.0 * cr + 512.5 + dv), 4), 1019)
    return mx, sm


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _yuv420p10_kernel(frame, rows, cell, frac, y_out, u_out, v_out, dither, seed, bands, light_rows, field, enc):
    h2 = frame.shape[0] // 2
    band_max = np.zeros(bands, dtype=np.float64)
    band_sum = np.zeros(bands, dtype=np.float64)
    for k in numba.prange(bands):  # horizontal bands of row pairs, one per thread
        j0 = k * h2 // bands
        j1 = (k + 1) * h2 // bands
        band_max[k], band_sum[k] = _yuv_rows(frame, rows, cell, frac, y_out, u_out, v_out, j0, j1, dither, seed,
                                             light_rows, field, enc)
    return band_max.max(), band_sum.sum() / (2.0 * h2 * frame.shape[1])


def check_table(table: np.ndarray) -> np.ndarray:
    table = np.ascontiguousarray(table, dtype=np.float32)
    if table.shape != (TABLE_SIZE,) * 3 + (4,):
        raise ValueError(f"expected a ({TABLE_SIZE}, {TABLE_SIZE}, {TABLE_SIZE}, 4) table, got {table.shape}")
    return table


@dataclass(frozen=True)
class HighlightField:
    """The highlight stage's part of a frame for the table kernels (color/highlight.py): the field, the
    operator's own light at the nodes (to encode gained pixels from), the encoding and the light's top."""

    field: np.ndarray  # (rows, cols) float64 log2 gains
    relative: np.ndarray  # (D, D, D, 3) the pointwise operator at table_nodes()
    levels: ReferenceLevels
    target: str
    top: float  # the operator's max_relative
    source_peak: float | None = None

    def kernel_arguments(self):
        """(light rows, field, encoding constants) as the kernels take them."""
        rel = np.zeros(self.relative.shape[:3] + (4,), np.float32)
        rel[..., :3] = self.relative
        src = self.levels.content_peak if self.source_peak is None else self.source_peak
        constants = pack.encoding_constants(self.levels.paper_white, self.levels.peak, self.target == "hlg", src)
        enc = np.array(list(constants) + [self.top], dtype=np.float64)
        return expand_rows_on(rel, _CELL, _FRAC), np.ascontiguousarray(self.field, np.float64), enc


_NO_FIELD = (np.zeros((1, 4), np.float32), np.zeros((1, 1)), np.zeros(7))
KNEE_CODE = int(math.floor(highlight.APPLY_KNEE * 255.0)) + 1  # the first 8-bit code with a gain weight > 0


def table_to_yuv420p10(frame_u8: np.ndarray, table: np.ndarray, y: np.ndarray, u: np.ndarray, v: np.ndarray,
                       dither: bool = True, seed: int = 0,
                       highlight_field: HighlightField | None = None) -> tuple[float, float]:
    """uint8 H x W x 3 R'G'B' through a 'pq' / 'hlg' table into 10-bit limited-range 4:2:0 planes.

    Planes as ``pack.relative_to_yuv420p10`` (uint16, possibly strided views of an encoder frame); returns
    the same (MaxCLL, frame-average light) in cd/m2. Rows are split into as many bands as numba has threads
    for the calling thread (``pack.share_cores_in_this_thread`` sets it)."""
    if frame_u8.dtype != np.uint8 or frame_u8.ndim != 3 or frame_u8.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 frame, got {frame_u8.dtype} {frame_u8.shape}")
    h, w = frame_u8.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    bands = max(1, min(numba.get_num_threads(), h // 2))
    extra = _NO_FIELD if highlight_field is None else highlight_field.kernel_arguments()
    mx, avg = _yuv420p10_kernel(np.ascontiguousarray(frame_u8), expand_rows(table), _CELL, _FRAC, y, u, v,
                                bool(dither), int(seed) & 0xFFFF, bands, *extra)
    return float(mx), float(avg)


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _rgb10a2_kernel(frame, rows, cell, frac, out, light_rows, field, enc):
    staged = field.shape[0] * field.shape[1] > 1
    for yy in numba.prange(frame.shape[0]):
        buf = np.empty((4, frame.shape[1]), dtype=np.float32)
        _lookup_row(frame[yy], rows, cell, frac, buf)
        if staged:
            _highlight_row(frame[yy], yy, frame.shape[0], rows, light_rows, cell, frac, field, enc, 2, buf)
        for xx in range(frame.shape[1]):
            r10 = np.uint32(min(max(math.floor(buf[0, xx] * 1023.0 + 0.5), 0), 1023))
            g10 = np.uint32(min(max(math.floor(buf[1, xx] * 1023.0 + 0.5), 0), 1023))
            b10 = np.uint32(min(max(math.floor(buf[2, xx] * 1023.0 + 0.5), 0), 1023))
            out[yy, xx] = r10 | (g10 << np.uint32(10)) | (b10 << np.uint32(20)) | (np.uint32(3) << np.uint32(30))


def table_to_rgb10a2(frame_u8: np.ndarray, table: np.ndarray,
                     highlight_field: HighlightField | None = None) -> np.ndarray:
    """uint8 H x W x 3 through an 'rgb-pq' / 'rgb-sdr' table -> packed RGB10_A2 words (the window's CPU
    twin of its shader, and what the GL read-back tests compare with). The highlight stage here is for
    'rgb-pq' tables only (the SDR preview's gained pixels are the shader's)."""
    if highlight_field is not None and highlight_field.target != "rgb-pq":
        raise ValueError("the CPU twin applies the highlight stage to 'rgb-pq' tables only")
    out = np.empty(frame_u8.shape[:2], dtype=np.uint32)
    extra = _NO_FIELD if highlight_field is None else highlight_field.kernel_arguments()
    _rgb10a2_kernel(np.ascontiguousarray(frame_u8, dtype=np.uint8), expand_rows(table), _CELL, _FRAC, out, *extra)
    return out


def apply_table_reference(frame_u8: np.ndarray, table: np.ndarray) -> np.ndarray:
    """The table's interpolation in plain numpy (float64), H x W x 4: the tests' reference."""
    t = table_coordinate(np.asarray(frame_u8, dtype=np.float64) / 255.0)
    i = np.minimum(np.floor(t), TABLE_SIZE - 2).astype(np.int64)
    f = t - i
    tab = np.asarray(table, dtype=np.float64)
    out = 0.0
    for db in (0, 1):
        wb = f[..., 2] if db else 1 - f[..., 2]
        for dg in (0, 1):
            wg = f[..., 1] if dg else 1 - f[..., 1]
            for dr in (0, 1):
                wr = f[..., 0] if dr else 1 - f[..., 0]
                out = out + (wb * wg * wr)[..., None] * tab[i[..., 2] + db, i[..., 1] + dg, i[..., 0] + dr]
    return out
