"""Primaries, white points and luminance weights: BT.709, BT.2020, BT.601, and matrices between them.
"""
from __future__ import annotations

import numpy as np

from livehdr.color.shim import _NumpyOps, _ops, _prepare, torch


# --------------------------------------------------------------------------------------------------------
# Primaries and luminance
# --------------------------------------------------------------------------------------------------------
# ITU-R BT.2087-0 clause 2: linear BT.709 RGB -> linear BT.2020 RGB.
MATRIX_BT709_TO_BT2020 = np.array(
    [
        [0.6274039, 0.3292830, 0.0433131],
        [0.0690973, 0.9195404, 0.0113623],
        [0.0163914, 0.0880133, 0.8955953],
    ]
)
MATRIX_BT2020_TO_BT709 = np.linalg.inv(MATRIX_BT709_TO_BT2020)

WEIGHTS_BT709 = (0.2126, 0.7152, 0.0722)  # ITU-R BT.709-6 item 3.2
WEIGHTS_BT2020 = (0.2627, 0.6780, 0.0593)  # ITU-R BT.2020-2 Table 4
WEIGHTS_BT601 = (0.299, 0.587, 0.114)  # ITU-R BT.601-7 clause 2.5.1


def channel(x, i):
    """Channel i of H x W x 3 numpy or N x 3 x H x W torch."""
    return x[..., i] if _ops(x) is _NumpyOps else x[..., i, :, :]


def stack_channels(c0, c1, c2):
    """Inverse of ``channel``: three planes back into the layout of their type."""
    if _ops(c0) is _NumpyOps:
        return np.stack([c0, c1, c2], axis=-1)
    return torch.stack([c0, c1, c2], dim=-3)


def expand_channel_dim(plane):
    """A luminance plane shaped to broadcast against the RGB layout of its type."""
    return plane[..., None] if _ops(plane) is _NumpyOps else plane.unsqueeze(-3)


def _weighted(x, w):
    return w[0] * channel(x, 0) + w[1] * channel(x, 1) + w[2] * channel(x, 2)


def luminance_BT709(rgb):
    """Relative luminance Y of linear BT.709 RGB (H x W x 3 numpy or N x 3 x H x W torch)."""
    return _weighted(rgb, WEIGHTS_BT709)


def luminance_BT2020(rgb):
    """Relative luminance Y of linear BT.2020 RGB."""
    return _weighted(rgb, WEIGHTS_BT2020)


def RGB_BT709_to_BT2020(rgb):
    ops, rgb = _prepare(rgb)
    return ops.matmul_rgb(rgb, MATRIX_BT709_TO_BT2020)


def RGB_BT2020_to_BT709(rgb):
    ops, rgb = _prepare(rgb)
    return ops.matmul_rgb(rgb, MATRIX_BT2020_TO_BT709)


# --------------------------------------------------------------------------------------------------------
# Chromaticities (OpenEXR headers carry them)
# --------------------------------------------------------------------------------------------------------
# CIE xy of the BT.709 / sRGB primaries and D65 white (ITU-R BT.709-6 items 1.3, 1.4).
CHROMATICITIES_BT709 = (0.640, 0.330, 0.300, 0.600, 0.150, 0.060, 0.3127, 0.3290)


def _xy_to_XYZ(x, y):
    return np.array([x / y, 1.0, (1 - x - y) / y])


def matrix_RGB_to_XYZ(chromaticities) -> np.ndarray:
    """RGB -> XYZ from primaries and white (SMPTE RP 177-1993 clause 3.3)."""
    rx, ry, gx, gy, bx, by, wx, wy = chromaticities
    P = np.stack([_xy_to_XYZ(rx, ry), _xy_to_XYZ(gx, gy), _xy_to_XYZ(bx, by)], axis=1)
    S = np.linalg.solve(P, _xy_to_XYZ(wx, wy))
    return P * S


_BRADFORD = np.array([[0.8951, 0.2664, -0.1614], [-0.7502, 1.7135, 0.0367], [0.0389, -0.0685, 1.0296]])


def matrix_chromaticities_to_BT709(chromaticities) -> np.ndarray:
    """RGB in some primaries/white -> linear BT.709 (D65), with Bradford adaptation of the white."""
    src = matrix_RGB_to_XYZ(chromaticities)
    dst = matrix_RGB_to_XYZ(CHROMATICITIES_BT709)
    w_src = _BRADFORD @ _xy_to_XYZ(*chromaticities[6:8])
    w_dst = _BRADFORD @ _xy_to_XYZ(*CHROMATICITIES_BT709[6:8])
    adapt = np.linalg.inv(_BRADFORD) @ np.diag(w_dst / w_src) @ _BRADFORD
    return np.linalg.inv(dst) @ adapt @ src


__all__ = [
    "MATRIX_BT709_TO_BT2020",
    "MATRIX_BT2020_TO_BT709",
    "WEIGHTS_BT709",
    "WEIGHTS_BT2020",
    "WEIGHTS_BT601",
    "channel",
    "stack_channels",
    "expand_channel_dim",
    "luminance_BT709",
    "luminance_BT2020",
    "RGB_BT709_to_BT2020",
    "RGB_BT2020_to_BT709",
    "CHROMATICITIES_BT709",
    "matrix_RGB_to_XYZ",
    "matrix_chromaticities_to_BT709",
]
