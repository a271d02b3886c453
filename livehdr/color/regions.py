"""8-connected regions of a boolean mask: the one labelling rule of the highlight-shape measure
(metrics.highlight_shape) and of the highlight stage's coarse grid (color/highlight.py ``GridRegions``).

>>> import numpy as np
>>> labels, n = label_8_connected(np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [1, 1, 0]], bool))
>>> n, labels.tolist()
(2, [[1, 0, 0], [0, 1, 0], [0, 0, 0], [2, 2, 0]])
"""
from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True)
def _flood_fill_labels(mask, labels):
    h, w = mask.shape
    stack = np.empty(h * w, dtype=np.int64)
    n = 0
    for y0 in range(h):
        for x0 in range(w):
            if not mask[y0, x0] or labels[y0, x0]:
                continue
            n += 1
            labels[y0, x0] = n
            stack[0] = y0 * w + x0
            top = 1
            while top:
                top -= 1
                y, x = divmod(stack[top], w)
                for dy in (-1, 0, 1):
                    for dx in (-1, 0, 1):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and mask[yy, xx] and not labels[yy, xx]:
                            labels[yy, xx] = n
                            stack[top] = yy * w + xx
                            top += 1
    return n


def label_8_connected(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """Labels 1..n of the 8-connected regions of a boolean H x W mask (0: background); a flood fill per
    region, each pixel pushed once."""
    labels = np.zeros(mask.shape, dtype=np.int32)
    n = _flood_fill_labels(np.ascontiguousarray(mask, dtype=np.bool_), labels)
    return labels, int(n)
