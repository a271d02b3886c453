"""Game/camera tone curves: published values, shape properties and round trips through color.py."""
import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.color import tonecurves as tc

X = np.linspace(0.0, 50.0, 5001)


def test_clip_is_identity_in_range_and_clips_outside():
    x = np.array([-0.5, 0.0, 0.25, 1.0, 3.0])
    np.testing.assert_array_equal(tc.tonemap_clip(x), [0.0, 0.0, 0.25, 1.0, 1.0])


def test_reinhard_eq3_and_eq4_values():
    # Reinhard et al. 2002 eq. 3: L / (1 + L) -> 1 maps to 1/2.
    assert tc.tonemap_reinhard(np.array(1.0)) == pytest.approx(0.5)
    assert tc.tonemap_reinhard(np.array(3.0)) == pytest.approx(0.75)
    # eq. 4 with white 4: 2 (1 + 2/16) / 3 = 0.75, and the white point itself maps to exactly 1.
    assert tc.tonemap_reinhard(np.array(2.0), white=4.0) == pytest.approx(0.75)
    assert tc.tonemap_reinhard(np.array(4.0), white=4.0) == pytest.approx(1.0)
    assert tc.tonemap_reinhard(np.array(9.0), white=4.0) == 1.0  # burnt out above white
    with pytest.raises(ValueError):
        tc.tonemap_reinhard(np.array(1.0), white=0.0)


def test_aces_fitted_values():
    # Narkowicz's fit: f(1) = (2.51 + 0.03) / (2.43 + 0.59 + 0.14).
    assert tc.tonemap_aces_fitted(np.array(0.0)) == 0.0
    assert tc.tonemap_aces_fitted(np.array(1.0)) == pytest.approx(2.54 / 3.16)
    # toe: slope at 0 is b / e = 0.03 / 0.14
    assert tc.tonemap_aces_fitted(np.array(1e-6)) / 1e-6 == pytest.approx(0.03 / 0.14, rel=1e-3)
    # the rational saturates at 2.51 / 2.43 > 1, so large values clip to exactly 1
    assert tc.tonemap_aces_fitted(np.array(100.0)) == 1.0
    assert 0.99 < tc.tonemap_aces_fitted(np.array(6.0)) < 1.0


def test_hable_white_point_and_toe():
    assert tc.tonemap_hable(np.array(0.0)) == pytest.approx(0.0, abs=1e-12)
    assert tc.tonemap_hable(np.array(tc.HABLE_W)) == pytest.approx(1.0)
    assert tc.tonemap_hable(np.array(100.0)) == 1.0
    # Uncharted 2 curve, W = 11.2: mid grey 0.18 lands low (Hable uses an exposure bias of 2 in practice).
    y = float(tc.tonemap_hable(np.array(0.18)))
    A, B, C, D, E, F = 0.15, 0.5, 0.1, 0.2, 0.02, 0.3
    f = lambda x: (x * (A * x + C * B) + D * E) / (x * (A * x + B) + D * F) - E / F  # noqa: E731
    assert y == pytest.approx(f(0.18) / f(11.2))
    assert 0.05 < y < 0.15


@pytest.mark.parametrize("name", sorted(tc.TONE_CURVES))
def test_curves_are_monotonic_bounded_and_zero_at_black(name):
    y = tc.TONE_CURVES[name](np.repeat(X[:, None], 3, axis=1))[:, 1]  # greys: agx / pbr-neutral need RGB
    assert y[0] == pytest.approx(0.0, abs=1e-9)
    assert np.all(np.diff(y) >= -1e-12)
    assert y.min() >= 0.0 and y.max() <= 1.0
    assert y[-1] == pytest.approx(1.0, abs=0.02) or name == "reinhard"  # eq. 3 only approaches 1
    assert y[-1] > 0.97


@pytest.mark.parametrize("name", sorted(tc.TONE_CURVES))
def test_torch_matches_numpy(name):
    x = np.linspace(0, 20, 97).reshape(1, 1, 97, 1).repeat(3, axis=1)
    ref = tc.sdr_from_hdr(np.moveaxis(x[0], 0, -1), 0.7, name, "2.2")
    got = tc.sdr_from_hdr(torch.from_numpy(x).float(), 0.7, name, "2.2")
    assert isinstance(got, torch.Tensor)
    np.testing.assert_allclose(np.moveaxis(got[0].numpy(), 0, -1), ref, atol=1e-5)


@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
def test_sdr_from_hdr_clip_round_trips_through_the_input_eotf(gamma):
    lin = np.random.default_rng(1).uniform(0, 1, (8, 9, 3))
    code = tc.sdr_from_hdr(lin, 1.0, "clip", gamma)
    assert code.dtype == np.float32
    np.testing.assert_allclose(color.eotf_input(code, gamma), lin, atol=2e-6)


def test_sdr_from_hdr_exposure_and_clipping():
    lin = np.array([[[0.1, 0.2, 0.4], [2.0, 5.0, 100.0]]])
    a = tc.sdr_from_hdr(lin, 2.0, "reinhard")
    b = tc.sdr_from_hdr(lin * 2.0, 1.0, "reinhard")
    np.testing.assert_allclose(a, b, atol=1e-7)
    np.testing.assert_allclose(tc.sdr_from_hdr(lin, 1.0, "clip")[0, 1], [1.0, 1.0, 1.0])
    # ACES on mid grey at Narkowicz's 0.6 exposure: a sensible sRGB mid tone
    grey = tc.sdr_from_hdr(np.full((1, 1, 3), 0.18), 0.6, "aces")[0, 0, 0]
    assert 0.35 < grey < 0.5
    assert np.all((a >= 0) & (a <= 1))


def test_sdr_from_hdr_accepts_a_callable_and_rejects_unknown_names():
    lin = np.full((2, 2, 3), 0.5)
    np.testing.assert_allclose(tc.sdr_from_hdr(lin, 1.0, lambda x: x * 0 + 0.25, "2.2"), 0.25 ** (1 / 2.2),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="unknown tone curve"):
        tc.sdr_from_hdr(lin, 1.0, "filmic9000")


def test_quantize_8bit():
    codes = np.arange(256) / 255.0
    np.testing.assert_array_equal(tc.quantize_8bit(codes), np.arange(256))
    q = tc.quantize_8bit(np.array([-0.2, 0.0, 0.2 / 255, 0.7 / 255, 1.0, 1.5]))
    assert q.dtype == np.uint8
    np.testing.assert_array_equal(q, [0, 0, 0, 1, 255, 255])


@pytest.mark.parametrize("curve", tc.PER_CHANNEL_CURVES)
@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
def test_fused_8bit_path_matches_the_reference(curve, gamma):
    rng = np.random.default_rng(4)
    hdr = np.exp(rng.uniform(-7, 5, (40, 50, 3))).astype(np.float32)  # 1e-3 .. 150, like a game frame
    ref = tc.quantize_8bit(tc.sdr_from_hdr(hdr, 0.6, curve, gamma))
    got = tc.sdr8_from_hdr(hdr, 0.6, curve, gamma)
    assert got.dtype == np.uint8 and got.shape == hdr.shape
    diff = np.abs(got.astype(int) - ref)
    assert diff.max() <= 1 and (diff == 0).mean() > 0.995
    assert (got == 255).any() == (ref == 255).any()


def test_fused_8bit_path_reinhard_white_and_bad_arguments():
    hdr = np.full((2, 2, 3), 4.0, np.float32)
    assert (tc.sdr8_from_hdr(hdr, 1.0, "reinhard", "srgb", white=4.0) == 255).all()
    assert (tc.sdr8_from_hdr(hdr, 1.0, "reinhard", "srgb") == tc.quantize_8bit(
        tc.sdr_from_hdr(hdr, 1.0, "reinhard"))).all()
    with pytest.raises(ValueError):
        tc.sdr8_from_hdr(hdr, 1.0, "nope")
    with pytest.raises(ValueError):
        tc.sdr8_from_hdr(hdr, 1.0, "aces", "2.6")
    with pytest.raises(ValueError):
        tc.sdr8_from_hdr(hdr[..., 0], 1.0)


def test_fused_8bit_path_edges():
    # black, exact code centres, NaN-free extremes; 'clip' puts every code k/255 back on k
    codes = np.arange(256) / 255.0
    lin = color.eotf_sRGB(codes).reshape(16, 16, 1).repeat(3, axis=2)
    np.testing.assert_array_equal(tc.sdr8_from_hdr(lin, 1.0, "clip")[..., 0].ravel(), np.arange(256))
    big = np.array([[[0.0, 1e6, 1e-9]]], np.float32)
    np.testing.assert_array_equal(tc.sdr8_from_hdr(big, 0.6, "aces")[0, 0], [0, 255, 0])
    with pytest.raises(ValueError):
        tc.sdr8_from_hdr(big, 0.0, "aces")
