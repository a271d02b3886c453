"""PU21 (Mantiuk & Azimi 2021, banding_glare) and the highlight / mid-tone errors."""
import math

import numpy as np
import torch

from livehdr.metrics import (PU21_BANDING_GLARE, PU21_PEAK, clipped_mask, frame_metrics, log10_luminance_error,
                             midtone_mask, pu21_encode, pu21_psnr)


def test_pu21_known_values():
    # Hand-evaluated from eq. 3 with the banding_glare row of Table 1. The encoding is anchored so that the
    # bottom of its range (0.005 cd/m2) is ~0 and 100 cd/m2 is ~256, like 8-bit sRGB on an SDR display.
    v = pu21_encode(np.array([0.005, 100.0, 10000.0]))
    assert abs(v[0]) < 1e-3
    assert abs(v[1] - 256.38) < 0.05
    assert abs(v[2] - 595.39) < 0.05
    assert abs(PU21_PEAK - 595.39) < 0.05
    # p7 * (p1^p5 - p6) is the (clipped-to-0) value at Y = 0: close to zero by design
    p1, _, _, _, p5, p6, p7 = PU21_BANDING_GLARE
    assert abs(p7 * (p1**p5 - p6)) < 1.0


def test_pu21_clips_range_and_is_monotonic():
    y = np.logspace(-4, 5, 200)
    v = pu21_encode(y)
    assert np.all(np.diff(v) >= 0)
    assert v[0] == pu21_encode(np.array(0.005))  # below 0.005 cd/m2: clipped
    assert v[-1] == pu21_encode(np.array(10000.0))  # above 10000: clipped
    # perceptual uniformity, roughly: a decade in the bright range costs fewer code values than 1..10 vs
    # a pure log encoding, but still far more than a linear one would give at the dark end
    assert 50 < pu21_encode(np.array(10.0)) - pu21_encode(np.array(1.0)) < 150


def test_pu21_torch_matches_numpy_and_has_gradients():
    y = np.array([0.01, 0.5, 3.0, 80.0, 203.0, 1000.0, 5000.0])
    t = torch.tensor(y, dtype=torch.float64, requires_grad=True)
    v = pu21_encode(t)
    np.testing.assert_allclose(v.detach().numpy(), pu21_encode(y), rtol=1e-12)
    v.sum().backward()
    assert torch.all(t.grad > 0)


def test_pu21_psnr_values():
    ref = np.full((8, 8, 3), 100.0)
    assert pu21_psnr(ref, ref) == math.inf
    test = np.full((8, 8, 3), 1000.0)
    d = pu21_encode(np.array(1000.0)) - pu21_encode(np.array(100.0))
    assert abs(pu21_psnr(test, ref) - 20 * math.log10(PU21_PEAK / d)) < 1e-9
    # half the pixels wrong by d: MSE halves, +3.01 dB
    half = ref.copy()
    half[:4] = 1000.0
    assert abs(pu21_psnr(half, ref) - pu21_psnr(test, ref) - 10 * math.log10(2)) < 1e-9


def test_masks_and_log_error():
    code = np.array([[[1.0, 0.5, 0.2], [0.5, 0.5, 0.5], [0.05, 0.3, 0.3], [0.9, 0.9, 0.9]]], dtype=np.float32)
    assert clipped_mask(code).tolist() == [[True, False, False, False]]
    assert midtone_mask(code).tolist() == [[False, True, False, False]]
    ref = np.full((1, 4, 3), 0.5)
    assert abs(log10_luminance_error(ref * 10, ref, np.ones((1, 4), bool)) - 1.0) < 1e-12
    assert abs(log10_luminance_error(ref / 100, ref, np.ones((1, 4), bool)) - 2.0) < 1e-12
    assert math.isnan(log10_luminance_error(ref, ref, np.zeros((1, 4), bool)))


def test_frame_metrics_separate_highlights_from_midtones():
    code = np.full((4, 4, 3), 0.5, dtype=np.float32)
    code[0] = 1.0  # clipped row
    target = np.full((4, 4, 3), 0.2)
    target[0] = 4.0
    pred = target.copy()
    pred[0] = 1.0  # naive-like: highlights stuck at SDR white
    m = frame_metrics(pred, target, code)
    assert abs(m["highlight_log10_error"] - math.log10(4.0)) < 1e-9
    assert m["midtone_log10_error"] == 0.0
    assert m["clipped_fraction"] == 0.25
    assert m["pu21_psnr"] < frame_metrics(target, target, code)["pu21_psnr"]
