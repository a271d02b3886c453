"""The composed table of ``color/table.py`` applied in torch (issue #25): 8-bit R'G'B' -> 10-bit 4:2:0 planes
on the frame's device, equal to the numba kernel ``table_to_yuv420p10`` to +-1 code value.

Per pixel: each 8-bit code's cell and fraction come from ``table.code_cells()`` (the numba kernel's own
shaper tables), the eight corners are gathered from the flattened table and interpolated along r, then g,
then b (the kernel's order); the dither is the same integer hash (``device_pack.dither_tpdf``), chroma is
the 2x2 mean of the interpolated Cb / Cr, and codes are clamped to 4..1019 as there.
"""
from __future__ import annotations

import torch

from livehdr.color.table import TABLE_SIZE, code_cells
from livehdr.engine.device_pack import dither_tpdf

_Y_SCALE, _Y_OFFSET = 876.0, 64.5  # + 0.5: floor rounds
_C_SCALE, _C_OFFSET = 224.0, 512.5  # 896 / 4: applied to the sum of the 2x2 block
_CODE_MIN, _CODE_MAX = 4, 1019

_CELLS: dict = {}


def shaper_tables(device) -> tuple[torch.Tensor, torch.Tensor]:
    """(cell, fraction) per 8-bit code on ``device``: int64 and float32 tensors of 256."""
    key = str(device)
    if key not in _CELLS:
        cell, frac = code_cells()
        _CELLS[key] = (torch.from_numpy(cell).long().to(device), torch.from_numpy(frac).to(device))
    return _CELLS[key]


def lookup_table_torch(frame_u8: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """H x W x 3 uint8 (R'G'B') through a (D, D, D, C) table (``[b, g, r]``) -> H x W x C float32, trilinear."""
    d = table.shape[0]
    if table.dim() != 4 or table.shape[:3] != (d, d, d) or d != TABLE_SIZE:
        raise ValueError(f"expected a ({TABLE_SIZE}, {TABLE_SIZE}, {TABLE_SIZE}, C) table, got {tuple(table.shape)}")
    if frame_u8.dtype != torch.uint8 or frame_u8.dim() != 3 or frame_u8.shape[2] != 3:
        raise ValueError(f"expected an H x W x 3 uint8 frame, got {frame_u8.dtype} {tuple(frame_u8.shape)}")
    cells, fracs = shaper_tables(frame_u8.device)
    codes = frame_u8.long()
    ir, ig, ib = (cells[codes[..., k]] for k in range(3))
    fr, fg, fb = (fracs[codes[..., k]][..., None] for k in range(3))
    flat = table.reshape(d * d * d, table.shape[3]).float()

    def at(db, dg, dr):
        return flat[((ib + db) * d + (ig + dg)) * d + (ir + dr)]

    def lerp_r(db, dg):
        lo = at(db, dg, 0)
        return lo + fr * (at(db, dg, 1) - lo)

    c00, c01, c10, c11 = lerp_r(0, 0), lerp_r(0, 1), lerp_r(1, 0), lerp_r(1, 1)
    c0 = c00 + fg * (c01 - c00)
    c1 = c10 + fg * (c11 - c10)
    return c0 + fb * (c1 - c0)


def _quantise(values: torch.Tensor, scale: float, offset: float, dither: torch.Tensor | None) -> torch.Tensor:
    code = scale * values + offset
    if dither is not None:
        code = code + dither
    return torch.floor(code).clamp_(_CODE_MIN, _CODE_MAX).to(torch.int16)


def table_to_yuv420p10_torch(frame_u8: torch.Tensor, table: torch.Tensor, dither: bool = True, seed: int = 0):
    """H x W x 3 uint8 (H, W even) through a 'pq' / 'hlg' table (Y', Cb, Cr, light) -> (Y, U, V) int16 planes
    on the frame's device and (MaxCLL, frame-average light) in cd/m2 as 0-d tensors."""
    h, w = frame_u8.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    out = lookup_table_torch(frame_u8, table)
    luma, light = out[..., 0], out[..., 3]
    cb = out[..., 1].reshape(h // 2, 2, w // 2, 2).sum(dim=(1, 3))
    cr = out[..., 2].reshape(h // 2, 2, w // 2, 2).sum(dim=(1, 3))
    dev, seed = frame_u8.device, int(seed) & 0xFFFF
    y = _quantise(luma, _Y_SCALE, _Y_OFFSET, dither_tpdf(h, w, 0, seed, dev) if dither else None)
    u = _quantise(cb, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 1, seed, dev) if dither else None)
    v = _quantise(cr, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 2, seed, dev) if dither else None)
    return y, u, v, light.max(), light.mean()
