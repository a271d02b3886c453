"""Classical ITM operators: the issue's grey-ramp values, the standards' curves run forwards, the contract."""
import math

import numpy as np
import pytest
import torch

from livehdr import color
from livehdr.base.errors import UserError
from livehdr.operators import OperatorConfig, create_operator, list_operators

RAMP = np.repeat(np.linspace(0, 1, 256, dtype=np.float32)[None, :, None], 3, axis=2)


def nits(op_name, x=RAMP, **cfg):
    op = create_operator(op_name, OperatorConfig(**cfg))
    return op(x) * op.levels.paper_white


def test_bt2446a_white_reaches_the_peak():
    out = nits("bt2446a")
    assert out[0, -1, 1] == pytest.approx(1000.0, rel=0.02)
    assert nits("bt2446a", levels=color.ReferenceLevels(peak=4000.0))[0, -1, 1] == pytest.approx(4000.0, rel=0.02)


def test_bt2446a_mid_grey_follows_the_recommendation():
    # Code value 128 through the inverse of Method A: Y'_SDR = 128/255 in BT.1886 (gamma 2.4) terms gives
    # Y' = 0.3521 -> 0.3521^2.4 * 1000 = 81.7 cd/m2 (the issue's "about 77" is this value within 6 %).
    out = nits("bt2446a", input_gamma="2.4")
    assert out[0, 128, 1] == pytest.approx(81.7, rel=0.01)
    # With the sRGB input EOTF the same code decodes brighter (0.2158 linear vs 0.1912), hence ~94 cd/m2.
    assert nits("bt2446a")[0, 128, 1] == pytest.approx(94.3, rel=0.01)


def test_bt2446a_luma_inverse_round_trips_the_forward_curve():
    from livehdr.operators.classical import luma_forward_BT2446a, luma_inverse_BT2446a

    y_hdr = np.linspace(0, 1, 2001)
    np.testing.assert_allclose(luma_inverse_BT2446a(luma_forward_BT2446a(y_hdr, 1000.0)), y_hdr, atol=2e-6)
    # The forward curve's own fixed points (BT.2446-1 clause 4.2): black stays black, HDR white -> SDR white.
    assert luma_forward_BT2446a(np.array([0.0, 1.0]), 1000.0) == pytest.approx([0.0, 1.0], abs=1e-12)


def test_naive_puts_sdr_white_on_paper_white():
    out = nits("naive")
    assert out[0, -1] == pytest.approx([203.0] * 3, rel=1e-5)
    assert out[0, 128, 0] == pytest.approx(203.0 * color.eotf_sRGB(128 / 255), rel=1e-5)
    assert nits("naive", levels=color.ReferenceLevels(paper_white=100.0))[0, -1, 0] == pytest.approx(100.0)


def test_bt2446c_inverts_method_c():
    out = nits("bt2446c", input_gamma="2.4")
    # Forward Method C (BT.2446-1 clause 6.2) applied to our output must give back the SDR luminance (100 cd/m2
    # reference white): k2 ln(Y/Y_ip - k3) + k4 above the inflection point, k1 Y below it.
    Y_hdr = out[0, :, 1].astype(np.float64)
    y_ip = 58.5 / 0.83802
    fwd = np.where(Y_hdr < y_ip, 0.83802 * Y_hdr, 15.09968 * np.log(Y_hdr / y_ip - 0.74204) + 78.99439)
    # (The Recommendation's two pieces meet with a 0.03 cd/m2 step at the inflection point, hence rtol 1e-3.)
    np.testing.assert_allclose(fwd, 100 * np.linspace(0, 1, 256) ** 2.4, rtol=1e-3, atol=1e-3)
    assert Y_hdr[-1] == pytest.approx(332.4, rel=0.01)


@pytest.mark.parametrize("name", ["naive", "bt2446a", "bt2446c"])
def test_contract_monotonic_bounded_and_hue_preserving(name):
    out = nits(name)
    assert np.all(np.isfinite(out)) and out.min() >= 0 and out.max() <= 1000.0 + 1e-3
    assert np.all(np.diff(out[0, :, 1]) >= 0)
    colours = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    op = create_operator(name)
    res = op(colours)
    assert res.shape == colours.shape and res.dtype == np.float32
    # The values themselves (operators/base.py's clip would hide a curve that overshoots): SDR white lands
    # on paper white (naive), on the 1000 cd/m2 peak (BT.2446 A maps 100 % SDR to the HDR peak) or on
    # 332.4 cd/m2 (BT.2446 C, as its curve test above) ...
    white = {"naive": 1.0, "bt2446a": 1000.0 / 203.0, "bt2446c": 332.4 / 203.0}[name]
    np.testing.assert_allclose(op(np.ones((1, 1, 3), np.float32)), white, rtol=1e-3)
    # ... and the curves that scale linear light per pixel keep each colour's channel ratios exactly
    # (BT.2446 A works on Y'CbCr, so its hue is kept only approximately).
    if name != "bt2446a":
        linear = color.eotf_sRGB(colours.astype(np.float64))
        gain = res / np.maximum(linear, 1e-9)
        np.testing.assert_allclose(gain, gain[..., 1:2].repeat(3, axis=2), rtol=1e-4)


@pytest.mark.parametrize("name", ["naive", "bt2446a", "bt2446c"])
def test_numpy_and_torch_layouts_agree(name):
    x = np.random.default_rng(1).random((12, 10, 3), dtype=np.float32)
    op = create_operator(name)
    t = op(torch.tensor(x).permute(2, 0, 1)[None])
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), op(x), rtol=2e-5, atol=2e-6)


def test_saturation_keeps_luminance_and_scales_chroma():
    x = np.array([[[0.8, 0.4, 0.2]]], np.float32)
    plain = create_operator("naive")(x)
    grey = create_operator("naive", OperatorConfig(saturation=0.0))(x)
    assert color.luminance_BT709(grey)[0, 0] == pytest.approx(color.luminance_BT709(plain)[0, 0], rel=1e-5)
    assert np.ptp(grey) == pytest.approx(0.0, abs=1e-7)


def test_registry():
    names = [e.name for e in list_operators()]
    assert {"naive", "bt2446a", "bt2446c"} <= set(names)
    with pytest.raises(UserError, match="unknown model"):
        create_operator("nope")


def test_expand_uint8():
    frame = np.full((2, 2, 3), 255, np.uint8)
    assert create_operator("naive").expand_uint8(frame)[0, 0, 0] == pytest.approx(1.0)
    assert math.isclose(create_operator("bt2446a").expand_uint8(frame)[0, 0, 0], 1000 / 203, rel_tol=1e-4)


@pytest.mark.parametrize("saturation", [1.0, 1.6])
def test_naive_table_path_matches_the_formula(saturation):
    frame = np.random.default_rng(5).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    op = create_operator("naive", OperatorConfig(saturation=saturation, input_gamma="2.2"))
    np.testing.assert_allclose(op.expand_uint8(frame), op(frame.astype(np.float32) / 255), atol=1e-6)


# --------------------------------------------------------------------------------------------------------
# The table: each curve's forward (SDR-side) inverse undoes its expansion
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
@pytest.mark.parametrize("name", ["naive", "bt2446a", "bt2446c"])
def test_forward_inverts_the_expansion(name, gamma):
    op = create_operator(name, OperatorConfig(input_gamma=gamma))
    # Greys and moderately saturated colours (BT.2446 Method A's chroma step is exact only inside the gamut).
    rng = np.random.default_rng(3)
    base = rng.uniform(0.05, 1.0, (16, 16, 1)).astype(np.float32)
    colours = np.clip(base * rng.uniform(0.7, 1.0, (16, 16, 3)), 0, 1).astype(np.float32)
    for V in (RAMP, colours):
        np.testing.assert_allclose(op.forward(op(V)), V, atol=2e-3)


def test_bt2446a_forward_maps_the_peak_to_sdr_white_and_cites_the_curve():
    from livehdr.operators.classical import forward_BT2446a

    levels = color.ReferenceLevels()
    white = np.full((1, 1, 3), levels.headroom, np.float32)  # 1000 cd/m2 achromatic
    assert forward_BT2446a(white, levels, "2.4")[0, 0] == pytest.approx([1.0] * 3, abs=1e-6)
    assert forward_BT2446a(np.zeros((1, 1, 3), np.float32), levels, "2.4")[0, 0] == pytest.approx([0.0] * 3)


def test_curve_parameters_are_declared_with_ranges():
    from livehdr.operators.classical import CURVES

    p = {q.name: q for q in CURVES["bt2446a"].params}["sdr_white"]
    assert (p.minimum, p.default, p.maximum) == (48.0, 100.0, 400.0)
    brighter = create_operator("bt2446a", OperatorConfig(params=(("sdr_white", 203.0),)))
    grey = np.full((1, 1, 3), 0.5, np.float32)
    assert brighter(grey)[0, 0, 1] != pytest.approx(create_operator("bt2446a")(grey)[0, 0, 1], rel=1e-3)
    with pytest.raises(UserError, match="outside 48..400"):
        create_operator("bt2446a", OperatorConfig(params=(("sdr_white", 1000.0),)))
    with pytest.raises(UserError, match="no parameter"):
        create_operator("naive", OperatorConfig(params=(("knee", 1.0),)))
