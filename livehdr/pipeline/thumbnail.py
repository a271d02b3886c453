"""A small uint8 picture of a frame for LUT operators (issue #11): their CNN only ever sees a thumbnail.

Screen captures arrive as raw X words; decoding a whole 1080p grab to RGB only to shrink it would be the one
per-pixel CPU pass left on the live path. Instead SIZE x SIZE words are picked (nearest neighbour at the
centres of equal bins, the sampling the clut operator's own ``lut_for_frame`` uses on a decoded frame, so a
captured picture and the same picture from a file get the same LUT) and only those are decoded: ~0.3 ms.
"""
from __future__ import annotations

import numpy as np

from livehdr.io.capture import decode_masked_pixels

THUMBNAIL_SIZE = 256  # CLUT-Net's input size


def sample_positions(n: int, size: int) -> np.ndarray:
    """``size`` indices into 0 .. n - 1: the centres of ``size`` equal bins."""
    return np.minimum(((np.arange(size) + 0.5) * (n / size)).astype(np.intp), n - 1)


def thumbnail_u8(pixels, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """``size`` x ``size`` x 3 uint8 code values of a frame: an H x W x 3 array (uint8, or float code values)
    or raw capture pixels (anything with ``words`` and ``masks``, as capture.RawPixels)."""
    words = getattr(pixels, "words", None)
    source = words if words is not None else pixels
    h, w = source.shape[:2]
    small = source[sample_positions(h, size)][:, sample_positions(w, size)]
    if words is not None:
        small = decode_masked_pixels(np.ascontiguousarray(small), pixels.masks)
    if small.dtype == np.uint8:
        return np.ascontiguousarray(small)
    return np.clip(small * np.float32(255.0) + np.float32(0.5), 0, 255).astype(np.uint8)
