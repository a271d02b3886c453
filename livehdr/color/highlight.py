"""The spatial highlight stage's arithmetic (issue #23): a coarse gain field over near-clipped pixels.

A pointwise operator gives every pixel at (255, 255, 255) the same light, so a clipped sun comes out as a
flat disc with a hard edge. This stage looks at the geometry of near-clipped regions on a coarse grid and
turns it into a log2 gain per grid cell; each pixel then takes

    out = E(c) * 2^(a(c) * h(x))        a(c) = clamp((m(c) - APPLY_KNEE) / (1 - APPLY_KNEE), 0, 1)

with E the pointwise output, c the pixel's code values and h the field, bilinear between cell centres;
m(c) is the brightest channel where h >= 0 and the darkest where h < 0 (``gain_weight``): the stage brightens
what the SDR clipped in any channel, but darkens only what it clipped in all three (a pixel with one channel
at 255 and another well below keeps its light: darkened, it dipped below its neighbours at a region's rim).
a is zero below code ``APPLY_KNEE`` and one at the clip. The features see a wider band, q(c) from ``KNEE``.

The grid has ``GRID_LONG`` cells along the frame's long side at every resolution (a sun covers the same
cells at 320x240 and at 4K). Per cell: the pixel count, the sum of q, the sum of Y'(1 - q) (the luma of
code values outside the clipped part: how bright the surroundings are) and the count of fully clipped
samples (all three channels at the top code). A pyramid of ``LEVELS`` 2x2 sums gives, at every level and
upsampled back to the grid:
- the share of near-clipped pixels (deep inside a large region: high at every level; near an edge: about
  half at the fine levels; a small region: low at the coarse ones);
- the mean luma of the unclipped pixels (a sun in haze has a bright halo, a white wall need not).
The fully clipped cells give the regions (``GridRegions``): each cell's depth inside its region and the
region's deepest depth. With ``centred`` a field keeps each region's mean level (the pointwise operator's
guess) and only shapes it: the blind ``auto`` stage is level-free. A tiny MLP (``models/highlight.py``,
trained on the shared data) maps these features and the base operator's light at white to h. Everything
here exists twice, numpy/numba and torch, tested equal (tests/test_highlight_stage.py); the window's shader
applies the same field (shaders/present.frag).
"""
from __future__ import annotations

import math

import numba
import numpy as np

GRID_LONG = 96  # cells along the long side
LEVELS = 5  # the grid and four 2x2 reductions (96 -> 48 -> 24 -> 12 -> 6)
KNEE = 0.92  # features: code value where "near clipped" starts (235 of 255)
APPLY_KNEE = 0.985  # the gain: only the top codes (252-255); measured, a knee at 235 moved good pixels too
LUMA = (0.2126, 0.7152, 0.0722)  # BT.709 weights on code values: a cheap brightness of the surroundings
SAMPLES_PER_CELL = 4  # per cell side: large frames are sampled on a stride (about 16 samples per cell)
FULL_CLIP = 254.5 / 255  # a channel at the top code; all three there: "fully clipped" (the shape measure's mask)
SUMS = 4  # per cell: samples, sum of q, sum of Y'(1 - q), fully clipped samples
# clipped share per level, surround luma per level, depth in the fully clipped region and the region's
# deepest depth (GridRegions), the base's log2 light at white
FEATURES = 2 * LEVELS + 3


def grid_shape(height: int, width: int) -> tuple[int, int]:
    """(rows, columns) of the field for a frame: ``GRID_LONG`` along the long side, aspect kept.

    >>> grid_shape(1080, 1920), grid_shape(240, 320), grid_shape(1920, 1080)
    ((54, 96), (72, 96), (96, 54))
    """
    if width >= height:
        return max(1, round(GRID_LONG * height / width)), GRID_LONG
    return GRID_LONG, max(1, round(GRID_LONG * width / height))


def sample_stride(height: int, width: int) -> int:
    """Pixels between samples along each axis (1 up to 384 px on the long side; 5 at 1080p)."""
    return max(1, max(height, width) // GRID_LONG // SAMPLES_PER_CELL)


def clip_weight(maxc):
    """q: 0 below ``KNEE``, 1 at the clip, linear between (numpy or torch, code values of the brightest channel)."""
    return ((maxc - KNEE) * (1.0 / (1.0 - KNEE))).clip(0.0, 1.0)


def apply_weight(maxc):
    """The weight of the gain per pixel: as ``clip_weight`` from ``APPLY_KNEE`` (of the channel ``gain_weight``
    picks)."""
    return ((maxc - APPLY_KNEE) * (1.0 / (1.0 - APPLY_KNEE))).clip(0.0, 1.0)


def gain_weight(code, h):
    """a(c) for code values (..., 3) and the field at those pixels (...): ``apply_weight`` of the brightest
    channel where h >= 0, of the darkest where h < 0 (numpy or torch)."""
    if isinstance(code, np.ndarray):
        return np.where(h >= 0, apply_weight(code.max(axis=-1)), apply_weight(code.min(axis=-1)))
    import torch

    return torch.where(h >= 0, apply_weight(code.amax(dim=-1)), apply_weight(code.amin(dim=-1)))


# --------------------------------------------------------------------------------------------------------
# Cell sums (numba; torch twin below)
# --------------------------------------------------------------------------------------------------------
@numba.njit(cache=True, fastmath=True, nogil=True)
def _cell_sums_kernel(frame, scale, gh, gw, stride, out):
    h, w = frame.shape[0], frame.shape[1]
    kr, kg, kb = LUMA
    inv = 1.0 / (1.0 - KNEE)
    for y in range(0, h, stride):
        cy = y * gh // h
        for x in range(0, w, stride):
            cx = x * gw // w
            r = frame[y, x, 0] * scale
            g = frame[y, x, 1] * scale
            b = frame[y, x, 2] * scale
            q = min(max((max(r, max(g, b)) - KNEE) * inv, 0.0), 1.0)
            out[cy, cx, 0] += 1.0
            out[cy, cx, 1] += q
            out[cy, cx, 2] += (kr * r + kg * g + kb * b) * (1.0 - q)
            if min(r, min(g, b)) >= FULL_CLIP:
                out[cy, cx, 3] += 1.0


def cell_sums(frame: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8 (or float code values in [0, 1]) -> (rows, cols, SUMS) float64: samples, sum of q,
    sum of Y'(1 - q) and fully clipped samples per cell, over the pixels on the ``sample_stride`` lattice
    (one pass; ~1 ms at 1080p)."""
    h, w = frame.shape[:2]
    gh, gw = grid_shape(h, w)
    out = np.zeros((gh, gw, SUMS), dtype=np.float64)
    if frame.dtype == np.uint8:
        _cell_sums_kernel(np.ascontiguousarray(frame), 1.0 / 255.0, gh, gw, sample_stride(h, w), out)
    else:
        _cell_sums_kernel(np.ascontiguousarray(frame, dtype=np.float32), 1.0, gh, gw, sample_stride(h, w), out)
    return out


def cell_sums_torch(code):
    """The torch twin of ``cell_sums`` for one frame, 1 x 3 x H x W code values in [0, 1] or uint8 codes (any
    device). Only the sampled lattice is converted to float64 (a 4K frame whole would be ~200 MB)."""
    import torch

    _, _, h, w = code.shape
    gh, gw = grid_shape(h, w)
    s = sample_stride(h, w)
    x = code[0, :, ::s, ::s].to(torch.float64)
    if code.dtype == torch.uint8:
        x = x * (1.0 / 255.0)  # as the numba kernel: u8 * (1 / 255)
    ys = torch.arange(0, h, s, device=code.device) * gh // h
    xs = torch.arange(0, w, s, device=code.device) * gw // w
    q = clip_weight(x.amax(dim=0))
    luma = (LUMA[0] * x[0] + LUMA[1] * x[1] + LUMA[2] * x[2]) * (1.0 - q)
    index = (ys[:, None] * gw + xs[None, :]).reshape(-1)
    full = (x.amin(dim=0) >= FULL_CLIP).to(torch.float64)
    out = torch.zeros(gh * gw, SUMS, dtype=torch.float64, device=code.device)
    out[:, 0].index_add_(0, index, torch.ones_like(q).reshape(-1))
    out[:, 1].index_add_(0, index, q.reshape(-1))
    out[:, 2].index_add_(0, index, luma.reshape(-1))
    out[:, 3].index_add_(0, index, full.reshape(-1))
    return out.reshape(gh, gw, SUMS)


# --------------------------------------------------------------------------------------------------------
# Pyramid and features (numpy or torch through the same code: the grid is small)
# --------------------------------------------------------------------------------------------------------
def _reduce2(sums, xp):
    """2x2 sums of a (rows, cols, k) grid; an odd last row / column is padded with empty cells."""
    gh, gw = sums.shape[:2]
    ph, pw = (-gh) % 2, (-gw) % 2
    if xp is np:
        sums = np.pad(sums, ((0, ph), (0, pw), (0, 0)))
    else:
        import torch.nn.functional as F

        sums = F.pad(sums.permute(2, 0, 1), (0, pw, 0, ph)).permute(1, 2, 0)
    gh, gw, k = sums.shape
    return sums.reshape(gh // 2, 2, gw // 2, 2, k).sum(axis=(1, 3)) if xp is np else \
        sums.reshape(gh // 2, 2, gw // 2, 2, k).sum(dim=(1, 3))


def upsample_matrix(fine: int, coarse: int, factor: int) -> np.ndarray:
    """(fine, coarse) linear interpolation from a level ``factor`` times coarser to the fine cells' centres
    (clamped at the borders)."""
    pos = np.clip((np.arange(fine) + 0.5) / factor - 0.5, 0.0, coarse - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, coarse - 1)
    f = pos - lo
    m = np.zeros((fine, coarse))
    m[np.arange(fine), lo] += 1.0 - f
    m[np.arange(fine), hi] += f
    return m


@numba.njit(cache=True)
def _chamfer_depth(inside, out):
    """Distance in cells from each ``inside`` cell to the nearest cell outside (3x3 chamfer: 1 and sqrt 2,
    one forward and one backward pass); 0 outside. The frame's border is no edge: a sun cut by the frame
    stays deep there."""
    h, w = inside.shape
    diag = math.sqrt(2.0)
    for y in range(h):
        for x in range(w):
            out[y, x] = 1e9 if inside[y, x] else 0.0
    for y in range(h):
        for x in range(w):
            if out[y, x] > 0.0:
                d = out[y, x]
                if y > 0:
                    d = min(d, out[y - 1, x] + 1.0)
                    if x > 0:
                        d = min(d, out[y - 1, x - 1] + diag)
                    if x + 1 < w:
                        d = min(d, out[y - 1, x + 1] + diag)
                if x > 0:
                    d = min(d, out[y, x - 1] + 1.0)
                out[y, x] = d
    for y in range(h - 1, -1, -1):
        for x in range(w - 1, -1, -1):
            if out[y, x] > 0.0:
                d = out[y, x]
                if y + 1 < h:
                    d = min(d, out[y + 1, x] + 1.0)
                    if x > 0:
                        d = min(d, out[y + 1, x - 1] + diag)
                    if x + 1 < w:
                        d = min(d, out[y + 1, x + 1] + diag)
                if x + 1 < w:
                    d = min(d, out[y, x + 1] + 1.0)
                out[y, x] = d


class GridRegions:
    """The fully clipped regions of a frame on its grid, from the cell sums (numpy, float64).

    - ``labels``: 8-connected regions (1..n, 0: none) of the cells holding any fully clipped sample (the
      shape measure's mask, color/regions.py's rule);
    - ``depth``: log(1 + chamfer distance in cells) from the cells under half fully clipped: how deep a cell
      lies inside its region (the truth inside a clipped sun follows it: Pearson 0.53 per pixel on the
      validation scenes, docs/HIGHLIGHTS.md);
    - ``reach``: the labels grown by one cell, the ring whose pixels read the region's cells bilinearly;
    - ``deepest``: the deepest depth of each region over its reach (how large the region is), 0 elsewhere;
    - ``weight``: fully clipped samples per cell, the weights of ``centred`` (which also zeroes the field
      outside every reach).

    >>> sums = np.zeros((5, 7, SUMS)); sums[..., 0] = 16; sums[1:4, 1:6, 3] = 16
    >>> r = GridRegions(sums)
    >>> r.count, int(r.reach.astype(bool).sum()), round(float(r.deepest.max()), 3)
    (1, 35, 1.099)
    """

    def __init__(self, sums: np.ndarray):
        from livehdr.color.regions import label_8_connected

        full = np.asarray(sums[..., 3], np.float64)
        self.weight = full
        self.labels, self.count = label_8_connected(full > 0)
        distance = np.empty(full.shape, np.float64)
        _chamfer_depth(np.ascontiguousarray(full >= 0.5 * np.maximum(sums[..., 0], 1e-9)), distance)
        self.depth = np.log1p(np.minimum(distance, GRID_LONG))
        padded = np.pad(self.labels, 1)
        h, w = self.labels.shape
        grown = self.labels.copy()
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                neighbour = padded[1 + dy:1 + dy + h, 1 + dx:1 + dx + w]
                grown = np.where(grown == 0, neighbour, grown)
        self.reach = grown
        deepest = np.zeros(self.count + 1)
        np.maximum.at(deepest, self.labels.ravel(), self.depth.ravel())
        deepest[0] = 0.0
        self.deepest = deepest[self.reach]

    def centred(self, field: np.ndarray, floor: float | None = None) -> np.ndarray:
        """The field shifted on each region's reach so that its mean over the region, weighted by fully
        clipped samples, is 0, and 0 outside every reach: the pointwise operator keeps each region's level
        and every other pixel's light, the field only shapes the regions. (Outside the regions a gain would
        be a level again, and it would send every saturated primary through the per-pixel encoding.)
        ``floor``: no gain on the reach below it (``level_free_floor``: a region's rim never turns into a dark
        outline)."""
        if self.count == 0:
            return np.zeros_like(field)
        flat = self.labels.ravel()
        total = np.bincount(flat, self.weight.ravel(), minlength=self.count + 1)
        mean = np.bincount(flat, (self.weight * field).ravel(), minlength=self.count + 1) / np.maximum(total, 1e-9)
        shaped = field - mean[self.reach]
        if floor is not None:
            shaped = np.maximum(shaped, floor)
        return np.where(self.reach > 0, shaped, 0.0)


def features_from_sums(sums, log2_white: float, regions: GridRegions | None = None):
    """(rows, cols, SUMS) cell sums -> (rows * cols, FEATURES) float32 features (numpy or torch as given;
    ``regions``: the frame's ``GridRegions`` when the caller has them already)."""
    xp = np if isinstance(sums, np.ndarray) else None
    if xp is None:
        import torch

        as_matrix = lambda m: torch.from_numpy(m).to(sums.device, sums.dtype)  # noqa: E731
    else:
        as_matrix = lambda m: m  # noqa: E731
    if regions is None:
        regions = GridRegions(sums if xp is np else sums.detach().cpu().numpy())
    gh, gw = sums.shape[:2]
    shares, surrounds = [], []
    level = sums
    for k in range(LEVELS):
        n, qs, ys = level[..., 0], level[..., 1], level[..., 2]
        share = qs / (n + 1e-9)
        empty = 0.01 * n + 1e-9  # no unclipped pixel at all: the surround reads as white
        surround = (ys + empty) / (n - qs + empty)
        if k:
            rows = as_matrix(upsample_matrix(gh, level.shape[0], 2**k))
            cols = as_matrix(upsample_matrix(gw, level.shape[1], 2**k))
            share = rows @ share @ cols.T
            surround = rows @ surround @ cols.T
        shares.append(share)
        surrounds.append(surround)
        level = _reduce2(level, xp)
    if xp is np:
        white = np.full((gh, gw), log2_white)
        planes = shares + surrounds + [regions.depth, regions.deepest, white]
        return np.stack(planes, axis=-1).reshape(gh * gw, FEATURES).astype(np.float32)
    import torch

    white = torch.full((gh, gw), float(log2_white), dtype=sums.dtype, device=sums.device)
    planes = shares + surrounds + [as_matrix(regions.depth), as_matrix(regions.deepest), white]
    return torch.stack(planes, dim=-1).reshape(gh * gw, FEATURES).float()


# --------------------------------------------------------------------------------------------------------
# Applying the field
# --------------------------------------------------------------------------------------------------------
def field_coordinate(i, n_pixels: int, n_cells: int):
    """Pixel index -> continuous cell coordinate (cell centres at integers), clamped to [0, n_cells - 1]."""
    return np.clip((np.asarray(i, np.float64) + 0.5) * n_cells / n_pixels - 0.5, 0.0, n_cells - 1)


@numba.njit(cache=True, inline="always", fastmath=True)
def field_at(field, y, x, h, w):
    """The field bilinear at pixel (y, x) of an h x w frame (the scalar twin of ``field_coordinate``)."""
    gh, gw = field.shape
    fy = min(max((y + 0.5) * gh / h - 0.5, 0.0), gh - 1.0)
    fx = min(max((x + 0.5) * gw / w - 0.5, 0.0), gw - 1.0)
    y0 = min(int(fy), gh - 1)
    x0 = min(int(fx), gw - 1)
    y1 = min(y0 + 1, gh - 1)
    x1 = min(x0 + 1, gw - 1)
    ty = fy - y0
    tx = fx - x0
    top = field[y0, x0] + tx * (field[y0, x1] - field[y0, x0])
    bottom = field[y1, x0] + tx * (field[y1, x1] - field[y1, x0])
    return top + ty * (bottom - top)


@numba.njit(cache=True, inline="always", fastmath=True)
def pixel_gain(field, y, x, h, w, r, g, b):
    """2^(a h) for code values (r, g, b) in [0, 1] at pixel (y, x): 1 below the knee (``gain_weight``)."""
    top = max(r, max(g, b))
    if top <= APPLY_KNEE:
        return 1.0
    f = field_at(field, y, x, h, w)
    m = top if f >= 0.0 else min(r, min(g, b))
    q = min(max((m - APPLY_KNEE) * (1.0 / (1.0 - APPLY_KNEE)), 0.0), 1.0)
    if q <= 0.0:
        return 1.0
    return 2.0 ** (q * f)


@numba.njit(parallel=True, cache=True, fastmath=True, nogil=True)
def _apply_kernel(light, frame, scale, field, top, out):
    h, w = frame.shape[0], frame.shape[1]
    for y in numba.prange(h):
        for x in range(w):
            g = pixel_gain(field, y, x, h, w, frame[y, x, 0] * scale, frame[y, x, 1] * scale,
                           frame[y, x, 2] * scale)
            for c in range(3):
                out[y, x, c] = min(light[y, x, c] * g, top)


def apply_field(light: np.ndarray, frame: np.ndarray, field: np.ndarray, top: float) -> np.ndarray:
    """out = min(light * 2^(q h), top) per pixel (H x W x 3 float32 light; uint8 or float code values)."""
    out = np.empty(light.shape, dtype=np.float32)
    scale = 1.0 / 255.0 if frame.dtype == np.uint8 else 1.0
    frame = np.ascontiguousarray(frame if frame.dtype == np.uint8 else frame.astype(np.float32))
    _apply_kernel(np.ascontiguousarray(light, dtype=np.float32), frame, scale,
                  np.ascontiguousarray(field, dtype=np.float64), float(top), out)
    return out


def apply_field_reference(light: np.ndarray, code: np.ndarray, field: np.ndarray, top: float) -> np.ndarray:
    """``apply_field`` in plain numpy (float64): the tests' reference."""
    h, w = code.shape[:2]
    gh, gw = field.shape
    fy, fx = field_coordinate(np.arange(h), h, gh), field_coordinate(np.arange(w), w, gw)
    y0, x0 = np.floor(fy).astype(int), np.floor(fx).astype(int)
    y1, x1 = np.minimum(y0 + 1, gh - 1), np.minimum(x0 + 1, gw - 1)
    ty, tx = (fy - y0)[:, None], (fx - x0)[None, :]
    f = np.asarray(field, np.float64)
    top_row = f[y0][:, x0] + tx * (f[y0][:, x1] - f[y0][:, x0])
    bottom = f[y1][:, x0] + tx * (f[y1][:, x1] - f[y1][:, x0])
    hfield = top_row + ty * (bottom - top_row)
    q = gain_weight(np.asarray(code, np.float64), hfield)
    return np.minimum(np.asarray(light, np.float64) * np.exp2(q * hfield)[..., None], top)


def upsample_field_torch(field, height: int, width: int):
    """The field bilinear at every pixel (H x W), the torch twin of ``field_at``."""
    import torch

    gh, gw = field.shape
    dev, dt = field.device, field.dtype
    fy = ((torch.arange(height, device=dev, dtype=torch.float64) + 0.5) * gh / height - 0.5).clamp(0, gh - 1)
    fx = ((torch.arange(width, device=dev, dtype=torch.float64) + 0.5) * gw / width - 0.5).clamp(0, gw - 1)
    y0, x0 = fy.floor().long(), fx.floor().long()
    y1, x1 = (y0 + 1).clamp(max=gh - 1), (x0 + 1).clamp(max=gw - 1)
    ty, tx = (fy - y0).to(dt)[:, None], (fx - x0).to(dt)[None, :]
    top = field[y0][:, x0] + tx * (field[y0][:, x1] - field[y0][:, x0])
    bottom = field[y1][:, x0] + tx * (field[y1][:, x1] - field[y1][:, x0])
    return top + ty * (bottom - top)


def field_at_pixels_torch(field, ys, xs, h: int, w: int):
    """The field bilinear at the pixels (ys, xs) of an h x w frame, float64 (``field_at``), for a gather of pixels."""
    gh, gw = field.shape
    fy = ((ys.double() + 0.5) * gh / h - 0.5).clamp(0.0, gh - 1.0)
    fx = ((xs.double() + 0.5) * gw / w - 0.5).clamp(0.0, gw - 1.0)
    y0, x0 = fy.long().clamp(max=gh - 1), fx.long().clamp(max=gw - 1)
    y1, x1 = (y0 + 1).clamp(max=gh - 1), (x0 + 1).clamp(max=gw - 1)
    ty, tx = fy - y0, fx - x0
    f = field.double()
    top = f[y0, x0] + tx * (f[y0, x1] - f[y0, x0])
    bottom = f[y1, x0] + tx * (f[y1, x1] - f[y1, x0])
    return top + ty * (bottom - top)


def apply_field_torch(light, code, field, top: float):
    """N x 3 x H x W light and code values (one field for the batch's frame) -> the gained light."""
    h, w = code.shape[-2:]
    hfield = upsample_field_torch(field.to(light.dtype), h, w)
    q = gain_weight(code.to(light.dtype).movedim(1, -1), hfield)[:, None]
    return (light * (q * hfield).exp2()).clamp(max=top)


def level_free_floor(white_rgb, knee_rgb) -> float:
    """The level-free stage's lowest gain (log2): log2 of the base's luminance at grey code ``APPLY_KNEE``
    over its luminance at white (<= 0). A gained pixel then stays at least as bright as the brightest pixel
    the stage leaves alone: on a base whose log light rises linearly from the knee to the clip, every pixel
    of the ramp at the floor lands on exactly that light, so a region's rim never dips into a dark outline."""
    return min(0.0, log2_white(knee_rgb) - log2_white(white_rgb))


def moves_pixels(field) -> bool:
    """Whether a field changes any pixel. The level-free stage gives a frame without a fully clipped region a
    field of zeros: every path then draws or packs that frame without the stage's per-pixel work."""
    return field is not None and bool(np.any(np.asarray(field) != 0.0))


def log2_white(white_rgb) -> float:
    """The feature the field is conditioned on: log2 of the base operator's luminance at code (1, 1, 1)
    (or of any light given: ``level_free_floor`` also takes it at the knee)."""
    r, g, b = (float(v) for v in white_rgb)
    return math.log2(max(0.2126 * r + 0.7152 * g + 0.0722 * b, 1e-3))
