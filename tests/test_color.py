"""The colour contract against the standards' own values and against colour-science as an oracle."""
import warnings

import numpy as np
import pytest
import torch

from livehdr import color

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import colour  # noqa: E402  (oracle only; never imported by livehdr itself)

RAMP = np.linspace(0.0, 1.0, 1001)
NITS = np.concatenate([[0.0], np.geomspace(1e-3, 10000.0, 400)])


# ---- SMPTE ST 2084 --------------------------------------------------------------------------------------
def test_pq_reference_values():
    # BT.2408-7 Table 1: 203 cd/m2 reference white = 58 % PQ; ST 2084: 10000 cd/m2 = 1.0; 100 cd/m2 = 0.508.
    assert color.eotf_inverse_ST2084(203.0) == pytest.approx(0.5807, abs=5e-5)
    assert color.eotf_inverse_ST2084(10000.0) == pytest.approx(1.0, abs=1e-12)
    assert color.eotf_inverse_ST2084(100.0) == pytest.approx(0.5081, abs=5e-5)
    assert color.eotf_inverse_ST2084(1000.0) == pytest.approx(0.7518, abs=5e-5)
    floor = color.eotf_inverse_ST2084(0.0)  # c1^m2 = (3424/4096)^78.84, the PQ floor
    assert floor == pytest.approx((3424 / 4096) ** (2523 / 4096 * 128), rel=1e-9) and 7.2e-7 < floor < 7.4e-7


def test_pq_against_colour_science_and_round_trip():
    ours = color.eotf_inverse_ST2084(NITS)
    np.testing.assert_allclose(ours, colour.models.eotf_inverse_ST2084(NITS), atol=1e-9)
    np.testing.assert_allclose(color.eotf_ST2084(RAMP), colour.models.eotf_ST2084(RAMP), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(color.eotf_ST2084(ours), NITS, rtol=1e-6, atol=1e-6)


# ---- SDR ------------------------------------------------------------------------------------------------
def test_srgb_against_colour_science():
    np.testing.assert_allclose(color.eotf_sRGB(RAMP), colour.models.eotf_sRGB(RAMP), atol=1e-12)
    np.testing.assert_allclose(color.eotf_inverse_sRGB(RAMP), colour.models.eotf_inverse_sRGB(RAMP), atol=1e-12)
    # IEC 61966-2-1: code 0.5 decodes to 0.2140, the linear segment ends at 0.04045 -> 0.0031308.
    assert color.eotf_sRGB(0.5) == pytest.approx(0.21404, abs=1e-5)
    assert color.eotf_sRGB(0.04045) == pytest.approx(0.0031308, abs=1e-7)


def test_bt1886_against_colour_science():
    np.testing.assert_allclose(color.eotf_BT1886(RAMP), colour.models.eotf_BT1886(RAMP), atol=1e-12)
    np.testing.assert_allclose(color.eotf_BT1886(RAMP, 0.1, 100.0), colour.models.eotf_BT1886(RAMP, 0.1, 100.0),
                               rtol=1e-9, atol=1e-12)
    L = np.linspace(0, 100, 50)
    np.testing.assert_allclose(color.eotf_inverse_BT1886(L, 0.1, 100.0),
                               colour.models.eotf_inverse_BT1886(L, 0.1, 100.0), atol=1e-9)


@pytest.mark.parametrize("gamma", ["srgb", "2.2", "2.4"])
def test_input_eotf_round_trip(gamma):
    np.testing.assert_allclose(color.eotf_inverse_input(color.eotf_input(RAMP, gamma), gamma), RAMP, atol=1e-9)


def test_input_gamma_differs_in_the_shadows():
    # The reason --input-gamma exists: sRGB and gamma 2.2 disagree most near black.
    v = 0.05
    assert color.eotf_input(v, "srgb") == pytest.approx(0.003936, abs=1e-6)
    assert color.eotf_input(v, "2.2") == pytest.approx(0.05**2.2, rel=1e-12)
    with pytest.raises(ValueError):
        color.eotf_input(v, "1.8")


# ---- BT.2100 HLG ----------------------------------------------------------------------------------------
def test_hlg_against_colour_science():
    E = np.linspace(0, 1, 500)
    np.testing.assert_allclose(color.oetf_BT2100_HLG(E), colour.models.oetf_BT2100_HLG(E), atol=1e-9)
    np.testing.assert_allclose(color.oetf_inverse_BT2100_HLG(RAMP), colour.models.oetf_inverse_BT2100_HLG(RAMP),
                               atol=1e-9)
    # BT.2100 Table 5: E = 1/12 -> 0.5, E = 1 -> 1.0.
    assert color.oetf_BT2100_HLG(1 / 12) == pytest.approx(0.5, abs=1e-12)
    assert color.oetf_BT2100_HLG(1.0) == pytest.approx(1.0, abs=1e-7)


def test_hlg_ootf_against_colour_science():
    rgb = np.random.default_rng(1).random((4, 5, 3))
    ours = color.ootf_BT2100_HLG(rgb, 1000.0)
    theirs = colour.models.ootf_BT2100_HLG(rgb, L_B=0, L_W=1000)
    np.testing.assert_allclose(ours, theirs, rtol=1e-6)
    np.testing.assert_allclose(color.ootf_inverse_BT2100_HLG(ours, 1000.0), rgb, rtol=1e-6)
    assert color.gamma_BT2100_HLG(1000.0) == pytest.approx(1.2)
    assert color.gamma_BT2100_HLG(2000.0) == pytest.approx(1.2 + 0.42 * np.log10(2))


# ---- Primaries and luminance ----------------------------------------------------------------------------
def test_bt709_to_bt2020_matrix_against_colour_science():
    expected = colour.matrix_RGB_to_RGB(colour.RGB_COLOURSPACES["ITU-R BT.709"],
                                        colour.RGB_COLOURSPACES["ITU-R BT.2020"])
    np.testing.assert_allclose(color.MATRIX_BT709_TO_BT2020, expected, atol=2e-6)
    # White stays white (rows sum to 1), so gray keeps its luminance in both spaces.
    np.testing.assert_allclose(color.MATRIX_BT709_TO_BT2020.sum(axis=1), 1.0, atol=1e-6)
    rgb = np.random.default_rng(0).random((3, 4, 3))
    np.testing.assert_allclose(color.RGB_BT2020_to_BT709(color.RGB_BT709_to_BT2020(rgb)), rgb, atol=1e-9)
    np.testing.assert_allclose(color.luminance_BT2020(color.RGB_BT709_to_BT2020(rgb)), color.luminance_BT709(rgb),
                               atol=1e-4)  # the published weights are rounded to 4 digits


def test_luminance_weights_match_the_colourspaces():
    Y709 = colour.RGB_COLOURSPACES["ITU-R BT.709"].matrix_RGB_to_XYZ[1]
    np.testing.assert_allclose(color.WEIGHTS_BT709, Y709, atol=1e-4)
    Y2020 = colour.RGB_COLOURSPACES["ITU-R BT.2020"].matrix_RGB_to_XYZ[1]
    np.testing.assert_allclose(color.WEIGHTS_BT2020, Y2020, atol=1e-4)


# ---- Levels and roll-off --------------------------------------------------------------------------------
def test_reference_levels_validate():
    lv = color.ReferenceLevels()
    assert (lv.paper_white, lv.peak) == (203.0, 1000.0)
    assert lv.headroom == pytest.approx(1000 / 203)
    for bad in [dict(peak=0), dict(peak=-5), dict(paper_white=0), dict(paper_white=2000, peak=1000),
                dict(peak=20000), dict(peak=float("nan"))]:
        with pytest.raises(ValueError):
            color.ReferenceLevels(**bad)


def test_rolloff_is_smooth_monotonic_and_bounded():
    x = np.linspace(0, 20000, 200001)
    y = color.rolloff_highlights(x, 1000.0)
    knee = color.rolloff_knee(1000.0)
    np.testing.assert_array_equal(y[x <= knee], x[x <= knee])  # identity below the knee
    assert np.all(np.diff(y) >= 0) and y.max() < 1000.0  # monotonic, never reaches the peak
    slope = np.gradient(y, x)
    i = np.searchsorted(x, knee)
    assert slope[i + 1] == pytest.approx(1.0, abs=2e-3)  # C1 at the knee: no visible kink


def test_rolloff_maps_source_peak_onto_peak():
    assert color.rolloff_highlights(4000.0, 1000.0, source_peak=4000.0) == pytest.approx(1000.0)
    assert color.rolloff_highlights(2000.0, 1000.0, source_peak=4000.0) < 1000.0
    # Content that fits is untouched.
    x = np.linspace(0, 1000, 101)
    np.testing.assert_allclose(color.rolloff_highlights(x, 1000.0, source_peak=1000.0), x)


def test_encode_pq_white_and_peak():
    lv = color.ReferenceLevels()
    white = np.ones((1, 1, 3))
    np.testing.assert_allclose(color.encode_PQ_BT2020(white, lv), 0.5807, atol=5e-5)
    np.testing.assert_allclose(color.encode_PQ_BT2020(white * lv.headroom, lv), 0.7518, atol=5e-5)


def test_sdr_preview_is_monotonic_and_keeps_headroom_visible():
    lv = color.ReferenceLevels()
    x = np.linspace(0, lv.headroom, 100)
    y = color.tonemap_preview_SDR(x, lv)
    assert np.all(np.diff(y) > 0) and y[-1] == pytest.approx(1.0) and 0.6 < color.tonemap_preview_SDR(1.0, lv) < 0.8


# ---- numpy and torch agree (one definition) -------------------------------------------------------------
@pytest.mark.parametrize("fn", [color.eotf_sRGB, color.eotf_inverse_sRGB, color.oetf_BT2100_HLG,
                                lambda x: color.eotf_inverse_ST2084(x * 10000), lambda x: color.eotf_input(x, "2.2"),
                                lambda x: color.rolloff_highlights(x * 2000, 1000.0)])
def test_numpy_and_torch_agree(fn):
    x = np.random.default_rng(2).random((1, 3, 8, 9))
    ours_t = fn(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours_t, fn(x), rtol=1e-9, atol=1e-12)


def test_matrix_layouts_agree():
    x = np.random.default_rng(3).random((6, 7, 3))
    t = torch.tensor(x).permute(2, 0, 1)[None]
    out_t = color.RGB_BT709_to_BT2020(t)[0].permute(1, 2, 0).numpy()
    np.testing.assert_allclose(out_t, color.RGB_BT709_to_BT2020(x), atol=1e-12)
    np.testing.assert_allclose(color.luminance_BT709(t)[0].numpy(), color.luminance_BT709(x), atol=1e-12)


# --------------------------------------------------------------------------------------------------------
# Non-finite input: NaN and +-inf must never reach an encoder as anything but black or the peak
# --------------------------------------------------------------------------------------------------------
NON_FINITE = np.array([[[np.nan, np.inf, -np.inf], [np.nan, np.nan, np.nan], [np.inf, np.inf, np.inf],
                        [1.0, 1.0, 1.0]]], np.float32)


def test_display_encodings_map_nan_to_black_and_inf_to_the_peak():
    levels = color.ReferenceLevels()
    pq = color.encode_PQ_BT2020(NON_FINITE, levels)
    assert np.all(np.isfinite(pq)) and pq.min() >= 0 and pq.max() <= color.eotf_inverse_ST2084(levels.peak) + 1e-5
    assert pq[0, 1] == pytest.approx([color.eotf_inverse_ST2084(0.0)] * 3)  # NaN -> black
    assert pq[0, 2] == pytest.approx([color.eotf_inverse_ST2084(levels.peak)] * 3, rel=1e-5)  # inf -> peak
    assert pq[0, 3] == pytest.approx([0.5807] * 3, abs=1e-4)  # a finite neighbour is untouched
    hlg = color.encode_HLG_BT2020(NON_FINITE, levels)
    sdr = color.tonemap_preview_SDR(NON_FINITE, levels)
    assert np.all(np.isfinite(hlg)) and np.all(np.isfinite(sdr)) and sdr.max() <= 1.0
    t = color.encode_PQ_BT2020(torch.from_numpy(NON_FINITE).permute(2, 0, 1)[None], levels)
    np.testing.assert_allclose(t[0].permute(1, 2, 0).numpy(), pq, atol=1e-6)


def test_operator_contract_turns_non_finite_output_into_black_or_the_top():
    from livehdr.operators import Operator, OperatorConfig

    class Broken(Operator):  # e.g. a model with a NaN weight
        def expand(self, V):
            return NON_FINITE[:, : V.shape[1]] * np.ones_like(V)

    out = Broken(OperatorConfig())(np.ones((1, 4, 3), np.float32))
    headroom = color.ReferenceLevels().headroom
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0, 1], 0.0)
    np.testing.assert_allclose(out[0, 2], headroom, rtol=1e-6)
    np.testing.assert_allclose(out[0, 0], [0.0, headroom, 0.0], rtol=1e-6)


@pytest.mark.parametrize("name", sorted(color.CURVES))
def test_every_curve_in_the_table_round_trips(name):
    curve = color.CURVES[name]
    signal = np.linspace(0.0, 1.0, 257)
    np.testing.assert_allclose(curve.encode(curve.decode(signal)), signal, atol=2e-6)
