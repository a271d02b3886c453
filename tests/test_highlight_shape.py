"""The highlight-shape measure (issue #23, livehdr.metrics.highlight_shape): regions, correlation, ratios."""
from __future__ import annotations

import math

import numpy as np

from livehdr.color.regions import label_8_connected
from livehdr.metrics import SHAPE_MIN_REGION, highlight_shape


def disc_case(size=64, radius=14, peak=50.0):
    """A clipped SDR disc over a radial true profile: truth 1 at the rim rising to ``peak`` at the centre."""
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    inside = r <= radius
    sdr = np.full((size, size, 3), 0.5)
    sdr[inside] = 1.0
    truth = np.full((size, size, 3), 0.2)
    truth[inside] = (1.0 + (peak - 1.0) * (1 - r[inside] / radius) ** 2)[:, None]
    return sdr, truth, inside, r


def test_labels_are_8_connected():
    mask = np.zeros((6, 6), bool)
    mask[0, 0] = mask[1, 1] = True  # diagonal neighbours: one region
    mask[4:6, 4:6] = True
    labels, n = label_8_connected(mask)
    assert n == 2 and labels[0, 0] == labels[1, 1] != labels[5, 5] and (labels[~mask] == 0).all()


def test_a_flat_plateau_scores_zero_and_a_peak_scores_high():
    sdr, truth, inside, r = disc_case()
    flat = np.where(inside[..., None], 4.0, truth)
    m = highlight_shape(flat, truth, sdr)
    assert m["highlight_regions"] == 1 and m["highlight_shape_corr"] == 0.0
    assert m["peak_to_edge_pred"] == 1.0 and m["peak_to_edge_true"] > 10
    shaped = truth.copy()
    shaped[inside] = (1.0 + 3.0 * (1 - r[inside] / 14.0))[:, None]  # any monotonic radial fall-off
    m = highlight_shape(shaped, truth, sdr)
    assert m["highlight_shape_corr"] > 0.9 and 1 < m["peak_to_edge_pred"] < m["peak_to_edge_true"]


def test_small_and_uniform_regions_are_left_out():
    sdr, truth, inside, _ = disc_case(radius=3)  # ~29 px < 64
    assert inside.sum() < SHAPE_MIN_REGION
    assert highlight_shape(truth, truth, sdr)["highlight_regions"] == 0
    sdr, truth, inside, _ = disc_case()
    wall = np.where(inside[..., None], 3.0, truth)  # a white wall: the truth itself is flat
    m = highlight_shape(wall, wall, sdr)
    assert m["highlight_regions"] == 0 and math.isnan(m["highlight_shape_corr"])


def test_regions_are_weighted_by_size():
    a_sdr, a_truth, a_in, a_r = disc_case(radius=14)
    b_sdr, b_truth, b_in, _ = disc_case(radius=6)
    sdr, truth = np.concatenate([a_sdr, b_sdr], 1), np.concatenate([a_truth, b_truth], 1)
    pred = truth.copy()
    pred[:, 64:][b_in] = 5.0  # the small disc flat (0), the large one exact (1)
    m = highlight_shape(pred, truth, sdr)
    assert m["highlight_regions"] == 2
    expected = a_in.sum() / (a_in.sum() + b_in.sum())
    assert abs(m["highlight_shape_corr"] - expected) < 1e-9
