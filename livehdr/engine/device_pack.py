"""The packing of ``color/pack.py`` in torch, for frames that already live on a GPU (issue #13).

The numba kernels read a float frame from host memory; on CUDA that would mean downloading 24 bytes per
pixel and repacking on the CPU. These functions run the same display encoding on the tensor's own device
and hand back only the 10-bit planes (2 bytes a sample) or the GL words (4 bytes a pixel):

- nits, BT.709 -> BT.2020, the soft roll-off, PQ or HLG: the colour package's own functions (the numpy /
  torch shim), so there is no second copy of the maths;
- BT.2100 limited-range Y'C'bC'r with 2x2 box-averaged chroma, the triangular dither from the same integer
  hash as the numba kernel (so a frame dithers identically on either path), and the same reserved-code
  clamping.

They agree with the numba kernels to +-1 code value (tests/test_device_pack.py; the numba kernels read PQ
from a table, these evaluate the closed form). Frames are 3 x H x W (or 1 x 3 x H x W) float tensors: the
layout the models return and the colour shim expects of torch.
"""
from __future__ import annotations

import torch

from livehdr import color

# BT.2100-2 Table 9 (limited range, 10 bits) and the BT.2020-2 Table 4 colour-difference divisors.
_Y_SCALE, _Y_OFFSET = 876.0, 64.0
_C_SCALE, _C_OFFSET = 896.0, 512.0
_CB_DIV, _CR_DIV = 1.8814, 1.4746
_CODE_MIN, _CODE_MAX = 4, 1019  # 0-3 and 1020-1023 are reserved timing codes


def dither_tpdf(height: int, width: int, channel: int, seed: int, device) -> torch.Tensor:
    """Triangular dither in (-1, 1) LSB, bit-identical to ``pack._dither`` (int64 arithmetic wraps alike)."""
    y = torch.arange(height, device=device, dtype=torch.int64)[:, None]
    x = torch.arange(width, device=device, dtype=torch.int64)[None, :]
    h = (x * 73856093) ^ (y * 19349663) ^ (channel * 83492791) ^ (int(seed) * 2654435761)
    h = (h ^ (h >> 13)) * 1274126177
    h = h ^ (h >> 16)
    a = (h & 0xFFFF).to(torch.float32) / 65536.0
    b = ((h >> 16) & 0xFFFF).to(torch.float32) / 65536.0
    return a - b


def _frame(rel: torch.Tensor) -> torch.Tensor:
    if rel.dim() == 4 and rel.shape[0] == 1:
        rel = rel[0]
    if rel.dim() != 3 or rel.shape[0] != 3:
        raise ValueError(f"expected a 3 x H x W frame, got shape {tuple(rel.shape)}")
    return rel.float()


def _display_nits(rel: torch.Tensor, paper_white: float, peak: float, source_peak: float | None):
    # The numba kernels read source_peak=None as "the content fits": only strays above the peak are clipped.
    levels = color.ReferenceLevels(paper_white=paper_white, peak=peak)
    return color.relative_BT709_to_display_nits_BT2020(rel, levels,
                                                        peak if source_peak is None else source_peak)


def _quantise(values: torch.Tensor, scale: float, offset: float, dither: torch.Tensor | None) -> torch.Tensor:
    code = scale * values + offset + 0.5
    if dither is not None:
        code = code + dither
    return torch.floor(code).clamp_(_CODE_MIN, _CODE_MAX).to(torch.int16)


def relative_to_yuv420p10_torch(rel: torch.Tensor, paper_white: float, peak: float, hlg: bool = False,
                                dither: bool = True, seed: int = 0, source_peak: float | None = None):
    """Operator output (3 x H x W, H and W even) -> (Y, U, V) int16 planes on the same device, plus
    (MaxCLL, frame-average light) in cd/m2 as 0-d tensors (CTA-861.3 clause 6.1, after the roll-off).

    The planes hold 10-bit codes (4..1019), so their int16 bits equal the uint16 an encoder frame takes.
    """
    rel = _frame(rel)
    h, w = rel.shape[1:]
    if h % 2 or w % 2:
        raise ValueError(f"4:2:0 needs even sizes, got {w}x{h}")
    nits = _display_nits(rel, paper_white, peak, source_peak)
    light = nits.amax(dim=0)
    if hlg:
        encoded = color.oetf_BT2100_HLG(color.ootf_inverse_BT2100_HLG(nits, peak))
    else:
        encoded = color.eotf_inverse_ST2084(nits)
    kr, kg, kb = color.WEIGHTS_BT2020
    rp, gp, bp = encoded.unbind(0)
    luma = kr * rp + kg * gp + kb * bp
    cb = (bp - luma) / _CB_DIV
    cr = (rp - luma) / _CR_DIV
    # 2x2 box average of the non-linear colour differences (as encoders do; the numba kernel does the same).
    cb = cb.reshape(h // 2, 2, w // 2, 2).mean(dim=(1, 3))
    cr = cr.reshape(h // 2, 2, w // 2, 2).mean(dim=(1, 3))
    dev = rel.device
    seed = int(seed) & 0xFFFF
    y = _quantise(luma, _Y_SCALE, _Y_OFFSET, dither_tpdf(h, w, 0, seed, dev) if dither else None)
    u = _quantise(cb, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 1, seed, dev) if dither else None)
    v = _quantise(cr, _C_SCALE, _C_OFFSET, dither_tpdf(h // 2, w // 2, 2, seed, dev) if dither else None)
    return y, u, v, light.max(), light.mean()


def relative_to_rgb10a2_torch(rel: torch.Tensor, paper_white: float, peak: float, mode: str = "pq",
                              source_peak: float | None = None) -> torch.Tensor:
    """Operator output (3 x H x W) -> GL_RGB10_A2 words as int32 (the bits of the uint32 words of
    ``pack.relative_to_rgb10a2``: R in the low bits, A = 3 in the top two)."""
    if mode not in ("pq", "sdr"):
        raise ValueError(f"mode must be 'pq' or 'sdr', got {mode!r}")
    rel = _frame(rel)
    if mode == "sdr":
        encoded = color.tonemap_preview_SDR(rel, color.ReferenceLevels(paper_white=paper_white, peak=peak))
    else:
        encoded = color.eotf_inverse_ST2084(_display_nits(rel, paper_white, peak, source_peak))
    codes = torch.floor(encoded * 1023.0 + 0.5).clamp_(0, 1023).to(torch.int64)
    words = codes[0] | (codes[1] << 10) | (codes[2] << 20) | (3 << 30)
    return (words - (1 << 32)).to(torch.int32)  # every word has the top bit set: its int32 is word - 2^32
