"""A small uint8 picture of a frame for LUT operators (issue #11): their CNN only ever sees a thumbnail.

Screen captures arrive as raw X words; decoding a whole 1080p grab to RGB only to shrink it would be the one
per-pixel CPU pass left on the live path. Instead the model's own thumbnail samples
(``models.clut.thumbnail_indices``, so a captured picture and the same picture from a file get the same LUT)
are picked from the words and only those are decoded: ~0.3 ms.
"""
from __future__ import annotations

import numpy as np

from livehdr.io.capture import decode_masked_pixels
from livehdr.pipeline.stages import to_uint8


def thumbnail_u8(pixels) -> np.ndarray:
    """256 x 256 x 3 uint8 code values of a frame: an H x W x 3 array (uint8, or float code values) or raw
    capture pixels (anything with ``words`` and ``masks``, as capture.RawPixels)."""
    from livehdr.models.clut import thumbnail_indices  # torch-heavy: only once a LUT operator runs

    words = getattr(pixels, "words", None)
    source = words if words is not None else pixels
    rows, cols = thumbnail_indices(*source.shape[:2])
    small = source[rows][:, cols]
    if words is not None:
        small = decode_masked_pixels(np.ascontiguousarray(small), pixels.masks)
    return np.ascontiguousarray(to_uint8(small))
