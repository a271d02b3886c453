"""Decoded Y'CbCr planes -> R'G'B' code values on the tensor's device (issue #13: YUV -> RGB on the GPU).

A decoder (NVDEC through PyAV's hwaccel, or the CPU one) hands out 4:2:0 planes: 1.5 samples a pixel. Going
to RGB on the device uploads half the bytes of an RGB frame and takes the conversion off the CPU.

The maths is ITU-T H.273 equations 23-40, the same definition as ``io.sources.ycbcr_to_rgb_deep`` (the
CPU reference for > 8-bit frames, tested against it): limited or full range, the matrix's Kr and Kb, and
chroma repeated from its sample (nearest). The 8-bit CPU path uses swscale's bilinear chroma instead, so
the two differ only at chroma edges.
"""
from __future__ import annotations

import torch


def ycbcr420_to_rgb_torch(y: torch.Tensor, cb: torch.Tensor, cr: torch.Tensor, *, bits: int,
                          kr: float, kb: float, full_range: bool = False) -> torch.Tensor:
    """Integer planes (Y: H x W; Cb, Cr: ceil(H/2) x ceil(W/2)) -> 3 x H x W float32 R'G'B' in [0, 1]."""
    h, w = y.shape
    if cb.shape != cr.shape or cb.shape != ((h + 1) // 2, (w + 1) // 2):
        raise ValueError(f"4:2:0 chroma planes must be {(h + 1) // 2}x{(w + 1) // 2}, got "
                         f"{tuple(cb.shape)} and {tuple(cr.shape)}")
    if not 8 <= bits <= 16:
        raise ValueError(f"bit depth must be 8..16, got {bits}")
    cb = cb.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w].float()
    cr = cr.repeat_interleave(2, 0).repeat_interleave(2, 1)[:h, :w].float()
    luma = y.float()
    half = float(1 << (bits - 1))
    if full_range:
        top = float((1 << bits) - 1)
        Y, Cb, Cr = luma / top, (cb - half) / top, (cr - half) / top
    else:
        step = float(1 << (bits - 8))
        Y, Cb, Cr = (luma - 16 * step) / (219 * step), (cb - half) / (224 * step), (cr - half) / (224 * step)
    R = Y + (2 - 2 * kr) * Cr
    B = Y + (2 - 2 * kb) * Cb
    G = (Y - kr * R - kb * B) / (1 - kr - kb)
    return torch.stack([R, G, B]).clamp_(0.0, 1.0)
