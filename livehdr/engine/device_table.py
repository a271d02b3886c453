"""The composed table of ``color/table.py`` applied in torch (issue #25): 8-bit R'G'B' -> 10-bit 4:2:0 planes
on the frame's device, equal to the numba kernel ``table_to_yuv420p10`` to +-1 code value.

Per pixel: each 8-bit code's cell and fraction come from ``table.code_cells()`` (the numba kernel's own
shaper tables), the eight corners are gathered from the flattened table and interpolated along r, then g,
then b (the kernel's order); the dither is the same integer hash (``device_pack.dither_tpdf``), chroma is
the 2x2 mean of the interpolated Cb / Cr, and codes are clamped to 4..1019 as there.

An operator's highlight stage (issue #23, ``DeviceHighlight``) is applied as the numba kernel's
``_highlight_row`` does: the pixels at codes >= ``KNEE_CODE`` whose gain is not 1 take the operator's own light,
trilinear at the nodes, times 2^(a(c) h(x)), clamped to its top, encoded per pixel (Y'CbCr + light), before the
chroma average and the frame's light statistics.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from livehdr import color
from livehdr.color import highlight as hl
from livehdr.color.levels import ReferenceLevels
from livehdr.color.table import CB_DIVISOR, CR_DIVISOR, KNEE_CODE, TABLE_SIZE, code_cells, table_nodes
from livehdr.engine.device_pack import dither_tpdf

_Y_SCALE, _Y_OFFSET = 876.0, 64.5  # + 0.5: floor rounds
_C_SCALE, _C_OFFSET = 224.0, 512.5  # 896 / 4: applied to the sum of the 2x2 block
_CODE_MIN, _CODE_MAX = 4, 1019

_CELLS: dict = {}
_NODES: dict = {}


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


@dataclass(frozen=True)
class DeviceHighlight:
    """The highlight stage's part of a frame on the device (the twin of ``color.table.HighlightField``): the
    field, the operator's own light at the nodes, the encoding (levels, target, source peak) and the top."""

    field: torch.Tensor  # (rows, cols) float64 log2 gains
    relative: torch.Tensor  # (D, D, D, 3) the pointwise operator at table_nodes(), indexed [b, g, r]
    levels: ReferenceLevels  # the table's levels
    target: str  # 'pq' or 'hlg'
    top: float  # the operator's max_relative
    source_peak: float | None = None


def apply_highlight_torch(frame_u8: torch.Tensor, out: torch.Tensor, stage: DeviceHighlight) -> None:
    """Overwrite ``out`` (H x W x 4: Y', Cb, Cr, light from the table) at the gained pixels, in place."""
    h, w = frame_u8.shape[:2]
    ys, xs = (frame_u8.amax(dim=2) >= KNEE_CODE).nonzero(as_tuple=True)
    if ys.numel() == 0:
        return
    codes = frame_u8[ys, xs]  # N x 3
    field = hl.field_at_pixels_torch(stage.field, ys, xs, h, w)
    weight = hl.gain_weight(codes.double() / 255.0, field)  # brightest channel from KNEE_CODE on; darkest if < 0
    gain = (weight * field).exp2()
    gained = gain != 1.0  # as the kernel: a pixel without a gain keeps the table's value
    ys, xs, codes, gain = ys[gained], xs[gained], codes[gained], gain[gained]
    if ys.numel() == 0:
        return
    light = lookup_table_torch(codes[:, None], stage.relative)[:, 0].double()  # N x 3, trilinear at the nodes
    relative = (light * gain[:, None]).clamp(max=stage.top)
    encoded = encode_ycbcr_light(relative.T[None, :, None, :], stage.levels, stage.target, stage.source_peak)
    out[ys, xs] = encoded[0].to(out.dtype)


def table_to_yuv420p10_torch(frame_u8: torch.Tensor, table: torch.Tensor, dither: bool = True, seed: int = 0,
                             highlight: DeviceHighlight | None = None):
    """H x W x 3 uint8 (H, W even) through a 'pq' / 'hlg' table (Y', Cb, Cr, light) -> (Y, U, V) int16 planes
    on the frame's device and (MaxCLL, frame-average light) in cd/m2 as 0-d tensors. ``highlight``: the
    operator's highlight stage for this frame, applied before the chroma average and the statistics."""
    h, w = frame_u8.shape[:2]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    out = lookup_table_torch(frame_u8, table)
    if highlight is not None:
        apply_highlight_torch(frame_u8, out, highlight)
    luma, light = out[..., 0], out[..., 3]
    cb = out[..., 1].reshape(h // 2, 2, w // 2, 2).sum(dim=(1, 3))
    cr = out[..., 2].reshape(h // 2, 2, w // 2, 2).sum(dim=(1, 3))
    dev, seed = frame_u8.device, int(seed) & 0xFFFF
    y = _quantise(luma, _Y_SCALE, _Y_OFFSET, dither_tpdf(h, w, 0, seed, dev) if dither else None)
    u = _quantise(cb, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 1, seed, dev) if dither else None)
    v = _quantise(cr, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 2, seed, dev) if dither else None)
    return y, u, v, light.max(), light.mean()


# --------------------------------------------------------------------------------------------------------
# Composing the table on the device (a LUT operator's table changes every frame)
# --------------------------------------------------------------------------------------------------------
def nodes_torch(device) -> torch.Tensor:
    """``table.table_nodes()`` as 1 x 3 x D x D*D code values on ``device`` (the torch layout of the colour
    functions and of ``apply_lut_torch``)."""
    key = str(device)
    if key not in _NODES:
        d = TABLE_SIZE
        _NODES[key] = torch.from_numpy(table_nodes()).reshape(d, d * d, 3).permute(2, 0, 1)[None].to(device)
    return _NODES[key]


def compose_table_torch(relative: torch.Tensor, levels, target: str = "pq",
                        source_peak: float | None = None) -> torch.Tensor:
    """``color.table.compose_table`` for 'pq' / 'hlg' on the tensor's device: the operator at the nodes
    (1 x 3 x D x D*D, from ``nodes_torch``) -> the (D, D, D, 4) float32 table (Y', Cb, Cr, light).

    The encoding is ``color.encode``'s own (its torch side); only the Y'CbCr assembly of compose_table is
    written again here (color/table.py is numpy / numba only). Equal to it within float32 rounding."""
    if target not in ("pq", "hlg"):
        raise ValueError(f"the device table is for files ('pq' or 'hlg'), got {target!r}")
    d = TABLE_SIZE
    if tuple(relative.shape) != (1, 3, d, d * d):
        raise ValueError(f"expected the operator at the nodes as 1 x 3 x {d} x {d * d}, got {tuple(relative.shape)}")
    return encode_ycbcr_light(relative.float(), levels, target, source_peak)[0].reshape(d, d, d, 4)


def encode_ycbcr_light(relative: torch.Tensor, levels, target: str, source_peak: float | None = None) -> torch.Tensor:
    """N x 3 x H x W operator light (linear BT.709, relative) -> N x H x W x 4 (Y', Cb, Cr, light) of the 'pq' /
    'hlg' file encoding, in the tensor's dtype: what a table holds at its nodes (``color.encode``'s torch side)."""
    light = color.relative_BT709_to_display_nits_BT2020(relative, levels, source_peak).amax(dim=1)
    encode = color.encode_HLG_BT2020 if target == "hlg" else color.encode_PQ_BT2020
    rgb = encode(relative, levels, source_peak)
    rp, gp, bp = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    kr, kg, kb = color.WEIGHTS_BT2020
    luma = kr * rp + kg * gp + kb * bp
    return torch.stack([luma, (bp - luma) / CB_DIVISOR, (rp - luma) / CR_DIVISOR, light], dim=-1)
